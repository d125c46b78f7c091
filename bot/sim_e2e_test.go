package bot_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quotabot/chatwork-quota-bot/bot"
	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/chatworksim"
	"github.com/quotabot/chatwork-quota-bot/internal/recordtest"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
)

const (
	simAPIToken     = "e2e-api-token-5f1c9a0b7d"
	simWebhookToken = "A9ne+ygvdV0IZBaPFV2zC1e5Bk+IsI14BPwieRoBQNU="
	simRoom         = 31337
	simBot          = 9001
	simHuman        = 2001
)

// simulatedRoom is a bot behind the simulator's room webhook and its
// account's mention webhook, as a room with both would be set up.
func simulatedRoom(t *testing.T) (*chatworksim.Server, *recordtest.Memory) {
	sim, base := chatworksim.Start(t, chatworksim.Config{Mode: chatworksim.WindowFirstCall})
	sim.AddAccount(simAPIToken, simBot, "Quota Bot")
	sim.AddRoom(simRoom)
	cw, err := chatwork.New(chatwork.Config{BaseURL: base, Token: chatwork.StaticToken(simAPIToken)})
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := chatwork.NewVerifier(simWebhookToken)
	if err != nil {
		t.Fatal(err)
	}
	store := &recordtest.Memory{}
	b, err := bot.New(bot.Config{RoomID: simRoom, Language: "en"}, bot.Deps{ChatWork: cw, Recorder: store, History: store, Verifier: verifier})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(b.Handler())
	t.Cleanup(srv.Close)
	if err := sim.AddWebhook(chatworksim.Webhook{URL: srv.URL + "/webhook", Token: simWebhookToken, RoomID: simRoom}); err != nil {
		t.Fatal(err)
	}
	if err := sim.AddWebhook(chatworksim.Webhook{URL: srv.URL + "/webhook", Token: simWebhookToken, MentionAccountID: simBot}); err != nil {
		t.Fatal(err)
	}
	return sim, store
}

// A message typed into a simulated room reaches the bot through the
// simulator's signed delivery, and the reply appears in that room. The reply
// is delivered back to the bot too, as ChatWork does, and must not loop.
func TestSimulatedRoomEndToEnd(t *testing.T) {
	sim, store := simulatedRoom(t)
	sim.Say(simRoom, simHuman, "[To:9001]Quota Botさん\n／QUOTA ")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := sim.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	msgs := sim.Messages(simRoom)
	if len(msgs) != 2 {
		t.Fatalf("room has %d messages, want the question and one answer: %+v", len(msgs), msgs)
	}
	reply := msgs[1]
	if reply.AccountID != simBot || !strings.HasPrefix(reply.Body, "[rp aid=2001 to=31337-"+msgs[0].ID+"]") || !strings.Contains(reply.Body, "[info][title]") {
		t.Fatalf("reply: %+v", reply)
	}
	_, remaining, _ := sim.Quota(simAPIToken)
	if !strings.Contains(reply.Body, "of 300") {
		t.Fatalf("reply lacks the figures: %s", reply.Body)
	}
	// Two calls for one answer, though the question arrived twice (room event
	// and mention) and the answer came back once more: no loop, no double answer.
	if calls := sim.Calls(simAPIToken); calls != 2 || remaining != 298 {
		t.Fatalf("spent %d calls (remaining %d), want 2", calls, remaining)
	}
	for _, d := range sim.Deliveries() {
		if d.Status != 200 || d.Err != "" {
			t.Fatalf("delivery %+v", d)
		}
	}
	// The question as a room event and as a mention of the bot, the answer as
	// a room event (it mentions the asker, who has no webhook).
	if n := len(sim.Deliveries()); n != 3 {
		t.Fatalf("%d deliveries, want 3", n)
	}
	if recs := store.All(); len(recs) != 2 || recs[0].Source != sample.SourcePassive {
		t.Fatalf("records %+v", recs)
	}
}

