package templatecheck

import (
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/quotabot/chatwork-quota-bot/internal/alarm"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
)

// The metric names the records carry (EMF): the alarm and the dashboard may
// use no others.
var metricNames = []string{
	sample.MetricRemaining, sample.MetricUsed, sample.MetricLimit, sample.MetricRemainingPercent, sample.MetricErrors,
}

func scalar(t *testing.T, n *yaml.Node, what string) string {
	t.Helper()
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!str" && n.Tag != "!!int") {
		t.Fatalf("%s: want a plain value, got %s %q (line %d)", what, n.Tag, n.Value, n.Line)
	}
	return n.Value
}

// The alarm in template.yaml watches exactly the metric the records carry,
// with the shape internal/alarm's evaluator reproduces in the sandbox.
func TestAlarmMatchesConstants(t *testing.T) {
	props := mustGet(t, loadYAML(t), "Resources", "QuotaAlarm", "Properties")
	for key, want := range map[string]string{
		"Namespace":          sample.Namespace,
		"Statistic":          alarm.Statistic,
		"Period":             strconv.Itoa(int(alarm.Period.Seconds())),
		"EvaluationPeriods":  strconv.Itoa(alarm.EvaluationPeriods),
		"DatapointsToAlarm":  strconv.Itoa(alarm.DatapointsToAlarm),
		"ComparisonOperator": alarm.Comparison,
		"TreatMissingData":   alarm.TreatMissingData,
	} {
		if got := scalar(t, mustGet(t, props, key), "QuotaAlarm."+key); got != want {
			t.Errorf("QuotaAlarm %s is %q; Go says %q", key, got, want)
		}
	}

	// MetricName: !If [ThresholdIsPercent, remaining_percent, remaining],
	// the two metrics alarm.Rule.Metric chooses between.
	name := mustGet(t, props, "MetricName")
	switch {
	case name.Tag == "!If" && name.Kind == yaml.SequenceNode && len(name.Content) == 3:
		cond := mustGet(t, loadYAML(t), "Conditions", name.Content[0].Value)
		if cond.Tag != "!Equals" || len(cond.Content) != 2 || cond.Content[0].Tag != "!Ref" ||
			cond.Content[0].Value != "AlarmThresholdKind" || cond.Content[1].Value != "percent" {
			t.Errorf("condition %s is not AlarmThresholdKind == percent", name.Content[0].Value)
		}
		yes := scalar(t, name.Content[1], "MetricName (percent)")
		no := scalar(t, name.Content[2], "MetricName (count)")
		if yes != (alarm.Rule{Percent: true}).Metric() || no != (alarm.Rule{}).Metric() {
			t.Errorf("QuotaAlarm MetricName chooses %q/%q; Go says %q/%q", yes, no,
				(alarm.Rule{Percent: true}).Metric(), (alarm.Rule{}).Metric())
		}
	case name.Kind == yaml.ScalarNode:
		if got := name.Value; got != sample.MetricRemaining {
			t.Errorf("QuotaAlarm MetricName %q; Go says %q", got, sample.MetricRemaining)
		}
	default:
		t.Errorf("QuotaAlarm MetricName has an unexpected form %s (line %d)", name.Tag, name.Line)
	}

	// One dimension, the token's label, from the parameter that also
	// labels the records (QUOTA_TOKEN_LABEL).
	dims := mustGet(t, props, "Dimensions")
	if dims.Kind != yaml.SequenceNode || len(dims.Content) != 1 {
		t.Fatalf("QuotaAlarm Dimensions: want one dimension, got %d", len(dims.Content))
	}
	if got := scalar(t, mustGet(t, dims.Content[0], "Name"), "dimension name"); got != sample.Dimension {
		t.Errorf("QuotaAlarm dimension %q; Go says %q", got, sample.Dimension)
	}
	value := mustGet(t, dims.Content[0], "Value")
	label := mustGet(t, loadYAML(t), "Globals", "Function", "Environment", "Variables", "QUOTA_TOKEN_LABEL")
	if value.Tag != "!Ref" || label.Tag != "!Ref" || value.Value != label.Value {
		t.Errorf("the alarm's dimension value (%s %s) and QUOTA_TOKEN_LABEL (%s %s) must be the same parameter",
			value.Tag, value.Value, label.Tag, label.Value)
	}
}

var subVar = regexp.MustCompile(`\$\{([^}!]+)\}`)

