package webhookfn

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/quotabot/chatwork-quota-bot/internal/app"
	"github.com/quotabot/chatwork-quota-bot/internal/awstest"
	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/chatworksim"
	"github.com/quotabot/chatwork-quota-bot/internal/cwlogs"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
	"github.com/quotabot/chatwork-quota-bot/internal/testproc"
)

func TestMain(m *testing.M) { awstest.Main(m) }

func env(m map[string]string) app.Getenv { return func(k string) string { return m[k] } }

const apiToken = "sim-api-token-0123456789abcdef"

type testEnv struct {
	sim      *chatworksim.Server
	vars     map[string]string
	stdout   *testproc.Buffer
	logs     *testproc.Buffer
	group    string
	endpoint string
}

// setup starts moto and the simulator and seeds the API token and the log
// group; the webhook token is left to each test.
func setup(t *testing.T) *testEnv {
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
	return &testEnv{
		sim: sim, group: group, endpoint: endpoint, stdout: &testproc.Buffer{}, logs: &testproc.Buffer{},
		vars: map[string]string{
			"CHATWORK_API_URL":         base,
			"CHATWORK_TOKEN_PARAMETER": param,
			"QUOTA_LOG_GROUP":          group,
			"QUOTA_TOKEN_LABEL":        "ops-bots",
		},
	}
}

