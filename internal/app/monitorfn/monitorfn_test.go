package monitorfn

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/quotabot/chatwork-quota-bot/internal/app"
	"github.com/quotabot/chatwork-quota-bot/internal/awstest"
	"github.com/quotabot/chatwork-quota-bot/internal/chatworksim"
	"github.com/quotabot/chatwork-quota-bot/internal/cwlogs"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
	"github.com/quotabot/chatwork-quota-bot/internal/testproc"
)

func TestMain(m *testing.M) { awstest.Main(m) }

func env(m map[string]string) app.Getenv { return func(k string) string { return m[k] } }

const apiToken = "sim-api-token-0123456789abcdef"

type monitorEnv struct {
	sim      *chatworksim.Server
	vars     map[string]string
	stdout   *testproc.Buffer
	logs     *testproc.Buffer
	group    string
	endpoint string
}

// setup starts moto and the simulator and seeds the token and the log group.
func setup(t *testing.T) *monitorEnv {
	t.Helper()
	endpoint := awstest.StartMoto(t)
	cfg := awstest.Config(t, endpoint)
	// Windows start at the first call, so a test never runs into a reset.
	sim, base := chatworksim.Start(t, chatworksim.Config{Mode: chatworksim.WindowFirstCall})
	sim.AddAccount(apiToken, 9001, "quota bot")
	param := "/" + awstest.UniqueName(t, "quotabot-test/api-token")
	awstest.PutSecureString(t, cfg, param, apiToken)
	group := awstest.UniqueName(t, "quotabot-test/samples")
	awstest.CreateLogGroup(t, cfg, group)
	return &monitorEnv{
		sim: sim, group: group, endpoint: endpoint, stdout: &testproc.Buffer{}, logs: &testproc.Buffer{},
		vars: map[string]string{
			"CHATWORK_API_URL":         base,
			"CHATWORK_TOKEN_PARAMETER": param,
			"QUOTA_LOG_GROUP":          group,
			"QUOTA_TOKEN_LABEL":        "ops-bots",
		},
	}
}

func (e *monitorEnv) tick(t *testing.T) (sumJSON string, err error) {
	t.Helper()
	cfg := awstest.Config(t, e.endpoint)
	handle, err := Wire(context.Background(), env(e.vars), cfg, e.stdout, slog.New(slog.NewJSONHandler(e.logs, nil)))
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sum, err := handle(ctx, json.RawMessage(`{"action":"tick"}`))
	b, _ := json.Marshal(sum)
	return string(b), err
}

func (e *monitorEnv) records(t *testing.T) []sample.Record {
	t.Helper()
	cfg := awstest.Config(t, e.endpoint)
	var out []sample.Record
	for _, msg := range awstest.LogEvents(t, cfg, e.group, cwlogs.StreamName("ops-bots")) {
		r, err := sample.Parse([]byte(msg))
		if err != nil {
			t.Fatalf("log event %q: %v", msg, err)
		}
		out = append(out, r)
	}
	return out
}

func (e *monitorEnv) noSecret(t *testing.T) {
	t.Helper()
	for name, s := range map[string]string{"stdout": e.stdout.String(), "log": e.logs.String()} {
		if strings.Contains(s, apiToken) {
			t.Fatalf("%s holds the API token", name)
		}
	}
}

// The monitor's records in moto's log group match the simulator's figures
// exactly, and it spends exactly one call per tick.
func TestMonitorRecordsMatchSimulator(t *testing.T) {
	e := setup(t)
	e.sim.Spend(apiToken, 37) // another client of the token
	for i := 1; i <= 3; i++ {
		sum, err := e.tick(t)
		if err != nil {
			t.Fatalf("tick %d: %v", i, err)
		}
		limit, remaining, reset := e.sim.Quota(apiToken)
		recs := e.records(t)
		if len(recs) != i {
			t.Fatalf("tick %d: %d records in the log group", i, len(recs))
		}
		r := recs[i-1]
		if !r.HasQuota || r.Remaining != remaining || r.Limit != limit || r.Reset != reset.Unix() || r.Token != "ops-bots" || r.Source != sample.SourceMonitor {
			t.Fatalf("tick %d: record %+v; simulator says %d/%d reset %d", i, r, remaining, limit, reset.Unix())
		}
		if spent := e.sim.Calls(apiToken) - e.sim.OtherCalls(apiToken); spent != i {
			t.Fatalf("after %d ticks the monitor spent %d calls", i, spent)
		}
		if !strings.Contains(sum, `"calls":1`) {
			t.Fatalf("summary %s", sum)
		}
	}
	if remaining := e.records(t)[2].Remaining; remaining != 300-37-3 {
		t.Fatalf("remaining %d", remaining)
	}
	// Every record also went to stdout, without the EMF member (the put succeeded).
	lines := strings.Split(strings.TrimSpace(e.stdout.String()), "\n")
	if len(lines) != 3 || strings.Contains(e.stdout.String(), "_aws") {
		t.Fatalf("stdout:\n%s", e.stdout.String())
	}
	e.noSecret(t)
}

