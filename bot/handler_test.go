package bot

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
)

func TestPublicVectorIsAccepted(t *testing.T) {
	e := newEnv(t, nil)
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(vectorBody))
	r.Header.Set(chatwork.SignatureHeader, vectorSig)
	w := e.serve(t, r)
	// Signed and well-formed, but "test" is not a command: 200, no call.
	if w.Code != http.StatusOK || strings.TrimSpace(w.Body.String()) != "ignored" {
		t.Fatalf("got %d %q, want 200 ignored", w.Code, w.Body)
	}
	if n := e.cw.calls(); n != 0 {
		t.Errorf("%d ChatWork calls for a non-command", n)
	}
}

func TestSignature(t *testing.T) {
	body := message("/quota")
	good := sign(t, body)
	// A body whose signature has a '+', which an unescaped query turns into ' '.
	plusBody := body
	for i := 1; !strings.Contains(sign(t, plusBody), "+"); i++ {
		plusBody = message("/quota" + strings.Repeat(" ", i))
	}
	cases := []struct {
		name string
		req  func() *http.Request
		want int
	}{
		{"header", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
			r.Header.Set(chatwork.SignatureHeader, good)
			return r
		}, http.StatusOK},
		{"lower-case header name, not canonicalised", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
			r.Header["x-chatworkwebhooksignature"] = []string{good}
			return r
		}, http.StatusOK},
		{"query parameter", func() *http.Request {
			return httptest.NewRequest(http.MethodPost, "/?"+chatwork.SignatureQuery+"="+url.QueryEscape(good), strings.NewReader(body))
		}, http.StatusOK},
		{"query parameter with + unescaped", func() *http.Request {
			return httptest.NewRequest(http.MethodPost, "/?"+chatwork.SignatureQuery+"="+sign(t, plusBody), strings.NewReader(plusBody))
		}, http.StatusOK},
		{"wrong header, right query", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/?"+chatwork.SignatureQuery+"="+url.QueryEscape(good), strings.NewReader(body))
			r.Header.Set(chatwork.SignatureHeader, vectorSig)
			return r
		}, http.StatusOK},
		{"missing", func() *http.Request {
			return httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		}, http.StatusUnauthorized},
		{"signature of another body", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
			r.Header.Set(chatwork.SignatureHeader, vectorSig)
			return r
		}, http.StatusUnauthorized},
		{"garbage", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/?"+chatwork.SignatureQuery+"=%%%", strings.NewReader(body))
			r.Header.Set(chatwork.SignatureHeader, "not base64!")
			return r
		}, http.StatusUnauthorized},
		{"body changed after signing", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body+" "))
			r.Header.Set(chatwork.SignatureHeader, good)
			return r
		}, http.StatusUnauthorized},
		{"signed with another token", func() *http.Request {
			other, _ := chatwork.Sign("b3RoZXIgdG9rZW4=", []byte(body))
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
			r.Header.Set(chatwork.SignatureHeader, other)
			return r
		}, http.StatusUnauthorized},
		{"malformed JSON is still 401 when unsigned", func() *http.Request {
			return httptest.NewRequest(http.MethodPost, "/", strings.NewReader("{"))
		}, http.StatusUnauthorized},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, nil)
			w := e.serve(t, c.req())
			if w.Code != c.want {
				t.Fatalf("status %d, want %d (%q)", w.Code, c.want, w.Body)
			}
			calls := e.cw.calls()
			switch {
			case c.want == http.StatusUnauthorized && calls != 0:
				t.Errorf("%d ChatWork calls on an unsigned request", calls)
			case c.want == http.StatusUnauthorized && len(e.rec.All()) != 0:
				t.Errorf("records written on an unsigned request")
			case c.want == http.StatusOK && calls != 2:
				t.Errorf("%d ChatWork calls, want 2", calls)
			}
		})
	}
}

