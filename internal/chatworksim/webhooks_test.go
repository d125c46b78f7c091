package chatworksim_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/chatworksim"
)

const webhookToken = "A9ne+ygvdV0IZBaPFV2zC1e5Bk+IsI14BPwieRoBQNU="

// receiver is a webhook endpoint that checks both signatures and keeps
// what it got.
type receiver struct {
	t      *testing.T
	verify *chatwork.Verifier
	mu     sync.Mutex
	got    []chatwork.WebhookPayload
	events []chatwork.WebhookEvent
	react  func(chatwork.WebhookPayload, chatwork.WebhookEvent) // runs before answering
}

func newReceiver(t *testing.T) (*receiver, string) {
	v, err := chatwork.NewVerifier(webhookToken)
	if err != nil {
		t.Fatal(err)
	}
	rc := &receiver{t: t, verify: v}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	return rc, srv.URL + "/hook?tenant=a"
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if r.Method != http.MethodPost || r.URL.Path != "/hook" || r.URL.Query().Get("tenant") != "a" {
		rc.t.Errorf("delivery %s %s", r.Method, r.URL)
	}
	if !rc.verify.Verify(r.Context(), body, r.Header.Get("X-ChatWorkWebhookSignature")) {
		rc.t.Errorf("bad header signature for %s", body)
	}
	if !rc.verify.Verify(r.Context(), body, r.URL.Query().Get("chatwork_webhook_signature")) {
		rc.t.Errorf("bad query signature for %s", body)
	}
	var p chatwork.WebhookPayload
	var e chatwork.WebhookEvent
	if err := json.Unmarshal(body, &p); err != nil {
		rc.t.Errorf("payload %s: %v", body, err)
	} else if err := json.Unmarshal(p.Event, &e); err != nil {
		rc.t.Errorf("event %s: %v", p.Event, err)
	}
	rc.mu.Lock()
	rc.got = append(rc.got, p)
	rc.events = append(rc.events, e)
	rc.mu.Unlock()
	if rc.react != nil {
		rc.react(p, e)
	}
	w.WriteHeader(http.StatusOK)
}

func (rc *receiver) received() ([]chatwork.WebhookPayload, []chatwork.WebhookEvent) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]chatwork.WebhookPayload(nil), rc.got...), append([]chatwork.WebhookEvent(nil), rc.events...)
}

func waitIdle(t *testing.T, s *chatworksim.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.WaitIdle(ctx); err != nil {
		t.Fatalf("WaitIdle: %v", err)
	}
}

func TestWebhookMessageCreated(t *testing.T) {
	s, base, _ := start(t, chatworksim.Config{})
	rc, hookURL := newReceiver(t)
	if err := s.AddWebhook(chatworksim.Webhook{URL: hookURL, Token: webhookToken, RoomID: roomID, SettingID: "246"}); err != nil {
		t.Fatal(err)
	}
	id1 := s.Say(roomID, 7, "/quota")
	s.Say(43, 7, "another room: not delivered")
	// The bot's own post is delivered too, as ChatWork does.
	r := call(t, nil, "POST", base+"/rooms/42/messages", token, url.Values{"body": {"reply"}})
	var posted struct {
		MessageID string `json:"message_id"`
	}
	if err := json.Unmarshal(r.body, &posted); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, s)

	got, events := rc.received()
	if len(got) != 2 {
		t.Fatalf("%d deliveries: %+v", len(got), got)
	}
	want := []chatwork.WebhookEvent{
		{MessageID: id1, RoomID: roomID, AccountID: 7, Body: "/quota", SendTime: t0.Unix()},
		{MessageID: posted.MessageID, RoomID: roomID, AccountID: botID, Body: "reply", SendTime: t0.Unix()},
	}
	for i := range want {
		if got[i].SettingID != "246" || got[i].EventType != chatwork.EventMessageCreated || got[i].EventTime != t0.Unix() {
			t.Errorf("payload %d: %+v", i, got[i])
		}
		if events[i] != want[i] {
			t.Errorf("event %d = %+v, want %+v", i, events[i], want[i])
		}
		if !strings.Contains(string(got[i].Event), `"update_time":0`) {
			t.Errorf("event %d lacks update_time 0: %s", i, got[i].Event)
		}
	}
	ds := s.Deliveries()
	if len(ds) != 2 || ds[0].Status != 200 || ds[0].Err != "" || ds[0].URL != hookURL || ds[0].MessageID != id1 ||
		ds[1].EventType != chatwork.EventMessageCreated || len(ds[1].Body) == 0 {
		t.Errorf("Deliveries = %+v", ds)
	}
}

