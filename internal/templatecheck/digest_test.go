package templatecheck

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/quotabot/chatwork-quota-bot/internal/app/webhookfn"
)

// digestSchedules are the schedules of an expanded template that
// CloudFormation creates with the parameter values vals (their condition,
// if any, holds) and that send the webhook the digest's payload, by id.
func digestSchedules(t *testing.T, cfn map[string]any, vals map[string]string) map[string]map[string]any {
	t.Helper()
	all, _ := cfn["Resources"].(map[string]any)
	conds, _ := cfn["Conditions"].(map[string]any)
	out := map[string]map[string]any{}
	for id, s := range resources(cfn, "AWS::Scheduler::Schedule") {
		target, _ := s["Target"].(map[string]any)
		if input, _ := target["Input"].(string); input != webhookfn.Digest {
			continue
		}
		if name, ok := all[id].(map[string]any)["Condition"].(string); ok {
			c, known := conds[name]
			if !known {
				t.Fatalf("schedule %s has condition %q, which is not a condition", id, name)
			}
			if resolve(t, cfn, c, vals) != true {
				continue
			}
		}
		out[id] = s
	}
	return out
}

// The morning digest: with DigestSchedule set (its default, or another
// expression), one schedule sends the webhook the payload its handler
// takes for the digest, at that expression in the TimeZone parameter's
// zone, on time, retried; its role may only invoke the webhook
// (TestIAMLeastPrivilege). With DigestSchedule empty, after SAM's
// expansion with that value, there is no such schedule, and no role for it.
func TestDigestSchedule(t *testing.T) {
	cfn := expand(t)
	for _, c := range []struct{ schedule, zone string }{
		{"", ""}, // the defaults
		{"cron(30 8 ? * MON-FRI *)", "Europe/Paris"},
	} {
		overrides := map[string]string{}
		if c.schedule != "" {
			overrides["DigestSchedule"], overrides["TimeZone"] = c.schedule, c.zone
		}
		vals := values(t, cfn, overrides)
		if c.schedule == "" && (vals["DigestSchedule"] != "cron(0 9 * * ? *)" || vals["TimeZone"] != "Asia/Tokyo") {
			t.Fatalf("DigestSchedule defaults to %q in %q, want every day at 09:00 (cron(0 9 * * ? *)) in Asia/Tokyo", vals["DigestSchedule"], vals["TimeZone"])
		}
		found := digestSchedules(t, cfn, vals)
		if len(found) != 1 {
			t.Fatalf("DigestSchedule %q: %d digest schedules, want 1", vals["DigestSchedule"], len(found))
		}
		for id, s := range found {
			target, _ := s["Target"].(map[string]any)
			if js(target["Arn"]) != getAtt("WebhookFunction", "Arn") {
				t.Errorf("schedule %s targets %s, want WebhookFunction", id, js(target["Arn"]))
			}
			if got := resolve(t, cfn, s["ScheduleExpression"], vals); got != vals["DigestSchedule"] {
				t.Errorf("schedule %s runs %v, want DigestSchedule %q", id, got, vals["DigestSchedule"])
			}
			if got := resolve(t, cfn, s["ScheduleExpressionTimezone"], vals); got != vals["TimeZone"] {
				t.Errorf("schedule %s is evaluated in %v, want TimeZone %q", id, got, vals["TimeZone"])
			}
			if fw, _ := s["FlexibleTimeWindow"].(map[string]any); fw["Mode"] != "OFF" {
				t.Errorf("schedule %s flexible time window %s: the digest would come late", id, js(fw))
			}
			if rp := js(target["RetryPolicy"]); rp != `{"MaximumEventAgeInSeconds":3600,"MaximumRetryAttempts":2}` {
				t.Errorf("schedule %s retry policy %s", id, rp)
			}
			var calls scheduledCalls
			h := webhookfn.Handler(http.NotFoundHandler(), &calls, slog.New(slog.NewTextHandler(io.Discard, nil)))
			input, _ := target["Input"].(string)
			if _, err := h(context.Background(), json.RawMessage(input)); err != nil || calls != (scheduledCalls{digest: 1}) {
				t.Errorf("schedule %s input %q: the handler ran %+v (%v), want the digest once", id, input, calls, err)
			}
		}
	}

	off := expandWith(t, "DigestSchedule=")
	vals := values(t, off, map[string]string{"DigestSchedule": ""})
	if found := digestSchedules(t, off, vals); len(found) != 0 {
		t.Errorf("DigestSchedule empty: digest schedules %v, want none", sortedKeys(found))
	}
	all, _ := off["Resources"].(map[string]any)
	conds, _ := off["Conditions"].(map[string]any)
	for id := range resources(off, "AWS::IAM::Role") {
		role := resources(off, "AWS::IAM::Role")[id]
		name, _ := all[id].(map[string]any)["Condition"].(string)
		for _, s := range resources(off, "AWS::Scheduler::Schedule") {
			target, _ := s["Target"].(map[string]any)
			if input, _ := target["Input"].(string); input == webhookfn.Digest && js(target["RoleArn"]) == getAtt(id, "Arn") &&
				(name == "" || resolve(t, off, conds[name], vals) == true) {
				t.Errorf("DigestSchedule empty: the digest's role %s is still created: %s", id, js(role["Policies"]))
			}
		}
	}

	p, _ := cfn["Parameters"].(map[string]any)["DigestSchedule"].(map[string]any)
	re := regexp.MustCompile(p["AllowedPattern"].(string))
	for v, ok := range map[string]bool{"": true, "cron(0 9 * * ? *)": true, "rate(1 day)": true, "cron(30 8 ? * MON-FRI *)": true,
		"0 9 * * *": false, "cron(0 9 * * ? *) ": false, "at(2026-01-01T09:00:00)": false, "cron(0 9 * * ? *)rate(1 day)": false} {
		if re.MatchString(v) != ok {
			t.Errorf("DigestSchedule's pattern takes %q: %v, want %v", v, !ok, ok)
		}
	}
}

