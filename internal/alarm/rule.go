package alarm

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/sample"
)

// The quota alarm's fixed shape; template.yaml declares the same (a test checks).
const (
	Statistic  = "Minimum"
	Comparison = "LessThanOrEqualToThreshold"
	// Period matches ChatWork's 5-minute window: the alarm looks at the
	// lowest remaining in the last window's worth of samples.
	Period            = 300 * time.Second
	EvaluationPeriods = 1
	DatapointsToAlarm = 1
	TreatMissingData  = "missing" // no samples in the period: INSUFFICIENT_DATA
	// ErrorsThreshold is the token-errors alarm's: a revoked token fails
	// every reading of a window, one network blip fails one.
	ErrorsThreshold = 3
	// HeartbeatPeriods is how many periods without a heartbeat put the
	// heartbeat alarm in ALARM (its EvaluationPeriods and DatapointsToAlarm).
	HeartbeatPeriods = 2
)

// Rule is the rule of one of the two Metrics Insights alarms over all
// tokens: the quota alarm (the lowest remaining, or remaining_percent, of
// each token at or under Threshold) or, with Errors, the token-errors alarm
// (each token's failed readings adding up to Threshold or more).
type Rule struct {
	Percent   bool // compare remaining_percent instead of remaining
	Errors    bool // the token-errors alarm
	Threshold float64
	Period    time.Duration
}

// Metric is the name of the metric the rule compares.
func (r Rule) Metric() string {
	if r.Errors {
		return sample.MetricErrors
	}
	return sample.Metrics{Percent: r.Percent}.Watched()
}

// Query is the alarm's Metrics Insights query: one time series, one
// contributor, per token.
func (r Rule) Query() string {
	if r.Errors {
		return fmt.Sprintf(`SELECT SUM(%s) FROM SCHEMA("%s", %s) GROUP BY %[3]s ORDER BY SUM() DESC`, r.Metric(), sample.Namespace, sample.Dimension)
	}
	return fmt.Sprintf(`SELECT MIN(%s) FROM SCHEMA("%s", %s) GROUP BY %[3]s ORDER BY MIN() ASC`, r.Metric(), sample.Namespace, sample.Dimension)
}

// value is what rec adds to its token's series, if anything: a failed
// reading counts 1 for the errors alarm, a reading its figure for the quota.
func (r Rule) value(rec sample.Record) (float64, bool) {
	switch {
	case r.Errors:
		return 1, rec.Failed()
	case r.Percent:
		return rec.RemainingPercent(), rec.HasQuota
	}
	return float64(rec.Remaining), rec.HasQuota
}

// fold aggregates a period's values as the query does: SUM or MIN.
func (r Rule) fold(acc, v float64) float64 {
	if r.Errors {
		return acc + v
	}
	return math.Min(acc, v)
}

func (r Rule) breaches(v float64) bool {
	if r.Errors {
		return v >= r.Threshold
	}
	return v <= r.Threshold
}

// Evaluator applies a Rule to samples per token as CloudWatch applies a
// Metrics Insights alarm to its time series, producing the events
// CloudWatch would send: a contributor state change per token crossing the
// threshold either way, and the alarm's own state change. It stands in for
// the alarm where there is no CloudWatch (the sandbox). It evaluates a
// sliding period ending now, a simplification of CloudWatch's clock-aligned
// periods that keeps the same decisions for a period as long as the window.
//
// A contributor is only ALARM or OK. A token appears as an OK contributor
// silently; one whose series has no datapoint in the period (the monitor
// stopped, or the token works again and reports no errors) leaves the
// query's result and is taken back to OK. Whether CloudWatch sends that OK
// is not documented; the stand-in sends it. The alarm itself is ALARM while
// any contributor is, OK while some token reports and none is in ALARM,
// and INSUFFICIENT_DATA when no token reports.
// It is safe for concurrent use.
type Evaluator struct {
	mu     sync.Mutex
	rule   Rule
	name   string
	state  string
	reason string    // why the alarm is in state
	since  time.Time // when it entered state
	series map[string]*series
	seq    int
}

// series is one token's time series and its contributor state.
type series struct {
	alarm  bool
	points []point
}

// The stand-in alarm's account and region, as its events name them.
const account, region = "000000000000", "local-sandbox-1"

type point struct {
	at    time.Time
	value float64
}

// NewEvaluator starts in INSUFFICIENT_DATA, as a new CloudWatch alarm does.
func NewEvaluator(rule Rule, alarmName string) *Evaluator {
	if rule.Period <= 0 {
		rule.Period = Period
	}
	return &Evaluator{rule: rule, name: alarmName, state: StateInsufficient, reason: initialReason, series: map[string]*series{}}
}

