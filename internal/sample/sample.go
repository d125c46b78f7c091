// Package sample defines the record the monitor and the bot write for every
// reading of a ChatWork token's quota, and the CloudWatch metrics it carries
// in Embedded Metric Format (EMF). The metric namespace, names and dimension
// are defined here once; template.yaml must agree (a test checks it).
package sample

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// CloudWatch metric identity, as template.yaml's alarm and dashboard use it.
const (
	Namespace = "ChatWorkQuota"
	// Dimension is the one dimension of every metric: the token's label.
	Dimension = "Token"

	MetricRemaining        = "remaining"
	MetricUsed             = "used"
	MetricLimit            = "limit"
	MetricRemainingPercent = "remaining_percent"
	MetricErrors           = "errors"
	// MetricProjected is the remaining count expected at the reset if the
	// pace of use seen in the window goes on (Record.Project); the pace
	// alarm watches it, or MetricProjectedPercent with the percent kind.
	MetricProjected        = "projected_remaining"
	MetricProjectedPercent = "projected_remaining_percent"
	// MetricHeartbeat has no dimension: the monitor writes it once per
	// completed tick, whatever the number of tokens, so that an alarm that
	// treats its absence as breaching hears a monitor that stopped.
	MetricHeartbeat = "heartbeat"
	// MetricAlertPostFailures has no dimension either: the webhook writes it
	// (1) when it gives up posting an alarm's message.
	MetricAlertPostFailures = "alert_post_failures"
)

// Metrics says which of a record's members its EMF directive declares as
// CloudWatch metrics. CloudWatch bills every metric name and dimension value
// by the hour it receives data, so a record declares only what an alarm
// watches: remaining (or remaining_percent, for an alarm on the percent),
// and errors on failures. used, limit and the percent stay record members.
type Metrics struct {
	Percent bool // declare remaining_percent instead of remaining
}

// Watched is the name of the quota metric m declares.
func (m Metrics) Watched() string {
	if m.Percent {
		return MetricRemainingPercent
	}
	return MetricRemaining
}

// Projection is the name of the projection metric m declares for a record
// that has one.
func (m Metrics) Projection() string {
	if m.Percent {
		return MetricProjectedPercent
	}
	return MetricProjected
}

// Source tells who took a reading.
type Source string

const (
	// SourceMonitor is a scheduled reading by the monitor function.
	SourceMonitor Source = "monitor"
	// SourcePassive is a reading taken for free from the headers of a call the
	// bot made for its own work (a reply, an alert).
	SourcePassive Source = "passive"
)

// Record is one line in the samples log group: either a sample (Error empty,
// the quota figures set) or a failure record (Error set; figures unknown
// unless the failing response still carried them, as a 429 does).
type Record struct {
	Time   time.Time // when the reading was taken
	Token  string    // label of the monitored token (QUOTA_TOKEN_LABEL)
	Source Source

	// The quota as ChatWork reported it. Valid only when HasQuota.
	HasQuota  bool
	Remaining int
	Limit     int
	Reset     int64 // Unix seconds, as X-RateLimit-Reset carries it

	// The projection (see Project): the remaining count at the reset if
	// the pace seen since an earlier reading of the same window goes on,
	// negative when the quota would run out first by that many calls.
	// Valid only when HasProjection.
	HasProjection bool
	Projected     int
	Pace          float64 // calls per minute between the two readings

	// Final marks the monitor's reading taken just before the reset: the
	// window's low point.
	Final bool
	// Recovered marks a successful reading taken while the errors alarm may
	// still count an earlier failure of the token: it declares errors 0, so
	// that the alarm sees the token's series at zero instead of seeing it
	// stop, whose handling CloudWatch does not document for contributors.
	Recovered bool
	// Error is a short machine-readable kind ("invalid_token", "quota_exhausted",
	// "network", "server", ...) for failure records; Detail a safe, human-readable
	// description. Neither ever holds a secret.
	Error  string
	Detail string
	// Calls is how many ChatWork calls the writer spent to obtain this record.
	Calls int
}

// Used is the number of calls spent in the current window.
func (r Record) Used() int {
	if !r.HasQuota {
		return 0
	}
	return max(r.Limit-r.Remaining, 0)
}

// RemainingPercent is remaining as a percentage of the limit, 0 when unknown.
func (r Record) RemainingPercent() float64 {
	if !r.HasQuota || r.Limit <= 0 {
		return 0
	}
	return float64(r.Remaining) * 100 / float64(r.Limit)
}