func TestQuotaAnswer(t *testing.T) {
	e := newEnv(t, nil)
	w := e.serve(t, signedRequest(t, message("[To:7777]quota bot\n/quota")))
	if w.Code != http.StatusOK || strings.TrimSpace(w.Body.String()) != "ok" {
		t.Fatalf("got %d %q, want 200 ok", w.Code, w.Body)
	}
	if e.cw.reads != 1 || len(e.cw.posts) != 1 {
		t.Fatalf("reads %d posts %d, want exactly 1 and 1", e.cw.reads, len(e.cw.posts))
	}
	post := e.cw.posts[0]
	if post.Room != testRoom {
		t.Errorf("posted to room %d, want %d", post.Room, testRoom)
	}
	// With the fakes set up like the golden test's "answer", the post is
	// exactly that golden message.
	want, err := os.ReadFile(filepath.Join("testdata", "golden", "answer_ja.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if post.Body != string(want) {
		t.Errorf("posted:\n%s\nwant answer_ja.txt:\n%s", post.Body, want)
	}
	recs := e.rec.All()
	if len(recs) != 2 {
		t.Fatalf("%d records, want 2 (the reading and the post): %+v", len(recs), recs)
	}
	for i, want := range []int{120, 119} {
		r := recs[i]
		if r.Source != sample.SourcePassive || !r.HasQuota || r.Remaining != want || r.Limit != 300 ||
			r.Reset != testReset.Unix() || r.Token != "default" || r.Error != "" || r.Calls != 1 {
			t.Errorf("record %d = %+v, want a passive sample of %d/300", i, r, want)
		}
	}
	if strings.Contains(e.logs.String(), "record failed") {
		t.Errorf("a record was rejected:\n%s", e.logs)
	}
}

// A reply that addresses the bot with its name notation and goes on after
// the command is the command: only the first line counts.
func TestCommandOnTheFirstLine(t *testing.T) {
	e := newEnv(t, nil)
	e.serve(t, signedRequest(t, message("[To:7777][pname:7777]さん /quota\nthanks")))
	if got := e.cw.postBodies(); e.cw.reads != 1 || len(got) != 1 || !strings.Contains(got[0], "ChatWork API の残り") {
		t.Errorf("reads %d, posted %q: want the quota answer", e.cw.reads, got)
	}
}

func TestEnglish(t *testing.T) {
	e := newEnv(t, func(c *Config, _ *Deps) { c.Language = "en" })
	e.serve(t, signedRequest(t, message("/quota help")))
	want, err := os.ReadFile(filepath.Join("testdata", "golden", "help_en.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if got := e.cw.postBodies(); len(got) != 1 || got[0] != string(want) {
		t.Errorf("posted %q, want help_en.txt", got)
	}
}

func TestHelpAndUnknownCostOneCall(t *testing.T) {
	for _, body := range []string{"/quota help", "／quota xyz"} {
		e := newEnv(t, nil)
		w := e.serve(t, signedRequest(t, message(body)))
		if w.Code != http.StatusOK {
			t.Fatalf("%q: status %d", body, w.Code)
		}
		if e.cw.reads != 0 || len(e.cw.posts) != 1 {
			t.Errorf("%q: reads %d posts %d, want 0 and 1", body, e.cw.reads, len(e.cw.posts))
		}
		if recs := e.rec.All(); len(recs) != 1 || recs[0].Remaining != 119 || recs[0].Source != sample.SourcePassive {
			t.Errorf("%q: records %+v, want the post's passive sample", body, recs)
		}
	}
}

func TestIgnored(t *testing.T) {
	cases := []struct {
		name string
		body string
		mod  func(*Config, *Deps)
	}{
		{"message_updated", event(chatwork.EventMessageUpdated, chatwork.WebhookEvent{
			MessageID: testMessage, RoomID: testRoom, AccountID: testSender, Body: "/quota", UpdateTime: testNow.Unix()}), nil},
		{"edited mention", event(chatwork.EventMentionToMe, chatwork.WebhookEvent{
			MessageID: testMessage, RoomID: testRoom, FromAccountID: testSender, ToAccountID: testBotID,
			Body: "[To:7777]bot\n/quota", SendTime: testNow.Unix() - 60, UpdateTime: testNow.Unix()}), nil},
		{"message_created carrying an edit time", event(chatwork.EventMessageCreated, chatwork.WebhookEvent{
			MessageID: testMessage, RoomID: testRoom, AccountID: testSender, Body: "/quota", UpdateTime: testNow.Unix()}), nil},
		{"unknown event type", event("room_deleted", chatwork.WebhookEvent{RoomID: testRoom, Body: "/quota"}), nil},
		{"no event type", `{"webhook_event":{}}`, nil},
		{"own account (configured)", event(chatwork.EventMessageCreated, chatwork.WebhookEvent{
			MessageID: testMessage, RoomID: testRoom, AccountID: 555, Body: "/quota"}),
			func(c *Config, _ *Deps) { c.BotAccountID = 555 }},
		{"other room", event(chatwork.EventMessageCreated, chatwork.WebhookEvent{
			MessageID: testMessage, RoomID: otherRoom, AccountID: testSender, Body: "/quota"}), nil},
		{"mention from another room", event(chatwork.EventMentionToMe, chatwork.WebhookEvent{
			MessageID: testMessage, RoomID: otherRoom, FromAccountID: testSender, ToAccountID: testBotID, Body: "/quota"}), nil},
		{"not a command", message("/quotas please"), nil},
		{"quoted command", message("[qt][qtmeta aid=1 time=1]/quota[/qt]"), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, c.mod)
			w := e.serve(t, signedRequest(t, c.body))
			if w.Code != http.StatusOK || strings.TrimSpace(w.Body.String()) != "ignored" {
				t.Fatalf("got %d %q, want 200 ignored", w.Code, w.Body)
			}
			if n := e.cw.calls(); n != 0 {
				t.Errorf("%d ChatWork calls, want 0", n)
			}
		})
	}
}

