package bot

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
)

// quotaFleetEnv is an env at testNow with the tokens deploy (12 left) and
// report (rejected) besides the own (120 left).
func quotaFleetEnv(t *testing.T, lang string) (*env, map[string]*fakeChatWork) {
	t.Helper()
	others := map[string]*fakeChatWork{"deploy": newFakeChatWork(), "report": newFakeChatWork()}
	others["deploy"].reading = chatwork.Reading{At: testNow, Quota: &chatwork.Quota{Limit: 300, Remaining: 12, Reset: testReset.Add(time.Minute)}, AccountID: 4242}
	others["report"].readErr = &chatwork.Error{Op: "read quota", Kind: chatwork.KindInvalidToken, Status: 401, Err: errors.New(leakyCause)}
	e := newEnv(t, func(c *Config, d *Deps) {
		c.Language = lang
		d.Tokens = func(context.Context) []Token {
			return []Token{{"report", others["report"]}, {"deploy", others["deploy"]}, {"default", newFakeChatWork()}}
		}
	})
	return e, others
}

func TestFleetQuotaAnswer(t *testing.T) {
	e, others := quotaFleetEnv(t, "en")
	e.serve(t, signedRequest(t, message("/quota")))
	if e.cw.reads != 1 || others["deploy"].reads != 1 || others["report"].reads != 1 || len(e.cw.posts) != 1 {
		t.Fatalf("reads own %d deploy %d report %d, posts %d: want one reading each and one post", e.cw.reads, others["deploy"].reads, others["report"].reads, len(e.cw.posts))
	}
	body := e.cw.posts[0].Body
	order := []string{"⚠ deploy: 12 of 300", "default: 120 of 300", "✖ report: the reading failed (invalid token)"}
	last := -1
	for _, s := range order {
		i := strings.Index(body, s)
		if i <= last {
			t.Fatalf("%q missing or out of order:\n%s", s, body)
		}
		last = i
	}
	checkMessage(t, body)
	// Each reading is recorded as a passive sample (or failure) of its
	// token; the post as the own token's.
	byToken := map[string][]sample.Record{}
	for _, r := range e.rec.All() {
		if r.Source != sample.SourcePassive {
			t.Errorf("record %+v", r)
		}
		byToken[r.Token] = append(byToken[r.Token], r)
	}
	if len(byToken["deploy"]) != 1 || byToken["deploy"][0].Remaining != 12 || len(byToken["report"]) != 1 || byToken["report"][0].Error != "invalid_token" || len(byToken["default"]) != 2 {
		t.Errorf("records by token: %+v", byToken)
	}
	// The own account is learned from the own token's reading only.
	if got := e.bot.self.Load(); got != testBotID {
		t.Errorf("self = %d, want %d", got, testBotID)
	}
}

func TestFleetQuotaCommands(t *testing.T) {
	golden := func(name string) string {
		b, err := os.ReadFile(filepath.Join("testdata", "golden", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	t.Run("one token by its label, in any case", func(t *testing.T) {
		e, others := quotaFleetEnv(t, "en")
		e.setHistory(tagged("deploy", recentHistory())...)
		e.serve(t, signedRequest(t, message("/quota DEPLOY")))
		if e.cw.reads != 0 || others["deploy"].reads != 1 || len(e.cw.posts) != 1 {
			t.Fatalf("reads own %d deploy %d, posts %d", e.cw.reads, others["deploy"].reads, len(e.cw.posts))
		}
		body := e.cw.posts[0].Body
		for _, s := range []string{"(token: deploy)", "Remaining: 12 of 300", "Lowest in the last 24 hours: 12 (4%", "⚠ Remaining is at or below the threshold."} {
			if !strings.Contains(body, s) {
				t.Errorf("detailed answer lacks %q:\n%s", s, body)
			}
		}
		checkMessage(t, body)
	})
	t.Run("the own token by its label is today's answer", func(t *testing.T) {
		e, _ := quotaFleetEnv(t, "en")
		e.serve(t, signedRequest(t, message("/quota Default")))
		if got := e.cw.postBodies(); len(got) != 1 || got[0] != golden("answer_en.txt") {
			t.Errorf("posted %q, want answer_en.txt", got)
		}
	})
	t.Run("a rejected token's detail says the reading failed", func(t *testing.T) {
		e, _ := quotaFleetEnv(t, "en")
		e.serve(t, signedRequest(t, message("/quota report")))
		if got := e.cw.postBodies(); len(got) != 1 || got[0] != golden("unavailable_en.txt") {
			t.Errorf("posted %q", got)
		}
	})
	t.Run("an unknown label names the known ones", func(t *testing.T) {
		e, others := quotaFleetEnv(t, "en")
		e.serve(t, signedRequest(t, message("/quota deplyo")))
		got := e.cw.postBodies()
		if len(got) != 1 || !strings.Contains(got[0], `There is no token "deplyo". Tokens: default, report, deploy`) || e.cw.reads+others["deploy"].reads != 0 {
			t.Errorf("posted %q", got)
		}
	})
	t.Run("help explains both", func(t *testing.T) {
		e, _ := quotaFleetEnv(t, "ja")
		e.serve(t, signedRequest(t, message("/quota help")))
		if got := e.cw.postBodies(); len(got) != 1 || got[0] != golden("help_fleet_ja.txt") || e.cw.reads != 0 {
			t.Errorf("posted %q", got)
		}
	})
	t.Run("the own token exhausted: nothing can be posted", func(t *testing.T) {
		e, others := quotaFleetEnv(t, "en")
		e.cw.readErr = &chatwork.Error{Op: "read quota", Kind: chatwork.KindQuotaExhausted, Status: 429, Quota: &chatwork.Quota{Limit: 300, Reset: testReset}}
		e.serve(t, signedRequest(t, message("/quota")))
		if len(e.cw.posts) != 0 || others["deploy"].reads != 1 {
			t.Errorf("posts %d, deploy reads %d", len(e.cw.posts), others["deploy"].reads)
		}
	})
	t.Run("another token exhausted is a reading of 0", func(t *testing.T) {
		e, others := quotaFleetEnv(t, "en")
		others["deploy"].readErr = &chatwork.Error{Op: "read quota", Kind: chatwork.KindQuotaExhausted, Status: 429, Quota: &chatwork.Quota{Limit: 300, Remaining: 0, Reset: testReset}}
		e.serve(t, signedRequest(t, message("/quota")))
		if got := e.cw.postBodies(); len(got) != 1 || !strings.Contains(got[0], "]⚠ deploy: 0 of 300 (0%)") {
			t.Errorf("posted %q", got)
		}
	})
}