// An edit keeps the message's id and is delivered with update_time set:
// message_updated to the room webhook, mention_to_me to the account's.
func TestWebhookEdit(t *testing.T) {
	s, _, clock := start(t, chatworksim.Config{})
	rc, hookURL := newReceiver(t)
	if err := s.AddWebhook(chatworksim.Webhook{URL: hookURL, Token: webhookToken, RoomID: roomID, MentionAccountID: botID}); err != nil {
		t.Fatal(err)
	}
	id := s.Say(roomID, 7, "[To:1001]Bot hello")
	clock.Advance(time.Minute)
	if !s.Edit(roomID, id, "[To:1001]Bot\n/quota") {
		t.Fatal("Edit did not find the message")
	}
	if s.Edit(roomID, "999", "x") || s.Edit(7, id, "x") {
		t.Error("Edit changed a message that does not exist")
	}
	waitIdle(t, s)
	got, events := rc.received()
	wantTypes := []string{chatwork.EventMessageCreated, chatwork.EventMentionToMe, chatwork.EventMessageUpdated, chatwork.EventMentionToMe}
	if len(got) != len(wantTypes) {
		t.Fatalf("%d deliveries: %+v", len(got), got)
	}
	for i, typ := range wantTypes {
		edited := i >= 2
		if got[i].EventType != typ || events[i].MessageID != id || (events[i].UpdateTime != 0) != edited {
			t.Errorf("delivery %d: %s %+v, want %s edited=%v", i, got[i].EventType, events[i], typ, edited)
		}
	}
	if e := events[3]; e.Body != "[To:1001]Bot\n/quota" || e.SendTime != t0.Unix() || e.UpdateTime != t0.Add(time.Minute).Unix() {
		t.Errorf("edited mention %+v", e)
	}
	if m := s.Messages(roomID); len(m) != 1 || m[0].Body != "[To:1001]Bot\n/quota" || m[0].UpdateTime == 0 {
		t.Errorf("room holds %+v", m)
	}
}

func TestWebhookMentionToMe(t *testing.T) {
	s, _, _ := start(t, chatworksim.Config{})
	rc, hookURL := newReceiver(t)
	if err := s.AddWebhook(chatworksim.Webhook{URL: hookURL, Token: webhookToken, MentionAccountID: botID}); err != nil {
		t.Fatal(err)
	}
	mentioned := []string{
		"[To:1001]Quota Bot\n/quota",
		"[To:5][To:1001] both",
		"[rp aid=1001 to=42-984676321621704704]Quota Bot\nthanks",
		"[rp aid=1001]short reply",
	}
	for _, body := range mentioned {
		s.Say(roomID, 7, body)
	}
	for _, body := range []string{"[To:10010] someone else", "[To:1001 no bracket", "plain /quota", "[rp aid=10012 to=1-2]"} {
		s.Say(roomID, 7, body)
	}
	waitIdle(t, s)
	got, events := rc.received()
	if len(got) != len(mentioned) {
		t.Fatalf("%d deliveries, want %d: %+v", len(got), len(mentioned), events)
	}
	for i, e := range events {
		if got[i].EventType != chatwork.EventMentionToMe || got[i].SettingID != "1" {
			t.Errorf("payload %+v", got[i])
		}
		if e.FromAccountID != 7 || e.ToAccountID != botID || e.RoomID != roomID || e.Body != mentioned[i] || e.AccountID != 0 || e.MessageID == "" {
			t.Errorf("event %+v", e)
		}
	}
}