func TestOwnAccountLearnedFromReading(t *testing.T) {
	e := newEnv(t, nil) // BotAccountID 0: learned from the reading (7777)
	own := func(id string) string {
		return event(chatwork.EventMessageCreated, chatwork.WebhookEvent{MessageID: id, RoomID: testRoom, AccountID: testBotID, Body: "/quota"})
	}
	// Not known yet: the reading the answer needs names the account, so the
	// first message is known as the bot's own before anything is posted.
	e.serve(t, signedRequest(t, own("1")))
	if n := len(e.cw.posts); n != 0 {
		t.Errorf("%d posts: the bot answered its own account's /quota", n)
	}
	e.serve(t, signedRequest(t, own("2")))
	if e.cw.reads != 1 {
		t.Errorf("reads = %d, want 1: the second message is the bot's own", e.cw.reads)
	}
	// Someone else is still answered.
	e.serve(t, signedRequest(t, message("/quota")))
	if e.cw.reads != 2 || len(e.cw.posts) != 1 {
		t.Errorf("reads %d posts %d, want another person's /quota answered", e.cw.reads, len(e.cw.posts))
	}
}

func TestAllowedRoomAndMention(t *testing.T) {
	e := newEnv(t, nil)
	body := event(chatwork.EventMentionToMe, chatwork.WebhookEvent{
		MessageID: "5", RoomID: allowedRoom, FromAccountID: 321, ToAccountID: testBotID,
		Body: "[To:7777]quota bot\n/quota"})
	if w := e.serve(t, signedRequest(t, body)); w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
	posts := e.cw.posts
	if len(posts) != 1 || posts[0].Room != allowedRoom || !strings.HasPrefix(posts[0].Body, "[rp aid=321 to=4242-5]\n") {
		t.Errorf("posts = %+v, want a reply to account 321 in room %d", posts, allowedRoom)
	}
}

