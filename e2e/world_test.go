package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/quotabot/chatwork-quota-bot/internal/awstest"
	"github.com/quotabot/chatwork-quota-bot/internal/chatworksim"
	"github.com/quotabot/chatwork-quota-bot/internal/cwlogs"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
)

func TestMain(m *testing.M) { awstest.Main(m) }

// Secrets the tests seed; no output, result or message may hold them.
const (
	apiToken     = "e2e-api-token-5f0c9a7d21b84e36"
	webhookToken = "q2Vm0h3YkQ8r7cXbT1sLw4uZp9JdA6nEoF5gHiKjMlM=" // base64, as ChatWork shows it
	botAccountID = 9001
	humanID      = 777
	roomID       = 4242
	tokenLabel   = "e2e-bots"
	alarmName    = "quotabot-quota-low" // the name in testdata/events/alarm-state-*.json
	// The tokens withFleet puts under QUOTA_TOKENS_PATH; deploy is the
	// contributor in testdata/events/contributor-quota-*.json.
	deployToken = "e2e-deploy-token-8c1d2e3f4a5b6c7d"
	reportToken = "e2e-report-token-1a2b3c4d5e6f7a8b"
)

// target is one way to run a bootstrap: natively, or the arm64 binary SAM
// deploys under qemu.
type target struct {
	name string
	argv []string // the emulator's bootstrap command
}

// targets builds a function's bootstraps into dir: the host one always,
// the linux/arm64 one from the Makefile's SAM target when qemu can run it.
func targets(t *testing.T, function, pkg, dir string) []target {
	t.Helper()
	host := buildHost(t, pkg, filepath.Join(dir, "host-"+function))
	out := []target{{name: "host", argv: []string{host}}}
	if qemu := qemuAarch64(); qemu != "" {
		arm := buildArm64(t, function, filepath.Join(dir, "arm64-"+function))
		out = append(out, target{name: "arm64-qemu", argv: []string{qemu, arm}})
	} else {
		t.Logf("qemu-aarch64-static is not installed: the linux/arm64 %s runs only natively-built (apt-get install qemu-user-static)", function)
	}
	return out
}

// world is one test's stand-ins: the shared moto_server seeded with its own
// parameters and log group, and a ChatWork simulator of its own.
type world struct {
	sim      *chatworksim.Server
	cfg      aws.Config
	endpoint string
	label    string // QUOTA_TOKEN_LABEL
	vars     map[string]string
}

func newWorld(t *testing.T, endpoint string, simCfg chatworksim.Config) *world {
	t.Helper()
	cfg := awstest.Config(t, endpoint)
	// Windows open at the first call, so a test never runs into a reset.
	simCfg.Mode = chatworksim.WindowFirstCall
	sim, base := chatworksim.Start(t, simCfg)
	sim.AddAccount(apiToken, botAccountID, "quota bot")
	sim.AddRoom(roomID)
	param := "/" + awstest.UniqueName(t, "quotabot-e2e/api-token")
	awstest.PutSecureString(t, cfg, param, apiToken)
	group := awstest.UniqueName(t, "quotabot-e2e/samples")
	awstest.CreateLogGroup(t, cfg, group)
	return &world{sim: sim, cfg: cfg, endpoint: endpoint, label: tokenLabel, vars: map[string]string{
		"CHATWORK_API_URL":         base,
		"CHATWORK_TOKEN_PARAMETER": param,
		"QUOTA_LOG_GROUP":          group,
		"QUOTA_TOKEN_LABEL":        tokenLabel,
		// Set empty so that a developer's shell cannot leak one in: the
		// monitor then takes its final reading without SQS.
		"QUOTA_WAKE_QUEUE_URL": "",
		// The template's memory size, and the monitor's timeout for both
		// functions: a loaded machine running qemu is slower than Lambda.
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
		"AWS_LAMBDA_FUNCTION_TIMEOUT":     "90",
	}}
}

// withWebhook seeds the webhook token and the bot's settings.
func (w *world) withWebhook(t *testing.T) *world {
	t.Helper()
	param := "/" + awstest.UniqueName(t, "quotabot-e2e/webhook-token")
	awstest.PutSecureString(t, w.cfg, param, webhookToken)
	w.vars["CHATWORK_WEBHOOK_TOKEN_PARAMETER"] = param
	w.vars["CHATWORK_ROOM_ID"] = fmt.Sprint(roomID)
	w.vars["QUOTA_LANGUAGE"] = "en"
	w.vars["QUOTA_ALARM_NAME"] = alarmName
	w.vars["QUOTA_ALARM_THRESHOLD"] = "60"
	// The alarm fixtures' metric dimension is Token=default: the label of
	// the token whose alarm it is.
	w.label = "default"
	w.vars["QUOTA_TOKEN_LABEL"] = w.label
	return w
}

// withFleet puts two more tokens, deploy and report, each its own account
// in the simulator, under a QUOTA_TOKENS_PATH of their own.
func (w *world) withFleet(t *testing.T) *world {
	t.Helper()
	path := "/" + awstest.UniqueName(t, "quotabot-e2e/tokens") + "/"
	for i, label := range []string{"deploy", "report"} {
		token := map[string]string{"deploy": deployToken, "report": reportToken}[label]
		w.sim.AddAccount(token, botAccountID+1+int64(i), label+" bot")
		awstest.PutSecureString(t, w.cfg, path+label, token)
	}
	w.vars["QUOTA_TOKENS_PATH"] = path
	return w
}

// withTable creates a state table of the world's own on moto, as the
// template declares it, and names it in QUOTA_STATE_TABLE.
func (w *world) withTable(t *testing.T) *world {
	t.Helper()
	w.vars["QUOTA_STATE_TABLE"] = awstest.UniqueName(t, "quotabot-e2e-state-")
	awstest.CreateStateTable(t, w.cfg, w.vars["QUOTA_STATE_TABLE"])
	return w
}

// env is the emulator's environment (the bootstrap inherits it).
func (w *world) env() []string {
	env := awstest.Env(w.endpoint)
	for k, v := range w.vars {
		env = append(env, k+"="+v)
	}
	return env
}

// spent is the number of ChatWork calls the function under test made.
func (w *world) spent() int { return w.spentBy(apiToken) }

// spentBy is the number of ChatWork calls the function under test made
// with token.
func (w *world) spentBy(token string) int { return w.sim.Calls(token) - w.sim.OtherCalls(token) }

// records reads the samples log group's stream for the token.
func (w *world) records(t *testing.T) []sample.Record {
	t.Helper()
	return w.stream(t, w.label)
}

// stream reads the samples log group's stream for label.
func (w *world) stream(t *testing.T, label string) []sample.Record {
	t.Helper()
	var out []sample.Record
	for _, msg := range awstest.LogEvents(t, w.cfg, w.vars["QUOTA_LOG_GROUP"], cwlogs.StreamName(label)) {
		r, err := sample.Parse([]byte(msg))
		if err != nil {
			t.Fatalf("log event %q: %v", msg, err)
		}
		out = append(out, r)
	}
	return out
}

// noSecrets fails when any of texts holds a token.
func noSecrets(t *testing.T, texts map[string]string) {
	t.Helper()
	for name, s := range texts {
		for secret, what := range map[string]string{apiToken: "API token", webhookToken: "webhook token", deployToken: "deploy token", reportToken: "report token"} {
			if strings.Contains(s, secret) {
				t.Errorf("%s holds the %s", name, what)
			}
		}
	}
}
