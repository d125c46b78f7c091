package bot

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
)

// Seeds beyond these are in testdata/fuzz/<FuzzName>/.

// FuzzVerify: a request is accepted exactly when its header or query
// parameter carries the body's HMAC, whatever else it carries.
func FuzzVerify(f *testing.F) {
	f.Add([]byte(vectorBody), vectorSig, "")
	f.Add([]byte(vectorBody), "", vectorSig)
	f.Add([]byte(vectorBody), "x", strings.ReplaceAll(vectorSig, "+", " "))
	f.Add([]byte(""), "", "")
	e := newEnv(f, func(_ *Config, d *Deps) { d.Logger = slog.New(slog.DiscardHandler) })
	key, err := base64.StdEncoding.DecodeString(vectorToken)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte, header, query string) {
		target := "/"
		if query != "" {
			target += "?" + url.Values{chatwork.SignatureQuery: {query}}.Encode()
		}
		r := httptest.NewRequest(http.MethodPost, target, bytes.NewReader(body))
		if header != "" {
			r.Header[chatwork.SignatureHeader] = []string{header}
		}
		m := hmac.New(sha256.New, key)
		m.Write(body)
		mac := m.Sum(nil)
		matches := func(sig string) bool {
			got, err := base64.StdEncoding.DecodeString(sig)
			return err == nil && bytes.Equal(got, mac)
		}
		want := header != "" && matches(header) ||
			query != "" && (matches(query) || matches(strings.ReplaceAll(query, " ", "+")))
		if got := e.bot.signed(r.Context(), r, body); got != want {
			t.Fatalf("signed = %v, want %v (header %q, query %q)", got, want, header, query)
		}
	})
}

// FuzzHandler: any request never panics, always gets a short answer, and
// reaches ChatWork only when it is signed.
func FuzzHandler(f *testing.F) {
	for _, body := range []string{
		vectorBody,
		message("/quota"),
		message("/quota help"),
		message("[To:1]x\n／ｑｕｏｔａ xyz"),
		event(chatwork.EventMentionToMe, chatwork.WebhookEvent{MessageID: "1", RoomID: testRoom, FromAccountID: 2, Body: "/quota"}),
		event(chatwork.EventMessageUpdated, chatwork.WebhookEvent{MessageID: "1", RoomID: testRoom, AccountID: 2, Body: "/quota"}),
		`{"webhook_event_type":"message_created","webhook_event":null}`,
		"{",
	} {
		f.Add([]byte(body), "", true)
		f.Add([]byte(body), vectorSig, false)
	}
	e := newEnv(f, func(_ *Config, d *Deps) { d.Logger = slog.New(slog.DiscardHandler) })
	e.setHistory() // keeps each answer cheap
	f.Fuzz(func(t *testing.T, body []byte, sig string, signIt bool) {
		if signIt {
			sig = sign(t, string(body))
		}
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		r.Header[chatwork.SignatureHeader] = []string{sig}
		before := e.cw.calls()
		w := httptest.NewRecorder()
		e.bot.Handler().ServeHTTP(w, r)
		calls := e.cw.calls() - before
		if w.Body.Len() >= 2048 {
			t.Fatalf("response of %d bytes", w.Body.Len())
		}
		if int64(len(body)) > e.bot.cfg.MaxBody {
			if w.Code != http.StatusRequestEntityTooLarge || calls != 0 {
				t.Fatalf("oversized request: status %d, %d calls", w.Code, calls)
			}
			return
		}
		if !e.bot.verifier.Verify(context.Background(), body, sig) {
			if w.Code != http.StatusUnauthorized || calls != 0 {
				t.Fatalf("unsigned request: status %d, %d calls", w.Code, calls)
			}
			return
		}
		if w.Code != http.StatusOK {
			t.Fatalf("signed request: status %d, want 200 whatever it holds", w.Code)
		}
		if calls > 3 {
			t.Fatalf("%d calls for one delivery", calls)
		}
	})
}

// FuzzParseCommand: parsing never panics, never echoes unsafe text, and
// agrees with the rules stated in parseCommand's comment.
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"/quota", "／ｑｕｏｔａ　ｈｅｌｐ", "[To:1]A\n/quota x", "[qt]/quota[/qt]", "[rp aid=1 to=2-3]B /quota"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		c := parseCommand(body)
		if c.arg != "" && (c.kind != cmdUnknown || safeArg(c.arg) != c.arg) {
			t.Fatalf("arg %q with kind %v", c.arg, c.kind)
		}
		if c.kind != cmdNone && !strings.Contains(strings.ToLower(foldWidth(body)), "/quota") {
			t.Fatalf("%q parsed as %v without /quota in it", body, c.kind)
		}
		// Addressing on a line of its own changes nothing.
		if got := parseCommand("[To:123]Bot\n" + body); got != c {
			t.Fatalf("with a To line: %+v, without: %+v", got, c)
		}
		// Quoted text is never a command (unless the body closes the quote).
		if !strings.Contains(strings.ToLower(body), "[/qt]") {
			if got := parseCommand("[qt]" + body + "[/qt]"); got.kind != cmdNone {
				t.Fatalf("quoted %q parsed as %v", body, got.kind)
			}
		}
	})
}
