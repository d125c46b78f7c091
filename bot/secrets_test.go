package bot

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
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
