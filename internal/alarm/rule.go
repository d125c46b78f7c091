package alarm

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/sample"
)

// The alarm's fixed shape; template.yaml declares the same (a test checks).
const (
	Statistic  = "Minimum"
	Comparison = "LessThanOrEqualToThreshold"
	// Period matches ChatWork's 5-minute window: the alarm looks at the
	// lowest remaining in the last window's worth of samples.
	Period            = 300 * time.Second
	EvaluationPeriods = 1
	DatapointsToAlarm = 1
	TreatMissingData  = "missing" // no samples in the period: INSUFFICIENT_DATA
)

// Rule is the threshold rule of the quota alarm.
type Rule struct {
	Percent   bool    // compare remaining_percent instead of remaining
	Threshold float64 // alarm when the period's minimum is at or under this
	Period    time.Duration
}

// Metric is the name of the metric the rule compares.
func (r Rule) Metric() string {
	if r.Percent {
		return sample.MetricRemainingPercent
	}
	return sample.MetricRemaining
}

func (r Rule) value(rec sample.Record) float64 {
	if r.Percent {
		return rec.RemainingPercent()
	}
	return float64(rec.Remaining)
}

// Evaluator applies a Rule to samples as CloudWatch would to the metric,
// producing the state change events CloudWatch would send. It stands in for
// the alarm where there is no CloudWatch (the sandbox). It evaluates a
// sliding period ending now, a simplification of CloudWatch's clock-aligned
// periods that keeps the same decisions for a period as long as the window.
// It is safe for concurrent use.
type Evaluator struct {
	mu     sync.Mutex
	rule   Rule
	name   string
	state  string
	reason string    // why the alarm is in state
	since  time.Time // when it entered state
	points []point
	seq    int
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
	return &Evaluator{rule: rule, name: alarmName, state: StateInsufficient, reason: "Unchecked: Initial alarm creation"}
}

// State is the current state.
func (e *Evaluator) State() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.state
}

// Observe adds a sample; failure records carry no metric value and are ignored.
func (e *Evaluator) Observe(r sample.Record) {
	if !r.HasQuota {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.points = append(e.points, point{r.Time, e.rule.value(r)})
}

// Evaluate decides the state at now and returns the state change event when
// the state changed.
func (e *Evaluator) Evaluate(now time.Time) (Event, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	from := now.Add(-e.rule.Period)
	kept := e.points[:0]
	minV, n := math.Inf(1), 0
	for _, p := range e.points {
		if p.at.After(from) {
			kept = append(kept, p)
			if !p.at.After(now) {
				minV = math.Min(minV, p.value)
				n++
			}
		}
	}
	e.points = kept
	state := StateOK
	var reason string
	switch {
	case n == 0:
		state = StateInsufficient
		reason = fmt.Sprintf("Insufficient Data: no datapoints were received for 1 period of %d seconds.", int(e.rule.Period.Seconds()))
	case minV <= e.rule.Threshold:
		state = StateAlarm
		reason = fmt.Sprintf("Threshold Crossed: 1 datapoint [%s] was less than or equal to the threshold (%s).", num(minV), num(e.rule.Threshold))
	default:
		reason = fmt.Sprintf("Threshold Crossed: 1 datapoint [%s] was not less than or equal to the threshold (%s).", num(minV), num(e.rule.Threshold))
	}
	if state == e.state {
		return Event{}, false
	}
	prev := State{Value: e.state, Reason: e.reason, Timestamp: stateTime(e.since)}
	if e.since.IsZero() {
		prev.Timestamp = stateTime(now)
	}
	e.state, e.reason, e.since = state, reason, now
	e.seq++
	return e.event(now, prev, state, reason, minV, n), true
}

func stateTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000-0700") }

func num(v float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", v), "0"), ".")
}

func (e *Evaluator) event(now time.Time, prev State, state, reason string, minV float64, n int) Event {
	ts := stateTime(now)
	rd := map[string]any{
		"version": "1.0", "queryDate": ts, "statistic": Statistic,
		"period": int(e.rule.Period.Seconds()), "threshold": e.rule.Threshold,
	}
	if n > 0 {
		rd["recentDatapoints"] = []float64{minV}
		rd["evaluatedDatapoints"] = []map[string]any{{"timestamp": ts, "sampleCount": n, "value": minV}}
	}
	rdJSON, _ := json.Marshal(rd)
	ev := Event{
		Version: "0", ID: fmt.Sprintf("sandbox-%s-%d", e.name, e.seq),
		DetailType: "CloudWatch Alarm State Change", Source: "aws.cloudwatch",
		Account: account, Time: now.UTC().Truncate(time.Second), Region: region,
		Resources: []string{fmt.Sprintf("arn:aws:cloudwatch:%s:%s:alarm:%s", region, account, e.name)},
		Detail: Detail{
			AlarmName:     e.name,
			State:         State{Value: state, Reason: reason, ReasonData: string(rdJSON), Timestamp: ts},
			PreviousState: prev,
			Configuration: Configuration{Description: "ChatWork API quota is running low (sandbox stand-in)"},
		},
	}
	mc := MetricConfig{ID: "quota", ReturnData: true}
	mc.MetricStat.Metric.Namespace = sample.Namespace
	mc.MetricStat.Metric.Name = e.rule.Metric()
	mc.MetricStat.Period = int(e.rule.Period.Seconds())
	mc.MetricStat.Stat = Statistic
	ev.Detail.Configuration.Metrics = []MetricConfig{mc}
	return ev
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
