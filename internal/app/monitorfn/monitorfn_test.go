package monitorfn

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

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

// stdoutLines splits the function's stdout into record lines and heartbeat
// lines.
func stdoutLines(t *testing.T, out string) (records, heartbeats []string) {
	t.Helper()
	for line := range strings.Lines(out) {
		if strings.Contains(line, `"`+sample.MetricHeartbeat+`":1`) {
			heartbeats = append(heartbeats, line)
			continue
		}
		if _, err := sample.Parse([]byte(line)); err != nil {
			t.Fatalf("stdout line %q: %v", line, err)
		}
		records = append(records, line)
	}
	return records, heartbeats
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
	// Every record also went to stdout, without the EMF member (the put
	// succeeded), and each tick's heartbeat, whose EMF member is its metric.
	records, heartbeats := stdoutLines(t, e.stdout.String())
	if len(records) != 3 || len(heartbeats) != 3 || strings.Contains(strings.Join(records, "\n"), "_aws") {
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
		records, _ := stdoutLines(t, e.stdout.String())
		if len(records) != 2 || !strings.Contains(records[1], `"remaining":299`) || !strings.Contains(records[1], `"_aws"`) {
			t.Fatalf("stdout lost the sample or its metrics:\n%s", e.stdout.String())
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
		if len(recs) != 1 || recs[0].Error != "server" || recs[0].Calls != 2 {
			t.Fatalf("records %+v", recs)
		}
		if spent := e.sim.Calls(apiToken) - e.sim.OtherCalls(apiToken); spent != 2 {
			t.Fatalf("spent %d calls, want 2 (1 + 1 retry)", spent)
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
	all, err := latestMonitorRecords(cwlogs.NewHistory(logs, e.group), time.Minute)(context.Background())
	r, ok := all["ops-bots"]
	if err != nil || !ok {
		t.Fatalf("latest: %v %v", ok, err)
	}
	_, remaining, reset := e.sim.Quota(apiToken)
	if r.Source != sample.SourceMonitor || r.Remaining != remaining || r.Reset != reset.Unix() {
		t.Fatalf("latest = %+v, want the monitor's tick (remaining %d)", r, remaining)
	}
	if _, ok := all["other-label"]; ok || len(all) != 1 {
		t.Fatalf("another label: %v", all)
	}
}

// With tokens under QUOTA_TOKENS_PATH, one tick reads the bot's own token and
// every good one of the path, one call each, and records each in its own
// stream; bad parameters are skipped with a warning naming them, never
// their values. A percent alarm's records declare remaining_percent.
func TestMonitorWatchesTheTokensPath(t *testing.T) {
	e := setup(t)
	cfg := awstest.Config(t, e.endpoint)
	path := "/" + awstest.UniqueName(t, "quotabot-test/tokens") + "/"
	tokens := map[string]string{"deploy": "sim-deploy-token-0123456789", "notify": "sim-notify-token-0123456789"}
	for i, label := range []string{"deploy", "notify"} {
		e.sim.AddAccount(tokens[label], int64(9100+i), label+" bot")
		awstest.PutSecureString(t, cfg, path+label, tokens[label])
	}
	e.sim.Spend(tokens["notify"], 50)
	bad := map[string]string{
		path + "plain":                 "sim-plain-token-0123456789", // not encrypted
		path + "copy-of-deploy":        tokens["deploy"],             // sorts before deploy: it keeps the label
		path + "own":                   apiToken,                     // the bot's own token
		path + strings.Repeat("x", 65): "sim-long-label-0123456789",  // label too long
		path + "nested/deeper":         "sim-nested-token-0123456789",
	}
	for name, value := range bad {
		if strings.HasSuffix(name, "plain") {
			_, err := ssm.NewFromConfig(cfg).PutParameter(t.Context(), &ssm.PutParameterInput{
				Name: aws.String(name), Value: aws.String(value), Type: ssmtypes.ParameterTypeString})
			if err != nil {
				t.Fatal(err)
			}
			continue
		}
		awstest.PutSecureString(t, cfg, name, value)
	}
	e.vars["QUOTA_TOKENS_PATH"] = path
	e.vars["QUOTA_ALARM_THRESHOLD_KIND"] = "percent"

	out, err := e.tick(t)
	if err != nil {
		t.Fatal(err)
	}
	var sum Summary
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatal(err)
	}
	var labels []string
	for _, f := range sum.Tokens {
		labels = append(labels, f.Token)
	}
	// copy-of-deploy holds deploy's token and sorts first, so it is watched
	// under its own label and deploy is skipped.
	want := []string{"ops-bots", "copy-of-deploy", "notify"}
	if !slices.Equal(labels, want) || sum.Calls != 3 || sum.Records != 3 || sum.Token != "notify" || *sum.Remaining != 300-50-1 {
		t.Fatalf("summary %s", out)
	}
	simToken := map[string]string{"ops-bots": apiToken, "copy-of-deploy": tokens["deploy"], "notify": tokens["notify"]}
	for _, label := range want {
		msgs := awstest.LogEvents(t, cfg, e.group, cwlogs.StreamName(label))
		if len(msgs) != 1 {
			t.Fatalf("stream %s: %d events", label, len(msgs))
		}
		r, err := sample.Parse([]byte(msgs[0]))
		_, remaining, reset := e.sim.Quota(simToken[label])
		if err != nil || r.Token != label || !r.HasQuota || r.Remaining != remaining || r.Reset != reset.Unix() {
			t.Fatalf("stream %s: %+v, %v; the simulator says %d, reset %d", label, r, err, remaining, reset.Unix())
		}
		if !strings.Contains(msgs[0], `"Name":"remaining_percent"`) || strings.Contains(msgs[0], `"Name":"remaining"`) {
			t.Fatalf("stream %s: a percent alarm's record declares %s", label, msgs[0])
		}
		if spent := e.sim.Calls(simToken[label]) - e.sim.OtherCalls(simToken[label]); spent != 1 {
			t.Fatalf("token %s: %d calls", label, spent)
		}
	}
	_, heartbeats := stdoutLines(t, e.stdout.String())
	if len(heartbeats) != 1 || !strings.Contains(heartbeats[0], `"tokens":3`) {
		t.Fatalf("heartbeats %q", heartbeats)
	}
	log := e.logs.String()
	for name, value := range bad {
		if strings.HasSuffix(name, "deeper") {
			continue // below the path: not listed at all
		}
		if !strings.Contains(log, name) || strings.Contains(log, value) {
			t.Errorf("the log names %s %v and holds its value %v:\n%s", name, strings.Contains(log, name), strings.Contains(log, value), log)
		}
	}
	for _, value := range tokens {
		if strings.Contains(log+e.stdout.String()+out, value) {
			t.Fatal("a path token leaked")
		}
	}
	e.noSecret(t)
}
