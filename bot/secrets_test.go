package bot

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/chatworksim"
	"github.com/quotabot/chatwork-quota-bot/internal/recordtest"
	"github.com/quotabot/chatwork-quota-bot/internal/testproc"
)

// TestNoSecretLeaks runs the bot through every path (answers, failures,
// refused requests, and people pasting the tokens into the room) and scans
// everything it logged, posted, recorded and answered for the API token and
// the webhook token.
func TestNoSecretLeaks(t *testing.T) {
	key, err := base64.StdEncoding.DecodeString(vectorToken)
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{
		"API token":             apiToken,
		"webhook token":         vectorToken,
		"webhook token (bytes)": string(key),
	}
	// logs holds what operators see; public what the room, the log group
	// and ChatWork see.
	var logs, public strings.Builder
	collect := func(e *env, w *httptest.ResponseRecorder) {
		public.WriteString(w.Body.String())
		for k, v := range w.Header() {
			public.WriteString(k + strings.Join(v, ","))
		}
		logs.WriteString(e.logs.String())
		for _, b := range e.cw.postBodies() {
			public.WriteString(b)
		}
		for _, r := range e.rec.All() {
			j, err := r.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			public.Write(j)
		}
	}

	// The client's errors are safe to log by contract, but their text is
	// for operators: it must reach neither the room nor the records.
	const cause = "UPSTREAM-CAUSE-TEXT"
	leaky := errors.New(cause)
	failures := []error{
		&chatwork.Error{Op: "read quota", Kind: chatwork.KindNetwork, Err: leaky},
		&chatwork.Error{Op: "read quota", Kind: chatwork.KindInvalidToken, Status: 401, Err: leaky},
		&chatwork.Error{Op: "read quota", Kind: chatwork.KindQuotaExhausted, Status: 429, Err: leaky},
	}
	for _, lang := range []string{"ja", "en"} {
		messages := []string{
			"/quota", "/quota help", "/quota xyz",
			"/quota " + apiToken, "/quota " + vectorToken, "[To:1]x\n/quota " + apiToken,
		}
		for _, m := range messages {
			e := newEnv(t, func(c *Config, _ *Deps) { c.Language = lang })
			body := event(chatwork.EventMessageCreated, chatwork.WebhookEvent{MessageID: "1", RoomID: testRoom, AccountID: testSender, Body: m})
			collect(e, e.serve(t, signedRequest(t, body)))
		}
		for _, fail := range failures {
			e := newEnv(t, func(c *Config, _ *Deps) { c.Language = lang })
			e.cw.readErr = fail
			collect(e, e.serve(t, signedRequest(t, message("/quota"))))
		}
		// Refused requests, including one carrying the token as its "signature".
		e := newEnv(t, nil)
		r := httptest.NewRequest(http.MethodPost, "/?"+chatwork.SignatureQuery+"="+apiToken, strings.NewReader(message("/quota "+vectorToken)))
		r.Header.Set(chatwork.SignatureHeader, vectorToken)
		collect(e, e.serve(t, r))
		collect(e, e.serve(t, signedRequest(t, "{"+vectorToken)))
	}

	if !strings.Contains(public.String(), "[rp aid=") || !strings.Contains(logs.String(), `"level"`) {
		t.Fatal("the scan saw no posts or no logs: it would prove nothing")
	}
	if i := strings.Index(public.String(), cause); i >= 0 {
		t.Errorf("an internal error text reached the room or the records: ...%s...", public.String()[max(0, i-80):i+len(cause)])
	}
	all := logs.String() + public.String()
	for name, s := range secrets {
		if i := strings.Index(all, s); i >= 0 {
			t.Errorf("the %s appears in the bot's output: ...%s...", name, all[max(0, i-80):min(len(all), i+len(s)+20)])
		}
	}
}

