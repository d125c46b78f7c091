package bot

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/recordtest"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
	"github.com/quotabot/chatwork-quota-bot/internal/state"
	"github.com/quotabot/chatwork-quota-bot/internal/testproc"
)

// ChatWork's public test vector (creators-note.chatwork.com, 2017-11-29).
const (
	vectorToken = "A9ne+ygvdV0IZBaPFV2zC1e5Bk+IsI14BPwieRoBQNU="
	vectorBody  = `{"webhook_setting_id":"246","webhook_event_type":"message_created","webhook_event_time":1511238729,"webhook_event":{"message_id":"984676321621704704","room_id":36818150,"account_id":1484814,"body":"test","send_time":1511238729,"update_time":0}}`
	vectorSig   = "G7Gtrh5Ee6d8erOVXhWPtUrkNJqqIT5vwLU50KhyLQk="
)

const (
	testRoom    = 36818150
	otherRoom   = 99
	allowedRoom = 4242
	testSender  = 1484814
	testBotID   = 7777
	testMessage = "984676321621704704"
	// apiToken stands for the ChatWork API token. The bot never holds it
	// (the client does), but fakes put it where a careless bot would leak it.
	apiToken = "apitoken-0123456789abcdef-SECRET"
)

var jst = time.FixedZone("JST", 9*60*60)

// testNow is the fixed clock: 2m31s before the window's reset.
var (
	testNow   = time.Date(2025, 6, 2, 14, 57, 29, 0, jst)
	testReset = time.Date(2025, 6, 2, 15, 0, 0, 0, jst)
)

// fakeChatWork is an in-memory ChatWork that counts calls. readErr/postErrs
// script failures; postErrs is consumed one per Post.
type fakeChatWork struct {
	mu       sync.Mutex
	reads    int
	posts    []fakePost
	uploads  []chatwork.File
	reading  chatwork.Reading
	readErr  error
	postErrs []error
	postQ    *chatwork.Quota
}

type fakePost struct {
	Room int64
	Body string
}

var _ ChatWork = (*fakeChatWork)(nil)

func newFakeChatWork() *fakeChatWork {
	return &fakeChatWork{
		reading: chatwork.Reading{
			At:        testNow,
			Quota:     &chatwork.Quota{Limit: 300, Remaining: 120, Reset: testReset},
			AccountID: testBotID,
		},
		postQ: &chatwork.Quota{Limit: 300, Remaining: 119, Reset: testReset},
	}
}

func (f *fakeChatWork) ReadQuota(ctx context.Context) (chatwork.Reading, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	if err := ctx.Err(); err != nil {
		return chatwork.Reading{}, &chatwork.Error{Op: "read quota", Kind: chatwork.KindNetwork, Err: err}
	}
	if f.readErr != nil {
		return chatwork.Reading{}, f.readErr
	}
	return f.reading, nil
}

func (f *fakeChatWork) Post(ctx context.Context, roomID int64, body string) (chatwork.Posted, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.posts = append(f.posts, fakePost{roomID, body})
	if err := ctx.Err(); err != nil {
		return chatwork.Posted{}, &chatwork.Error{Op: "post message", Kind: chatwork.KindNetwork, Err: err}
	}
	if len(f.postErrs) > 0 {
		err := f.postErrs[0]
		f.postErrs = f.postErrs[1:]
		if err != nil {
			return chatwork.Posted{}, err
		}
	}
	return chatwork.Posted{At: testNow.Add(time.Second), MessageID: "1000000000000000001", Quota: f.postQ}, nil
}

// Upload records the file and, like ChatWork, posts its message: the
// message is in posts too.
func (f *fakeChatWork) Upload(ctx context.Context, roomID int64, file chatwork.File) (chatwork.Uploaded, error) {
	f.mu.Lock()
	f.uploads = append(f.uploads, file)
	f.mu.Unlock()
	posted, err := f.Post(ctx, roomID, file.Message)
	if err != nil {
		var ce *chatwork.Error
		if errors.As(err, &ce) {
			ce.Op = "upload file"
		}
		return chatwork.Uploaded{}, err
	}
	return chatwork.Uploaded{At: posted.At, FileID: 7001, Quota: posted.Quota}, nil
}

func (f *fakeChatWork) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads + len(f.posts)
}

func (f *fakeChatWork) postBodies() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, p := range f.posts {
		out = append(out, p.Body)
	}
	return out
}

