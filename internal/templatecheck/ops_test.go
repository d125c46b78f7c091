package templatecheck

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/sample"
	"github.com/quotabot/chatwork-quota-bot/internal/state"
)

// opsWatch is one thing an ops alarm must watch: a metric with its
// dimensions as the expanded template writes them, the statistic, and the
// marker its description must name (what broke, resolved).
type opsWatch struct {
	namespace, metric, dimensions, statistic string
	comparison                               string
	threshold                                float64
	names                                    string
}

func (w opsWatch) key() string { return w.namespace + " " + w.metric + " " + w.dimensions }

// queueArn is the logical id of the queue whose Fn::GetAtt Arn v is ("" if
// it is none).
func queueArn(cfn map[string]any, v any) string {
	for id := range resources(cfn, "AWS::SQS::Queue") {
		if js(v) == getAtt(id, "Arn") {
			return id
		}
	}
	return ""
}

// deadLetters are the queues that hold what failed, found from the wiring:
// every queue's redrive target, every rule target's dead-letter queue,
// every function's on-failure destination. Each must be an SQS queue of
// the template.
func deadLetters(t *testing.T, cfn map[string]any) []string {
	t.Helper()
	var out []string
	add := func(from string, v any) {
		id := queueArn(cfn, v)
		if id == "" {
			t.Errorf("%s sends what failed to %s, which is not a queue of the template", from, js(v))
			return
		}
		out = append(out, id)
	}
	for id, q := range resources(cfn, "AWS::SQS::Queue") {
		if rp, ok := q["RedrivePolicy"].(map[string]any); ok {
			add(id+"'s redrive policy", rp["deadLetterTargetArn"])
		}
	}
	for id, r := range resources(cfn, "AWS::Events::Rule") {
		for _, tg := range list(r["Targets"]) {
			if dl, ok := tg.(map[string]any)["DeadLetterConfig"].(map[string]any); ok {
				add("rule "+id, dl["Arn"])
			}
		}
	}
	for id, c := range resources(cfn, "AWS::Lambda::EventInvokeConfig") {
		dc, _ := c["DestinationConfig"].(map[string]any)
		if of, ok := dc["OnFailure"].(map[string]any); ok {
			add(id+"'s on-failure destination", of["Destination"])
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// opsWatches is what the ops alarms must watch: each function's Errors
// and Throttles, each dead-letter queue holding a message, and the metric
// the webhook writes when it gives up posting an alarm message.
func opsWatches(t *testing.T, cfn map[string]any) []opsWatch {
	t.Helper()
	var out []opsWatch
	for _, fn := range sortedKeys(resources(cfn, "AWS::Lambda::Function")) {
		for _, metric := range []string{"Errors", "Throttles"} {
			out = append(out, opsWatch{"AWS/Lambda", metric, js([]any{map[string]any{"Name": "FunctionName", "Value": map[string]any{"Ref": fn}}}),
				"Sum", "GreaterThanOrEqualToThreshold", 1, "<" + fn + ">"})
		}
	}
	for _, q := range deadLetters(t, cfn) {
		out = append(out, opsWatch{"AWS/SQS", "ApproximateNumberOfMessagesVisible",
			js([]any{map[string]any{"Name": "QueueName", "Value": map[string]any{"Fn::GetAtt": []any{q, "QueueName"}}}}),
			"Maximum", "GreaterThanThreshold", 0, "<" + q + ".QueueName>"})
	}
	d := emfDirective(t, sample.AlertPostFailure(time.Date(2026, 12, 1, 13, 34, 0, 0, time.UTC), "quotabot-quota-low", "quota"))
	if len(d.Metrics) != 1 || js(d.Dimensions) != "[[]]" {
		t.Fatalf("the alert_post_failures line declares %v by %v, want one metric and no dimension", d.Metrics, d.Dimensions)
	}
	return append(out, opsWatch{d.Namespace, d.Metrics[0].Name, "null", "Sum", "GreaterThanOrEqualToThreshold", 1, "<WebhookFunction>"})
}

// opsAlarms are the alarms whose actions notify OpsTopic, by logical id.
func opsAlarms(cfn map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, a := range resources(cfn, "AWS::CloudWatch::Alarm") {
		if a["AlarmActions"] != nil {
			out[id] = a
		}
	}
	return out
}

// Watching the watchers: every function's errors and throttles, every
// queue of failed deliveries, and the failed alarm posts have one alarm
// each, on the metric and dimensions the service (or the code) writes,
// alarming at the first one in 5 minutes, missing data fine; it tells
// OpsTopic of ALARM and OK, and its description names what broke and
// where to look. No other alarm goes to the topic. (That every alarm also
// reaches the room: TestAlarmsReachWebhook.)
func TestOpsAlarms(t *testing.T) {
	cfn := expand(t)
	vals := values(t, cfn, nil)
	ops := opsAlarms(cfn)
	byMetric := map[string][]string{}
	for _, id := range sortedKeys(ops) {
		a := ops[id]
		w := opsWatch{namespace: js(a["Namespace"]), metric: js(a["MetricName"]), dimensions: js(a["Dimensions"])}
		w.namespace, w.metric = strings.Trim(w.namespace, `"`), strings.Trim(w.metric, `"`)
		byMetric[w.key()] = append(byMetric[w.key()], id)
	}
	seen := map[string]bool{}
	for _, w := range opsWatches(t, cfn) {
		ids := byMetric[w.key()]
		if len(ids) != 1 {
			t.Errorf("%d ops alarms %v watch %s %s by %s, want 1", len(ids), ids, w.namespace, w.metric, w.dimensions)
			continue
		}
		id := ids[0]
		seen[id] = true
		a := resolve(t, cfn, ops[id], vals).(map[string]any)
		expectProps(t, id, a, map[string]any{
			"Statistic": w.statistic, "ComparisonOperator": w.comparison, "Threshold": w.threshold,
			"Period": 300, "EvaluationPeriods": 1, "DatapointsToAlarm": 1, "TreatMissingData": "notBreaching",
		})
		for _, key := range []string{"AlarmActions", "OKActions"} {
			if js(ops[id][key]) != js([]any{map[string]any{"Ref": "OpsTopic"}}) {
				t.Errorf("%s %s is %s, want [OpsTopic]", id, key, js(ops[id][key]))
			}
		}
		if name, _ := a["AlarmName"].(string); !strings.HasPrefix(name, vals["AWS::StackName"]+"-") {
			t.Errorf("%s is named %q, want the stack's name first", id, name)
		}
		desc, _ := a["AlarmDescription"].(string)
		if !strings.Contains(desc, w.names) || !strings.Contains(desc, "Look at") || !strings.Contains(desc, "README") {
			t.Errorf("%s's description %q does not name %s and where to look (Look at ..., README)", id, desc, w.names)
		}
	}
	for _, id := range sortedKeys(ops) {
		if !seen[id] {
			t.Errorf("alarm %s notifies OpsTopic but watches none of the expected things", id)
		}
	}
	for _, id := range []string{"QuotaAlarm", "TokenErrorsAlarm", "HeartbeatAlarm"} {
		if _, ok := ops[id]; ok {
			t.Errorf("%s notifies OpsTopic; the token alarms are the room's", id)
		}
	}
	if len(ops) != 8 {
		t.Errorf("%d ops alarms %v, want 8: 2 functions' errors and throttles, 3 queues of failures, failed posts", len(ops), sortedKeys(ops))
	}
}

// policyStatements returns every IAM statement in the expanded template,
// wherever it sits (roles, queue and topic policies), by resource id.
func policyStatements(cfn map[string]any) map[string][]map[string]any {
	out := map[string][]map[string]any{}
	var walk func(id string, v any)
	walk = func(id string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if _, ok := v["Effect"]; ok {
				if _, ok := v["Action"]; ok {
					out[id] = append(out[id], v)
					return
				}
			}
			for _, x := range v {
				walk(id, x)
			}
		case []any:
			for _, x := range v {
				walk(id, x)
			}
		}
	}
	all, _ := cfn["Resources"].(map[string]any)
	for id, r := range all {
		walk(id, r.(map[string]any)["Properties"])
	}
	return out
}

// grants reports whether a statement's actions include action, wildcards
// included (IAM actions are case-insensitive).
func grants(s map[string]any, action string) bool {
	for _, a := range strs(s["Action"]) {
		pattern := "^" + strings.ReplaceAll(regexp.QuoteMeta(strings.ToLower(a)), `\*`, ".*") + "$"
		if regexp.MustCompile(pattern).MatchString(action) {
			return true
		}
	}
	return false
}

// OpsTopic: the one topic. The only statement in the template that lets
// anyone publish is its topic policy: CloudWatch, for exactly the ops
// alarms of this account, on exactly the topic. The e-mail subscription
// exists only when OpsEmail is set.
func TestOpsTopic(t *testing.T) {
	cfn := expand(t)
	if topics := resources(cfn, "AWS::SNS::Topic"); len(topics) != 1 || topics["OpsTopic"] == nil {
		t.Fatalf("template has topics %v, want OpsTopic only", sortedKeys(topics))
	}
	var alarmARNs []string
	for id := range opsAlarms(cfn) {
		alarmARNs = append(alarmARNs, getAtt(id, "Arn"))
	}
	slices.Sort(alarmARNs)
	var publishers int
	stmts := policyStatements(cfn)
	for _, id := range sortedKeys(stmts) {
		for _, s := range stmts[id] {
			if !grants(s, "sns:publish") {
				continue
			}
			publishers++
			if id != "OpsTopicPolicy" || s["Effect"] != "Allow" {
				t.Errorf("%s: statement %s publishes to SNS; only OpsTopicPolicy may allow that", id, js(s))
				continue
			}
			cond, _ := s["Condition"].(map[string]any)
			arnEq, _ := cond["ArnEquals"].(map[string]any)
			var sources []string
			for _, x := range list(arnEq["aws:SourceArn"]) {
				sources = append(sources, js(x))
			}
			slices.Sort(sources)
			if js(s["Action"]) != `"sns:Publish"` || js(s["Resource"]) != ref("OpsTopic") ||
				js(s["Principal"]) != `{"Service":"cloudwatch.amazonaws.com"}` {
				t.Errorf("%s: statement %s, want CloudWatch's sns:Publish on OpsTopic only", id, js(s))
			}
			if !slices.Equal(sources, alarmARNs) || len(cond) != 2 ||
				js(cond["StringEquals"]) != js(map[string]any{"aws:SourceAccount": map[string]any{"Ref": "AWS::AccountId"}}) {
				t.Errorf("%s: condition %s, want the ops alarms %v of this account exactly", id, js(cond), alarmARNs)
			}
		}
	}
	if publishers != 1 {
		t.Errorf("%d statements allow sns:Publish, want OpsTopicPolicy's one", publishers)
	}
	if tp := resources(cfn, "AWS::SNS::TopicPolicy")["OpsTopicPolicy"]; js(tp["Topics"]) != js([]any{map[string]any{"Ref": "OpsTopic"}}) {
		t.Errorf("OpsTopicPolicy applies to %s, want [OpsTopic]", js(tp["Topics"]))
	}

	all, _ := cfn["Resources"].(map[string]any)
	subs := resources(cfn, "AWS::SNS::Subscription")
	if len(subs) != 1 || subs["OpsEmailSubscription"] == nil {
		t.Fatalf("template has subscriptions %v, want OpsEmailSubscription", sortedKeys(subs))
	}
	sub := subs["OpsEmailSubscription"]
	if js(sub["TopicArn"]) != ref("OpsTopic") || sub["Protocol"] != "email" || js(sub["Endpoint"]) != ref("OpsEmail") {
		t.Errorf("OpsEmailSubscription %s, want OpsEmail's e-mail on OpsTopic", js(sub))
	}
	condName, _ := all["OpsEmailSubscription"].(map[string]any)["Condition"].(string)
	conds, _ := cfn["Conditions"].(map[string]any)
	for email, want := range map[string]bool{"": false, "ops@example.com": true} {
		if got := resolve(t, cfn, conds[condName], values(t, cfn, map[string]string{"OpsEmail": email})); got != want {
			t.Errorf("OpsEmail %q: the subscription's condition %q is %v, want %v", email, condName, got, want)
		}
	}
	p, _ := cfn["Parameters"].(map[string]any)["OpsEmail"].(map[string]any)
	re := regexp.MustCompile(p["AllowedPattern"].(string))
	for v, ok := range map[string]bool{"": true, "ops@example.com": true, "a.b+c@mail.example.co.jp": true,
		"ops": false, "ops@example": false, "a b@example.com": false, "a@b@example.com": false, "ops@example.com,x@example.com": false} {
		if re.MatchString(v) != ok {
			t.Errorf("OpsEmail's pattern takes %q: %v, want %v", v, !ok, ok)
		}
	}
}

// The alarm rule's target has a dead-letter queue, and only that rule may
// send to it.
func TestAlarmRuleDeadLetterQueue(t *testing.T) {
	cfn := expand(t)
	rule := resources(cfn, "AWS::Events::Rule")["WebhookFunctionAlarmStates"]
	targets := list(rule["Targets"])
	if len(targets) != 1 {
		t.Fatalf("WebhookFunctionAlarmStates has targets %s, want one", js(rule["Targets"]))
	}
	dl, _ := targets[0].(map[string]any)["DeadLetterConfig"].(map[string]any)
	q := queueArn(cfn, dl["Arn"])
	if q == "" {
		t.Fatalf("the alarm rule's target has dead-letter config %s, want a queue of the template", js(dl))
	}
	var policies int
	for id, qp := range resources(cfn, "AWS::SQS::QueuePolicy") {
		if js(qp["Queues"]) != js([]any{map[string]any{"Ref": q}}) {
			continue
		}
		policies++
		want := js([]any{map[string]any{
			"Sid": "TheAlarmRuleOnly", "Effect": "Allow", "Principal": map[string]any{"Service": "events.amazonaws.com"},
			"Action": "sqs:SendMessage", "Resource": map[string]any{"Fn::GetAtt": []any{q, "Arn"}},
			"Condition": map[string]any{"ArnEquals": map[string]any{"aws:SourceArn": map[string]any{"Fn::GetAtt": []any{"WebhookFunctionAlarmStates", "Arn"}}}},
		}})
		if got := js(qp["PolicyDocument"].(map[string]any)["Statement"]); got != want {
			t.Errorf("%s: %s, want EventBridge's sqs:SendMessage for the alarm rule only: %s", id, got, want)
		}
	}
	if policies != 1 {
		t.Errorf("%d queue policies on %s, want 1", policies, q)
	}
	if !slices.Contains(deadLetters(t, cfn), q) {
		t.Errorf("%s is not among the watched queues", q)
	}
}

// lambdaRetryWaits are Lambda's waits before the retries of a failed
// asynchronous invocation: about 1 minute, then 2 more.
var lambdaRetryWaits = []time.Duration{time.Minute, 2 * time.Minute}

// The webhook's asynchronous invocations (alarm events, housekeeping):
// retried, since a retry cannot post twice (the claim in the state table),
// the last retry late enough for a crashed instance's claim to have
// expired; what still fails goes to an SQS queue (watched: TestOpsAlarms)
// the function may send to (TestIAMLeastPrivilege).
func TestWebhookAsyncInvocations(t *testing.T) {
	cfn := expand(t)
	var found int
	for id, c := range resources(cfn, "AWS::Lambda::EventInvokeConfig") {
		if js(c["FunctionName"]) != ref("WebhookFunction") {
			continue
		}
		found++
		retries, _ := c["MaximumRetryAttempts"].(float64)
		if retries < 0 || int(retries) > len(lambdaRetryWaits) {
			t.Fatalf("%s MaximumRetryAttempts %v: Lambda allows 0 to 2", id, c["MaximumRetryAttempts"])
		}
		var waited time.Duration
		for _, w := range lambdaRetryWaits[:int(retries)] {
			waited += w
		}
		if waited <= state.ClaimFor {
			t.Errorf("%s MaximumRetryAttempts %v: the last retry comes about %v after the first attempt, before a crashed instance's claim (%v) expires",
				id, retries, waited, state.ClaimFor)
		}
		dc, _ := c["DestinationConfig"].(map[string]any)
		of, _ := dc["OnFailure"].(map[string]any)
		if q := queueArn(cfn, of["Destination"]); q != "WebhookFailedEventsQueue" {
			t.Errorf("%s on-failure destination %s, want WebhookFailedEventsQueue", id, js(of["Destination"]))
		}
		if _, ok := dc["OnSuccess"]; ok {
			t.Errorf("%s has an on-success destination %s", id, js(dc["OnSuccess"]))
		}
	}
	if found != 1 {
		t.Errorf("template has %d EventInvokeConfigs for WebhookFunction, want 1", found)
	}
}
