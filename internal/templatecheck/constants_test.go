package templatecheck

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/alarm"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
)

// directive is an EMF line's metric declaration, parsed back.
type directive struct {
	Namespace  string     `json:"Namespace"`
	Dimensions [][]string `json:"Dimensions"`
	Metrics    []struct {
		Name string `json:"Name"`
	} `json:"Metrics"`
}

func emfDirective(t *testing.T, line []byte) directive {
	t.Helper()
	var v struct {
		AWS struct {
			CloudWatchMetrics []directive `json:"CloudWatchMetrics"`
		} `json:"_aws"`
	}
	if err := json.Unmarshal(line, &v); err != nil || len(v.AWS.CloudWatchMetrics) != 1 {
		t.Fatalf("not an EMF line with one directive (%v): %s", err, line)
	}
	return v.AWS.CloudWatchMetrics[0]
}

// written is what the records declare for an alarm kind: the metric names
// of a reading, of a reading with a projection (an earlier reading of its
// window known) and of a failed reading, each in sample.Namespace by
// sample.Dimension.
func written(t *testing.T, percent bool) []string {
	t.Helper()
	at := time.Date(2026, 12, 1, 13, 34, 0, 0, time.UTC)
	reading := sample.Record{Time: at, Token: "deploy", Source: sample.SourceMonitor,
		HasQuota: true, Remaining: 12, Limit: 300, Reset: at.Add(time.Minute).Unix(), Calls: 1}
	projected := reading
	earlier := reading
	earlier.Time, earlier.Remaining = at.Add(-time.Minute), 112
	if !projected.Project(earlier) {
		t.Fatal("a reading a minute after an earlier one of its window has no projection")
	}
	failed := sample.Record{Time: at, Token: "deploy", Source: sample.SourceMonitor,
		Error: "invalid_token", Detail: "the token was rejected", Calls: 1}
	var names []string
	for _, r := range []sample.Record{reading, projected, failed} {
		line, err := r.MarshalEMF(sample.Metrics{Percent: percent})
		if err != nil {
			t.Fatal(err)
		}
		d := emfDirective(t, line)
		if d.Namespace != sample.Namespace || js(d.Dimensions) != js([][]string{{sample.Dimension}}) {
			t.Fatalf("a record declares %s by %v; the template expects %s by [[%s]]", d.Namespace, d.Dimensions, sample.Namespace, sample.Dimension)
		}
		for _, m := range d.Metrics {
			names = append(names, m.Name)
		}
	}
	return names
}

// heartbeat is the metric the monitor's heartbeat line declares: its
// namespace and name, with no dimension.
func heartbeat(t *testing.T) (namespace, name string) {
	t.Helper()
	d := emfDirective(t, sample.Heartbeat(time.Date(2026, 12, 1, 13, 34, 0, 0, time.UTC), 3))
	if len(d.Metrics) != 1 || js(d.Dimensions) != "[[]]" {
		t.Fatalf("the heartbeat line declares %v by %v, want one metric and no dimension", d.Metrics, d.Dimensions)
	}
	return d.Namespace, d.Metrics[0].Name
}

// insights is a Metrics Insights query of the one form the alarms and the
// dashboard use: one aggregate of one metric, per token.
type insights struct {
	Func, Metric, Namespace, Schema, GroupBy, OrderFunc, Order string
}

var insightsForm = regexp.MustCompile(`^SELECT (MIN|MAX|SUM|AVG|COUNT)\((\w+)\) FROM SCHEMA\("([^"]+)", (\w+)\) GROUP BY (\w+) ORDER BY (MIN|MAX|SUM|AVG|COUNT)\(\) (ASC|DESC)$`)

func parseInsights(t *testing.T, query string) insights {
	t.Helper()
	m := insightsForm.FindStringSubmatch(query)
	if m == nil {
		t.Fatalf("query %q is not SELECT F(metric) FROM SCHEMA(\"namespace\", key) GROUP BY key ORDER BY F() ASC|DESC", query)
	}
	return insights{m[1], m[2], m[3], m[4], m[5], m[6], m[7]}
}

