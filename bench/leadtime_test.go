package bench

import (
	"flag"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/quotabot/chatwork-quota-bot/internal/alarm"
	"github.com/quotabot/chatwork-quota-bot/internal/chatworksim"
)

var (
	flagWarnWindows = flag.Int("warn.windows", 2000, "BenchmarkLeadTime: windows per load, mode and pace base")
	flagWarnPhases  = flag.Int("warn.phases", 20, "BenchmarkLeadTime: schedule phases the windows are spread over (fewer phases, longer runs)")
)

// warnCases is every load in both window modes with both pace bases.
func warnCases(loads []Load, modes []chatworksim.WindowMode) []WarnCase {
	var cs []WarnCase
	for _, mode := range modes {
		for _, l := range loads {
			for _, recent := range []bool{false, true} {
				cs = append(cs, WarnCase{Load: l, Mode: mode, RecentPace: recent})
			}
		}
	}
	return cs
}

// BenchmarkLeadTime is the lead-time tables of BENCHMARKS.md. Run it once:
//
//	go test ./bench -run '^$' -bench LeadTime -benchtime 1x
func BenchmarkLeadTime(b *testing.B) {
	p := DefaultParams()
	p.Windows, p.Phases = *flagWarnWindows, *flagWarnPhases
	designs := append([]Alarms{TodayAlarms(), NewAlarms()}, AltAlarms()...)
	as := Assumptions()
	cases := warnCases(WarnLoads, Modes)
	for b.Loop() {
		began := time.Now()
		// Every assumption for today's and the new design, the stated one
		// for the others.
		res, err := RunWarnAll(cases, p, designs, as, func(d, a int) bool { return d <= 1 || a == 0 })
		if err != nil {
			b.Fatal(err)
		}
		elapsed := time.Since(began)
		// Main: today and new, as stated; today's rows once (the pace base
		// changes no reading).
		var main, alt, doubled, held []Warning
		wide := slices.IndexFunc(as, func(a Assumption) bool { return a.CW.RangeScale > 1 })
		for i, c := range cases {
			for d := range designs {
				switch {
				case d == 0 && !c.RecentPace, d == 1:
					main = append(main, res[i][d][0])
					if c.Load != LastBurst {
						held = append(held, res[i][d][0])
						if c.Mode == chatworksim.WindowFixed {
							held = append(held, res[i][d][wide])
						}
					}
				case d > 1 && c.Mode == chatworksim.WindowFixed && c.Load != LastBurst:
					alt = append(alt, res[i][d][0])
				}
				if d <= 1 && (d == 1 || !c.RecentPace) && (c.Load == Bursts || c.Load == Overload || c.Load == Ramp || c.Load == Sustained) && c.Mode == chatworksim.WindowFixed {
					doubled = append(doubled, res[i][d][1:]...)
				}
			}
		}
		fmt.Printf("\n%d windows per load, mode and pace base over %d schedule phases; %v wall time\n\n%s\nalternative shapes (fixed windows; none hears anything of the last-30s burst):\n\n%s\nassumptions doubled (fixed windows):\n\n%s\nhow long the alarms hold after their newest breaching reading (the loads that recover):\n\n%s\n",
			p.Windows, p.Phases, elapsed.Round(time.Millisecond), WarnTable(main), WarnTable(alt), WarnTable(doubled), HoldTable(held))
		for _, w := range main {
			if w.Alarms != NewAlarms().Name {
				continue
			}
			if err := CheckWarnGoals(w); err != nil {
				fmt.Printf("goal missed: %v\n", err)
			}
		}
	}
}

// TestThresholdsMatchTemplate: the model's thresholds are the template's.
func TestThresholdsMatchTemplate(t *testing.T) {
	raw, err := os.ReadFile("../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	get := func(path ...string) string {
		n := doc.Content[0]
		for _, key := range path {
			var next *yaml.Node
			for i := 0; n != nil && n.Kind == yaml.MappingNode && i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == key {
					next = n.Content[i+1]
				}
			}
			if next == nil {
				t.Fatalf("template.yaml has no %v", path)
			}
			n = next
		}
		return n.Value
	}
	if got := get("Parameters", "AlarmThreshold", "Default"); got != strconv.Itoa(AlarmThreshold) {
		t.Errorf("template's AlarmThreshold default %s, the model's %d", got, AlarmThreshold)
	}
	if got := get("Parameters", "AlarmThresholdKind", "Default"); got != "count" {
		t.Errorf("template's AlarmThresholdKind default %s, the model counts", got)
	}
	if got := get("Resources", "PaceAlarm", "Properties", "Threshold"); got != strconv.Itoa(PaceThreshold) {
		t.Errorf("template's pace alarm threshold %s, the model's %d", got, PaceThreshold)
	}
}

