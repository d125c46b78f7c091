package bench

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/quotabot/chatwork-quota-bot/bot"
	"github.com/quotabot/chatwork-quota-bot/internal/alarm"
	"github.com/quotabot/chatwork-quota-bot/internal/chatworksim"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
	"github.com/quotabot/chatwork-quota-bot/monitor"
)

// The alarms' thresholds as template.yaml deploys them by default (a test
// reads the template): the quota alarm's AlarmThreshold, count kind, and
// the pace alarm's, a projection at or under 0.
const (
	AlarmThreshold = 60
	PaceThreshold  = alarm.PaceThreshold
)

// CloudWatch is the model of what lies between a record the monitor writes
// and the room: CloudWatch's part, EventBridge's and the webhook
// function's. Every figure is an assumption; BENCHMARKS.md gives each with
// its source, or says that AWS documents none.
type CloudWatch struct {
	// EMFDelay: a record's datapoint can be evaluated this long after the
	// reading was taken (the log event written, the metric extracted from
	// it and stored). Undocumented.
	EMFDelay time.Duration
	// Every: alarms are evaluated this often, at whole multiples of it
	// plus Offset (AWS: every minute for a period of a minute or more).
	Every, Offset time.Duration
	// EventBridge: from a state change to the function's invocation.
	// Undocumented.
	EventBridge time.Duration
	// Function: from the invocation to the message in the room (claim,
	// reading, post).
	Function time.Duration
	// Threshold and PaceThreshold are the quota and pace alarms'.
	Threshold, PaceThreshold float64
	// RangeScale multiplies every alarm's evaluation range (how many
	// periods CloudWatch retrieves, alarm.Shape.EvaluationRange); 0 or 1
	// leaves it. Documented for one shape only.
	RangeScale int
}

// DefaultCloudWatch is the model BENCHMARKS.md states.
func DefaultCloudWatch() CloudWatch {
	return CloudWatch{
		EMFDelay:      30 * time.Second,
		Every:         time.Minute,
		EventBridge:   2 * time.Second,
		Function:      time.Second,
		Threshold:     AlarmThreshold,
		PaceThreshold: PaceThreshold,
	}
}

// hearing is from a state change to the room.
func (cw CloudWatch) hearing() time.Duration { return cw.EventBridge + cw.Function }

// Assumption is the model with some of its figures changed, named for the
// tables.
type Assumption struct {
	Name string
	CW   CloudWatch
}

// Assumptions are the model as stated, then with each undocumented figure
// doubled, then with the three delays doubled together, then with no delay
// at all between a reading and the room and an evaluation every 10 s (the
// fastest CloudWatch evaluates, a high-resolution alarm's): near the bound
// that the monitor's readings alone set.
func Assumptions() []Assumption {
	base := DefaultCloudWatch()
	emf, eb, fn, all, wide, instant := base, base, base, base, base, base
	emf.EMFDelay *= 2
	eb.EventBridge *= 2
	fn.Function *= 2
	all.EMFDelay, all.EventBridge, all.Function = 2*base.EMFDelay, 2*base.EventBridge, 2*base.Function
	wide.RangeScale = 2
	instant.EMFDelay, instant.Every, instant.EventBridge, instant.Function = 0, 10*time.Second, 0, 0
	return []Assumption{
		{"as stated", base},
		{"EMF delay ×2", emf},
		{"EventBridge delay ×2", eb},
		{"function time ×2", fn},
		{"all three delays ×2", all},
		{"evaluation range ×2", wide},
		{"bound: no delay", instant},
	}
}

// shape is s as the model evaluates it: its evaluation range scaled.
func (cw CloudWatch) shape(s alarm.Shape) alarm.Shape {
	if cw.RangeScale > 1 {
		s.Range = s.EvaluationRange() * cw.RangeScale
	}
	return s
}

// Alarms is a design of the per-token alarms and of what the room hears
// of them.
type Alarms struct {
	Name  string
	Quota alarm.Shape
	Pace  alarm.Shape // Period 0: no pace alarm
	// PaceThreshold, when not 0, replaces the model's for the pace alarm.
	PaceThreshold float64
	// Episode makes the two alarms of a token one episode (bot.Episode);
	// without it every transition is posted.
	Episode bool
}

