// Package alarm holds what the project knows about its CloudWatch alarm: the
// "CloudWatch Alarm State Change" events EventBridge delivers, and the rule
// the alarm applies (so the local sandbox can apply the same rule to the
// recorded samples and produce the same events CloudWatch would).
package alarm

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Alarm states.
const (
	StateAlarm        = "ALARM"
	StateOK           = "OK"
	StateInsufficient = "INSUFFICIENT_DATA"
)

// Event is an EventBridge "CloudWatch Alarm State Change" event.
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
	AlarmName     string        `json:"alarmName"`
	State         State         `json:"state"`
	PreviousState State         `json:"previousState"`
	Configuration Configuration `json:"configuration"`
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

// MetricConfig is one metric query of the alarm.
type MetricConfig struct {
	ID         string     `json:"id"`
	MetricStat MetricStat `json:"metricStat"`
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

// Data decodes ReasonData; ok is false when it is absent or unreadable.
func (s State) Data() (ReasonData, bool) {
	var d ReasonData
	if s.ReasonData == "" || json.Unmarshal([]byte(s.ReasonData), &d) != nil {
		return ReasonData{}, false
	}
	return d, true
}

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
// EventBridge alarm state change (as opposed to a Function URL request).
func IsStateChange(raw []byte) bool {
	var probe struct {
		Source     string `json:"source"`
		DetailType string `json:"detail-type"`
	}
	return json.Unmarshal(raw, &probe) == nil && probe.Source == "aws.cloudwatch" && probe.DetailType == "CloudWatch Alarm State Change"
}

// Parse decodes and checks an alarm state change event.
func Parse(raw []byte) (Event, error) {
	var ev Event
	if err := json.Unmarshal(raw, &ev); err != nil {
		return Event{}, fmt.Errorf("not a CloudWatch Alarm State Change event: %v", err)
	}
	var problems []string
	if ev.Source != "aws.cloudwatch" {
		problems = append(problems, fmt.Sprintf("source %q", ev.Source))
	}
	if ev.DetailType != "CloudWatch Alarm State Change" {
		problems = append(problems, fmt.Sprintf("detail-type %q", ev.DetailType))
	}
	if ev.Detail.AlarmName == "" {
		problems = append(problems, "no alarmName")
	}
	switch ev.Detail.State.Value {
	case StateAlarm, StateOK, StateInsufficient:
	default:
		problems = append(problems, fmt.Sprintf("state %q", ev.Detail.State.Value))
	}
	if len(problems) > 0 {
		return Event{}, fmt.Errorf("not a CloudWatch Alarm State Change event: %s", strings.Join(problems, ", "))
	}
	return ev, nil
}

// Key identifies one transition, for dropping EventBridge's duplicate
// deliveries (it delivers at least once): the same alarm entering the same
// state at the same time is the same transition, whatever the event id.
func (ev Event) Key() string {
	return ev.Detail.AlarmName + "|" + ev.Detail.State.Value + "|" + ev.Detail.State.Timestamp
}