func TestSameMessageTwiceAnsweredOnce(t *testing.T) {
	e := newEnv(t, nil)
	created := message("[To:7777]bot\n/quota")
	mention := event(chatwork.EventMentionToMe, chatwork.WebhookEvent{
		MessageID: testMessage, RoomID: testRoom, FromAccountID: testSender, ToAccountID: testBotID, Body: "[To:7777]bot\n/quota"})
	for _, body := range []string{created, mention, created} {
		if w := e.serve(t, signedRequest(t, body)); w.Code != http.StatusOK {
			t.Fatalf("status %d", w.Code)
		}
	}
	if n := e.cw.calls(); n != 2 {
		t.Errorf("%d calls, want 2: one answer", n)
	}
}

func TestHTTPErrors(t *testing.T) {
	e := newEnv(t, func(c *Config, _ *Deps) { c.MaxBody = 1024 })
	big := message(strings.Repeat("x", 2000))

	t.Run("method", func(t *testing.T) {
		for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodHead} {
			w := e.serve(t, httptest.NewRequest(m, "/", nil))
			if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != http.MethodPost {
				t.Errorf("%s: %d Allow=%q, want 405 Allow=POST", m, w.Code, w.Header().Get("Allow"))
			}
		}
	})
	t.Run("too large with length", func(t *testing.T) {
		if w := e.serve(t, signedRequest(t, big)); w.Code != http.StatusRequestEntityTooLarge {
			t.Errorf("status %d, want 413", w.Code)
		}
	})
	t.Run("too large without length", func(t *testing.T) {
		r := signedRequest(t, big)
		r.ContentLength = -1
		r.Body = io.NopCloser(struct{ io.Reader }{strings.NewReader(big)})
		if w := e.serve(t, r); w.Code != http.StatusRequestEntityTooLarge {
			t.Errorf("status %d, want 413", w.Code)
		}
	})
	t.Run("exactly the limit", func(t *testing.T) {
		body := message("x" + strings.Repeat(" ", 1024-len(message("x"))))
		if len(body) != 1024 {
			t.Fatalf("test body is %d bytes", len(body))
		}
		if w := e.serve(t, signedRequest(t, body)); w.Code != http.StatusOK {
			t.Errorf("a body of exactly MaxBody bytes: status %d, want 200", w.Code)
		}
	})
	t.Run("malformed JSON after a valid signature", func(t *testing.T) {
		// ChatWork disables a webhook whose deliveries are refused: a signed
		// delivery is answered 200 whatever it holds, and logged.
		for _, body := range []string{"{", "[]", `{"webhook_event_type":"message_created","webhook_event":"text"}`,
			`{"webhook_event_type":"mention_to_me","webhook_event":{"room_id":"36818150"}}`} {
			e := newEnv(t, nil)
			w := e.serve(t, signedRequest(t, body))
			if w.Code != http.StatusOK || strings.TrimSpace(w.Body.String()) != "ignored" {
				t.Errorf("%q: got %d %q, want 200 ignored", body, w.Code, w.Body)
			}
			if logs := e.logs.String(); !strings.Contains(logs, "not JSON: ignored") && !strings.Contains(logs, "malformed: ignored") {
				t.Errorf("%q: not logged:\n%s", body, logs)
			}
			if n := e.cw.calls(); n != 0 {
				t.Errorf("%q: %d ChatWork calls", body, n)
			}
		}
	})
	if n := e.cw.calls(); n != 0 {
		t.Errorf("%d ChatWork calls on refused requests", n)
	}
}

func apiErr(kind chatwork.Kind, status int, q *chatwork.Quota) error {
	return &chatwork.Error{Op: "x", Kind: kind, Status: status, Quota: q, Err: errors.New("upstream said no")}
}