// TodayAlarms is the design this project had: the quota alarm on one
// window's lowest remaining, every transition posted.
func TodayAlarms() Alarms {
	return Alarms{Name: "today: quota alarm (legacy shape), every transition", Quota: alarm.LegacyQuotaShape}
}

// NewAlarms is the design deployed now: the quota and pace alarms in
// their shapes, one episode for the room.
func NewAlarms() Alarms {
	return Alarms{Name: "new: quota + pace alarm, episodes", Quota: alarm.QuotaShape, Pace: alarm.PaceShape, Episode: true}
}

// AltAlarms are other shapes the numbers choose NewAlarms' against.
func AltAlarms() []Alarms {
	minutes := func(n, m int) alarm.Shape { return alarm.Shape{Period: time.Minute, Evaluations: n, Datapoints: m} }
	return []Alarms{
		{Name: "alt: pace 2 of 10", Quota: alarm.QuotaShape, Pace: minutes(10, 2), Episode: true},
		{Name: "alt: quota + pace 1 of 5", Quota: minutes(5, 1), Pace: minutes(5, 1), Episode: true},
		{Name: "alt: quota + pace 1 of 7", Quota: minutes(7, 1), Pace: minutes(7, 1), Episode: true},
		{Name: "alt: pace in the legacy shape", Quota: alarm.QuotaShape, Pace: alarm.LegacyQuotaShape, Episode: true},
		{Name: "alt: pace threshold −30", Quota: alarm.QuotaShape, Pace: alarm.PaceShape, PaceThreshold: -30, Episode: true},
		{Name: "alt: quota alone, episodes", Quota: alarm.QuotaShape, Episode: true},
	}
}

// trace is what a simulation keeps for the lead-time model.
type trace struct {
	records  []sample.Record                     // every record written, in order
	dry      map[window]time.Time                // when a window's remaining came to 0
	low      map[window]time.Time                // when it came to AlarmThreshold or under
	windows  map[string][]chatworksim.WindowStat // each token's measured windows
	cycles   map[string][]time.Time              // each token's load episodes' starts
	from, to time.Time                           // the measured span
}

func newTrace() *trace {
	return &trace{
		dry: map[window]time.Time{}, low: map[window]time.Time{},
		windows: map[string][]chatworksim.WindowStat{}, cycles: map[string][]time.Time{},
	}
}

// note records where window w stands at now: the first moments it is at
// the threshold or under, and dry.
func (tr *trace) note(w window, remaining int, now time.Time) {
	if _, ok := tr.low[w]; !ok && remaining <= AlarmThreshold {
		tr.low[w] = now
	}
	if _, ok := tr.dry[w]; !ok && remaining == 0 {
		tr.dry[w] = now
	}
}

// transition is one state change of one alarm's contributor.
type transition struct {
	at    time.Time // the evaluation
	pace  bool      // the pace alarm's (else the quota alarm's)
	alarm bool      // to ALARM (else to OK)
	// about is, for the pace alarm entering ALARM, the reset of the window
	// of the newest reading whose projection breached.
	about int64
	// hold is, for a change to OK, how long after the newest reading that
	// breached this alarm's threshold it came.
	hold time.Duration
}

// message is what the room hears, when, and the transition that posted it.
type message struct {
	at    time.Time
	alert bool // else a recovery
	why   transition
}