// ResetTime is Reset as a time.Time.
func (r Record) ResetTime() time.Time { return time.Unix(r.Reset, 0) }

type metricDef struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

type metricDirective struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []metricDef `json:"Metrics"`
}

type awsMeta struct {
	Timestamp         int64             `json:"Timestamp"`
	CloudWatchMetrics []metricDirective `json:"CloudWatchMetrics"`
}

// wire is the JSON shape of a record. Metric values are top-level members
// named after the metrics, as EMF requires; remaining, limit and reset are
// plain integers.
type wire struct {
	AWS              *awsMeta `json:"_aws,omitempty"`
	Time             string   `json:"time"`
	Token            string   `json:"Token"`
	Source           Source   `json:"source"`
	Remaining        *int     `json:"remaining,omitempty"`
	Limit            *int     `json:"limit,omitempty"`
	Reset            *int64   `json:"reset,omitempty"`
	Used             *int     `json:"used,omitempty"`
	RemainingPercent *float64 `json:"remaining_percent,omitempty"`
	Projected        *int     `json:"projected_remaining,omitempty"`
	ProjectedPercent *float64 `json:"projected_remaining_percent,omitempty"`
	Pace             *float64 `json:"pace_per_minute,omitempty"`
	Final            bool     `json:"final,omitempty"`
	Errors           *int     `json:"errors,omitempty"`
	Error            string   `json:"error,omitempty"`
	Detail           string   `json:"detail,omitempty"`
	Calls            int      `json:"calls"`
}

// Validate checks that the record can be written.
func (r Record) Validate() error {
	switch {
	case r.Time.IsZero():
		return errors.New("invalid record: no time")
	case r.Token == "":
		return errors.New("invalid record: no token label")
	case r.Source == "":
		return errors.New("invalid record: no source")
	case !r.HasQuota && r.Error == "":
		return errors.New("invalid record: neither quota figures nor an error")
	case r.HasQuota && (r.Limit <= 0 || r.Remaining < 0 || r.Reset <= 0):
		return fmt.Errorf("invalid record: quota figures out of range (remaining %d, limit %d, reset %d)", r.Remaining, r.Limit, r.Reset)
	}
	return nil
}

// Failed reports whether r counts as a failed reading in the errors metric:
// a failure record other than the quota exhausted (a 429 is a reading of 0)
// and the room's posting limit (the token works; the room is busy).
func (r Record) Failed() bool {
	return r.Error != "" && r.Error != "quota_exhausted" && r.Error != "room_limit"
}

// toWire builds the JSON shape; m nil leaves the EMF member out.
func (r Record) toWire(m *Metrics) wire {
	w := wire{
		Time:   r.Time.UTC().Format(time.RFC3339Nano),
		Token:  r.Token,
		Source: r.Source,
		Final:  r.Final,
		Error:  r.Error,
		Detail: r.Detail,
		Calls:  r.Calls,
	}
	var metrics []metricDef
	if r.HasQuota {
		rem, lim, reset, used, pct := r.Remaining, r.Limit, r.Reset, r.Used(), r.RemainingPercent()
		w.Remaining, w.Limit, w.Reset, w.Used, w.RemainingPercent = &rem, &lim, &reset, &used, &pct
		if m != nil && m.Percent {
			metrics = append(metrics, metricDef{MetricRemainingPercent, "Percent"})
		} else {
			metrics = append(metrics, metricDef{MetricRemaining, "Count"})
		}
		if r.HasProjection {
			proj, ppct, pace := r.Projected, r.ProjectedPercent(), r.Pace
			w.Projected, w.ProjectedPercent, w.Pace = &proj, &ppct, &pace
			if m != nil && m.Percent {
				metrics = append(metrics, metricDef{MetricProjectedPercent, "Percent"})
			} else {
				metrics = append(metrics, metricDef{MetricProjected, "Count"})
			}
		}
	}
	if failed := r.Failed(); failed || r.Recovered {
		n := 0
		if failed {
			n = 1
		}
		w.Errors = &n
		metrics = append(metrics, metricDef{MetricErrors, "Count"})
	}
	if m != nil {
		w.AWS = &awsMeta{
			Timestamp: r.Time.UnixMilli(),
			CloudWatchMetrics: []metricDirective{{
				Namespace:  Namespace,
				Dimensions: [][]string{{Dimension}},
				Metrics:    metrics,
			}},
		}
	}
	return w
}

// MarshalJSON encodes the record as one EMF JSON object declaring the
// default Metrics (remaining, and errors on failures).
func (r Record) MarshalJSON() ([]byte, error) {
	return r.MarshalEMF(Metrics{})
}