func TestReadFailures(t *testing.T) {
	exhausted := &chatwork.Quota{Limit: 300, Remaining: 0, Reset: testReset}
	cases := []struct {
		name      string
		err       error
		wantPosts int
		wantKind  string
	}{
		{"global 429: nothing can be posted", apiErr(chatwork.KindQuotaExhausted, 429, exhausted), 0, "quota_exhausted"},
		{"401: nothing would be accepted", apiErr(chatwork.KindInvalidToken, 401, nil), 0, "invalid_token"},
		{"network: a safe apology", apiErr(chatwork.KindNetwork, 0, nil), 1, "network"},
		{"5xx: a safe apology", apiErr(chatwork.KindServer, 503, nil), 1, "server"},
		{"token source", apiErr(chatwork.KindToken, 0, nil), 1, "token_source"},
		{"untyped error", errors.New("boom"), 1, "other"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, nil)
			e.cw.readErr = c.err
			w := e.serve(t, signedRequest(t, message("/quota")))
			if w.Code != http.StatusOK {
				t.Fatalf("status %d, want 200 whatever happened", w.Code)
			}
			if len(e.cw.posts) != c.wantPosts {
				t.Fatalf("%d posts, want %d", len(e.cw.posts), c.wantPosts)
			}
			if c.wantPosts == 1 {
				body := e.cw.posts[0].Body
				if !strings.Contains(body, ja.unavailable) || strings.Contains(body, "upstream") || strings.Contains(body, "boom") {
					t.Errorf("posted %q, want the safe apology only", body)
				}
			}
			recs := e.rec.All()
			if len(recs) == 0 || recs[0].Error != c.wantKind || recs[0].Source != sample.SourcePassive {
				t.Fatalf("records %+v, want a %s failure record first", recs, c.wantKind)
			}
			if strings.Contains(recs[0].Detail, "upstream") || strings.Contains(recs[0].Detail, "boom") {
				t.Errorf("detail %q carries the error text", recs[0].Detail)
			}
			if c.wantKind == "quota_exhausted" && (!recs[0].HasQuota || recs[0].Remaining != 0) {
				t.Errorf("the 429's headers were not recorded: %+v", recs[0])
			}
		})
	}
}

func TestReadingWithoutHeaders(t *testing.T) {
	e := newEnv(t, nil)
	e.cw.reading.Quota = nil
	e.serve(t, signedRequest(t, message("/quota")))
	if len(e.cw.posts) != 1 || !strings.Contains(e.cw.posts[0].Body, ja.unavailable) {
		t.Errorf("posts %+v, want the apology (never a false 0 remaining)", e.cw.posts)
	}
	if recs := e.rec.All(); len(recs) < 1 || recs[0].Error != "bad_response" || recs[0].HasQuota {
		t.Errorf("records %+v, want a bad_response failure record", recs)
	}
}

// A post whose response carries no rate-limit headers is recorded as
// sample.FromCall says: a bad_response record, so that every call has one.
func TestPostWithoutHeaders(t *testing.T) {
	e := newEnv(t, nil)
	e.cw.postQ = nil
	e.serve(t, signedRequest(t, message("/quota help")))
	recs := e.rec.All()
	if len(recs) != 1 || recs[0].Error != "bad_response" || recs[0].HasQuota || recs[0].Calls != 1 || recs[0].Source != sample.SourcePassive {
		t.Errorf("records %+v, want one passive bad_response record", recs)
	}
}

func TestPostFailsStill200(t *testing.T) {
	for _, kind := range []chatwork.Kind{chatwork.KindServer, chatwork.KindQuotaExhausted, chatwork.KindNetwork, chatwork.KindBadRequest} {
		e := newEnv(t, nil)
		e.cw.postErrs = []error{apiErr(kind, 0, nil)}
		w := e.serve(t, signedRequest(t, message("/quota")))
		if w.Code != http.StatusOK || len(w.Body.Bytes()) >= 2048 {
			t.Errorf("%v: status %d, want 200", kind, w.Code)
		}
		if len(e.cw.posts) != 1 {
			t.Errorf("%v: %d posts, want 1 (no retry)", kind, len(e.cw.posts))
		}
		if len(e.sleeps) != 0 {
			t.Errorf("%v: slept %v", kind, e.sleeps)
		}
		recs := e.rec.All()
		if len(recs) != 2 || !recs[0].HasQuota || recs[1].Error != kind.String() {
			t.Errorf("%v: records %+v, want the reading's sample and the post's failure record", kind, recs)
		}
	}
}