// dummyValue is a value CloudFormation would accept for a parameter:
// "dummy"+name when the parameter allows it, else its default, else a
// number.
func dummyValue(t *testing.T, name string, spec *yaml.Node) string {
	t.Helper()
	marker := "dummy" + name
	typ, def := get(spec, "Type"), get(spec, "Default")
	if typ != nil && typ.Value == "Number" {
		if def != nil {
			return def.Value
		}
		return "60"
	}
	pat := get(spec, "AllowedPattern")
	if pat == nil {
		return marker
	}
	re, err := regexp.Compile(pat.Value)
	if err != nil {
		t.Fatalf("parameter %s: AllowedPattern %q: %v", name, pat.Value, err)
	}
	switch {
	case re.MatchString(marker):
		return marker
	case def != nil:
		return def.Value
	}
	t.Fatalf("parameter %s: no dummy value for AllowedPattern %q", name, pat.Value)
	return ""
}

// The dashboard's body is valid JSON once Fn::Sub has filled it in, and its
// metrics are the records' metrics.
func TestDashboardMatchesConstants(t *testing.T) {
	root := loadYAML(t)
	body := mustGet(t, root, "Resources", "QuotaDashboard", "Properties", "DashboardBody")
	if body.Tag != "!Sub" {
		t.Fatalf("DashboardBody is %s, want !Sub", body.Tag)
	}
	text, vars := body.Value, map[string]*yaml.Node{}
	if body.Kind == yaml.SequenceNode {
		if len(body.Content) != 2 || body.Content[1].Kind != yaml.MappingNode {
			t.Fatal("DashboardBody: !Sub [text, {variables}] expected")
		}
		text = body.Content[0].Value
		m := body.Content[1]
		for i := 0; i+1 < len(m.Content); i += 2 {
			vars[m.Content[i].Value] = m.Content[i+1]
		}
	}
	params := mustGet(t, root, "Parameters")
	// Dummy values of the right kind: a marker word where the parameter
	// allows it, so that a string placed outside quotes breaks the JSON as
	// it would in CloudWatch; the default (or a number) where the parameter
	// only allows numbers.
	filled := subVar.ReplaceAllStringFunc(text, func(m string) string {
		name := m[2 : len(m)-1]
		switch {
		case strings.HasPrefix(name, "AWS::"):
			return "ap-northeast-1"
		case vars[name] != nil:
			return "dummy" + strings.ReplaceAll(name, ".", "")
		case get(params, name) != nil:
			return dummyValue(t, name, get(params, name))
		}
		t.Errorf("DashboardBody uses ${%s}, which is neither a parameter nor a !Sub variable", name)
		return "dummy"
	})
	filled = strings.ReplaceAll(filled, "${!", "${")
	var dash struct {
		Widgets []struct {
			Type       string `json:"type"`
			Properties struct {
				Metrics [][]any  `json:"metrics"`
				Alarms  []string `json:"alarms"`
			} `json:"properties"`
		} `json:"widgets"`
	}
	if err := json.Unmarshal([]byte(filled), &dash); err != nil {
		t.Fatalf("DashboardBody is not JSON after substitution: %v\n%s", err, filled)
	}
	used := map[string]bool{}
	for i, w := range dash.Widgets {
		if w.Type != "metric" {
			continue
		}
		var prev []any
		for _, row := range w.Properties.Metrics {
			// "." repeats the previous row's value at that position.
			for j := range row {
				if s, ok := row[j].(string); ok && s == "." && j < len(prev) {
					row[j] = prev[j]
				}
			}
			prev = row
			if len(row) < 4 {
				t.Errorf("widget %d: metric %v lacks the %s dimension", i, row, sample.Dimension)
				continue
			}
			ns, _ := row[0].(string)
			name, _ := row[1].(string)
			dim, _ := row[2].(string)
			if ns != sample.Namespace || dim != sample.Dimension || !slices.Contains(metricNames, name) {
				t.Errorf("widget %d: metric %v; records carry %s/%v by %s", i, row[:4], sample.Namespace, metricNames, sample.Dimension)
			}
			if v, _ := row[3].(string); v != "dummyTokenLabel" {
				t.Errorf("widget %d: metric %v: the dimension value must be ${TokenLabel}", i, row[:4])
			}
			used[name] = true
		}
	}
	for _, want := range []string{sample.MetricRemaining, sample.MetricRemainingPercent} {
		if !used[want] {
			t.Errorf("the dashboard does not graph %s, the metric the alarm watches", want)
		}
	}
	t.Logf("dashboard graphs %v", sortedKeys(used))
	if a := vars["AlarmArn"]; a != nil && (a.Tag != "!GetAtt" || a.Value != "QuotaAlarm.Arn") {
		t.Errorf("the dashboard's AlarmArn is %s %s, want !GetAtt QuotaAlarm.Arn", a.Tag, a.Value)
	}
}
