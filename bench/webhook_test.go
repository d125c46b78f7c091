package bench

import (
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/quotabot/chatwork-quota-bot/bot"
	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/chatworksim"
	"github.com/quotabot/chatwork-quota-bot/internal/recordtest"
)

const (
	roomID = 4242
	userID = 2002
)

// webhookToken is a ChatWork webhook token: base64 of 32 bytes.
var webhookToken = base64.StdEncoding.EncodeToString([]byte("bench-webhook-key-32-bytes-long!"))

// newBot wires the real bot to the simulator through the real client.
func newBot(tb testing.TB, sim *chatworksim.Server, base string, log *slog.Logger, now func() time.Time) *bot.Bot {
	tb.Helper()
	cw, err := chatwork.New(chatwork.Config{BaseURL: base, Token: chatwork.StaticToken(simToken), Now: now})
	if err != nil {
		tb.Fatal(err)
	}
	v, err := chatwork.NewVerifier(webhookToken)
	if err != nil {
		tb.Fatal(err)
	}
	store := &recordtest.Memory{}
	b, err := bot.New(bot.Config{RoomID: roomID, BotAccountID: botID, Now: now},
		bot.Deps{ChatWork: cw, Recorder: store, History: store, Verifier: v, Logger: log})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// A /quota typed in the room, delivered by the simulator's signed webhook,
// costs the token exactly 2 calls (read the quota, post the answer), and
// the bot's own answer, delivered back to it, costs nothing.
func TestQuotaCallsThroughSimulator(t *testing.T) {
	sim, base := chatworksim.Start(t, chatworksim.Config{})
	sim.AddAccount(simToken, botID, "Quota Bot")
	sim.AddAccount("user-token", userID, "Someone")
	sim.AddRoom(roomID)
	b := newBot(t, sim, base, nil, nil)
	srv := httptest.NewServer(b.Handler())
	t.Cleanup(srv.Close)
	if err := sim.AddWebhook(chatworksim.Webhook{URL: srv.URL + "/webhook", Token: webhookToken, RoomID: roomID}); err != nil {
		t.Fatal(err)
	}
	for i, text := range []string{"/quota", "／quota"} {
		before := sim.Calls(simToken)
		sim.Say(roomID, userID, text)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := sim.WaitIdle(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if got := sim.Calls(simToken) - before; got != 2 {
			t.Errorf("%q: %d ChatWork calls, want 2", text, got)
		}
		if n := len(sim.Messages(roomID)); n != 2*(i+1) {
			t.Fatalf("%q: room has %d messages, want the question and one answer each", text, n)
		}
	}
	for _, d := range sim.Deliveries() {
		if d.Status != http.StatusOK {
			t.Errorf("delivery %+v", d)
		}
	}
}

// BenchmarkForgedRequests measures webhook requests with a wrong signature,
// rejected by the real handler in process, with the real client pointed at
// the simulator to prove no call is made.
// The req/s/core metric is throughput divided by GOMAXPROCS; run it with
// -cpu 1 for the single-core figure.
//
//	go test ./bench -run '^$' -bench ForgedRequests -cpu 1,2
func BenchmarkForgedRequests(b *testing.B) {
	for _, c := range []struct {
		name string
		log  *slog.Logger
	}{
		{"discard-log", nil},
		{"json-log", slog.New(slog.NewJSONHandler(io.Discard, nil))}, // as on Lambda, minus the pipe
	} {
		b.Run(c.name, func(b *testing.B) {
			sim, base := chatworksim.Start(b, chatworksim.Config{})
			sim.AddAccount(simToken, botID, "Quota Bot")
			h := newBot(b, sim, base, c.log, nil).Handler()
			body := `{"webhook_setting_id":"1","webhook_event_type":"message_created","webhook_event_time":1764000000,` +
				`"webhook_event":{"message_id":"1000000000000000001","room_id":4242,"account_id":2002,"body":"/quota","send_time":1764000000,"update_time":0}}`
			forged := base64.StdEncoding.EncodeToString([]byte("forged-signature-32-bytes-long!!"))
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequest(http.MethodPost, "/webhook?chatwork_webhook_signature="+forged, strings.NewReader(body))
					req.Header.Set("X-ChatWorkWebhookSignature", forged)
					w := httptest.NewRecorder()
					h.ServeHTTP(w, req)
					if w.Code != http.StatusUnauthorized {
						b.Errorf("forged request answered %d", w.Code)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds()/float64(runtime.GOMAXPROCS(0)), "req/s/core")
			if n := sim.Calls(simToken); n != 0 {
				b.Fatalf("forged requests made %d ChatWork calls", n)
			}
		})
	}
}
