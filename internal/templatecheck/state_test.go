package templatecheck

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/quotabot/chatwork-quota-bot/bot"
	"github.com/quotabot/chatwork-quota-bot/internal/alarm"
	"github.com/quotabot/chatwork-quota-bot/internal/app"
	"github.com/quotabot/chatwork-quota-bot/internal/app/webhookfn"
	"github.com/quotabot/chatwork-quota-bot/internal/state"
)

// stateTableActions are the IAM actions of the DynamoDB calls the state
// makes: the methods of state.DynamoAPI, sorted; none for a function that
// does not use the table.
func stateTableActions(uses bool) []string {
	if !uses {
		return nil
	}
	api := reflect.TypeFor[state.DynamoAPI]()
	out := make([]string, 0, api.NumMethod())
	for i := range api.NumMethod() {
		out = append(out, "dynamodb:"+api.Method(i).Name)
	}
	slices.Sort(out)
	return out
}

// The state table is the one internal/state reads and writes: its key
// schema (no index, so the grant on the table's ARN is the whole grant),
// its TTL attribute, on-demand billing and encryption at rest.
func TestStateTable(t *testing.T) {
	cfn := expand(t)
	tables := resources(cfn, "AWS::DynamoDB::Table")
	if len(tables) != 1 || tables["StateTable"] == nil {
		t.Fatalf("template has tables %v, want StateTable only", sortedKeys(tables))
	}
	tb := tables["StateTable"]
	want := map[string]string{
		"BillingMode": `"PAY_PER_REQUEST"`,
		"KeySchema": js([]any{
			map[string]any{"AttributeName": state.PartitionKey, "KeyType": "HASH"},
			map[string]any{"AttributeName": state.SortKey, "KeyType": "RANGE"},
		}),
		"AttributeDefinitions": js([]any{
			map[string]any{"AttributeName": state.PartitionKey, "AttributeType": "S"},
			map[string]any{"AttributeName": state.SortKey, "AttributeType": "S"},
		}),
		"TimeToLiveSpecification": js(map[string]any{"AttributeName": state.TTLAttribute, "Enabled": true}),
		"SSESpecification":        js(map[string]any{"SSEEnabled": true}),
	}
	for key, w := range want {
		if got := js(tb[key]); got != w {
			t.Errorf("StateTable %s is %s, want %s", key, got, w)
		}
	}
	for _, key := range []string{"GlobalSecondaryIndexes", "LocalSecondaryIndexes", "ProvisionedThroughput", "TableName"} {
		if v, ok := tb[key]; ok {
			t.Errorf("StateTable has %s %s: the state uses no index, bills on demand, and a fixed name would clash between stacks", key, js(v))
		}
	}
}

// The webhook is told the table and the admins; the monitor, which has no
// grant on the table, is told neither. The settings read them back.
func TestStateTableSettings(t *testing.T) {
	cfn := expand(t)
	fns := resources(cfn, "AWS::Lambda::Function")
	vars := func(id string) map[string]any {
		env, _ := fns[id]["Environment"].(map[string]any)
		v, _ := env["Variables"].(map[string]any)
		return v
	}
	web, mon := vars("WebhookFunction"), vars("MonitorFunction")
	if js(web["QUOTA_STATE_TABLE"]) != ref("StateTable") || js(web["QUOTA_ADMIN_ACCOUNT_IDS"]) != ref("AdminAccountIds") {
		t.Errorf("WebhookFunction: QUOTA_STATE_TABLE %s, QUOTA_ADMIN_ACCOUNT_IDS %s; want the StateTable and the AdminAccountIds parameter",
			js(web["QUOTA_STATE_TABLE"]), js(web["QUOTA_ADMIN_ACCOUNT_IDS"]))
	}
	for _, name := range []string{"QUOTA_STATE_TABLE", "QUOTA_ADMIN_ACCOUNT_IDS"} {
		if v, ok := mon[name]; ok {
			t.Errorf("MonitorFunction has %s=%s; only the webhook uses it", name, js(v))
		}
	}
	vals := values(t, cfn, map[string]string{"AdminAccountIds": "101, 202"})
	env := resolve(t, cfn, web, vals).(map[string]any)
	s, err := app.Load(func(name string) string { v, _ := env[name].(string); return v })
	if err != nil {
		t.Fatalf("the webhook's environment does not load: %v", err)
	}
	if s.StateTable != "<StateTable>" {
		t.Errorf("the webhook's settings name the state table %q, want the StateTable's name", s.StateTable)
	}
	if ids, err := bot.ParseAdmins(s.AdminAccountIDs); err != nil || !slices.Equal(ids, []int64{101, 202}) {
		t.Errorf("AdminAccountIds 101, 202 reach the bot as %v (%v)", ids, err)
	}
}