// MarshalEMF encodes the record as one EMF JSON object declaring m.
func (r Record) MarshalEMF(m Metrics) ([]byte, error) {
	return json.Marshal(r.toWire(&m))
}

// MarshalPlain encodes the record without the EMF `_aws` member, so that
// CloudWatch extracts no metrics from it: for the stdout copy of a record
// whose metrics already reached CloudWatch through PutLogEvents.
func (r Record) MarshalPlain() ([]byte, error) {
	return json.Marshal(r.toWire(nil))
}

// UnmarshalJSON decodes a record written by MarshalJSON or MarshalPlain.
func (r *Record) UnmarshalJSON(b []byte) error {
	var w wire
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&w); err != nil {
		return fmt.Errorf("invalid record: %v", err)
	}
	t, err := time.Parse(time.RFC3339Nano, w.Time)
	if err != nil {
		return fmt.Errorf("invalid record: time %q", w.Time)
	}
	out := Record{
		Time: t, Token: w.Token, Source: w.Source, Final: w.Final,
		Error: w.Error, Detail: w.Detail, Calls: w.Calls, Recovered: w.Errors != nil && *w.Errors == 0,
	}
	if w.Remaining != nil || w.Limit != nil || w.Reset != nil {
		if w.Remaining == nil || w.Limit == nil || w.Reset == nil {
			return errors.New("invalid record: remaining, limit and reset must come together")
		}
		out.HasQuota = true
		out.Remaining, out.Limit, out.Reset = *w.Remaining, *w.Limit, *w.Reset
		if w.Projected != nil {
			out.HasProjection, out.Projected = true, *w.Projected
			if w.Pace != nil {
				out.Pace = *w.Pace
			}
		}
	}
	if err := out.Validate(); err != nil {
		return err
	}
	*r = out
	return nil
}

// Parse decodes one log event's message.
func Parse(msg []byte) (Record, error) {
	var r Record
	err := r.UnmarshalJSON(msg)
	return r, err
}

// Percent formats n of total as a percentage with at most one decimal,
// rounding down so that a last call is never shown as the next figure: 1 of
// 300 is "0.3%", not "0%", and 49 of 300 is "16.3%". Every place that shows
// a percentage of the quota uses it, or PercentValue for a number.
func Percent(n, total int) string {
	if total <= 0 {
		return "-"
	}
	return strconv.FormatFloat(PercentValue(n, total), 'f', -1, 64) + "%"
}

// PercentValue is Percent's figure as a number: tenths, rounded down; 0
// when total is not positive.
func PercentValue(n, total int) float64 {
	if total <= 0 {
		return 0
	}
	return float64(int64(n)*1000/int64(total)) / 10
}

// Heartbeat is the EMF log line of one completed monitor tick: the metric
// MetricHeartbeat (1) without any dimension, and how many tokens the tick
// read. Printed to the monitor function's own log, CloudWatch turns it into
// the metric the heartbeat alarm watches.
func Heartbeat(at time.Time, tokens int) []byte {
	b, _ := json.Marshal(struct {
		AWS       awsMeta `json:"_aws"`
		Heartbeat int     `json:"heartbeat"`
		Tokens    int     `json:"tokens"`
	}{
		AWS: awsMeta{Timestamp: at.UnixMilli(), CloudWatchMetrics: []metricDirective{{
			Namespace: Namespace, Dimensions: [][]string{{}}, Metrics: []metricDef{{MetricHeartbeat, "Count"}},
		}}},
		Heartbeat: 1, Tokens: tokens,
	})
	return b
}

// AlertPostFailure is the EMF log line of one alarm message the webhook
// gave up posting: the metric MetricAlertPostFailures (1) without any
// dimension, the alarm's name and the failure's kind. Printed to the
// webhook function's own log, CloudWatch turns it into the metric an
// operations alarm watches.
func AlertPostFailure(at time.Time, alarm, kind string) []byte {
	b, _ := json.Marshal(struct {
		AWS      awsMeta `json:"_aws"`
		Failures int     `json:"alert_post_failures"`
		Alarm    string  `json:"alarm"`
		Kind     string  `json:"kind"`
	}{
		AWS: awsMeta{Timestamp: at.UnixMilli(), CloudWatchMetrics: []metricDirective{{
			Namespace: Namespace, Dimensions: [][]string{{}}, Metrics: []metricDef{{MetricAlertPostFailures, "Count"}},
		}}},
		Failures: 1, Alarm: alarm, Kind: kind,
	})
	return b
}