const initialReason = "Unchecked: Initial alarm creation"

// State is the alarm's own state.
func (e *Evaluator) State() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.state
}

// TokenState is the contributor state of the token labelled label: ALARM,
// OK, or "" when the token has no series.
func (e *Evaluator) TokenState(label string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch s := e.series[label]; {
	case s == nil:
		return ""
	case s.alarm:
		return StateAlarm
	}
	return StateOK
}

// Observe adds a record to its token's series, if the rule's metric is in it.
func (e *Evaluator) Observe(r sample.Record) {
	v, ok := e.rule.value(r)
	if !ok {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.series[r.Token]
	if s == nil {
		s = &series{}
		e.series[r.Token] = s
	}
	s.points = append(s.points, point{r.Time, v})
}

// Evaluate decides every contributor's state and the alarm's at now, and
// returns the events of the changes: the contributors' in label order,
// then the alarm's own.
func (e *Evaluator) Evaluate(now time.Time) []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Event
	reporting, alarming := 0, 0
	for _, label := range slices.Sorted(maps.Keys(e.series)) {
		s := e.series[label]
		v, n := e.fold(s, now)
		if n > 0 {
			reporting++
		}
		breach := n > 0 && e.rule.breaches(v)
		if breach != s.alarm {
			s.alarm = breach
			out = append(out, e.contributorEvent(now, label, breach, v, n))
		}
		if breach {
			alarming++
		}
		if n == 0 && len(s.points) == 0 {
			delete(e.series, label)
		}
	}
	state, reason := StateOK, fmt.Sprintf("Threshold Crossed: %d out of %d time series evaluated to ALARM.", alarming, reporting)
	switch {
	case alarming > 0:
		state = StateAlarm
	case reporting == 0:
		state, reason = StateInsufficient, "Insufficient Data: the query returned no time series."
	}
	if state != e.state {
		prev := State{Value: e.state, Reason: e.reason, Timestamp: stateTime(cmpTime(e.since, now))}
		e.state, e.reason, e.since = state, reason, now
		mc := MetricConfig{ID: "q1", Expression: e.rule.Query(), Period: int(e.rule.Period.Seconds()), ReturnData: true}
		out = append(out, e.event(now, StateChange, Detail{State: State{Value: state, Reason: reason, Timestamp: stateTime(now)}, PreviousState: prev}, mc))
	}
	return out
}

// fold drops the points older than the period and aggregates those in it.
func (e *Evaluator) fold(s *series, now time.Time) (v float64, n int) {
	from := now.Add(-e.rule.Period)
	kept := s.points[:0]
	if !e.rule.Errors {
		v = math.Inf(1)
	}
	for _, p := range s.points {
		if p.at.After(from) {
			kept = append(kept, p)
			if !p.at.After(now) {
				v = e.rule.fold(v, p.value)
				n++
			}
		}
	}
	s.points = kept
	return v, n
}

func (e *Evaluator) contributorEvent(now time.Time, label string, breach bool, v float64, n int) Event {
	op := map[bool]string{true: "greater than or equal to", false: "less than or equal to"}[e.rule.Errors]
	state, reason := StateOK, fmt.Sprintf("No datapoints in the last %d seconds: the time series left the query's result.", int(e.rule.Period.Seconds()))
	switch {
	case breach:
		state = StateAlarm
		reason = fmt.Sprintf("Threshold Crossed: 1 datapoint was %s the threshold (%s). The most recent datapoint which crossed the threshold: [%s (%s)].", op, num(e.rule.Threshold), num(v), now.UTC().Format("02/01/06 15:04:05"))
	case n > 0:
		reason = fmt.Sprintf("Threshold Crossed: 1 datapoint was not %s the threshold (%s). The most recent datapoint: [%s (%s)].", op, num(e.rule.Threshold), num(v), now.UTC().Format("02/01/06 15:04:05"))
	}
	id := sha256.Sum256([]byte(e.name + "|" + label))
	mc := MetricConfig{ID: "q1", Expression: e.rule.Query(), Period: int(e.rule.Period.Seconds()), ReturnData: true}
	return e.event(now, ContributorChange, Detail{
		AlarmContributor: &Contributor{ID: hex.EncodeToString(id[:8]), Attributes: map[string]string{sample.Dimension: label}},
		State:            State{Value: state, Reason: reason, Timestamp: stateTime(now)},
	}, mc)
}

// event completes d into an event of the alarm, as EventBridge delivers it.
func (e *Evaluator) event(now time.Time, detailType string, d Detail, mc MetricConfig) Event {
	e.seq++
	return newEvent(e.name, e.seq, now, detailType, d, mc)
}