// The webhook reads the metrics with exactly one statement,
// cloudwatch:GetMetricData on "*" (it supports no resource scoping), and
// the monitor not at all: TestIAMLeastPrivilege allows that statement and
// nothing else on CloudWatch. This checks the allowance itself.
func TestMetricsReadGrant(t *testing.T) {
	cfn := expand(t)
	roles := resources(cfn, "AWS::IAM::Role")
	for roleID, want := range functionRoles {
		var reads []string
		for _, st := range inlineStatements(t, roleID, roles[roleID]) {
			for _, a := range strs(st.raw["Action"]) {
				if strings.HasPrefix(a, "cloudwatch:") {
					reads = append(reads, js(st.raw))
				}
			}
		}
		var wantReads []string
		if want.metrics {
			wantReads = []string{`{"Action":"cloudwatch:GetMetricData","Effect":"Allow","Resource":"*","Sid":"ReadTheQuotaMetrics"}`}
		}
		if !slices.Equal(reads, wantReads) {
			t.Errorf("%s's CloudWatch statements %v, want %v", want.function, reads, wantReads)
		}
	}
	for _, s := range []map[string]any{
		{"Effect": "Allow", "Action": "cloudwatch:GetMetricData", "Resource": "*", "Sid": "x"},
		{"Effect": "Allow", "Action": []any{"cloudwatch:GetMetricData"}, "Resource": []any{"*"}},
	} {
		if !readsMetrics(s) {
			t.Errorf("readsMetrics(%s) is false", js(s))
		}
	}
	for _, s := range []map[string]any{
		{"Effect": "Allow", "Action": "cloudwatch:*", "Resource": "*", "Sid": "x"},
		{"Effect": "Allow", "Action": []any{"cloudwatch:GetMetricData", "cloudwatch:PutMetricData"}, "Resource": "*", "Sid": "x"},
		{"Effect": "Allow", "Action": "cloudwatch:GetMetricData", "Resource": []any{"*", "arn:aws:s3:::x"}, "Sid": "x"},
		{"Effect": "Deny", "Action": "cloudwatch:GetMetricData", "Resource": "*", "Sid": "x"},
		{"Effect": "Allow", "Action": "cloudwatch:GetMetricData", "Resource": "*", "Sid": "x", "Condition": map[string]any{}},
		{"Effect": "Allow", "Action": "cloudwatch:GetMetricData", "NotResource": "arn:aws:s3:::x", "Sid": "x"},
	} {
		if readsMetrics(s) {
			t.Errorf("readsMetrics(%s) is true", js(s))
		}
	}
}
