package alarm

import (
	"cmp"
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

// What the alarms share; template.yaml declares the same (a test checks).
const (
	Statistic  = "Minimum"
	Comparison = "LessThanOrEqualToThreshold"
	// Period is ChatWork's 5-minute window: the period of the token-errors
	// alarm and of the quota alarm as it was (one period, the lowest
	// remaining of the last window's worth of samples).
	Period = 300 * time.Second
	// TreatMissingData is the quota and pace alarms': a period without
	// samples is neither breaching nor clean, and CloudWatch evaluates the
	// real datapoints it finds (see Evaluator).
	TreatMissingData = "missing"
	// ErrorsTreatMissingData is the token-errors alarm's: a period without
	// failed readings counts as clean when the evaluation range holds too
	// few real datapoints (see Evaluator).
	ErrorsTreatMissingData = "notBreaching"
	// ErrorsThreshold is the token-errors alarm's: a revoked token fails
	// every reading of a window, one network blip fails one.
	ErrorsThreshold = 3
	// PaceThreshold is the pace alarm's: a projected remaining at the
	// reset at or under 0 means the quota runs out before the reset.
	PaceThreshold = 0
	// HeartbeatPeriods is how many periods without a heartbeat put the
	// heartbeat alarm in ALARM (its EvaluationPeriods and DatapointsToAlarm).
	HeartbeatPeriods = 2
)

// Shape is how an alarm looks at its time series, in CloudWatch's terms:
// each Period is aggregated into one datapoint, and the alarm is in ALARM
// while at least Datapoints of the Evaluations datapoints it evaluates
// breach (DatapointsToAlarm out of EvaluationPeriods). Which datapoints it
// evaluates is the Evaluator's rule: the most recent real ones within the
// evaluation range, Range periods.
type Shape struct {
	Period      time.Duration
	Evaluations int // EvaluationPeriods, N
	Datapoints  int // DatapointsToAlarm, M
	// Range is the evaluation range in periods, at least Evaluations; 0
	// is Evaluations + ExtraPeriods. No alarm property sets it: CloudWatch
	// chooses it, and this is the stand-in's assumption.
	Range int
}

// ExtraPeriods is how many periods more than EvaluationPeriods CloudWatch
// retrieves at each evaluation, so that missing datapoints can be replaced
// by older real ones. AWS documents one case, 5 for 3 evaluation periods
// of 5 minutes ("5 is the evaluation range for the alarm"), and says the
// number depends on the period's length and the metric's resolution; the
// stand-in takes the same two more for every shape.
const ExtraPeriods = 2

// The alarms' shapes; template.yaml declares the same numbers (a test
// checks), so changing one is an edit here and there.
//
// The quota and pace alarms go to ALARM on the first breaching minute and
// back to OK only after ten clean datapoints (a minute without one is not
// clean), two ChatWork windows or more: a token that runs low window
// after window stays in ALARM, one episode, one alert and one recovery,
// instead of a pair per window.
var (
	QuotaShape = Shape{Period: time.Minute, Evaluations: 10, Datapoints: 1}
	PaceShape  = Shape{Period: time.Minute, Evaluations: 10, Datapoints: 1}
	// ErrorsShape adds up the failed readings of one window.
	ErrorsShape = Shape{Period: Period, Evaluations: 1, Datapoints: 1}
	// LegacyQuotaShape is the quota alarm as it was, one window's lowest
	// remaining, kept to compare the shapes with.
	LegacyQuotaShape = Shape{Period: Period, Evaluations: 1, Datapoints: 1}
)

// Span is Evaluations periods: how far back the alarm looks while every
// period has data.
func (s Shape) Span() time.Duration { return time.Duration(s.Evaluations) * s.Period }

// EvaluationRange is how many periods the alarm retrieves at each
// evaluation: Range, or Evaluations + ExtraPeriods.
func (s Shape) EvaluationRange() int {
	if s.Range > 0 {
		return max(s.Range, s.Evaluations)
	}
	return s.Evaluations + ExtraPeriods
}

// Reach is EvaluationRange periods: how far back a datapoint can still be
// evaluated, when the periods after it have none.
func (s Shape) Reach() time.Duration { return time.Duration(s.EvaluationRange()) * s.Period }

// Scaled is the shape for a rate-limit window of length window instead of
// ChatWork's Period (the sandbox's shorter windows): the period in the
// same proportion to the window, the counts unchanged.
func (s Shape) Scaled(window time.Duration) Shape {
	s.Period = time.Duration(float64(s.Period) * float64(window) / float64(Period))
	return s
}

// normal completes a shape: a period of 0 takes def's, counts under 1 are
// 1, and no more datapoints to alarm than periods evaluated (CloudWatch
// refuses M greater than N).
func (s Shape) normal(def Shape) Shape {
	if s.Period <= 0 {
		s = Shape{Period: def.Period, Evaluations: cmp.Or(s.Evaluations, def.Evaluations), Datapoints: cmp.Or(s.Datapoints, def.Datapoints), Range: cmp.Or(s.Range, def.Range)}
	}
	s.Evaluations = max(s.Evaluations, 1)
	s.Datapoints = min(max(s.Datapoints, 1), s.Evaluations)
	if s.Range > 0 {
		s.Range = max(s.Range, s.Evaluations)
	}
	return s
}

// Rule is the rule of one of the Metrics Insights alarms over all tokens:
// the quota alarm (the lowest remaining, or remaining_percent, of each
// token at or under Threshold), with Pace the pace alarm (the lowest
// projected remaining at the reset, or its percentage, at or under
// Threshold: 0 in the template, the quota runs out before the reset), or
// with Errors the token-errors alarm (each token's failed readings adding
// up to Threshold or more). A zero Shape is the alarm's own: QuotaShape,
// PaceShape or ErrorsShape; a Shape with only a Period set evaluates one
// period.
type Rule struct {
	Percent   bool // compare the percentage of the limit instead of the count
	Errors    bool // the token-errors alarm
	Pace      bool // the pace alarm
	Threshold float64
	Shape
}

// shape is the shape the rule is evaluated with.
func (r Rule) shape() Shape {
	switch {
	case r.Errors:
		return r.Shape.normal(ErrorsShape)
	case r.Pace:
		return r.Shape.normal(PaceShape)
	}
	return r.Shape.normal(QuotaShape)
}

// Metric is the name of the metric the rule compares.
func (r Rule) Metric() string {
	switch m := (sample.Metrics{Percent: r.Percent}); {
	case r.Errors:
		return sample.MetricErrors
	case r.Pace:
		return m.Projection()
	default:
		return m.Watched()
	}
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
// reading counts 1 for the errors alarm, a reading its figure for the
// quota, a reading with a projection the projection for the pace.
func (r Rule) value(rec sample.Record) (float64, bool) {
	switch {
	case r.Errors && rec.Failed():
		return 1, true
	case r.Errors:
		return 0, rec.Recovered // a success that declares errors 0
	case r.Pace && r.Percent:
		return rec.ProjectedPercent(), rec.HasProjection
	case r.Pace:
		return float64(rec.Projected), rec.HasProjection
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

// TreatMissingData is the rule's missing-data treatment, as template.yaml
// declares it: notBreaching for the errors, missing for the others.
func (r Rule) TreatMissingData() string {
	if r.Errors {
		return ErrorsTreatMissingData
	}
	return TreatMissingData
}

// Evaluator applies a Rule to samples per token as CloudWatch applies a
// Metrics Insights alarm to its time series, producing the events
// CloudWatch would send: a contributor state change per token crossing the
// threshold either way, and the alarm's own state change. It stands in for
// the alarm where there is no CloudWatch (the sandbox, the benchmark).
//
// Each evaluation looks at a sliding window, CloudWatch's default: periods
// ending at the evaluation time, one after the other backwards, each
// aggregated into one datapoint (MIN, or SUM for the errors), a period
// without samples giving none (a missing datapoint). AWS's example of a
// sliding window is an alarm with a one-hour period that evaluates
// 13:07–14:07 and, at its next evaluation, 13:08–14:08: the periods end
// at each evaluation whatever their length, so a 5-minute period
// evaluated every minute covers the last 5 minutes each time. The
// stand-in ends them at the evaluation time itself, CloudWatch's when the
// evaluations come at whole minutes (where in the minute CloudWatch
// evaluates is not documented).
//
// Which datapoints decide is CloudWatch's documented evaluation with
// missing data. It retrieves more periods than it evaluates, the
// evaluation range (Shape.EvaluationRange), and evaluates the Evaluations
// most recent real datapoints in it, reaching back past missing ones. When
// the range holds fewer real datapoints than that, all of them are
// evaluated and the rest are filled in per the rule's TreatMissingData:
// notBreaching fills in clean datapoints; missing fills in nothing that
// counts, so the contributor is ALARM with Datapoints breaching ones, OK
// with fewer and a clean one among them, and otherwise (breaching ones
// only, too few) ALARM when the oldest of them is at least Datapoints
// periods old, CloudWatch's rule against premature alarms, and as it was
// when it is younger: a contributor has no INSUFFICIENT_DATA, and what
// CloudWatch does with one there is not documented.
//
// A contributor is only ALARM or OK. A token appears as an OK contributor
// silently; one whose series has no datapoint in the evaluation range (the
// monitor stopped, or the token works again and reports no errors) leaves
// the query's result and is taken back to OK. Whether CloudWatch sends that
// OK is not documented; the stand-in sends it. The alarm itself is ALARM
// while any contributor is, OK while some token reports and none is in
// ALARM, and INSUFFICIENT_DATA when no token reports.
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

// datapoint is one period's aggregate, n samples in it (none: missing).
type datapoint struct {
	end   time.Time // the period's end; its start is one period earlier
	age   int       // periods back from the evaluation: 1 for the newest
	value float64
	n     int
}

// evaluation is what one evaluation of a series found.
type evaluation struct {
	present   int         // real datapoints in the evaluation range
	evaluated []datapoint // the most recent of them, at most Evaluations, newest first
	filled    int         // missing datapoints filled in: Evaluations - len(evaluated)
	breaching int         // of evaluated
}

// NewEvaluator starts in INSUFFICIENT_DATA, as a new CloudWatch alarm does.
func NewEvaluator(rule Rule, alarmName string) *Evaluator {
	rule.Shape = rule.shape()
	return &Evaluator{rule: rule, name: alarmName, state: StateInsufficient, reason: initialReason, series: map[string]*series{}}
}

const initialReason = "Unchecked: Initial alarm creation"

// Rule is the rule the evaluator applies, its shape completed.
func (e *Evaluator) Rule() Rule { return e.rule }

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
		ev := e.evaluate(s, now)
		if ev.present > 0 {
			reporting++
		}
		if breach, decided := e.decide(ev); decided && breach != s.alarm {
			s.alarm = breach
			out = append(out, e.contributorEvent(now, label, breach, ev))
		}
		if s.alarm {
			alarming++
		}
		if ev.present == 0 && len(s.points) == 0 {
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
		out = append(out, e.event(now, StateChange, Detail{State: State{Value: state, Reason: reason, Timestamp: stateTime(now)}, PreviousState: prev}))
	}
	return out
}

// evaluate drops the points older than the evaluation range, aggregates
// the rest into the range's datapoints (period i, newest first, is
// (now-(i+1)·Period, now-i·Period]; points after now wait for a later
// evaluation) and picks the datapoints evaluated: the most recent real
// ones, at most Evaluations.
func (e *Evaluator) evaluate(s *series, now time.Time) evaluation {
	sh := e.rule.Shape
	dps := make([]datapoint, sh.EvaluationRange())
	for i := range dps {
		dps[i].end = now.Add(-time.Duration(i) * sh.Period)
		dps[i].age = i + 1
		if !e.rule.Errors {
			dps[i].value = math.Inf(1)
		}
	}
	from := now.Add(-sh.Reach())
	kept := s.points[:0]
	for _, p := range s.points {
		if !p.at.After(from) {
			continue
		}
		kept = append(kept, p)
		if p.at.After(now) {
			continue
		}
		d := &dps[now.Sub(p.at)/sh.Period] // the period (end-Period, end] holding p
		d.value = e.rule.fold(d.value, p.value)
		d.n++
	}
	s.points = kept
	var ev evaluation
	for _, d := range dps {
		if d.n == 0 {
			continue
		}
		ev.present++
		if len(ev.evaluated) < sh.Evaluations {
			ev.evaluated = append(ev.evaluated, d)
			if e.rule.breaches(d.value) {
				ev.breaching++
			}
		}
	}
	ev.filled = sh.Evaluations - len(ev.evaluated)
	return ev
}

// decide is the contributor's state after ev, ALARM (breach) or OK, or
// decided false when it stays as it was (breaching datapoints only, too
// few and too recent, with missing data treated as missing).
func (e *Evaluator) decide(ev evaluation) (breach, decided bool) {
	sh := e.rule.Shape
	switch {
	case ev.breaching >= sh.Datapoints:
		return true, true
	case ev.filled == 0, len(ev.evaluated) == 0, e.rule.TreatMissingData() == ErrorsTreatMissingData:
		// Enough real datapoints; none at all (the series left); or the
		// missing ones filled in as clean.
		return false, true
	case ev.breaching < len(ev.evaluated): // a clean one
		return false, true
	case ev.evaluated[len(ev.evaluated)-1].age >= sh.Datapoints:
		return true, true
	}
	return false, false
}

// contributorEvent is the contributor's change to ALARM (breach) or OK, its
// reason in CloudWatch's words from the datapoints evaluated.
func (e *Evaluator) contributorEvent(now time.Time, label string, breach bool, ev evaluation) Event {
	id := sha256.Sum256([]byte(e.name + "|" + label))
	return e.event(now, ContributorChange, Detail{
		AlarmContributor: &Contributor{ID: hex.EncodeToString(id[:8]), Attributes: map[string]string{sample.Dimension: label}},
		State:            State{Value: map[bool]string{true: StateAlarm, false: StateOK}[breach], Reason: e.contributorReason(breach, ev), Timestamp: stateTime(now)},
	})
}

// contributorReason explains a contributor's state as CloudWatch does.
// With one period: "1 datapoint was less than or equal to the threshold
// (60.0). The most recent datapoint which crossed the threshold: [12.0
// (…)]." With more: "2 out of the last 10 datapoints [-12.0 (…), -3.0 (…)]
// were less than or equal to the threshold (0.0) (minimum 1 datapoint for
// OK -> ALARM transition).", the evaluated datapoints that decided, newest
// first, so the first one is the figure to show either way. Going OK needs
// Evaluations - Datapoints + 1 clean datapoints, and CloudWatch's reasons
// say that number ("(minimum 7 datapoints for ALARM -> OK transition)" of
// a 2 out of 8 alarm); missing datapoints filled in as clean are counted
// as its reasons count them ("and 5 missing datapoints were treated as
// [NonBreaching]").
func (e *Evaluator) contributorReason(breach bool, ev evaluation) string {
	sh := e.rule.Shape
	if len(ev.evaluated) == 0 {
		return fmt.Sprintf("No datapoints in the last %d seconds: the time series left the query's result.", int(sh.Reach().Seconds()))
	}
	list := func(breaching bool) []string {
		var l []string
		for _, d := range ev.evaluated {
			if e.rule.breaches(d.value) == breaching {
				l = append(l, fmt.Sprintf("%s (%s)", num(d.value), d.end.UTC().Format("02/01/06 15:04:05")))
			}
		}
		return l
	}
	op := map[bool]string{true: "greater than or equal to", false: "less than or equal to"}[e.rule.Errors]
	threshold := num(e.rule.Threshold)
	dir, decided, crossed, need := "OK -> ALARM", list(breach), breach, sh.Datapoints
	if !breach {
		dir, need = "ALARM -> OK", sh.Evaluations-sh.Datapoints+1
		if len(decided) == 0 {
			// An OK decided by the breaching datapoints being too few, the
			// missing ones filled in as clean.
			dir, decided, crossed, need = "OK -> ALARM", list(true), true, sh.Datapoints
		}
	}
	switch {
	case sh.Evaluations == 1 && breach:
		return fmt.Sprintf("Threshold Crossed: 1 datapoint was %s the threshold (%s). The most recent datapoint which crossed the threshold: [%s].", op, threshold, decided[0])
	case sh.Evaluations == 1:
		return fmt.Sprintf("Threshold Crossed: 1 datapoint was not %s the threshold (%s). The most recent datapoint: [%s].", op, threshold, decided[0])
	}
	plural := func(n int, one, more string) string {
		if n == 1 {
			return one
		}
		return more
	}
	filled := ""
	if ev.filled > 0 && e.rule.TreatMissingData() == ErrorsTreatMissingData {
		filled = fmt.Sprintf(" and %d missing %s treated as [NonBreaching]", ev.filled, plural(ev.filled, "datapoint was", "datapoints were"))
	}
	not := map[bool]string{true: "", false: "not "}[crossed]
	return fmt.Sprintf("Threshold Crossed: %d out of the last %d datapoints [%s] %s %s%s the threshold (%s)%s (minimum %d %s for %s transition).",
		len(decided), sh.Evaluations, strings.Join(decided, ", "), plural(len(decided), "was", "were"), not, op, threshold, filled, need, plural(need, "datapoint", "datapoints"), dir)
}

// event completes d into an event of the alarm, as EventBridge delivers it.
func (e *Evaluator) event(now time.Time, detailType string, d Detail) Event {
	e.seq++
	mc := MetricConfig{ID: "q1", Expression: e.rule.Query(), Period: int(e.rule.Period.Seconds()), ReturnData: true}
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