// env is a bot with fakes around it.
type env struct {
	t      testing.TB
	bot    *Bot
	cw     *fakeChatWork
	rec    *recordtest.Memory // what the bot records
	hist   *recordtest.Memory // what the bot reads as history
	logs   *testproc.Buffer
	sleeps []time.Duration
}

// history is a day of records: monitor samples every minute for the last
// 24 hours (fresh: the latest is 29 s old) with a low of 12 at 09:15 and a
// low of 95 in the last hour.
func recentHistory() []sample.Record {
	var recs []sample.Record
	for t := testNow.Add(-24 * time.Hour).Add(time.Minute); !t.After(testNow); t = t.Add(time.Minute) {
		at := t.Add(-29 * time.Second)
		rem := 250
		switch {
		case at.Equal(time.Date(2025, 6, 2, 9, 15, 0, 0, jst)):
			rem = 12
		case at.Equal(time.Date(2025, 6, 2, 14, 40, 0, 0, jst)):
			rem = 95
		}
		recs = append(recs, sample.Record{
			Time: at, Token: "default", Source: sample.SourceMonitor,
			HasQuota: true, Remaining: rem, Limit: 300, Reset: t.Unix(), Calls: 1,
		})
	}
	return recs
}

func newEnv(t testing.TB, mod func(*Config, *Deps)) *env {
	t.Helper()
	e := &env{
		t:    t,
		cw:   newFakeChatWork(),
		rec:  &recordtest.Memory{},
		hist: memoryOf(t, recentHistory()...),
		logs: &testproc.Buffer{},
	}
	v, err := chatwork.NewVerifier(vectorToken)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	cfg := Config{
		RoomID:         testRoom,
		AllowedRoomIDs: []int64{allowedRoom},
		Location:       jst,
		Threshold:      30,
		Now:            func() time.Time { return testNow },
		Sleep: func(ctx context.Context, d time.Duration) error {
			mu.Lock()
			defer mu.Unlock()
			e.sleeps = append(e.sleeps, d)
			return ctx.Err()
		},
	}
	deps := Deps{
		ChatWork: e.cw,
		Recorder: e.rec,
		History:  e.hist,
		Verifier: v,
		Logger:   slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mod != nil {
		mod(&cfg, &deps)
	}
	b, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	e.bot = b
	return e
}

// memoryOf is a store holding recs.
func memoryOf(t testing.TB, recs ...sample.Record) *recordtest.Memory {
	t.Helper()
	m := &recordtest.Memory{}
	for _, r := range recs {
		if err := m.Record(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// setHistory replaces the history the bot reads with recs.
func (e *env) setHistory(recs ...sample.Record) {
	e.hist = memoryOf(e.t, recs...)
	e.bot.hist = e.hist
}

// remembered is the number of entries in the bot's own memory (a
// state.Memory unless the test gave it another state).
func (e *env) remembered() int {
	if m, ok := e.bot.state.(timedState).State.(*state.Memory); ok {
		return m.Len()
	}
	e.t.Fatalf("the bot's state is a %T", e.bot.state.(timedState).State)
	return 0
}

// event builds a webhook payload sent at testNow.
func event(typ string, ev chatwork.WebhookEvent) string { return eventAt(typ, ev, testNow) }

// eventAt builds a webhook payload sent at at.
func eventAt(typ string, ev chatwork.WebhookEvent, at time.Time) string {
	raw, err := json.Marshal(ev)
	if err != nil {
		panic(err)
	}
	p, err := json.Marshal(chatwork.WebhookPayload{SettingID: "246", EventType: typ, EventTime: at.Unix(), Event: raw})
	if err != nil {
		panic(err)
	}
	return string(p)
}

// message is a message_created payload in the test room.
func message(body string) string {
	return event(chatwork.EventMessageCreated, chatwork.WebhookEvent{
		MessageID: testMessage, RoomID: testRoom, AccountID: testSender,
		Body: body, SendTime: testNow.Unix(),
	})
}

func sign(t testing.TB, body string) string {
	t.Helper()
	sig, err := chatwork.Sign(vectorToken, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// signedRequest is a delivery signed the way ChatWork signs it, in the header.
func signedRequest(t testing.TB, body string) *http.Request {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set(chatwork.SignatureHeader, sign(t, body))
	return r
}

// serve runs one request and checks what holds for every response.
func (e *env) serve(t testing.TB, r *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	e.bot.Handler().ServeHTTP(w, r)
	if n := w.Body.Len(); n >= 2048 {
		t.Errorf("response body is %d bytes, ChatWork allows under 2048", n)
	}
	return w
}