func TestRoomLimitRetriedOnce(t *testing.T) {
	e := newEnv(t, nil)
	e.cw.postErrs = []error{apiErr(chatwork.KindRoomLimit, 429, nil)}
	e.serve(t, signedRequest(t, message("/quota")))
	if len(e.cw.posts) != 2 || e.cw.posts[0].Body != e.cw.posts[1].Body {
		t.Fatalf("%d posts, want the same reply twice", len(e.cw.posts))
	}
	// The answer is due within answerWithin: the wait is what the room's
	// 10 s window leaves of it, at least a second.
	if len(e.sleeps) != 1 || e.sleeps[0] < time.Second || e.sleeps[0] > answerWithin-recordReserve-postAllowance {
		t.Errorf("sleeps %v, want one of 1s to %v", e.sleeps, answerWithin-recordReserve-postAllowance)
	}
	recs := e.rec.All()
	if len(recs) != 3 || recs[0].Remaining != 120 || recs[1].Error != "room_limit" || recs[2].Remaining != 119 {
		t.Errorf("records %+v, want reading sample, room_limit failure, post sample", recs)
	}

	// A second per-room 429 is not retried again.
	e = newEnv(t, nil)
	e.cw.postErrs = []error{apiErr(chatwork.KindRoomLimit, 429, nil), apiErr(chatwork.KindRoomLimit, 429, nil)}
	if w := e.serve(t, signedRequest(t, message("/quota help"))); w.Code != http.StatusOK {
		t.Errorf("status %d", w.Code)
	}
	if len(e.cw.posts) != 2 || len(e.sleeps) != 1 {
		t.Errorf("posts %d sleeps %d, want 2 and 1", len(e.cw.posts), len(e.sleeps))
	}
}

func TestRoomLimitNoTimeToWait(t *testing.T) {
	e := newEnv(t, nil)
	e.cw.postErrs = []error{apiErr(chatwork.KindRoomLimit, 429, nil)}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e.serve(t, signedRequest(t, message("/quota help")).WithContext(ctx))
	if len(e.cw.posts) != 1 || len(e.sleeps) != 0 {
		t.Errorf("posts %d sleeps %d: a wait past the deadline must not be started", len(e.cw.posts), len(e.sleeps))
	}
}

func TestRecorderAndHistoryFailuresDoNotStopTheReply(t *testing.T) {
	e := newEnv(t, nil)
	e.rec.Err = errors.New("log group gone")
	e.hist.Err = errors.New("query failed")
	e.serve(t, signedRequest(t, message("/quota")))
	if len(e.cw.posts) != 1 || !strings.Contains(e.cw.posts[0].Body, ja.noHistory) {
		t.Fatalf("posts %+v, want the answer without history", e.cw.posts)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "record failed") || !strings.Contains(logs, "history unavailable") {
		t.Errorf("failures not logged:\n%s", logs)
	}
}

func TestHangUpDoesNotCancelTheReply(t *testing.T) {
	e := newEnv(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // ChatWork gave up waiting before the bot started
	e.serve(t, signedRequest(t, message("/quota")).WithContext(ctx))
	if e.cw.calls() != 2 || len(e.rec.All()) != 2 {
		t.Errorf("calls %d records %d: the reply should survive the client hanging up", e.cw.calls(), len(e.rec.All()))
	}
}

// TestOverTheWire sends a real HTTP request with a lower-case signature
// header, as a Function URL or a proxy may deliver it.
func TestOverTheWire(t *testing.T) {
	e := newEnv(t, nil)
	srv := httptest.NewServer(e.bot.Handler())
	defer srv.Close()
	body := message("/quota")
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/webhook", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header["x-chatworkwebhooksignature"] = []string{sign(t, body)}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(got)) != "ok" {
		t.Fatalf("got %d %q, want 200 ok", resp.StatusCode, got)
	}
	if n := e.cw.calls(); n != 2 {
		t.Errorf("%d calls, want 2", n)
	}
}