// replay plays label's records through the alarms of design a as the
// model cw has CloudWatch evaluate them, until until, and returns the
// transitions and the messages the room hears, in time order.
func (a Alarms) replay(recs []sample.Record, label string, cw CloudWatch, until time.Time) ([]transition, []message) {
	var mine []sample.Record
	for _, r := range recs {
		if r.Token == label {
			mine = append(mine, r)
		}
	}
	slices.SortStableFunc(mine, func(x, y sample.Record) int { return x.Time.Compare(y.Time) })
	if len(mine) == 0 {
		return nil, nil
	}
	if a.PaceThreshold != 0 {
		cw.PaceThreshold = a.PaceThreshold
	}
	quota := alarm.NewEvaluator(alarm.Rule{Threshold: cw.Threshold, Shape: cw.shape(a.Quota)}, "quota")
	var pace *alarm.Evaluator
	var paceReach time.Duration
	if a.Pace.Period > 0 {
		pace = alarm.NewEvaluator(alarm.Rule{Pace: true, Threshold: cw.PaceThreshold, Shape: cw.shape(a.Pace)}, "pace")
		paceReach = pace.Rule().Reach()
	}
	var (
		trans     []transition
		projected []sample.Record // observed readings with a projection
		// The newest observed readings breaching the quota alarm's
		// threshold and the pace alarm's.
		lastLow, lastFast time.Time
	)
	changes := func(evs []alarm.Event, isPace bool, now time.Time) {
		for _, ev := range evs {
			c := ev.Detail.AlarmContributor
			if ev.DetailType != alarm.ContributorChange || c == nil || c.Attributes[sample.Dimension] != label {
				continue
			}
			t := transition{at: now, pace: isPace, alarm: ev.Detail.State.Value == alarm.StateAlarm}
			if isPace && t.alarm {
				for _, r := range slices.Backward(projected) {
					if r.Time.After(now.Add(-paceReach)) && float64(r.Projected) <= cw.PaceThreshold {
						t.about = r.Reset
						break
					}
				}
			}
			if !t.alarm {
				t.hold = now.Sub(map[bool]time.Time{false: lastLow, true: lastFast}[isPace])
			}
			trans = append(trans, t)
		}
	}
	first := mine[0].Time.Add(cw.EMFDelay)
	at := first.Truncate(cw.Every).Add(cw.Offset)
	if at.Before(first) {
		at = at.Add(cw.Every)
	}
	for i := 0; !at.After(until); at = at.Add(cw.Every) {
		for ; i < len(mine) && !mine[i].Time.Add(cw.EMFDelay).After(at); i++ {
			r := mine[i]
			quota.Observe(r)
			if r.HasQuota && float64(r.Remaining) <= cw.Threshold {
				lastLow = r.Time
			}
			if pace != nil {
				pace.Observe(r)
				if r.HasProjection {
					projected = append(projected, r)
					if float64(r.Projected) <= cw.PaceThreshold {
						lastFast = r.Time
					}
				}
			}
		}
		// EMF metrics are stored per minute, so the periods are whole
		// minutes, the newest the minute in progress with what has
		// arrived of it: an evaluation between two whole minutes looks
		// at periods ending at the next one.
		end := at.Truncate(time.Minute)
		if end.Before(at) {
			end = end.Add(time.Minute)
		}
		changes(quota.Evaluate(end), false, at)
		if pace != nil {
			changes(pace.Evaluate(end), true, at)
		}
	}
	return trans, a.messages(trans, cw)
}

// messages is what the room hears of the transitions: every one of them,
// or with Episode what bot.Episode posts.
func (a Alarms) messages(trans []transition, cw CloudWatch) []message {
	var out []message
	var sides [2]bot.Side // quota, pace
	for _, t := range trans {
		heard := t.at.Add(cw.hearing())
		state := alarm.StateOK
		if t.alarm {
			state = alarm.StateAlarm
		}
		if !a.Episode {
			out = append(out, message{heard, t.alarm, t})
			continue
		}
		this := 0
		if t.pace {
			this = 1
		}
		post, keep := bot.Episode(state, sides[this], sides[1-this])
		if post == bot.PostAlert {
			keep.Posted = true
		}
		sides[this] = keep
		if post != bot.PostNothing {
			out = append(out, message{heard, post == bot.PostAlert, t})
		}
	}
	return out
}

// Lead is one window that ran dry and what the room knew of it.
type Lead struct {
	// Lead is when the quota hit 0 minus when the room heard the alert of
	// the episode: positive when it heard before. Valid when Heard.
	Lead  time.Duration
	Heard bool // an alert came, before or after
	// Onset marks the first window of a load episode that ran dry.
	Onset bool
}

// Warned reports whether the room heard before the window ran dry.
func (l Lead) Warned() bool { return l.Heard && l.Lead > 0 }