// AdminAccountIds takes what the bot parses: empty, or account ids
// separated by commas (as AlertMentions takes them, without "all").
func TestAdminAccountIdsParameter(t *testing.T) {
	cfn := expand(t)
	p, _ := cfn["Parameters"].(map[string]any)["AdminAccountIds"].(map[string]any)
	if p == nil || p["Default"] != "" {
		t.Fatalf("AdminAccountIds %s: want a parameter defaulting to empty (anyone in an allowed room)", js(p))
	}
	re := regexp.MustCompile(p["AllowedPattern"].(string))
	for _, v := range []string{"", "1", "123,456", "123, 456 ,789"} {
		if !re.MatchString(v) {
			t.Errorf("AdminAccountIds refuses %q", v)
		}
		if _, err := bot.ParseAdmins(v); err != nil {
			t.Errorf("AdminAccountIds accepts %q, which the bot refuses: %v", v, err)
		}
	}
	for _, v := range []string{"all", "0", "1,,2", "1,", "-1", "a", "1;2", " "} {
		if re.MatchString(v) {
			t.Errorf("AdminAccountIds accepts %q", v)
		}
	}
}

// scheduledCalls records what the handler routes to housekeeping and to
// the digest.
type scheduledCalls struct{ housekeeping, digest int }

func (h *scheduledCalls) HandleAlarm(context.Context, alarm.Event) error { return nil }
func (h *scheduledCalls) Housekeeping(context.Context) error             { h.housekeeping++; return nil }
func (h *scheduledCalls) DigestYesterday(context.Context) error          { h.digest++; return nil }

// The webhook's own schedule: at least every 5 minutes (a mute that ends
// with its token in ALARM is told within 5 minutes), with the payload the
// webhook's handler takes for housekeeping, on time.
func TestHousekeepingSchedule(t *testing.T) {
	cfn := expand(t)
	var found int
	for id, s := range resources(cfn, "AWS::Scheduler::Schedule") {
		target, _ := s["Target"].(map[string]any)
		input, _ := target["Input"].(string)
		if js(target["Arn"]) != getAtt("WebhookFunction", "Arn") || input == webhookfn.Digest {
			continue // the digest's: TestDigestSchedule
		}
		found++
		expr, _ := resolve(t, cfn, s["ScheduleExpression"], values(t, cfn, nil)).(string)
		if every, err := app.ScheduleInterval(expr); err != nil || every > 5*time.Minute {
			t.Errorf("schedule %s runs %q (every %v, %v), want at least every 5 minutes", id, expr, every, err)
		}
		if input != webhookfn.Housekeeping {
			t.Errorf("schedule %s input %q, want webhookfn.Housekeeping %q", id, input, webhookfn.Housekeeping)
		}
		var calls scheduledCalls
		h := webhookfn.Handler(http.NotFoundHandler(), &calls, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if _, err := h(context.Background(), json.RawMessage(input)); err != nil || calls != (scheduledCalls{housekeeping: 1}) {
			t.Errorf("schedule %s input %q: the handler ran %+v (%v), want housekeeping once", id, input, calls, err)
		}
		if fw, _ := s["FlexibleTimeWindow"].(map[string]any); fw["Mode"] != "OFF" {
			t.Errorf("schedule %s flexible time window %s: the end of a mute would be told late", id, js(fw))
		}
	}
	if found != 1 {
		t.Errorf("template has %d schedules targeting WebhookFunction besides the digest's, want 1 (housekeeping)", found)
	}
}

// Deleting or replacing the stack keeps the samples: up to 90 days of
// history are not the stack's to delete.
func TestSamplesLogGroupRetained(t *testing.T) {
	cfn := expand(t)
	lg, _ := cfn["Resources"].(map[string]any)["SamplesLogGroup"].(map[string]any)
	if lg["DeletionPolicy"] != "Retain" || lg["UpdateReplacePolicy"] != "Retain" {
		t.Errorf("SamplesLogGroup: DeletionPolicy %v, UpdateReplacePolicy %v; want Retain and Retain", lg["DeletionPolicy"], lg["UpdateReplacePolicy"])
	}
}