func num(v any) string {
	if f, ok := v.(float64); ok {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// expectShape checks an alarm's period (on its one query), evaluation
// periods and datapoints to alarm against the shape internal/alarm gives
// it, the one the stand-in evaluates.
func expectShape(t *testing.T, id string, props, query map[string]any, shape alarm.Shape) {
	t.Helper()
	expectProps(t, id+" query", query, map[string]any{"Period": shape.Period.Seconds()})
	expectProps(t, id, props, map[string]any{"EvaluationPeriods": shape.Evaluations, "DatapointsToAlarm": shape.Datapoints})
}

// expectProps compares an alarm's resolved properties with want (absent:
// nil).
func expectProps(t *testing.T, id string, props map[string]any, want map[string]any) {
	t.Helper()
	for key, w := range want {
		got, ok := props[key]
		switch {
		case w == nil && ok:
			t.Errorf("%s has %s %s; an alarm on a Metrics Insights query has none", id, key, js(got))
		case w != nil && num(got) != num(w):
			t.Errorf("%s %s is %s, want %v", id, key, js(got), w)
		}
	}
}

// insightsAlarm returns the alarm's one query, checked to be the whole of a
// Metrics Insights alarm as CloudFormation takes it: the query, its period
// and ReturnData on the one MetricDataQuery, nothing of a classic alarm.
func insightsAlarm(t *testing.T, id string, props map[string]any) (insights, map[string]any) {
	t.Helper()
	expectProps(t, id, props, map[string]any{"Namespace": nil, "MetricName": nil, "Dimensions": nil,
		"Statistic": nil, "ExtendedStatistic": nil, "Period": nil, "Unit": nil})
	metrics := list(props["Metrics"])
	if len(metrics) != 1 {
		t.Fatalf("%s has %d queries, want one Metrics Insights query", id, len(metrics))
	}
	q, _ := metrics[0].(map[string]any)
	if q["Id"] == nil || q["ReturnData"] != true || q["MetricStat"] != nil {
		t.Errorf("%s query %s: want an Id, ReturnData true and no MetricStat", id, js(q))
	}
	expr, _ := q["Expression"].(string)
	return parseInsights(t, expr), q
}

// The quota alarm watches, per token, the one quota metric the records
// declare for the alarm kind, with the rule the sandbox's stand-in applies.
func TestQuotaAlarm(t *testing.T) {
	cfn := expand(t)
	for _, kind := range []string{"count", "percent"} {
		t.Run(kind, func(t *testing.T) {
			percent := kind == "percent"
			vals := values(t, cfn, map[string]string{"AlarmThresholdKind": kind})
			props := resolve(t, cfn, resources(cfn, "AWS::CloudWatch::Alarm")["QuotaAlarm"], vals).(map[string]any)
			q, query := insightsAlarm(t, "QuotaAlarm", props)
			watched := sample.Metrics{Percent: percent}.Watched()
			want := insights{"MIN", watched, sample.Namespace, sample.Dimension, sample.Dimension, "MIN", "ASC"}
			if q != want {
				t.Errorf("QuotaAlarm's query is %+v, want %+v", q, want)
			}
			if !slices.Contains(written(t, percent), q.Metric) || (alarm.Rule{Percent: percent}).Metric() != q.Metric {
				t.Errorf("QuotaAlarm watches %s; the records declare %v, the stand-in compares %s",
					q.Metric, written(t, percent), (alarm.Rule{Percent: percent}).Metric())
			}
			expectShape(t, "QuotaAlarm", props, query, alarm.QuotaShape)
			expectProps(t, "QuotaAlarm", props, map[string]any{
				"ComparisonOperator": alarm.Comparison, "Threshold": vals["AlarmThreshold"],
				"TreatMissingData": alarm.TreatMissingData,
			})
		})
	}
}

// The pace alarm watches, per token, the projection the records declare
// for the alarm kind (the remaining count, or percent, expected at the
// reset), exactly the query the stand-in's pace rule has, at or under 0
// with PaceShape.
func TestPaceAlarm(t *testing.T) {
	cfn := expand(t)
	for _, kind := range []string{"count", "percent"} {
		t.Run(kind, func(t *testing.T) {
			percent := kind == "percent"
			vals := values(t, cfn, map[string]string{"AlarmThresholdKind": kind})
			al, ok := resources(cfn, "AWS::CloudWatch::Alarm")["PaceAlarm"]
			if !ok {
				t.Fatal("template lacks PaceAlarm")
			}
			props := resolve(t, cfn, al, vals).(map[string]any)
			q, query := insightsAlarm(t, "PaceAlarm", props)
			rule := alarm.Rule{Pace: true, Percent: percent}
			projection := sample.Metrics{Percent: percent}.Projection()
			if expr := query["Expression"]; expr != rule.Query() {
				t.Errorf("PaceAlarm's query is %q, the stand-in's %q", expr, rule.Query())
			}
			if want := (insights{"MIN", projection, sample.Namespace, sample.Dimension, sample.Dimension, "MIN", "ASC"}); q != want {
				t.Errorf("PaceAlarm's query is %+v, want %+v", q, want)
			}
			if !slices.Contains(written(t, percent), q.Metric) || rule.Metric() != q.Metric {
				t.Errorf("PaceAlarm watches %s; the records declare %v, the stand-in compares %s", q.Metric, written(t, percent), rule.Metric())
			}
			expectShape(t, "PaceAlarm", props, query, alarm.PaceShape)
			expectProps(t, "PaceAlarm", props, map[string]any{
				"ComparisonOperator": alarm.Comparison, "Threshold": alarm.PaceThreshold, "TreatMissingData": alarm.TreatMissingData,
				"AlarmActions": nil, "OKActions": nil,
			})
			if d, _ := props["AlarmDescription"].(string); !strings.Contains(d, "runs out before the reset") {
				t.Errorf("PaceAlarm's description %q does not say what it means", d)
			}
		})
	}
}

// A token whose readings fail alarms as its own contributor: three error
// records in a 5-minute period (a revoked token fails all five or six
// readings of a window; one network blip does not alarm). A period without
// error records has no datapoint and counts as fine, so the token recovers.
func TestTokenErrorsAlarm(t *testing.T) {
	cfn := expand(t)
	props := resolve(t, cfn, resources(cfn, "AWS::CloudWatch::Alarm")["TokenErrorsAlarm"], values(t, cfn, nil)).(map[string]any)
	q, query := insightsAlarm(t, "TokenErrorsAlarm", props)
	if want := (insights{"SUM", sample.MetricErrors, sample.Namespace, sample.Dimension, sample.Dimension, "SUM", "DESC"}); q != want {
		t.Errorf("TokenErrorsAlarm's query is %+v, want %+v", q, want)
	}
	for _, percent := range []bool{false, true} {
		if !slices.Contains(written(t, percent), q.Metric) {
			t.Errorf("TokenErrorsAlarm watches %s; failed records declare %v", q.Metric, written(t, percent))
		}
	}
	if expr := query["Expression"]; expr != (alarm.Rule{Errors: true}).Query() {
		t.Errorf("TokenErrorsAlarm's query is %q, the stand-in's %q", expr, (alarm.Rule{Errors: true}).Query())
	}
	expectProps(t, "TokenErrorsAlarm query", query, map[string]any{"Period": 300})
	expectShape(t, "TokenErrorsAlarm", props, query, alarm.ErrorsShape)
	expectProps(t, "TokenErrorsAlarm", props, map[string]any{
		"ComparisonOperator": "GreaterThanOrEqualToThreshold", "Threshold": alarm.ErrorsThreshold,
		"EvaluationPeriods": 1, "DatapointsToAlarm": 1, "TreatMissingData": "notBreaching",
	})
}

// The heartbeat alarm watches the metric of the monitor's heartbeat line
// (no dimension) and takes two 5-minute periods without one, missing data
// included, for a stopped monitor.
func TestHeartbeatAlarm(t *testing.T) {
	cfn := expand(t)
	props := resolve(t, cfn, resources(cfn, "AWS::CloudWatch::Alarm")["HeartbeatAlarm"], values(t, cfn, nil)).(map[string]any)
	ns, name := heartbeat(t)
	if d := list(props["Dimensions"]); len(d) > 0 {
		t.Errorf("HeartbeatAlarm has dimensions %s; the heartbeat line declares none", js(d))
	}
	if props["Metrics"] != nil {
		t.Errorf("HeartbeatAlarm has Metrics %s; it is a classic alarm on one metric", js(props["Metrics"]))
	}
	expectProps(t, "HeartbeatAlarm", props, map[string]any{
		"Namespace": ns, "MetricName": name, "Statistic": "SampleCount", "Period": 300,
		"EvaluationPeriods": 2, "DatapointsToAlarm": 2, "ComparisonOperator": "LessThanThreshold",
		"Threshold": 1, "TreatMissingData": "breaching",
	})
}

// The dashboard's body is JSON once CloudFormation has filled it in, for
// either alarm kind; its graphs are Metrics Insights queries per token (so
// a token added later appears) and the heartbeat, over metrics the code
// writes for that kind only (no used or limit, remaining_percent only when
// the kind is percent); its alarm widget lists the template's alarms.
func TestDashboard(t *testing.T) {
	cfn := expand(t)
	var alarmARNs []string
	for id := range resources(cfn, "AWS::CloudWatch::Alarm") {
		alarmARNs = append(alarmARNs, "<"+id+".Arn>")
	}
	slices.Sort(alarmARNs)
	_, beat := heartbeat(t)
	for _, kind := range []string{"count", "percent"} {
		t.Run(kind, func(t *testing.T) {
			percent := kind == "percent"
			writes := append(written(t, percent), beat)
			body, ok := resolve(t, cfn, resources(cfn, "AWS::CloudWatch::Dashboard")["QuotaDashboard"]["DashboardBody"],
				values(t, cfn, map[string]string{"AlarmThresholdKind": kind})).(string)
			if !ok {
				t.Fatal("DashboardBody does not resolve to a string")
			}
			var dash struct {
				Widgets []struct {
					Type       string `json:"type"`
					Properties struct {
						Metrics [][]any  `json:"metrics"`
						Alarms  []string `json:"alarms"`
					} `json:"properties"`
				} `json:"widgets"`
			}
			if err := json.Unmarshal([]byte(body), &dash); err != nil {
				t.Fatalf("DashboardBody is not JSON once filled in: %v\n%s", err, body)
			}
			graphed := map[string]bool{}
			var listed []string
			for i, w := range dash.Widgets {
				listed = append(listed, w.Properties.Alarms...)
				if w.Type != "metric" {
					continue
				}
				for _, row := range w.Properties.Metrics {
					graphed[dashboardMetric(t, i, row)] = true
				}
			}
			for _, name := range sortedKeys(graphed) {
				if !slices.Contains(writes, name) {
					t.Errorf("the dashboard graphs %s, which the code does not write with AlarmThresholdKind %s (it writes %v)", name, kind, writes)
				}
			}
			for _, want := range []string{sample.Metrics{Percent: percent}.Watched(), sample.Metrics{Percent: percent}.Projection(), sample.MetricErrors, beat} {
				if !graphed[want] {
					t.Errorf("the dashboard does not graph %s", want)
				}
			}
			slices.Sort(listed)
			if !slices.Equal(listed, alarmARNs) {
				t.Errorf("the dashboard's alarm widget lists %v, want the template's alarms %v", listed, alarmARNs)
			}
			// No word of a metric the code does not write for this kind,
			// in a title or label either.
			for _, name := range []string{sample.MetricUsed, sample.MetricLimit, sample.MetricRemaining, sample.MetricRemainingPercent, sample.MetricProjected, sample.MetricProjectedPercent} {
				if slices.Contains(writes, name) {
					continue
				}
				for i, w := range dash.Widgets {
					if w.Type == "metric" && regexp.MustCompile(`\b`+name+`\b`).MatchString(js(w.Properties)) {
						t.Errorf("widget %d names %s, which is not written with AlarmThresholdKind %s", i, name, kind)
					}
				}
			}
			t.Logf("graphs %v", sortedKeys(graphed))
		})
	}
}

// dashboardMetric checks one row of a metric widget and returns the metric
// it graphs: a Metrics Insights query per token, or the heartbeat, which
// has no dimension. A row naming one token's series would not show a
// token added later.
func dashboardMetric(t *testing.T, widget int, row []any) string {
	t.Helper()
	if len(row) == 1 {
		opts, _ := row[0].(map[string]any)
		expr, _ := opts["expression"].(string)
		q := parseInsights(t, expr)
		if q.Namespace != sample.Namespace || q.Schema != sample.Dimension || q.GroupBy != sample.Dimension {
			t.Errorf("widget %d: query %q: want SCHEMA(%q, %s) GROUP BY %s", widget, expr, sample.Namespace, sample.Dimension, sample.Dimension)
		}
		return q.Metric
	}
	ns, _ := row[0].(string)
	name, _ := row[1].(string)
	rest := row[2:]
	if len(rest) > 0 {
		if _, ok := rest[len(rest)-1].(map[string]any); ok {
			rest = rest[:len(rest)-1]
		}
	}
	if bns, beat := heartbeat(t); ns != bns || name != beat || len(rest) > 0 {
		t.Errorf("widget %d: row %v: a metric of one series is only the heartbeat (%s/%s, no dimension); per-token graphs are Metrics Insights queries",
			widget, row, bns, beat)
	}
	return name
}

// The alarm names the webhook is told are the alarms' names, in the form
// the bot and the sandbox expect: STACK-quota-low, STACK-quota-pace,
// STACK-token-errors, STACK-monitor-heartbeat.
func TestAlarmNames(t *testing.T) {
	cfn := expand(t)
	vals := values(t, cfn, nil)
	alarms := resources(cfn, "AWS::CloudWatch::Alarm")
	env := resolve(t, cfn, resources(cfn, "AWS::Lambda::Function")["WebhookFunction"]["Environment"], vals).(map[string]any)["Variables"].(map[string]any)
	want := map[string][2]string{
		"QUOTA_ALARM_NAME":           {"QuotaAlarm", "-quota-low"},
		"QUOTA_PACE_ALARM_NAME":      {"PaceAlarm", "-quota-pace"},
		"QUOTA_ERRORS_ALARM_NAME":    {"TokenErrorsAlarm", "-token-errors"},
		"QUOTA_HEARTBEAT_ALARM_NAME": {"HeartbeatAlarm", "-monitor-heartbeat"},
	}
	// The ops alarms (TestOpsAlarms) go to OpsTopic; the token alarms
	// reach the room through the webhook alone.
	var tokenAlarms []string
	for id, al := range alarms {
		if al["AlarmActions"] == nil {
			tokenAlarms = append(tokenAlarms, id)
		}
	}
	if len(tokenAlarms) != len(want) {
		t.Errorf("template has alarms without actions %v, want %d", tokenAlarms, len(want))
	}
	for variable, w := range want {
		al, ok := alarms[w[0]]
		if !ok {
			t.Errorf("template lacks %s", w[0])
			continue
		}
		name := resolve(t, cfn, al["AlarmName"], vals)
		if name != vals["AWS::StackName"]+w[1] || env[variable] != name {
			t.Errorf("%s is named %v and WebhookFunction's %s is %v; want both %s", w[0], name, variable, env[variable], vals["AWS::StackName"]+w[1])
		}
	}
}