func (e *testEnv) records(t *testing.T) []sample.Record {
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

func (e *testEnv) noSecret(t *testing.T) {
	t.Helper()
	for name, s := range map[string]string{"stdout": e.stdout.String(), "log": e.logs.String()} {
		if strings.Contains(s, apiToken) {
			t.Fatalf("%s holds the API token", name)
		}
	}
}

const (
	webhookToken = "A9ne+ygvdV0IZBaPFV2zC1e5Bk+IsI14BPwieRoBQNU="
	roomID       = 4242
	humanID      = 777
)

type webhookEnv struct {
	*testEnv
	handle func(context.Context, json.RawMessage) (any, error)
}

func setupWebhook(t *testing.T) *webhookEnv {
	t.Helper()
	e := setup(t)
	cfg := awstest.Config(t, e.endpoint)
	param := "/" + awstest.UniqueName(t, "quotabot-test/webhook-token")
	awstest.PutSecureString(t, cfg, param, webhookToken)
	e.sim.AddRoom(roomID)
	e.vars["CHATWORK_WEBHOOK_TOKEN_PARAMETER"] = param
	e.vars["CHATWORK_ROOM_ID"] = fmt.Sprint(roomID)
	e.vars["QUOTA_LANGUAGE"] = "en"
	handle, err := Wire(context.Background(), env(e.vars), cfg, e.stdout, app.Logger(e.logs))
	if err != nil {
		t.Fatal(err)
	}
	return &webhookEnv{testEnv: e, handle: handle}
}

// request builds a Function URL event carrying a webhook delivery, shaped
// like internal/funcurl/testdata/function-url-post.json.
func request(t *testing.T, body []byte, signature string, b64 bool) json.RawMessage {
	t.Helper()
	raw, err := os.ReadFile("../../funcurl/testdata/function-url-post.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.LambdaFunctionURLRequest
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	ev.RawQueryString = ""
	ev.QueryStringParameters = nil
	ev.Headers["x-chatworkwebhooksignature"] = signature
	ev.Headers["content-length"] = fmt.Sprint(len(body))
	ev.Body, ev.IsBase64Encoded = string(body), b64
	if b64 {
		ev.Body = base64.StdEncoding.EncodeToString(body)
	}
	out, _ := json.Marshal(ev)
	return out
}

// messageSeq makes every delivery a new message: the bot answers a message
// id once.
var messageSeq atomic.Int64

func delivery(t *testing.T, text string) []byte {
	t.Helper()
	now := time.Now().Unix()
	id := fmt.Sprint(1_000_000_000_000_000 + messageSeq.Add(1))
	event, _ := json.Marshal(chatwork.WebhookEvent{MessageID: id, RoomID: roomID, AccountID: humanID, Body: text, SendTime: now})
	body, _ := json.Marshal(chatwork.WebhookPayload{SettingID: "1", EventType: chatwork.EventMessageCreated, EventTime: now, Event: event})
	return body
}

func TestWebhookAnswersQuota(t *testing.T) {
	for _, b64 := range []bool{false, true} {
		t.Run(fmt.Sprintf("base64=%v", b64), func(t *testing.T) {
			e := setupWebhook(t)
			body := delivery(t, "/quota")
			sig, _ := chatwork.Sign(webhookToken, body)
			out, err := e.handle(context.Background(), request(t, body, sig, b64))
			if err != nil {
				t.Fatal(err)
			}
			res := out.(events.LambdaFunctionURLResponse)
			if res.StatusCode != 200 || len(res.Body) >= 2048 {
				t.Fatalf("response %+v", res)
			}
			msgs := e.sim.Messages(roomID)
			if len(msgs) != 1 || msgs[0].AccountID != 9001 || !strings.Contains(msgs[0].Body, "[rp aid=777") {
				t.Fatalf("room: %+v", msgs)
			}
			if spent := e.sim.Calls(apiToken); spent != 2 {
				t.Fatalf("the answer spent %d calls, want 2", spent)
			}
			// Both responses were recorded as passive samples in moto's log group.
			recs := e.records(t)
			if len(recs) != 2 || recs[0].Source != "passive" || recs[1].Source != "passive" {
				t.Fatalf("records %+v", recs)
			}
			e.noSecret(t)
			if strings.Contains(e.stdout.String()+e.logs.String()+msgs[0].Body, webhookToken) {
				t.Fatal("the webhook token leaked")
			}
		})
	}
}

func TestWebhookRejectsForgery(t *testing.T) {
	e := setupWebhook(t)
	body := delivery(t, "/quota")
	out, err := e.handle(context.Background(), request(t, body, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", false))
	if err != nil {
		t.Fatal(err)
	}
	if res := out.(events.LambdaFunctionURLResponse); res.StatusCode != 401 {
		t.Fatalf("status %d", res.StatusCode)
	}
	if n := e.sim.Calls(apiToken); n != 0 {
		t.Fatalf("a forged request cost %d ChatWork calls", n)
	}
}

func TestWebhookUnknownEvent(t *testing.T) {
	e := setupWebhook(t)
	if _, err := e.handle(context.Background(), json.RawMessage(`{"hello":"world"}`)); err == nil {
		t.Fatal("want an error for an unrecognised event")
	}
	raw, _ := os.ReadFile("../../../testdata/events/alarm-state-malformed.json")
	if _, err := e.handle(context.Background(), raw); err != nil {
		t.Fatalf("a malformed alarm event is logged, not retried: %v", err)
	}
	if len(e.sim.Messages(roomID)) != 0 || !strings.Contains(e.logs.String(), "malformed alarm event") {
		t.Fatalf("malformed alarm event: room %v, log %s", e.sim.Messages(roomID), e.logs.String())
	}
}

func TestWebhookConfigErrors(t *testing.T) {
	e := setup(t)
	cfg := awstest.Config(t, e.endpoint)
	_, err := Wire(context.Background(), env(e.vars), cfg, e.stdout, app.Logger(e.logs))
	for _, v := range []string{"CHATWORK_WEBHOOK_TOKEN_PARAMETER", "CHATWORK_ROOM_ID"} {
		if err == nil || !strings.Contains(err.Error(), v) {
			t.Fatalf("err = %v, want it to name %s", err, v)
		}
	}
	e.vars["CHATWORK_ROOM_ID"] = "5"
	e.vars["CHATWORK_WEBHOOK_TOKEN_PARAMETER"] = "/quotabot-test/x"
	e.vars["QUOTA_ALERT_MENTIONS"] = "12,abc"
	_, err = Wire(context.Background(), env(e.vars), cfg, e.stdout, app.Logger(e.logs))
	if err == nil || !strings.Contains(err.Error(), "QUOTA_ALERT_MENTIONS") {
		t.Fatalf("err = %v", err)
	}
}

// Before the webhook token is stored, deliveries are rejected (and the log
// names the parameter) while alarm messages still reach the room; once it is
// stored the next delivery works; when it is changed (the webhook created
// anew), a delivery signed with the new token works after one re-read.
func TestWebhookTokenLifecycle(t *testing.T) {
	e := setup(t)
	cfg := awstest.Config(t, e.endpoint)
	param := "/" + awstest.UniqueName(t, "quotabot-test/late-webhook-token")
	e.sim.AddRoom(roomID)
	e.vars["CHATWORK_WEBHOOK_TOKEN_PARAMETER"] = param
	e.vars["CHATWORK_ROOM_ID"] = fmt.Sprint(roomID)
	e.vars["QUOTA_ALARM_NAME"] = "quotabot-quota-low"
	now := time.Now()
	handle, err := wire(context.Background(), env(e.vars), cfg, e.stdout, app.Logger(e.logs), func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	status := func(token string) int {
		t.Helper()
		body := delivery(t, "/quota")
		sig, _ := chatwork.Sign(token, body)
		out, err := handle(context.Background(), request(t, body, sig, false))
		if err != nil {
			t.Fatal(err)
		}
		return out.(events.LambdaFunctionURLResponse).StatusCode
	}
	if got := status(webhookToken); got != 401 || !strings.Contains(e.logs.String(), param) {
		t.Fatalf("before the token is stored: status %d, log %s", got, e.logs.String())
	}
	raw, _ := os.ReadFile("../../../testdata/events/alarm-state-alarm.json")
	if _, err := handle(context.Background(), raw); err != nil {
		t.Fatal(err)
	}
	if msgs := e.sim.Messages(roomID); len(msgs) != 1 || !strings.Contains(msgs[0].Body, "[info]") {
		t.Fatalf("the alert did not reach the room without a webhook token: %+v", msgs)
	}

	awstest.PutSecureString(t, cfg, param, webhookToken)
	now = now.Add(5 * time.Second) // RotatingVerifier re-reads a missing token every 5 s
	if got := status(webhookToken); got != 200 || len(e.sim.Messages(roomID)) != 2 {
		t.Fatalf("after the token is stored: status %d, room %d messages", got, len(e.sim.Messages(roomID)))
	}

	const rotated = "c2Vjb25kLXdlYmhvb2stdG9rZW4tZm9yLXRlc3Rz"
	awstest.PutSecureString(t, cfg, param, rotated)
	now = now.Add(time.Minute) // and a known one at most every minute
	if got := status(rotated); got != 200 || len(e.sim.Messages(roomID)) != 3 {
		t.Fatalf("after the token changed: status %d", got)
	}
	// Forged requests do not make it read SSM again within the minute.
	if got := status(webhookToken); got != 401 {
		t.Fatalf("the old token still works: %d", got)
	}
	if strings.Contains(e.stdout.String()+e.logs.String(), rotated) || strings.Contains(e.stdout.String()+e.logs.String(), webhookToken) {
		t.Fatal("a webhook token leaked")
	}
}
