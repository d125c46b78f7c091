package webhookfn

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/quotabot/chatwork-quota-bot/internal/app"
	"github.com/quotabot/chatwork-quota-bot/internal/awstest"
	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
)

// With two tokens under QUOTA_TOKENS_PATH (and two parameters there that
// are skipped), /quota answers for the three in one message with one fresh
// read of each, /quota LABEL details one, and a contributor event of the
// quota alarm alerts and recovers naming its token, read with that token.
func TestWebhookAnswersForTheFleet(t *testing.T) {
	e := setup(t)
	cfg := awstest.Config(t, e.endpoint)
	path := "/" + awstest.UniqueName(t, "quotabot-test/tokens") + "/"
	// deploy is the label of the contributor in the event fixtures.
	tokens := map[string]string{"deploy": "sim-deploy-token-0123456789", "report": "sim-report-token-0123456789"}
	for i, label := range []string{"deploy", "report"} {
		e.sim.AddAccount(tokens[label], int64(9100+i), label+" bot")
		awstest.PutSecureString(t, cfg, path+label, tokens[label])
	}
	e.sim.Spend(tokens["deploy"], 250)
	awstest.PutSecureString(t, cfg, path+"again", apiToken) // the bot's own token
	if _, err := ssm.NewFromConfig(cfg).PutParameter(t.Context(), &ssm.PutParameterInput{
		Name: aws.String(path + "plain"), Value: aws.String("sim-plain-token-0123456789"), Type: ssmtypes.ParameterTypeString,
	}); err != nil {
		t.Fatal(err)
	}
	webhookParam := "/" + awstest.UniqueName(t, "quotabot-test/webhook-token")
	awstest.PutSecureString(t, cfg, webhookParam, webhookToken)
	e.sim.AddRoom(roomID)
	for k, v := range map[string]string{
		"QUOTA_TOKENS_PATH":                path,
		"CHATWORK_WEBHOOK_TOKEN_PARAMETER": webhookParam,
		"CHATWORK_ROOM_ID":                 "4242",
		"QUOTA_LANGUAGE":                   "en",
		"QUOTA_ALARM_NAME":                 "quotabot-quota-low",
		"QUOTA_ERRORS_ALARM_NAME":          "quotabot-token-errors",
		"QUOTA_HEARTBEAT_ALARM_NAME":       "quotabot-monitor-heartbeat",
		"QUOTA_ALARM_THRESHOLD":            "60",
	} {
		e.vars[k] = v
	}
	handle, err := Wire(context.Background(), env(e.vars), cfg, e.stdout, app.Logger(e.logs))
	if err != nil {
		t.Fatal(err)
	}
	spent := func(token string) int { return e.sim.Calls(token) - e.sim.OtherCalls(token) }
	ask := func(text string) string {
		t.Helper()
		before := len(e.sim.Messages(roomID))
		body := delivery(t, text)
		sig, _ := chatwork.Sign(webhookToken, body)
		if _, err := handle(context.Background(), request(t, body, sig, false)); err != nil {
			t.Fatal(err)
		}
		msgs := e.sim.Messages(roomID)
		if len(msgs) != before+1 {
			t.Fatalf("%s: %d new messages\nlog:\n%s", text, len(msgs)-before, e.logs.String())
		}
		return msgs[len(msgs)-1].Body
	}

	all := ask("/quota")
	for _, label := range []string{"ops-bots", "deploy", "report"} {
		if !strings.Contains(all, label) {
			t.Errorf("/quota does not name %s:\n%s", label, all)
		}
	}
	for _, skipped := range []string{"again", "plain"} {
		if strings.Contains(all, skipped) {
			t.Errorf("/quota names the skipped parameter %s:\n%s", skipped, all)
		}
	}
	// deploy, at 49 of 300, is listed first: lowest remaining first.
	if !strings.Contains(all, "deploy: 49 of 300") || strings.Index(all, "deploy") > strings.Index(all, "ops-bots") {
		t.Errorf("/quota does not list deploy first with its 49 remaining:\n%s", all)
	}
	if spent(tokens["deploy"]) != 1 || spent(tokens["report"]) != 1 || spent(apiToken) != 2 {
		t.Fatalf("calls: deploy %d, report %d, own %d; want one read each and the post", spent(tokens["deploy"]), spent(tokens["report"]), spent(apiToken))
	}
	if one := ask("/quota REPORT"); !strings.Contains(one, "report") || strings.Contains(one, "deploy") || spent(tokens["report"]) != 2 {
		t.Errorf("/quota REPORT (%d calls of report):\n%s", spent(tokens["report"]), one)
	}
	for _, name := range []string{path + "again", path + "plain"} {
		if !strings.Contains(e.logs.String(), name) {
			t.Errorf("no warning names %s:\n%s", name, e.logs.String())
		}
	}

	for i, file := range []string{"contributor-quota-alarm.json", "contributor-quota-ok.json"} {
		raw, err := os.ReadFile("../../../testdata/events/" + file)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := handle(context.Background(), raw); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		msgs := e.sim.Messages(roomID)
		if len(msgs) != 3+i || !strings.Contains(msgs[len(msgs)-1].Body, "deploy") {
			t.Fatalf("after %s: %d messages, the last:\n%s", file, len(msgs), msgs[len(msgs)-1].Body)
		}
	}
	if alert := e.sim.Messages(roomID)[2].Body; !strings.Contains(alert, "running low") || spent(tokens["deploy"]) != 2 {
		t.Errorf("the alert (%d calls of deploy) is not deploy's, read with its token:\n%s", spent(tokens["deploy"]), alert)
	}
	for _, s := range []string{e.stdout.String(), e.logs.String()} {
		for _, token := range tokens {
			if strings.Contains(s, token) {
				t.Fatal("the output holds a path token")
			}
		}
	}
	e.noSecret(t)
}