// TestLeadTime is the quick version of BenchmarkLeadTime: the model's
// invariants on a few hours of the overload and of the sustained episode
// at a few schedule phases, and the new design beating today's on the
// overload's lead time and the sustained episode's messages.
func TestLeadTime(t *testing.T) {
	const label = "default"
	cw := DefaultCloudWatch()
	today, news := TodayAlarms(), NewAlarms()
	type run struct {
		traces []*trace
		warns  map[string]Warning // by design, summed over the phases
	}
	measure := func(l Load, windows, phases int, recent bool) run {
		p := DefaultParams()
		p.Windows, p.Phases = windows, phases
		d := MonitorDesign()
		d.Monitor.AveragePace = !recent
		r := run{warns: map[string]Warning{}}
		for k := range phases {
			q := p.sweep(k)
			q.InProcess = true
			tr := newTrace()
			if _, err := simulate(d, l, chatworksim.WindowFixed, q, tr); err != nil {
				t.Fatal(err)
			}
			r.traces = append(r.traces, tr)
			for _, a := range []Alarms{today, news} {
				trans, msgs := a.replay(tr.records, label, cw, tr.to.Add(time.Hour))
				w := warning(tr, label, trans, msgs)
				if !w.Alternating {
					t.Errorf("%s / %s: the room heard two alerts or two recoveries in a row", a.Name, l)
				}
				for _, d := range w.Dry {
					if !d.Heard {
						t.Errorf("%s / %s: a window ran dry and no alert ever came", a.Name, l)
					}
				}
				if a.Pace.Period == 0 {
					// The quota alarm needs a reading at the threshold or
					// under, taken at the crossing or later: nothing is
					// faster than the pipeline.
					for _, d := range w.Delays {
						if d < cw.EMFDelay+cw.hearing() {
							t.Errorf("%s / %s: an alert %v after the crossing, faster than the pipeline's %v", a.Name, l, d, cw.EMFDelay+cw.hearing())
						}
					}
				}
				// An alarm goes OK only once its newest breaching reading
				// is out of the datapoints it evaluates: N newer real
				// ones, or out of its evaluation range, N periods at least.
				for i, hs := range w.Holds {
					shape := map[bool]alarm.Shape{false: a.Quota, true: a.Pace}[i == 1]
					for _, h := range hs {
						if h < shape.Span() {
							t.Errorf("%s / %s: an alarm went OK %v after its newest breaching reading, under its %v", a.Name, l, h, shape.Span())
						}
					}
				}
				sum, ok := r.warns[a.Name]
				if !ok {
					sum = Warning{Alternating: true}
				}
				sum.add(w)
				r.warns[a.Name] = sum
			}
		}
		return r
	}

	over := measure(Overload, 240, 4, false)
	// The trace's ground truth agrees with the simulator's windows.
	dry, low, windows := 0, 0, 0
	for _, tr := range over.traces {
		for _, w := range tr.windows[label] {
			windows++
			key := window{label, resetSecond(w)}
			at, isDry := tr.dry[key]
			if isDry != (w.Low == 0) || isDry && (at.Before(w.Start) || !at.Before(w.Reset)) {
				t.Errorf("window %v–%v, low %d: dry at %v (%v)", w.Start, w.Reset, w.Low, at, isDry)
			}
			at, isLow := tr.low[key]
			if isLow != (w.Low <= AlarmThreshold) || isLow && (at.Before(w.Start) || !at.Before(w.Reset)) {
				t.Errorf("window %v–%v, low %d: at the threshold at %v (%v)", w.Start, w.Reset, w.Low, at, isLow)
			}
			if isDry {
				dry++
			}
			if isLow {
				low++
			}
		}
	}
	if dry < windows/5 || low < dry {
		t.Fatalf("overload: %d of %d windows dry, %d at the threshold: the load does not do what it says", dry, windows, low)
	}

	// The projection changes no reading: today's alarm hears the same with
	// either pace base.
	recent := measure(Overload, 240, 4, true)
	if a, b := over.warns[today.Name], recent.warns[today.Name]; !reflect.DeepEqual(a, b) {
		t.Errorf("today's design heard differently with RecentPace: %+v and %+v", a, b)
	}

	for _, r := range []run{over, recent} {
		old, nu := r.warns[today.Name], r.warns[news.Name]
		oldLead, _, _ := old.LeadQuantile(0.5, true)
		newLead, _, _ := nu.LeadQuantile(0.5, true)
		t.Logf("overload: warned before dry %.0f%% → %.0f%% (first of episode %.0f%% → %.0f%%, median lead %v → %v)",
			100*old.WarnedShare(false), 100*nu.WarnedShare(false), 100*old.WarnedShare(true), 100*nu.WarnedShare(true), oldLead, newLead)
		if !(nu.WarnedShare(false) > old.WarnedShare(false)) || !(nu.WarnedShare(true) > old.WarnedShare(true)) || newLead <= oldLead {
			t.Errorf("overload: the new design does not warn earlier than today's")
		}
	}

	// The pace series has a gap at each window's first reading, so the
	// pace alarm needs longer than the quota alarm to see 10 real clean
	// datapoints after its last breaching one: about 12 minutes (its
	// evaluation range) against 10 and some, not the same 10 minutes.
	nu := over.warns[news.Name]
	quotaHold, _ := nu.HoldQuantile(0.5, false)
	paceHold, ok := nu.HoldQuantile(0.5, true)
	t.Logf("overload: the alarms hold a median %v (quota) and %v (pace) after their newest breaching reading", quotaHold, paceHold)
	if !ok || paceHold < quotaHold+time.Minute {
		t.Errorf("overload: the pace alarm holds %v (ok %v), not a minute longer than the quota alarm's %v", paceHold, ok, quotaHold)
	}

	sus := measure(Sustained, 400, 4, false)
	oldMean, oldMost, ok1 := sus.warns[today.Name].EpisodeMessages()
	newMean, newMost, ok2 := sus.warns[news.Name].EpisodeMessages()
	t.Logf("sustained episode: messages per episode %.2f (most %d) → %.2f (most %d)", oldMean, oldMost, newMean, newMost)
	switch {
	case !ok1 || !ok2:
		t.Fatal("sustained episode: no whole episode measured")
	case newMost > GoalEpisodeMessages || newMean >= oldMean:
		t.Errorf("sustained episode: the new design posts %.2f messages per episode (most %d), today's %.2f", newMean, newMost, oldMean)
	}
}
