package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/quotabot/chatwork-quota-bot/internal/app/monitorfn"
	"github.com/quotabot/chatwork-quota-bot/internal/awstest"
	"github.com/quotabot/chatwork-quota-bot/internal/chatworksim"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
)

// The ScheduleV2 target's Input in template.yaml, passed verbatim.
var tickEvent = []byte(`{"action":"tick"}`)

// The monitor bootstrap under the emulator: a scheduled tick records the
// simulator's figures in moto's log group for exactly one ChatWork call.
func TestMonitorUnderEmulator(t *testing.T) {
	endpoint := awstest.StartMoto(t)
	dir := t.TempDir()
	rie := buildEmulator(t, dir)
	for _, tg := range targets(t, "MonitorFunction", "./cmd/monitor", dir) {
		t.Run(tg.name, func(t *testing.T) {
			t.Run("tick records the simulator's figures", func(t *testing.T) {
				w := newWorld(t, endpoint, chatworksim.Config{})
				w.sim.Spend(apiToken, 21) // another client of the token
				emu := startEmulator(t, rie, w.env(), tg.argv...)
				for i := 1; i <= 2; i++ {
					res := emu.invoke(t, tickEvent)
					if res.Status != 200 || res.ErrorType != "" {
						t.Fatalf("tick %d: %v\nemulator output:\n%s", i, res, emu.output())
					}
					var sum monitorfn.Summary
					if err := json.Unmarshal(res.Body, &sum); err != nil || sum.Calls != 1 || sum.Records != 1 {
						t.Fatalf("tick %d: summary %s (%v)", i, res.Body, err)
					}
					limit, remaining, reset := w.sim.Quota(apiToken)
					recs := w.records(t)
					if len(recs) != i {
						t.Fatalf("tick %d: %d records in the log group", i, len(recs))
					}
					r := recs[i-1]
					if !r.HasQuota || r.Remaining != remaining || r.Limit != limit || r.Reset != reset.Unix() ||
						r.Token != tokenLabel || r.Source != sample.SourceMonitor || r.Error != "" {
						t.Fatalf("tick %d: record %+v; the simulator says %d/%d, reset %d", i, r, remaining, limit, reset.Unix())
					}
					if spent := w.spent(); spent != i {
						t.Fatalf("after %d ticks the monitor spent %d ChatWork calls", i, spent)
					}
				}
				if r := w.records(t)[1]; r.Remaining != 300-21-2 {
					t.Fatalf("remaining %d after 21 other calls and 2 ticks", r.Remaining)
				}
				reports := emu.reports(t, 2)
				if !reports[0].HasInit || reports[1].HasInit {
					t.Errorf("want 2 REPORT lines, the first with Init Duration; got %+v", reports)
				}
				noSecrets(t, map[string]string{"emulator output": emu.output()})
			})
			t.Run("missing SSM parameter is a function error naming it", func(t *testing.T) {
				w := newWorld(t, endpoint, chatworksim.Config{})
				missing := "/" + awstest.UniqueName(t, "quotabot-e2e/no-such-parameter")
				w.vars["CHATWORK_TOKEN_PARAMETER"] = missing
				emu := startEmulator(t, rie, w.env(), tg.argv...)
				res := emu.invoke(t, tickEvent)
				if res.ErrorType == "" || !strings.Contains(res.ErrorMessage, missing) {
					t.Fatalf("want a function error naming %s, got %v\nemulator output:\n%s", missing, res, emu.output())
				}
				if n := w.sim.Calls(apiToken); n != 0 {
					t.Fatalf("ChatWork was called %d times without a token", n)
				}
				noSecrets(t, map[string]string{"emulator output": emu.output(), "result": string(res.Body)})
			})
		})
	}
}
