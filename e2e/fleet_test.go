package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quotabot/chatwork-quota-bot/internal/app/monitorfn"
	"github.com/quotabot/chatwork-quota-bot/internal/awstest"
	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/chatworksim"
)

// Both bootstraps under the emulator with three tokens, the bot's own and
// two under QUOTA_TOKENS_PATH on moto: a tick records each in its own
// stream for one call each; the webhook answers /quota for the three with
// one read each, and posts a contributor event's alert naming its token,
// read with that token.
func TestFleetUnderEmulator(t *testing.T) {
	endpoint := awstest.StartMoto(t)
	root := moduleRoot(t)
	dir := t.TempDir()
	rie := buildEmulator(t, dir)
	monitors := targets(t, "MonitorFunction", "./cmd/monitor", dir)
	webhooks := targets(t, "WebhookFunction", "./cmd/webhook", dir)
	for i, tg := range monitors {
		t.Run(tg.name, func(t *testing.T) {
			w := newWorld(t, endpoint, chatworksim.Config{}).withWebhook(t).withFleet(t)
			w.sim.Spend(deployToken, 250) // deploy runs low
			tokens := map[string]string{w.label: apiToken, "deploy": deployToken, "report": reportToken}

			mon := startEmulator(t, rie, w.env(), tg.argv...)
			res := mon.invoke(t, tickEvent)
			var sum monitorfn.Summary
			if err := json.Unmarshal(res.Body, &sum); res.ErrorType != "" || err != nil || sum.Calls != 3 || sum.Records != 3 || len(sum.Tokens) != 3 {
				t.Fatalf("tick: %v (%v)\nemulator output:\n%s", res, err, mon.output())
			}
			for label, token := range tokens {
				recs := w.stream(t, label)
				_, remaining, reset := w.sim.Quota(token)
				if len(recs) != 1 || recs[0].Token != label || !recs[0].HasQuota || recs[0].Remaining != remaining || recs[0].Reset != reset.Unix() {
					t.Fatalf("stream %s: %+v; the simulator says %d, reset %d", label, recs, remaining, reset.Unix())
				}
				if n := w.spentBy(token); n != 1 {
					t.Fatalf("the tick spent %d calls of %s", n, label)
				}
			}

			hook := startEmulator(t, rie, w.env(), webhooks[i].argv...)
			body := say(w, "/quota")
			sig, err := chatwork.Sign(webhookToken, body)
			if err != nil {
				t.Fatal(err)
			}
			if resp := functionURLResponse(t, hook.invoke(t, functionURLRequest(body, sig, false))); resp.StatusCode != 200 {
				t.Fatalf("/quota: status %d\nemulator output:\n%s", resp.StatusCode, hook.output())
			}
			posts := botMessages(w)
			if len(posts) != 1 {
				t.Fatalf("the bot's messages: %+v\nemulator output:\n%s", posts, hook.output())
			}
			for label, token := range tokens {
				want := 2 // the tick's reading and the answer's
				if token == apiToken {
					want++ // and the post
				}
				if !strings.Contains(posts[0].Body, label) || w.spentBy(token) != want {
					t.Errorf("/quota: %s named %v, %d calls of it (want %d):\n%s", label, strings.Contains(posts[0].Body, label), w.spentBy(token), want, posts[0].Body)
				}
			}

			event, err := os.ReadFile(filepath.Join(root, "testdata", "events", "contributor-quota-alarm.json"))
			if err != nil {
				t.Fatal(err)
			}
			if r := hook.invoke(t, event); r.Status != 200 || r.ErrorType != "" {
				t.Fatalf("contributor event: %v\nemulator output:\n%s", r, hook.output())
			}
			posts = botMessages(w)
			if len(posts) != 2 || !strings.Contains(posts[1].Body, "running low") || !strings.Contains(posts[1].Body, "(token: deploy)") || w.spentBy(deployToken) != 3 {
				t.Fatalf("after the contributor event (%d calls of deploy): %+v\nemulator output:\n%s", w.spentBy(deployToken), posts, hook.output())
			}
			noSecrets(t, map[string]string{"monitor output": mon.output(), "webhook output": hook.output(), "answer": posts[0].Body, "alert": posts[1].Body})
		})
	}
}