// TestNoSecretLeaksFleet runs a deployment of four tokens on real clients
// against the simulator (one working, one exhausted, one revoked) through
// every fleet path: /quota for all and for each label, a token's value
// pasted as a label, and each alarm's events for each token. No token's
// value may appear in any post, log line, record or response.
func TestNoSecretLeaksFleet(t *testing.T) {
	sim, base := chatworksim.Start(t, chatworksim.Config{Mode: chatworksim.WindowFirstCall, RoomPostLimit: 1 << 20})
	sim.AddRoom(testRoom)
	secrets := map[string]string{
		"default": apiToken, "deploy": "deploy-secret-7c1e93aa", "busy": "busy-secret-52b0e4d1", "revoked": "revoked-secret-0f8a6c2b",
	}
	for i, label := range []string{"default", "deploy", "busy"} {
		sim.AddAccount(secrets[label], int64(testBotID+i), label)
	}
	sim.Spend(secrets["busy"], 300)
	clients := map[string]*chatwork.Client{}
	for label, secret := range secrets {
		cw, err := chatwork.New(chatwork.Config{BaseURL: base, Token: chatwork.StaticToken(secret), Retries: -1})
		if err != nil {
			t.Fatal(err)
		}
		clients[label] = cw
	}
	logs, rec := &testproc.Buffer{}, &recordtest.Memory{}
	v, err := chatwork.NewVerifier(vectorToken)
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Config{RoomID: testRoom, Language: "en", Threshold: 60, AlarmName: fixtureAlarm,
		ErrorsAlarmName: "quotabot-token-errors", HeartbeatAlarmName: "quotabot-monitor-heartbeat"},
		Deps{ChatWork: clients["default"], Recorder: rec, History: rec, Verifier: v,
			Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
			Tokens: func(context.Context) []Token {
				return []Token{{"busy", clients["busy"]}, {"deploy", clients["deploy"]}, {"revoked", clients["revoked"]}}
			}})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, bot: b}
	var public strings.Builder
	for i, m := range []string{"/quota", "/quota deploy", "/quota BUSY", "/quota revoked", "/quota " + secrets["deploy"], "/quota help"} {
		body := eventAt(chatwork.EventMessageCreated, chatwork.WebhookEvent{MessageID: fmt.Sprint(i + 1), RoomID: testRoom, AccountID: testSender, Body: m}, time.Now())
		public.WriteString(e.serve(t, signedRequest(t, body)).Body.String())
	}
	for _, label := range []string{"deploy", "busy", "revoked"} {
		for _, name := range []string{"contributor-quota-alarm.json", "contributor-errors-alarm.json", "contributor-quota-ok.json", "contributor-errors-ok.json"} {
			ev := loadEvent(t, name)
			ev.Detail.AlarmContributor.Attributes["Token"] = label
			ev.Detail.AlarmContributor.ID += label
			if err := b.HandleAlarm(context.Background(), ev); err != nil {
				public.WriteString(err.Error())
			}
		}
	}
	for _, name := range []string{"heartbeat-alarm.json", "heartbeat-ok.json"} {
		if err := b.HandleAlarm(context.Background(), loadEvent(t, name)); err != nil {
			public.WriteString(err.Error())
		}
	}
	msgs := sim.Messages(testRoom)
	for _, m := range msgs {
		public.WriteString(m.Body)
	}
	for _, r := range rec.All() {
		j, _ := r.MarshalJSON()
		public.Write(j)
	}
	out := public.String()
	if len(msgs) < 12 || !strings.Contains(out, "the reading failed (invalid token)") || !strings.Contains(out, `"Token":"revoked"`) || !strings.Contains(logs.String(), "invalid_token") {
		t.Fatalf("the scan saw %d posts and not every path: it would prove little\n%s", len(msgs), out)
	}
	all := out + logs.String()
	for label, s := range secrets {
		if i := strings.Index(all, s); i >= 0 {
			t.Errorf("the %s token's value appears in the bot's output: ...%s...", label, all[max(0, i-80):min(len(all), i+len(s)+20)])
		}
	}
}
