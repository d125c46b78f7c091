// Package alarm holds what the project knows about its CloudWatch alarms:
// the events EventBridge delivers ("CloudWatch Alarm State Change", and
// "CloudWatch Alarm Contributor State Change" for one time series of a
// Metrics Insights alarm), and the rules the alarms apply (so the local
// sandbox can apply the same rules to the recorded samples and produce the
// same events CloudWatch would).
package alarm

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/sample"
)

// Alarm states.
const (
	StateAlarm        = "ALARM"
	StateOK           = "OK"
	StateInsufficient = "INSUFFICIENT_DATA"
)

// The two detail types of the events this package reads.
const (
	StateChange       = "CloudWatch Alarm State Change"
	ContributorChange = "CloudWatch Alarm Contributor State Change"
)

// Event is an EventBridge alarm event: an alarm's state change, or one
// contributor's (Detail.AlarmContributor set, no previous state).
type Event struct {
	Version    string    `json:"version"`
	ID         string    `json:"id"`
	DetailType string    `json:"detail-type"`
	Source     string    `json:"source"`
	Account    string    `json:"account"`
	Time       time.Time `json:"time"`
	Region     string    `json:"region"`
	Resources  []string  `json:"resources"`
	Detail     Detail    `json:"detail"`
}

// Detail is the event's detail member.
type Detail struct {
	AlarmName string `json:"alarmName"`
	// AlarmContributor is the time series whose state changed, only in a
	// contributor state change.
	AlarmContributor *Contributor `json:"alarmContributor,omitempty"`
	State            State        `json:"state"`
	// PreviousState is absent from a contributor state change.
	PreviousState State         `json:"previousState,omitzero"`
	Configuration Configuration `json:"configuration"`
}

// Contributor is one time series of a Metrics Insights alarm: its id and
// its GROUP BY dimensions.
type Contributor struct {
	ID         string            `json:"id"`
	Attributes map[string]string `json:"attributes"`
}

// State is one alarm state with CloudWatch's explanation.
type State struct {
	Value      string `json:"value"`
	Reason     string `json:"reason"`
	ReasonData string `json:"reasonData,omitempty"` // a JSON document in a string
	Timestamp  string `json:"timestamp"`            // e.g. 2026-11-24T03:04:05.678+0000
}

// Configuration is the alarm's configuration at the time of the change.
type Configuration struct {
	Description string         `json:"description,omitempty"`
	Metrics     []MetricConfig `json:"metrics,omitempty"`
}

// MetricConfig is one metric query of the alarm: a metric (MetricStat), or
// an expression such as a Metrics Insights query (with its own period).
type MetricConfig struct {
	ID         string     `json:"id"`
	MetricStat MetricStat `json:"metricStat,omitzero"`
	Expression string     `json:"expression,omitempty"`
	Period     int        `json:"period,omitempty"`
	ReturnData bool       `json:"returnData"`
}

// MetricStat names the metric, period and statistic.
type MetricStat struct {
	Metric struct {
		Namespace  string            `json:"namespace"`
		Name       string            `json:"name"`
		Dimensions map[string]string `json:"dimensions,omitempty"`
	} `json:"metric"`
	Period int    `json:"period"`
	Stat   string `json:"stat"`
}

// ReasonData is the part of state.reasonData the bot uses.
type ReasonData struct {
	Threshold           float64   `json:"threshold"`
	RecentDatapoints    []float64 `json:"recentDatapoints"`
	EvaluatedDatapoints []struct {
		Timestamp string   `json:"timestamp"`
		Value     *float64 `json:"value,omitempty"`
	} `json:"evaluatedDatapoints"`
}

// stateTimeLayouts are the forms CloudWatch writes state timestamps in.
var stateTimeLayouts = []string{"2006-01-02T15:04:05.000-0700", "2006-01-02T15:04:05-0700", time.RFC3339Nano}

// Time parses the state's timestamp; zero when absent or unreadable.
func (s State) Time() time.Time {
	for _, l := range stateTimeLayouts {
		if t, err := time.Parse(l, s.Timestamp); err == nil {
			return t
		}
	}
	return time.Time{}
}

// Data decodes ReasonData; ok is false when it is absent or unreadable. A
// contributor's state has no reasonData, only a reason naming the threshold
// ("… the threshold (60.0)") and the most recent datapoint ("[12.0 (…)]"):
// Data reads those from the reason instead.
func (s State) Data() (ReasonData, bool) {
	var d ReasonData
	if s.ReasonData != "" {
		if json.Unmarshal([]byte(s.ReasonData), &d) != nil {
			return ReasonData{}, false
		}
		return d, true
	}
	t := reasonThreshold.FindStringSubmatch(s.Reason)
	if t == nil {
		return ReasonData{}, false
	}
	d.Threshold, _ = strconv.ParseFloat(t[1], 64)
	if p := reasonPoint.FindStringSubmatch(s.Reason); p != nil {
		v, _ := strconv.ParseFloat(p[1], 64)
		d.RecentDatapoints = []float64{v}
	}
	return d, true
}