// Warning is what the room heard under one alarm design, load and window
// mode, summed over a sweep's runs.
type Warning struct {
	Alarms     string
	Assumption string
	Load       Load
	Mode       chatworksim.WindowMode
	RecentPace bool
	Pace       bool // the design has a pace alarm

	Windows int    // measured windows
	Dry     []Lead // the measured windows that ran dry
	// Crossings is the measured windows that came to the threshold; Known
	// those of them that did while the room had the alert of the running
	// episode; Delays, for the others, the time from the crossing to the
	// alert (Never when none came).
	Crossings, Known int
	Delays           []time.Duration
	Messages         int
	Span             time.Duration // the measured span
	// PerEpisode is the messages heard in each load episode (from its start
	// to the next one's), for the loads that have episodes.
	PerEpisode []int
	// FalsePace is the pace alarm entering ALARM on a reading of a measured
	// window that did not run dry. FalseAlerts is the alerts the pace alarm
	// posted on such a reading when no window ran dry either until the
	// recovery was heard: what the room heard in vain.
	FalsePace, FalseAlerts int
	// Holds is, for each of the quota alarm [0] and the pace alarm [1],
	// how long after its newest breaching reading each of its changes to
	// OK came.
	Holds [2][]time.Duration
	// Alternating is false when the room heard two alerts, or two
	// recoveries, in a row: a model invariant.
	Alternating bool
}

// Never stands for an alert that never came.
const Never = time.Duration(math.MaxInt64)

// warning measures what the room heard of tr's token label.
func warning(tr *trace, label string, trans []transition, msgs []message) Warning {
	w := Warning{Alternating: true}
	ws := tr.windows[label]
	w.Windows = len(ws)
	w.Span = tr.to.Sub(tr.from)
	for i, m := range msgs {
		if !m.at.Before(tr.from) && m.at.Before(tr.to) {
			w.Messages++
		}
		if (i == 0 && !m.alert) || (i > 0 && m.alert == msgs[i-1].alert) {
			w.Alternating = false
		}
	}
	// running is the alert of the episode running at t, heard before t; next
	// the first alert heard at t or later.
	running := func(t time.Time) (time.Time, bool) {
		i := sort.Search(len(msgs), func(i int) bool { return !msgs[i].at.Before(t) })
		if i > 0 && msgs[i-1].alert {
			return msgs[i-1].at, true
		}
		return time.Time{}, false
	}
	next := func(t time.Time) (time.Time, bool) {
		i := sort.Search(len(msgs), func(i int) bool { return !msgs[i].at.Before(t) })
		for ; i < len(msgs); i++ {
			if msgs[i].alert {
				return msgs[i].at, true
			}
		}
		return time.Time{}, false
	}
	cycles := tr.cycles[label]
	onset := map[int]bool{} // cycles whose first dry window is counted
	measured := map[int64]bool{}
	for _, win := range ws {
		key := window{label, resetSecond(win)}
		measured[key.reset] = win.Low > 0
		if at, ok := tr.low[key]; ok {
			w.Crossings++
			if _, ok := running(at); ok {
				w.Known++
			} else if heard, ok := next(at); ok {
				w.Delays = append(w.Delays, heard.Sub(at))
			} else {
				w.Delays = append(w.Delays, Never)
			}
		}
		if win.Low > 0 {
			continue
		}
		at := tr.dry[key]
		var l Lead
		if heard, ok := running(at); ok {
			l = Lead{Lead: at.Sub(heard), Heard: true}
		} else if heard, ok := next(at); ok {
			l = Lead{Lead: at.Sub(heard), Heard: true}
		}
		if c := sort.Search(len(cycles), func(i int) bool { return cycles[i].After(at) }) - 1; c >= 0 && !onset[c] {
			onset[c], l.Onset = true, true
		}
		w.Dry = append(w.Dry, l)
	}
	for i := 0; i+1 < len(cycles); i++ {
		from, to := cycles[i], cycles[i+1]
		if from.Before(tr.from) || to.After(tr.to) {
			continue
		}
		n := 0
		for _, m := range msgs {
			if !m.at.Before(from) && m.at.Before(to) {
				n++
			}
		}
		w.PerEpisode = append(w.PerEpisode, n)
	}
	for _, t := range trans {
		if notDry, ok := measured[t.about]; t.pace && t.alarm && ok && notDry {
			w.FalsePace++
		}
		if !t.alarm && !t.at.Before(tr.from) && t.at.Before(tr.to) {
			i := map[bool]int{false: 0, true: 1}[t.pace]
			w.Holds[i] = append(w.Holds[i], t.hold)
		}
	}
	var dries []time.Time
	for k, at := range tr.dry {
		if k.label == label {
			dries = append(dries, at)
		}
	}
	slices.SortFunc(dries, time.Time.Compare)
	for i, m := range msgs {
		if notDry, ok := measured[m.why.about]; !m.alert || !m.why.pace || !ok || !notDry {
			continue
		}
		end := tr.to.Add(time.Hour)
		if i+1 < len(msgs) {
			end = msgs[i+1].at
		}
		if j := sort.Search(len(dries), func(j int) bool { return !dries[j].Before(m.at) }); j == len(dries) || !dries[j].Before(end) {
			w.FalseAlerts++
		}
	}
	return w
}