func TestMonitorFaults(t *testing.T) {
	t.Run("missing SSM parameter", func(t *testing.T) {
		e := setup(t)
		e.vars["CHATWORK_TOKEN_PARAMETER"] = "/quotabot-test/does-not-exist"
		_, err := e.tick(t)
		if err == nil || !strings.Contains(err.Error(), `"/quotabot-test/does-not-exist"`) || strings.Count(err.Error(), "\n") > 0 {
			t.Fatalf("err = %v", err)
		}
		if e.sim.Calls(apiToken) != 0 {
			t.Fatal("ChatWork was called without a token")
		}
		e.noSecret(t)
	})
	t.Run("missing log group keeps the sample on stdout", func(t *testing.T) {
		e := setup(t)
		e.vars["QUOTA_LOG_GROUP"] = "quotabot-test/no-such-group"
		_, err := e.tick(t)
		if err == nil || !strings.Contains(err.Error(), "quotabot-test/no-such-group") {
			t.Fatalf("err = %v", err)
		}
		out := e.stdout.String()
		if !strings.Contains(out, `"remaining":299`) || !strings.Contains(out, `"_aws"`) {
			t.Fatalf("stdout lost the sample or its metrics:\n%s", out)
		}
		e.noSecret(t)
	})
	t.Run("invalid token", func(t *testing.T) {
		e := setup(t)
		cfg := awstest.Config(t, e.endpoint)
		param := "/" + awstest.UniqueName(t, "quotabot-test/revoked")
		awstest.PutSecureString(t, cfg, param, "revoked-token-value-xyz")
		e.vars["CHATWORK_TOKEN_PARAMETER"] = param
		_, err := e.tick(t)
		if err == nil || !strings.Contains(err.Error(), "invalid_token") {
			t.Fatalf("err = %v", err)
		}
		recs := e.records(t)
		if len(recs) != 1 || recs[0].Error != "invalid_token" || recs[0].HasQuota {
			t.Fatalf("records %+v", recs)
		}
		if strings.Contains(e.stdout.String()+e.logs.String()+err.Error(), "revoked-token-value-xyz") {
			t.Fatal("the token leaked")
		}
	})
	t.Run("exhausted quota is data", func(t *testing.T) {
		e := setup(t)
		e.sim.Spend(apiToken, 300)
		_, err := e.tick(t)
		if err != nil {
			t.Fatalf("a 429 must not fail the invocation: %v", err)
		}
		_, _, reset := e.sim.Quota(apiToken)
		recs := e.records(t)
		if len(recs) != 1 || !recs[0].HasQuota || recs[0].Remaining != 0 || recs[0].Reset != reset.Unix() || recs[0].Error != "quota_exhausted" {
			t.Fatalf("records %+v", recs)
		}
		if spent := e.sim.Calls(apiToken) - e.sim.OtherCalls(apiToken); spent != 1 {
			t.Fatalf("spent %d calls on an exhausted quota", spent)
		}
	})
	t.Run("server errors are retried then recorded", func(t *testing.T) {
		e := setup(t)
		e.sim.InjectFault(chatworksim.Fault{Kind: chatworksim.FaultStatus, Status: 503})
		_, err := e.tick(t)
		if err == nil || !strings.Contains(err.Error(), "server") {
			t.Fatalf("err = %v", err)
		}
		recs := e.records(t)
		if len(recs) != 1 || recs[0].Error != "server" || recs[0].Calls != 3 {
			t.Fatalf("records %+v", recs)
		}
		if spent := e.sim.Calls(apiToken) - e.sim.OtherCalls(apiToken); spent != 3 {
			t.Fatalf("spent %d calls, want 3 (1 + 2 retries)", spent)
		}
	})
}

// The monitor's question to the log group returns its newest own record,
// not a newer passive one of the bot's.
func TestLatestMonitorRecordFromMoto(t *testing.T) {
	e := setup(t)
	cfg := awstest.Config(t, e.endpoint)
	if _, err := e.tick(t); err != nil {
		t.Fatal(err)
	}
	logs := cloudwatchlogs.NewFromConfig(cfg)
	passive := sample.Record{Time: time.Now(), Token: "ops-bots", Source: sample.SourcePassive, HasQuota: true, Remaining: 1, Limit: 300, Reset: time.Now().Add(time.Minute).Unix(), Calls: 1}
	if err := cwlogs.NewRecorder(logs, e.group, nil).Record(context.Background(), passive); err != nil {
		t.Fatal(err)
	}
	latest := latestMonitorRecord(cwlogs.NewHistory(logs, e.group), time.Minute)
	r, ok, err := latest(context.Background(), "ops-bots")
	if err != nil || !ok {
		t.Fatalf("latest: %v %v", ok, err)
	}
	_, remaining, reset := e.sim.Quota(apiToken)
	if r.Source != sample.SourceMonitor || r.Remaining != remaining || r.Reset != reset.Unix() {
		t.Fatalf("latest = %+v, want the monitor's tick (remaining %d)", r, remaining)
	}
	if _, ok, err := latest(context.Background(), "other-label"); ok || err != nil {
		t.Fatalf("another label: %v %v", ok, err)
	}
}
