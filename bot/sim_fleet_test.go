package bot_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/quotabot/chatwork-quota-bot/bot"
	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/chatworksim"
	"github.com/quotabot/chatwork-quota-bot/internal/recordtest"
	"github.com/quotabot/chatwork-quota-bot/internal/testproc"
)

// simFleet is a bot whose deployment has n tokens, each a bot account of
// its own in the simulator, with its own window (each token has spent a
// different share of it).
type simFleet struct {
	sim     *chatworksim.Server
	bot     *bot.Bot
	store   *recordtest.Memory
	logs    *testproc.Buffer
	secrets []string // the tokens' values, the bot's own first
	labels  []string
}

func startSimFleet(t testing.TB, n int, latency time.Duration) *simFleet {
	t.Helper()
	f := &simFleet{store: &recordtest.Memory{}, logs: &testproc.Buffer{}}
	var base string
	f.sim, base = chatworksim.Start(t, chatworksim.Config{Mode: chatworksim.WindowFirstCall, Latency: latency, RoomPostLimit: 1 << 20})
	f.sim.AddRoom(simRoom)
	var tokens []bot.Token
	for i := range n {
		secret := fmt.Sprintf("fleet-secret-%03d-4f9a0c7e", i)
		f.secrets = append(f.secrets, secret)
		f.sim.AddAccount(secret, simBot+int64(i), fmt.Sprintf("Bot %d", i))
		f.sim.Spend(secret, (i*37)%300)
		label := fmt.Sprintf("bot-%03d", i)
		if i == 0 {
			label = "default"
		}
		f.labels = append(f.labels, label)
		cw, err := chatwork.New(chatwork.Config{BaseURL: base, Token: chatwork.StaticToken(secret)})
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, bot.Token{Label: label, Reader: cw})
	}
	verifier, err := chatwork.NewVerifier(simWebhookToken)
	if err != nil {
		t.Fatal(err)
	}
	f.bot, err = bot.New(bot.Config{RoomID: simRoom, Language: "en", BotAccountID: simBot, Threshold: 30}, bot.Deps{
		ChatWork: tokens[0].Reader.(*chatwork.Client), Recorder: f.store, History: f.store, Verifier: verifier,
		Logger: slog.New(slog.NewJSONHandler(f.logs, nil)),
		Tokens: func(context.Context) []bot.Token { return tokens[1:] },
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// ask delivers "/quota" from a person, signed as ChatWork signs it.
func (f *simFleet) ask(t testing.TB, messageID int) {
	t.Helper()
	body := fmt.Sprintf(`{"webhook_setting_id":"1","webhook_event_type":"message_created","webhook_event_time":%d,"webhook_event":{"message_id":"%d","room_id":%d,"account_id":%d,"body":"/quota","send_time":1,"update_time":0}}`, time.Now().Unix(), messageID, simRoom, simHuman)
	sig, err := chatwork.Sign(simWebhookToken, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("POST", "/webhook", strings.NewReader(body))
	req.Header.Set(chatwork.SignatureHeader, sig)
	w := httptest.NewRecorder()
	f.bot.Handler().ServeHTTP(w, req)
	if w.Code != 200 {
		t.Fatalf("status %d", w.Code)
	}
}

// TestFleetQuotaOnSimulator: /quota in a deployment of 100 tokens reads
// each once and posts one message, within ChatWork's length, naming every
// token, lowest remaining first, and no token's value anywhere.
func TestFleetQuotaOnSimulator(t *testing.T) {
	f := startSimFleet(t, 100, 0)
	f.ask(t, 1000000000000000001)
	msgs := f.sim.Messages(simRoom)
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want one answer", len(msgs))
	}
	body := msgs[0].Body
	if n := utf8.RuneCountInString(body); n > chatwork.MaxMessageRunes {
		t.Fatalf("the answer is %d characters, ChatWork allows %d", n, chatwork.MaxMessageRunes)
	}
	for i, secret := range f.secrets {
		want := 1 // one reading
		if i == 0 {
			want = 2 // and the post
		}
		if got := f.sim.Calls(secret) - f.sim.OtherCalls(secret); got != want {
			t.Errorf("token %s: %d calls, want %d", f.labels[i], got, want)
		}
	}
	last := -1
	// Token i spent (i*37)%300 before the question and one call on the
	// reading: bot-081 has the fewest left, the own token the most.
	for _, s := range []string{"]⚠ bot-081: 2 of 300", "\n⚠ bot-008: 3 of 300", "\nbot-073: 298 of 300", "\ndefault: 299 of 300"} {
		i := strings.Index(body, s)
		if i <= last {
			t.Fatalf("%q missing or out of order:\n%s", s, body)
		}
		last = i
	}
	for _, l := range f.labels {
		if !strings.Contains(body, l+": ") {
			t.Errorf("%s is not in the answer", l)
		}
	}
	recs := f.store.All()
	if len(recs) != 101 {
		t.Errorf("%d records, want one per reading and one for the post", len(recs))
	}
	everything := body + f.logs.String()
	for _, r := range recs {
		j, _ := r.MarshalJSON()
		everything += string(j)
	}
	for _, secret := range f.secrets {
		if strings.Contains(everything, secret) {
			t.Fatalf("a token's value appears in the answer, the logs or the records")
		}
	}
}

// BenchmarkFleetQuota is /quota answered for 100 tokens against the
// simulator answering each call after 200 ms, about ChatWork's own time:
// one op is one answer, readings and post included.
func BenchmarkFleetQuota(b *testing.B) {
	f := startSimFleet(b, 100, 200*time.Millisecond)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		f.ask(b, 1000000000000000001+i)
	}
	if n := len(f.sim.Messages(simRoom)); n != b.N {
		b.Fatalf("%d answers for %d questions", n, b.N)
	}
}