// add sums o into w.
func (w *Warning) add(o Warning) {
	w.Windows += o.Windows
	w.Dry = append(w.Dry, o.Dry...)
	w.Crossings += o.Crossings
	w.Known += o.Known
	w.Delays = append(w.Delays, o.Delays...)
	w.Messages += o.Messages
	w.Span += o.Span
	w.PerEpisode = append(w.PerEpisode, o.PerEpisode...)
	w.FalsePace += o.FalsePace
	w.FalseAlerts += o.FalseAlerts
	for i := range w.Holds {
		w.Holds[i] = append(w.Holds[i], o.Holds[i]...)
	}
	w.Alternating = w.Alternating && o.Alternating
}

// WarnedShare is the share of the dry windows warned before they ran dry;
// with onset, of the first dry window of each load episode. NaN when none.
func (w Warning) WarnedShare(onset bool) float64 {
	n, warned := 0, 0
	for _, l := range w.Dry {
		if onset && !l.Onset {
			continue
		}
		n++
		if l.Warned() {
			warned++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return float64(warned) / float64(n)
}

// LeadQuantile is the q-quantile of the lead times (nearest rank), an
// unheard window counting as the shortest; with onset, of the first dry
// window of each load episode. ok is false when there is none.
func (w Warning) LeadQuantile(q float64, onset bool) (lead time.Duration, heard, ok bool) {
	var ls []Lead
	for _, l := range w.Dry {
		if !onset || l.Onset {
			ls = append(ls, l)
		}
	}
	if len(ls) == 0 {
		return 0, false, false
	}
	slices.SortFunc(ls, func(a, b Lead) int {
		if a.Heard != b.Heard {
			if a.Heard {
				return 1
			}
			return -1
		}
		return cmp.Compare(a.Lead, b.Lead)
	})
	l := ls[rank(q, len(ls))]
	return l.Lead, l.Heard, true
}

// DelayQuantile is the q-quantile of the delays from a crossing to the
// alert (nearest rank; Never when that alert never came). ok is false when
// every crossing was already known.
func (w Warning) DelayQuantile(q float64) (time.Duration, bool) {
	if len(w.Delays) == 0 {
		return 0, false
	}
	ds := slices.Sorted(slices.Values(w.Delays))
	return ds[rank(q, len(ds))], true
}

// rank is the nearest-rank index of the q-quantile of n values.
func rank(q float64, n int) int {
	return min(max(int(math.Ceil(q*float64(n)))-1, 0), n-1)
}

// HoldQuantile is the q-quantile (nearest rank) of how long the quota
// alarm (pace false) or the pace alarm held after its newest breaching
// reading before it went OK; ok is false when it never did.
func (w Warning) HoldQuantile(q float64, pace bool) (time.Duration, bool) {
	hs := w.Holds[map[bool]int{false: 0, true: 1}[pace]]
	if len(hs) == 0 {
		return 0, false
	}
	hs = slices.Sorted(slices.Values(hs))
	return hs[rank(q, len(hs))], true
}

// MessagesPerHour is the messages heard per hour of the measured span.
func (w Warning) MessagesPerHour() float64 { return float64(w.Messages) / w.Span.Hours() }

// EpisodeMessages is the mean and the most messages per load episode;
// ok is false for a load without episodes.
func (w Warning) EpisodeMessages() (mean float64, most int, ok bool) {
	if len(w.PerEpisode) == 0 {
		return 0, 0, false
	}
	sum := 0
	for _, n := range w.PerEpisode {
		sum += n
		most = max(most, n)
	}
	return float64(sum) / float64(len(w.PerEpisode)), most, true
}

// FalsePaceShare is FalsePace as a share of the measured windows.
func (w Warning) FalsePaceShare() float64 { return float64(w.FalsePace) / float64(w.Windows) }

// WarnCase is one simulation setting of the lead-time tables.
type WarnCase struct {
	Load       Load
	Mode       chatworksim.WindowMode
	RecentPace bool
}

// RunWarn simulates the monitor (with Config.AveragePace as c.RecentPace says) under
// c's load and window mode at p.Phases schedule phases, like RunSweep, and
// measures what the room hears of each run under every alarm design and
// assumption that want accepts (nil: all): every design sees the same
// records. The result is indexed [design][assumption]; the pairs not
// wanted are left zero.
func RunWarn(c WarnCase, p Params, designs []Alarms, as []Assumption, want func(design, assumption int) bool) ([][]Warning, error) {
	if want == nil {
		want = func(int, int) bool { return true }
	}
	n := max(p.Phases, 1)
	d := MonitorDesign()
	d.Monitor = monitor.Config{AveragePace: !c.RecentPace}
	out := make([][]Warning, len(designs))
	for i, a := range designs {
		out[i] = make([]Warning, len(as))
		for j, as := range as {
			out[i][j] = Warning{Alarms: a.Name, Assumption: as.Name, Load: c.Load, Mode: c.Mode, RecentPace: c.RecentPace, Pace: a.Pace.Period > 0, Alternating: true}
		}
	}
	for k := range n {
		q := p.sweep(k)
		q.Tokens, q.InProcess = 1, true
		tr := newTrace()
		if _, err := simulate(d, c.Load, c.Mode, q, tr); err != nil {
			return nil, err
		}
		for i, a := range designs {
			for j, as := range as {
				if !want(i, j) {
					continue
				}
				trans, msgs := a.replay(tr.records, sample.DefaultLabel, as.CW, tr.to.Add(time.Hour))
				out[i][j].add(warning(tr, sample.DefaultLabel, trans, msgs))
			}
		}
	}
	return out, nil
}

// RunWarnAll runs RunWarn for every case, four at a time, and returns the
// results indexed [case][design][assumption].
func RunWarnAll(cases []WarnCase, p Params, designs []Alarms, as []Assumption, want func(design, assumption int) bool) ([][][]Warning, error) {
	out := make([][][]Warning, len(cases))
	errs := make([]error, len(cases))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i, c := range cases {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			out[i], errs[i] = RunWarn(c, p, designs, as, want)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// paceBase names w's pace base for the tables: "–" for alarms without
// the pace alarm.
func (w Warning) paceBase() string {
	if !w.Pace {
		return "–"
	}
	return paceFrom(w.RecentPace)
}

// paceFrom names a monitor's pace base for the tables.
func paceFrom(recent bool) string {
	if recent {
		return "previous reading"
	}
	return "window's first"
}

// WarnTable renders warnings as a markdown table, in the order given.
func WarnTable(ws []Warning) string {
	var b strings.Builder
	b.WriteString("| load | mode | alarms | pace from | assumption | dry windows | warned before dry | first of episode warned | median lead | p10 lead | first of episode: median lead | crossings known | crossing→alert median / p90 | messages/hour | messages/episode mean (max) | false pace alarms / alerts |\n")
	b.WriteString("|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, w := range ws {
		pace := w.paceBase()
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %.2f | %s | %s |\n",
			w.Load, w.Mode, w.Alarms, pace, w.Assumption, len(w.Dry),
			pct(w.WarnedShare(false)), pct(w.WarnedShare(true)),
			leadAt(w, 0.5, false), leadAt(w, 0.1, false), leadAt(w, 0.5, true),
			known(w), delays(w), w.MessagesPerHour(), episodes(w), falsePace(w))
	}
	return b.String()
}

// HoldTable renders, for each warning, how long its alarms held after
// their newest breaching reading before they went OK: the minimum, the
// median, the p90 and the maximum, and how many times.
func HoldTable(ws []Warning) string {
	var b strings.Builder
	b.WriteString("| load | mode | alarms | pace from | assumption | quota alarm: OKs, hold min / median / p90 / max | pace alarm: OKs, hold min / median / p90 / max |\n")
	b.WriteString("|---|---|---|---|---|---:|---:|\n")
	for _, w := range ws {
		pace := w.paceBase()
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", w.Load, w.Mode, w.Alarms, pace, w.Assumption, holds(w, false), holds(w, true))
	}
	return b.String()
}

func holds(w Warning, pace bool) string {
	if pace && !w.Pace {
		return "–"
	}
	q := func(v float64) string {
		h, _ := w.HoldQuantile(v, pace)
		return span(h)
	}
	n := len(w.Holds[map[bool]int{false: 0, true: 1}[pace]])
	if n == 0 {
		return "0"
	}
	return fmt.Sprintf("%d, %s / %s / %s / %s", n, q(0), q(0.5), q(0.9), q(1))
}

func pct(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.1f%%", 100*v)
}

func leadAt(w Warning, q float64, onset bool) string {
	l, heard, ok := w.LeadQuantile(q, onset)
	switch {
	case !ok:
		return "–"
	case !heard:
		return "never"
	}
	return signed(l)
}

func known(w Warning) string {
	if w.Crossings == 0 {
		return "–"
	}
	return fmt.Sprintf("%d of %d", w.Known, w.Crossings)
}

func delays(w Warning) string {
	m, ok := w.DelayQuantile(0.5)
	if !ok {
		return "–"
	}
	p, _ := w.DelayQuantile(0.9)
	return span(m) + " / " + span(p)
}

func episodes(w Warning) string {
	mean, most, ok := w.EpisodeMessages()
	if !ok {
		return "–"
	}
	return fmt.Sprintf("%.2f (%d)", mean, most)
}

func falsePace(w Warning) string {
	if !w.Pace {
		return "–"
	}
	return fmt.Sprintf("%d (%.1f%%) / %d (%.1f%%)", w.FalsePace, 100*w.FalsePaceShare(), w.FalseAlerts, 100*float64(w.FalseAlerts)/float64(w.Windows))
}

// signed writes a lead time to the second, with its sign.
func signed(d time.Duration) string {
	if d < 0 {
		return "−" + span(-d)
	}
	return "+" + span(d)
}

// span writes a duration to the second, never as "never".
func span(d time.Duration) string {
	if d == Never {
		return "never"
	}
	return d.Round(time.Second).String()
}

// Goals of the warning: the share of dry windows warned before they run
// dry under the overload and the ramp, the most messages per episode of the
// sustained load, the most false pace alarms (share of windows) under the
// steady load and random bursts.
const (
	GoalWarned          = 0.80
	GoalEpisodeMessages = 2
	GoalFalsePace       = 0.05
)

// CheckWarnGoals describes every goal w misses, for the goals that apply to
// its load.
func CheckWarnGoals(w Warning) error {
	var errs []string
	switch w.Load {
	case Overload, Ramp:
		if s := w.WarnedShare(false); !(s >= GoalWarned) {
			errs = append(errs, fmt.Sprintf("%s of the dry windows warned before they ran dry, goal %.0f%%", pct(s), 100*GoalWarned))
		}
	case Sustained:
		switch _, most, ok := w.EpisodeMessages(); {
		case !ok:
			errs = append(errs, "no whole episode measured")
		case most > GoalEpisodeMessages:
			errs = append(errs, fmt.Sprintf("up to %d messages in an episode, goal %d", most, GoalEpisodeMessages))
		}
	case Steady, Bursts:
		if s := w.FalsePaceShare(); s > GoalFalsePace {
			errs = append(errs, fmt.Sprintf("false pace alarms in %.1f%% of the windows, goal %.0f%%", 100*s, 100*GoalFalsePace))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%s / %s / %s / pace from %s / %s: %s", w.Alarms, w.Load, w.Mode, paceFrom(w.RecentPace), w.Assumption, strings.Join(errs, "; "))
}