// A message edited into a command is not answered: the edit arrives as
// message_updated and as mention_to_me with update_time set.
func TestEditedMessageIsNotAnswered(t *testing.T) {
	sim, store := simulatedRoom(t)
	id := sim.Say(simRoom, simHuman, "[To:9001]Quota Botさん hello")
	if !sim.Edit(simRoom, id, "[To:9001]Quota Botさん\n/quota") {
		t.Fatal("the message to edit is gone")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := sim.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(sim.Messages(simRoom)); n != 1 || sim.Calls(simAPIToken) != 0 || len(store.All()) != 0 {
		t.Errorf("%d messages, %d calls, %d records: the edit was answered", n, sim.Calls(simAPIToken), len(store.All()))
	}
	ds := sim.Deliveries()
	if len(ds) != 4 {
		t.Errorf("%d deliveries, want the message and its edit, each twice", len(ds))
	}
	for _, d := range ds {
		if d.Status != 200 || d.Err != "" {
			t.Errorf("delivery %+v", d)
		}
	}
}

// swappableToken is a webhook token source whose token can be replaced, as
// the parameter in SSM is when a webhook is registered anew.
type swappableToken struct {
	mu    sync.Mutex
	token string
}

func (s *swappableToken) Token(context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.token, nil
}

func (s *swappableToken) set(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = token
}

// A new webhook token is picked up by the rotating verifier without losing
// the bot's memory: a message already answered is not answered again after
// the change, and the old token no longer verifies.
func TestRotatedWebhookTokenKeepsMemory(t *testing.T) {
	sim, base := chatworksim.Start(t, chatworksim.Config{Mode: chatworksim.WindowFirstCall})
	sim.AddAccount(simAPIToken, simBot, "Quota Bot")
	sim.AddRoom(simRoom)
	cw, err := chatwork.New(chatwork.Config{BaseURL: base, Token: chatwork.StaticToken(simAPIToken)})
	if err != nil {
		t.Fatal(err)
	}
	const newToken = "bmV3LXdlYmhvb2stdG9rZW4tYWZ0ZXItYS1jaGFuZ2U="
	src := &swappableToken{token: simWebhookToken}
	clock := chatworksim.NewFakeClock(time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC))
	verifier := &chatwork.RotatingVerifier{Source: src, Now: clock.Now}
	store := &recordtest.Memory{}
	b, err := bot.New(bot.Config{RoomID: simRoom, Language: "en"}, bot.Deps{ChatWork: cw, Recorder: store, History: store, Verifier: verifier})
	if err != nil {
		t.Fatal(err)
	}
	payload := func(id string) []byte {
		ev, _ := json.Marshal(chatwork.WebhookEvent{MessageID: id, RoomID: simRoom, AccountID: simHuman, Body: "/quota", SendTime: 1})
		p, _ := json.Marshal(chatwork.WebhookPayload{SettingID: "1", EventType: chatwork.EventMessageCreated, EventTime: time.Now().Unix(), Event: ev})
		return p
	}
	send := func(token string, body []byte) int {
		sig, _ := chatwork.Sign(token, body)
		req := httptest.NewRequest("POST", "/webhook", bytes.NewReader(body))
		req.Header.Set(chatwork.SignatureHeader, sig)
		rec := httptest.NewRecorder()
		b.Handler().ServeHTTP(rec, req)
		return rec.Code
	}
	first := payload("1000000000000000001")
	if got := send(simWebhookToken, first); got != 200 {
		t.Fatalf("old token: %d", got)
	}
	src.set(newToken)
	clock.Advance(time.Minute) // the re-read is due
	if got := send(newToken, first); got != 200 {
		t.Fatalf("new token: %d", got)
	}
	if got := send(simWebhookToken, payload("1000000000000000002")); got != 401 {
		t.Fatalf("the old token still verifies: %d", got)
	}
	if n := len(sim.Messages(simRoom)); n != 1 {
		t.Fatalf("%d answers: the redelivered message was answered again", n)
	}
}