var (
	reasonThreshold = regexp.MustCompile(`threshold \((-?[0-9]+(?:\.[0-9]+)?)\)`)
	reasonPoint     = regexp.MustCompile(`\[(-?[0-9]+(?:\.[0-9]+)?) \(`)
)

// LastValue is the newest evaluated datapoint's value, if any.
func (d ReasonData) LastValue() (float64, bool) {
	for i := len(d.EvaluatedDatapoints) - 1; i >= 0; i-- {
		if v := d.EvaluatedDatapoints[i].Value; v != nil {
			return *v, true
		}
	}
	if n := len(d.RecentDatapoints); n > 0 {
		return d.RecentDatapoints[n-1], true
	}
	return 0, false
}

// IsStateChange reports, by shape alone, whether raw looks like an
// EventBridge alarm event of either detail type (as opposed to a Function
// URL request).
func IsStateChange(raw []byte) bool {
	var probe struct {
		Source     string `json:"source"`
		DetailType string `json:"detail-type"`
	}
	return json.Unmarshal(raw, &probe) == nil && probe.Source == "aws.cloudwatch" &&
		(probe.DetailType == StateChange || probe.DetailType == ContributorChange)
}

// Parse decodes and checks an alarm event of either detail type. A
// contributor state change must name its contributor and be ALARM or OK,
// the only states a contributor has.
func Parse(raw []byte) (Event, error) {
	var ev Event
	if err := json.Unmarshal(raw, &ev); err != nil {
		return Event{}, fmt.Errorf("not a CloudWatch alarm event: %v", err)
	}
	var problems []string
	if ev.Source != "aws.cloudwatch" {
		problems = append(problems, fmt.Sprintf("source %q", ev.Source))
	}
	contributor := ev.DetailType == ContributorChange
	if !contributor && ev.DetailType != StateChange {
		problems = append(problems, fmt.Sprintf("detail-type %q", ev.DetailType))
	}
	if ev.Detail.AlarmName == "" {
		problems = append(problems, "no alarmName")
	}
	if contributor && (ev.Detail.AlarmContributor == nil || ev.Detail.AlarmContributor.ID == "") {
		problems = append(problems, "no alarmContributor id")
	}
	switch v := ev.Detail.State.Value; {
	case v == StateAlarm, v == StateOK, v == StateInsufficient && !contributor:
	default:
		problems = append(problems, fmt.Sprintf("state %q", v))
	}
	if len(problems) > 0 {
		return Event{}, fmt.Errorf("not a CloudWatch alarm event: %s", strings.Join(problems, ", "))
	}
	return ev, nil
}

// Key identifies one transition, for dropping EventBridge's duplicate
// deliveries (it delivers at least once): the same alarm (or contributor)
// entering the same state at the same time is the same transition, whatever
// the event id.
func (ev Event) Key() string {
	k := ev.Detail.AlarmName + "|" + ev.Detail.State.Value + "|" + ev.Detail.State.Timestamp
	if c := ev.Detail.AlarmContributor; c != nil {
		k += "|" + c.ID
	}
	return k
}

// Token is the contributor's Token attribute (the token's label), "" when
// the event is not a contributor's or names no token.
func (ev Event) Token() string {
	if c := ev.Detail.AlarmContributor; c != nil {
		return c.Attributes[sample.Dimension]
	}
	return ""
}

// insightsMetric finds the metric a Metrics Insights query over
// sample.Namespace aggregates: SELECT MIN(remaining) FROM SCHEMA("ChatWorkQuota", Token) ….
var insightsMetric = regexp.MustCompile(`(?i)^\s*SELECT\s+[A-Z]+\(\s*"?([A-Za-z_]+)"?\s*\)\s+FROM\s+SCHEMA\(\s*"?` + sample.Namespace + `"?[\s,)]`)

// Watched names the metric in sample.Namespace the alarm watches and, for a
// metric alarm, its Token dimension ("" when it has none); metric is ""
// when the alarm watches nothing in the namespace.
func (ev Event) Watched() (metric, token string) {
	for _, m := range ev.Detail.Configuration.Metrics {
		if mm := m.MetricStat.Metric; mm.Namespace == sample.Namespace {
			return mm.Name, mm.Dimensions[sample.Dimension]
		}
		if g := insightsMetric.FindStringSubmatch(m.Expression); g != nil {
			return g[1], ""
		}
	}
	return "", ""
}

// Insights reports whether the alarm is a Metrics Insights alarm: its
// metric is a query, not a metric.
func (ev Event) Insights() bool {
	for _, m := range ev.Detail.Configuration.Metrics {
		if m.Expression != "" {
			return true
		}
	}
	return false
}