func newEvent(name string, seq int, now time.Time, detailType string, d Detail, mc MetricConfig) Event {
	d.AlarmName = name
	d.Configuration = Configuration{Description: "sandbox stand-in", Metrics: []MetricConfig{mc}}
	return Event{
		Version: "0", ID: fmt.Sprintf("sandbox-%s-%d", name, seq),
		DetailType: detailType, Source: "aws.cloudwatch",
		Account: account, Time: now.UTC().Truncate(time.Second), Region: region,
		Resources: []string{fmt.Sprintf("arn:aws:cloudwatch:%s:%s:alarm:%s", region, account, name)},
		Detail:    d,
	}
}

// Heartbeat stands in for the classic alarm on the monitor's heartbeat
// metric (no dimension; SampleCount below 1 in HeartbeatPeriods periods
// out of HeartbeatPeriods, missing data breaching): ALARM once no tick
// completed for HeartbeatPeriods periods, OK as soon as one does. It
// starts in INSUFFICIENT_DATA and, like missing data, cannot go back to it.
// It is safe for concurrent use.
type Heartbeat struct {
	mu     sync.Mutex
	name   string
	period time.Duration
	start  time.Time // a missing heartbeat breaches from here on
	last   time.Time // the newest beat
	state  string
	reason string
	since  time.Time
	seq    int
}

// NewHeartbeat starts the stand-in at start; period 0 means Period.
func NewHeartbeat(alarmName string, period time.Duration, start time.Time) *Heartbeat {
	if period <= 0 {
		period = Period
	}
	return &Heartbeat{name: alarmName, period: period, start: start, state: StateInsufficient, reason: initialReason}
}

// Beat records a completed monitor tick at at.
func (h *Heartbeat) Beat(at time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if at.After(h.last) {
		h.last = at
	}
}

// State is the alarm's state.
func (h *Heartbeat) State() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.state
}

// Evaluate decides the state at now and returns the state change event
// when the state changed.
func (h *Heartbeat) Evaluate(now time.Time) (Event, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	window := HeartbeatPeriods * h.period
	state, count := h.state, 0.0
	switch {
	case !h.last.IsZero() && h.last.After(now.Add(-window)) && !h.last.After(now):
		state, count = StateOK, 1
	case now.Sub(h.start) >= window:
		state = StateAlarm
	}
	if state == h.state {
		return Event{}, false
	}
	op := map[bool]string{true: "", false: "not "}[state == StateAlarm]
	reason := fmt.Sprintf("Threshold Crossed: %d out of the last %d datapoints [%s] was %sless than the threshold (1.0) (minimum %d datapoints for OK -> ALARM transition).",
		HeartbeatPeriods, HeartbeatPeriods, num(count), op, HeartbeatPeriods)
	ts := stateTime(now)
	rd, _ := json.Marshal(map[string]any{
		"version": "1.0", "queryDate": ts, "statistic": "SampleCount", "period": int(h.period.Seconds()),
		"threshold": 1.0, "recentDatapoints": []float64{count},
	})
	prev := State{Value: h.state, Reason: h.reason, Timestamp: stateTime(cmpTime(h.since, now))}
	h.state, h.reason, h.since = state, reason, now
	h.seq++
	mc := MetricConfig{ID: "m1", ReturnData: true}
	mc.MetricStat.Metric.Namespace, mc.MetricStat.Metric.Name = sample.Namespace, sample.MetricHeartbeat
	mc.MetricStat.Period, mc.MetricStat.Stat = int(h.period.Seconds()), "SampleCount"
	return newEvent(h.name, h.seq, now, StateChange, Detail{State: State{Value: state, Reason: reason, ReasonData: string(rd), Timestamp: ts}, PreviousState: prev}, mc), true
}

// cmpTime is t, or now when t is zero.
func cmpTime(t, now time.Time) time.Time {
	if t.IsZero() {
		return now
	}
	return t
}

func stateTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000-0700") }

// num writes a figure as CloudWatch's reasons do: one decimal at least.
func num(v float64) string {
	s := strings.TrimRight(fmt.Sprintf("%.2f", v), "0")
	if strings.HasSuffix(s, ".") {
		s += "0"
	}
	return s
}

// CheckThreshold reports whether threshold is a valid alarm threshold: a
// count of remaining calls, or with percent a percentage of the limit.
func CheckThreshold(threshold int, percent bool) error {
	switch {
	case threshold < 0:
		return fmt.Errorf("threshold %d: must not be negative", threshold)
	case percent && threshold > 100:
		return fmt.Errorf("threshold %d%%: a percentage must be at most 100", threshold)
	}
	return nil
}