// TestWaitIdleSettlesReplyChain is the shape of the bot's end-to-end tests:
// a person says something, the bot replies through the API while handling
// the delivery, and that reply is delivered to the bot in turn.
func TestWaitIdleSettlesReplyChain(t *testing.T) {
	s, base, _ := start(t, chatworksim.Config{Latency: 5 * time.Millisecond})
	rc, hookURL := newReceiver(t)
	rc.react = func(p chatwork.WebhookPayload, e chatwork.WebhookEvent) {
		if e.AccountID == botID || e.Body != "/ping" {
			return // never answer yourself
		}
		time.Sleep(20 * time.Millisecond) // a slow bot
		r := call(t, nil, "POST", base+"/rooms/42/messages", token, url.Values{"body": {"pong"}})
		if r.status != 200 {
			t.Errorf("reply: %d %s", r.status, r.body)
		}
	}
	if err := s.AddWebhook(chatworksim.Webhook{URL: hookURL, Token: webhookToken, RoomID: roomID}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		s.Say(roomID, 7, "/ping")
		waitIdle(t, s)
		msgs := s.Messages(roomID)
		if last := msgs[len(msgs)-1]; last.Body != "pong" || last.AccountID != botID {
			t.Fatalf("last message %+v", last)
		}
	}
	if n := len(s.Deliveries()); n != 6 {
		t.Errorf("%d deliveries, want 6 (3 pings, 3 pongs)", n)
	}
}

func TestWebhookOrderAndFailures(t *testing.T) {
	s, _, _ := start(t, chatworksim.Config{})
	var mu sync.Mutex
	var order []string
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p chatwork.WebhookPayload
		var e chatwork.WebhookEvent
		body, _ := io.ReadAll(r.Body)
		json.Unmarshal(body, &p)
		json.Unmarshal(p.Event, &e)
		mu.Lock()
		order = append(order, e.Body)
		mu.Unlock()
		switch e.Body {
		case "500":
			w.WriteHeader(500)
		case "big":
			w.Write([]byte(strings.Repeat("x", 2049)))
		}
	}))
	t.Cleanup(bad.Close)
	if err := s.AddWebhook(chatworksim.Webhook{URL: bad.URL, Token: webhookToken, RoomID: roomID}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddWebhook(chatworksim.Webhook{URL: "http://127.0.0.1:1/closed", Token: webhookToken, RoomID: roomID}); err != nil {
		t.Fatal(err)
	}
	bodies := []string{"a", "500", "b", "big", "c", "d", "e"}
	for _, b := range bodies {
		s.Say(roomID, 7, b)
	}
	waitIdle(t, s)
	mu.Lock()
	if strings.Join(order, ",") != strings.Join(bodies, ",") {
		t.Errorf("delivered in order %v", order)
	}
	mu.Unlock()
	var ok, failed, unreachable int
	for _, d := range s.Deliveries() {
		switch {
		case d.Status == 0 && d.Err != "":
			unreachable++
		case d.Err != "":
			failed++
		default:
			ok++
		}
	}
	if ok != 5 || failed != 2 || unreachable != 7 {
		t.Errorf("ok %d failed %d unreachable %d", ok, failed, unreachable)
	}
}

func TestAddWebhookRejects(t *testing.T) {
	s := chatworksim.New(chatworksim.Config{})
	for _, w := range []chatworksim.Webhook{
		{URL: "/relative", Token: webhookToken, RoomID: 1},
		{URL: "ftp://x/", Token: webhookToken, RoomID: 1},
		{URL: "http://x/", Token: "not base64!", RoomID: 1},
		{URL: "http://x/", Token: webhookToken},
	} {
		if err := s.AddWebhook(w); err == nil {
			t.Errorf("AddWebhook(%+v) accepted", w)
		} else if strings.Contains(err.Error(), w.Token) {
			t.Errorf("error carries the token: %v", err)
		}
	}
}

func TestWaitIdleContext(t *testing.T) {
	s, _, _ := start(t, chatworksim.Config{})
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) })
	if err := s.AddWebhook(chatworksim.Webhook{URL: slow.URL, Token: webhookToken, RoomID: roomID}); err != nil {
		t.Fatal(err)
	}
	s.Say(roomID, 7, "hello")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.WaitIdle(ctx); err != context.DeadlineExceeded {
		t.Errorf("WaitIdle = %v", err)
	}
}
