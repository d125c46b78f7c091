package alarm

import (
	"cmp"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/sample"
)

func TestShapes(t *testing.T) {
	for _, c := range []struct {
		name string
		rule Rule
		want Shape
	}{
		{"quota's own", Rule{Threshold: 60}, QuotaShape},
		{"pace's own", Rule{Pace: true}, PaceShape},
		{"errors' own", Rule{Errors: true, Pace: true}, ErrorsShape},
		{"a period alone is one period", Rule{Shape: Shape{Period: 30 * time.Second}}, Shape{Period: 30 * time.Second, Evaluations: 1, Datapoints: 1}},
		{"no more datapoints than periods", Rule{Shape: Shape{Period: time.Minute, Evaluations: 3, Datapoints: 5}}, Shape{Period: time.Minute, Evaluations: 3, Datapoints: 3}},
		{"counts without a period", Rule{Shape: Shape{Evaluations: 3, Datapoints: 2}}, Shape{Period: QuotaShape.Period, Evaluations: 3, Datapoints: 2}},
		{"a range without a period", Rule{Shape: Shape{Range: 20}}, Shape{Period: QuotaShape.Period, Evaluations: QuotaShape.Evaluations, Datapoints: QuotaShape.Datapoints, Range: 20}},
		{"no range shorter than the periods evaluated", Rule{Shape: Shape{Period: time.Minute, Evaluations: 4, Range: 2}}, Shape{Period: time.Minute, Evaluations: 4, Datapoints: 1, Range: 4}},
	} {
		if got := NewEvaluator(c.rule, "a").Rule().Shape; got != c.want {
			t.Errorf("%s: shape %+v, want %+v", c.name, got, c.want)
		}
	}
	if LegacyQuotaShape != (Shape{Period: Period, Evaluations: 1, Datapoints: 1}) || ErrorsShape != (Shape{Period: Period, Evaluations: 1, Datapoints: 1}) {
		t.Errorf("the 5-minute shapes: legacy %+v, errors %+v", LegacyQuotaShape, ErrorsShape)
	}
	if got := QuotaShape.Scaled(time.Minute); got != (Shape{Period: QuotaShape.Period / 5, Evaluations: QuotaShape.Evaluations, Datapoints: QuotaShape.Datapoints}) {
		t.Errorf("QuotaShape for a 1-minute window: %+v", got)
	}
	if QuotaShape.Span() != time.Duration(QuotaShape.Evaluations)*QuotaShape.Period {
		t.Errorf("span %v", QuotaShape.Span())
	}
	// The evaluation range: the documented 5 for 3 periods, two more than
	// evaluated for every shape, or the shape's own.
	for _, c := range []struct {
		shape Shape
		n     int
	}{
		{Shape{Period: Period, Evaluations: 3, Datapoints: 3}, 5},
		{QuotaShape, 12},
		{LegacyQuotaShape, 3},
		{Shape{Period: time.Minute, Evaluations: 10, Range: 24}, 24},
		{Shape{Period: time.Minute, Evaluations: 10, Range: 4}, 10},
	} {
		if got := c.shape.EvaluationRange(); got != c.n || c.shape.Reach() != time.Duration(c.n)*c.shape.Period {
			t.Errorf("%+v: evaluation range %d periods, reach %v; want %d periods", c.shape, got, c.shape.Reach(), c.n)
		}
	}
	if (Rule{}).TreatMissingData() != "missing" || (Rule{Pace: true}).TreatMissingData() != "missing" || (Rule{Errors: true}).TreatMissingData() != "notBreaching" {
		t.Error("the rules' missing-data treatments are not the template's")
	}
}

// events evaluates at now and returns the events, each parsed back as
// EventBridge delivers it, as "token:STATE" for a contributor and "STATE"
// for the alarm's own change.
func events(t *testing.T, e *Evaluator, now time.Time) ([]string, []Event) {
	t.Helper()
	var got []string
	var back []Event
	for _, ev := range e.Evaluate(now) {
		b := roundTrip(t, ev)
		back = append(back, b)
		if tok := b.Token(); tok != "" {
			got = append(got, tok+":"+b.Detail.State.Value)
			continue
		}
		got = append(got, b.Detail.State.Value)
	}
	return got, back
}

// With 1 datapoint out of 10 one-minute periods the first low minute
// alarms at once; the contributor stays in ALARM, silently, while any of
// the last ten minutes was low, a window reset in between or not, and
// recovers after ten clean minutes: one alert and one recovery for the
// episode.
func TestEvaluatorOneOutOfTen(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	e := NewEvaluator(Rule{Threshold: 60, Shape: QuotaShape}, "quotabot-quota-low")
	low := map[int]int{3: 50, 8: 40} // minute: remaining; 280 otherwise
	for m := 0; m <= 20; m++ {
		at := t0.Add(time.Duration(m) * time.Minute)
		e.Observe(sample.Record{Time: at, Token: "deploy", Source: sample.SourceMonitor, HasQuota: true,
			Remaining: cmp.Or(low[m], 280), Limit: 300, Reset: at.Truncate(5 * time.Minute).Add(5 * time.Minute).Unix()})
		got, evs := events(t, e, at)
		var want []string
		switch m {
		case 0:
			want = []string{StateOK}
		case 3:
			want = []string{"deploy:ALARM", StateAlarm}
		case 18: // ten clean minutes after minute 8
			want = []string{"deploy:OK", StateOK}
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("minute %d: events %v, want %v", m, got, want)
		}
		for _, ev := range evs {
			if ev.Detail.Configuration.Metrics[0].Period != 60 {
				t.Errorf("minute %d: the event's period %d, want 60", m, ev.Detail.Configuration.Metrics[0].Period)
			}
		}
		switch m {
		case 3:
			r := evs[0].Detail.State.Reason
			if want := "Threshold Crossed: 1 out of the last 10 datapoints [50.0 (24/11/26 03:03:00)] was less than or equal to the threshold (60.0) (minimum 1 datapoint for OK -> ALARM transition)."; r != want {
				t.Errorf("the ALARM reason %q, want %q", r, want)
			}
			d, ok := evs[0].Detail.State.Data()
			if v, has := d.LastValue(); !ok || d.Threshold != 60 || !has || v != 50 {
				t.Errorf("the ALARM's datapoint %v %v, threshold %v", v, has, d.Threshold)
			}
		case 18:
			r := evs[0].Detail.State.Reason
			if !strings.HasPrefix(r, "Threshold Crossed: 10 out of the last 10 datapoints [280.0 (24/11/26 03:18:00), 280.0 (24/11/26 03:17:00), ") ||
				!strings.HasSuffix(r, "were not less than or equal to the threshold (60.0) (minimum 10 datapoints for ALARM -> OK transition).") {
				t.Errorf("the OK reason %q", r)
			}
			if d, _ := evs[0].Detail.State.Data(); d.RecentDatapoints[0] != 280 {
				t.Errorf("the OK's datapoint %v", d.RecentDatapoints)
			}
		}
		if wantAlarm := m >= 3 && m < 18; (e.TokenState("deploy") == StateAlarm) != wantAlarm {
			t.Fatalf("minute %d: contributor %s", m, e.TokenState("deploy"))
		}
	}
	// The series stops: its last datapoints are evaluated while they are in
	// the evaluation range (12 periods), and it leaves the result after.
	if got, _ := events(t, e, t0.Add(31*time.Minute)); len(got) != 0 || e.TokenState("deploy") != StateOK {
		t.Fatalf("11 minutes after the series stopped: %v, contributor %q", got, e.TokenState("deploy"))
	}
	if got, _ := events(t, e, t0.Add(32*time.Minute)); strings.Join(got, " ") != "INSUFFICIENT_DATA" || e.TokenState("deploy") != "" {
		t.Fatalf("12 minutes after the series stopped: %v, contributor %q", got, e.TokenState("deploy"))
	}
}

// With 2 datapoints out of 3, one low minute is not enough; two of the
// last three real datapoints are, adjacent or not. A missing minute does
// not count as clean: the alarm reaches back past it to the most recent
// real datapoints within its evaluation range (5 periods), so a low minute
// holds until three newer real ones or the range push it out.
func TestEvaluatorTwoOutOfThree(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	e := NewEvaluator(Rule{Threshold: 60, Shape: Shape{Period: time.Minute, Evaluations: 3, Datapoints: 2}}, "q")
	// step takes a reading at minute m (none when remaining is -1),
	// evaluates, and checks the events.
	step := func(m int, remaining int, want ...string) string {
		t.Helper()
		at := t0.Add(time.Duration(m) * time.Minute)
		if remaining >= 0 {
			e.Observe(sample.Record{Time: at, Token: "deploy", Source: sample.SourceMonitor, HasQuota: true, Remaining: remaining, Limit: 300, Reset: 1})
		}
		got, evs := events(t, e, at)
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("minute %d: events %v, want %v", m, got, want)
		}
		if len(evs) == 0 || evs[0].Token() == "" {
			return ""
		}
		return evs[0].Detail.State.Reason
	}
	step(0, 200, StateOK)
	step(1, 30)  // one low minute
	step(2, 200) // still one
	if r := step(3, 20, "deploy:ALARM", StateAlarm); r != "Threshold Crossed: 2 out of the last 3 datapoints [20.0 (24/11/26 03:03:00), 30.0 (24/11/26 03:01:00)] were less than or equal to the threshold (60.0) (minimum 2 datapoints for OK -> ALARM transition)." {
		t.Errorf("ALARM reason %q", r)
	}
	if r := step(4, 200, "deploy:OK", StateOK); r != "Threshold Crossed: 2 out of the last 3 datapoints [200.0 (24/11/26 03:04:00), 200.0 (24/11/26 03:02:00)] were not less than or equal to the threshold (60.0) (minimum 2 datapoints for ALARM -> OK transition)." {
		t.Errorf("OK reason %q", r)
	}
	step(5, 10, "deploy:ALARM", StateAlarm) // minutes 3 and 5
	// Minutes 6 and 7 are missing: the three most recent real datapoints
	// are still minutes 5, 4 and 3, two of them low.
	step(6, -1)
	step(7, -1)
	if r := step(8, 200, "deploy:OK", StateOK); r != "Threshold Crossed: 2 out of the last 3 datapoints [200.0 (24/11/26 03:08:00), 200.0 (24/11/26 03:04:00)] were not less than or equal to the threshold (60.0) (minimum 2 datapoints for ALARM -> OK transition)." {
		t.Errorf("OK reason reaching back %q", r)
	}
	step(9, 5, "deploy:ALARM", StateAlarm) // minutes 9 and 5
	step(10, 5)
	step(11, -1)
	step(12, -1)
	// Minutes 9–13: fewer real datapoints than three in the range, the two
	// low ones alone: all of them are evaluated, the rest is missing, and
	// two low ones are enough.
	step(13, -1)
	// Minutes 10–14: one low datapoint, four periods old, and nothing
	// newer: CloudWatch's rule against premature alarms keeps it in ALARM
	// (its oldest breaching datapoint is at least 2 periods old, every newer
	// one missing).
	if r := step(14, -1); r != "" || e.TokenState("deploy") != StateAlarm {
		t.Errorf("minute 14: contributor %q", e.TokenState("deploy"))
	}
	// Minutes 11–15: nothing left; the series leaves the result.
	if r := step(15, -1, "deploy:OK", StateInsufficient); r != "No datapoints in the last 300 seconds: the time series left the query's result." {
		t.Errorf("the reason of a series that left: %q", r)
	}
	if e.TokenState("deploy") != "" {
		t.Errorf("a series without data left: %q", e.TokenState("deploy"))
	}
}

// The tables of CloudWatch's documentation ("How alarm state is evaluated
// when data is missing"): 3 evaluation periods, an evaluation range of 5,
// M of 3 and 2, each row the five most recent periods, oldest first (0
// clean, X breaching, - missing), evaluated with missing data treated as
// missing (the quota alarm) and as notBreaching (the errors alarm). A
// contributor has no INSUFFICIENT_DATA: where a classic alarm would go to
// it, the contributor leaves the result (no data) or stays as it was
// ("keep": OK for a new series).
func TestEvaluatorMissingDataTables(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		m             int
		row           string
		missing, notB string // ALARM, OK, left or keep
	}{
		{3, "0-X-X", "OK", "OK"},
		{3, "0----", "OK", "OK"},
		{3, "-----", "left", "left"},
		{3, "0XX-X", "ALARM", "ALARM"},
		{3, "--X--", "ALARM", "OK"},
		{3, "----X", "keep", "OK"},
		{3, "---X-", "keep", "OK"},
		{2, "0-X-X", "ALARM", "ALARM"},
		{2, "00X0X", "ALARM", "ALARM"},
		{2, "0-X--", "OK", "OK"},
		{2, "----0", "OK", "OK"},
		{2, "---X-", "ALARM", "OK"},
		{2, "----X", "keep", "OK"},
	} {
		shape := Shape{Period: time.Minute, Evaluations: 3, Datapoints: c.m}
		for _, r := range []struct {
			rule Rule
			want string
		}{
			{Rule{Threshold: 60, Shape: shape}, c.missing},
			{Rule{Errors: true, Threshold: ErrorsThreshold, Shape: shape}, c.notB},
		} {
			e := NewEvaluator(r.rule, "a")
			now := t0.Add(4 * time.Minute)
			for i, p := range c.row {
				at := t0.Add(time.Duration(i) * time.Minute)
				switch {
				case p == '-':
				case r.rule.Errors:
					// Only failed readings make the errors metric: a
					// clean period is one with fewer than the threshold.
					for range map[rune]int{'0': 1, 'X': ErrorsThreshold}[p] {
						e.Observe(sample.Record{Time: at, Token: "deploy", Source: sample.SourceMonitor, Error: "network", Calls: 1})
					}
				default:
					e.Observe(sample.Record{Time: at, Token: "deploy", Source: sample.SourceMonitor, HasQuota: true, Remaining: map[rune]int{'0': 200, 'X': 10}[p], Limit: 300, Reset: 1})
				}
			}
			e.Evaluate(now)
			got := e.TokenState("deploy")
			switch {
			case got == "":
				got = "left"
			case got == StateOK && r.want == "keep":
				got = "keep"
			}
			if got != r.want {
				t.Errorf("%d of 3, %s, missing data %s: %s, want %s", c.m, c.row, r.rule.TreatMissingData(), got, r.want)
			}
		}
	}
}

// The pace alarm compares the projection at the reset, per token, and only
// readings that have one contribute; its events name the projection's
// metric and its datapoint.
func TestPaceRule(t *testing.T) {
	for _, c := range []struct {
		rule  Rule
		query string
	}{
		{Rule{Pace: true}, `SELECT MIN(projected_remaining) FROM SCHEMA("ChatWorkQuota", Token) GROUP BY Token ORDER BY MIN() ASC`},
		{Rule{Pace: true, Percent: true}, `SELECT MIN(projected_remaining_percent) FROM SCHEMA("ChatWorkQuota", Token) GROUP BY Token ORDER BY MIN() ASC`},
	} {
		if c.rule.Query() != c.query || c.rule.Metric() != (sample.Metrics{Percent: c.rule.Percent}).Projection() {
			t.Errorf("%+v: query %q, metric %q", c.rule, c.rule.Query(), c.rule.Metric())
		}
	}
	t0 := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	reading := func(token string, at time.Duration, remaining int) sample.Record {
		return sample.Record{Time: t0.Add(at), Token: token, Source: sample.SourceMonitor, HasQuota: true,
			Remaining: remaining, Limit: 300, Reset: t0.Add(5 * time.Minute).Unix()}
	}
	// projected is a reading at 1 minute with its projection from the
	// window's first reading, 4 minutes before the reset.
	projected := func(token string, first, remaining int) sample.Record {
		r := reading(token, time.Minute, remaining)
		if !r.Project(reading(token, 0, first)) {
			t.Fatal("no projection")
		}
		return r
	}
	for _, percent := range []bool{false, true} {
		e := NewEvaluator(Rule{Pace: true, Percent: percent}, "quotabot-quota-pace")
		e.Observe(reading("deploy", 0, 300)) // no projection: nothing to compare
		e.Observe(reading("notify", 0, 300))
		if got, _ := events(t, e, t0); len(got) != 0 || e.TokenState("deploy") != "" {
			t.Fatalf("readings without a projection: events %v, contributor %q", got, e.TokenState("deploy"))
		}
		dry := projected("deploy", 300, 200) // 100 a minute: -200 at the reset
		e.Observe(dry)
		e.Observe(projected("notify", 300, 290)) // 10 a minute: 250 at the reset
		got, evs := events(t, e, t0.Add(time.Minute))
		if strings.Join(got, " ") != "deploy:ALARM ALARM" {
			t.Fatalf("percent %v: events %v", percent, got)
		}
		want := float64(dry.Projected)
		if percent {
			want = math.Round(dry.ProjectedPercent()*100) / 100 // the reason's two decimals
		}
		d, _ := evs[0].Detail.State.Data()
		if v, has := d.LastValue(); !has || v != want || d.Threshold != 0 || dry.Projected != -200 {
			t.Errorf("percent %v: datapoint %v %v, threshold %v, want %v", percent, v, has, d.Threshold, want)
		}
		if m, _ := evs[0].Watched(); m != (sample.Metrics{Percent: percent}).Projection() || evs[0].Detail.Configuration.Metrics[0].Period != int(PaceShape.Period.Seconds()) {
			t.Errorf("percent %v: the event watches %q every %ds", percent, m, evs[0].Detail.Configuration.Metrics[0].Period)
		}
		if e.TokenState("notify") != StateOK {
			t.Errorf("percent %v: a token on a safe pace is %q", percent, e.TokenState("notify"))
		}
	}
}

// The pace series has a gap every 5 minutes (a window's first reading has
// no projection), so the pace alarm's 1 out of 10 goes OK after 10 real
// clean datapoints, or once its last breaching one leaves the evaluation
// range with fewer real ones after it: not 10 minutes after the breach.
func TestEvaluatorPaceGaps(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	// run reads once a minute from minute 0 to 30, a projection on every
	// reading but those at whole 5 minutes, and those of minutes 1–3
	// breaching when low; every (the minutes between readings) thins
	// them. It returns the minute the contributor went OK and the reason.
	run := func(shape Shape, every int) (int, string) {
		t.Helper()
		e := NewEvaluator(Rule{Pace: true, Threshold: PaceThreshold, Shape: shape}, "quotabot-quota-pace")
		for m := 0; m <= 30; m++ {
			at := t0.Add(time.Duration(m) * time.Minute)
			rec := sample.Record{Time: at, Token: "deploy", Source: sample.SourceMonitor, HasQuota: true, Remaining: 200, Limit: 300, Reset: 1}
			if m%5 != 0 && (m <= 3 || m%every == 0) {
				rec.HasProjection, rec.Projected = true, 100
				if m <= 3 {
					rec.Projected = -50
				}
			}
			e.Observe(rec)
			for _, ev := range e.Evaluate(at) {
				switch {
				case ev.Token() == "" || m < 4 && ev.Detail.State.Value == StateAlarm:
				case ev.Detail.State.Value == StateOK:
					return m, ev.Detail.State.Reason
				default:
					t.Fatalf("minute %d: %s %s", m, ev.Token(), ev.Detail.State.Value)
				}
			}
			if m >= 1 && m < 4 && e.TokenState("deploy") != StateAlarm {
				t.Fatalf("minute %d: contributor %q after a breaching projection", m, e.TokenState("deploy"))
			}
		}
		t.Fatal("never OK")
		return 0, ""
	}
	// A range long enough: OK at the 10th clean projection after minute 3,
	// minute 16 (minutes 5, 10 and 15 have none), 13 minutes later.
	if m, r := run(Shape{Period: time.Minute, Evaluations: 10, Datapoints: 1, Range: 30}, 1); m != 16 ||
		!strings.HasPrefix(r, "Threshold Crossed: 10 out of the last 10 datapoints [100.0 (24/11/26 03:16:00), 100.0 (24/11/26 03:14:00), ") ||
		!strings.HasSuffix(r, "100.0 (24/11/26 03:04:00)] were not less than or equal to the threshold (0.0) (minimum 10 datapoints for ALARM -> OK transition).") {
		t.Errorf("a long range: OK at minute %d (%s), want 16", m, r)
	}
	// PaceShape's range, 12 periods: minute 3 leaves it at minute 15, 9
	// clean projections after it, evaluated with one missing.
	if m, r := run(PaceShape, 1); m != 15 || !strings.HasPrefix(r, "Threshold Crossed: 9 out of the last 10 datapoints [100.0 (24/11/26 03:14:00), ") {
		t.Errorf("PaceShape: OK at minute %d (%s), want 15", m, r)
	}
	// A projection every other minute: 10 clean ones would take until
	// minute 27; the range lets minute 3 go at 15, with 5 clean ones.
	if m, r := run(PaceShape, 2); m != 15 || !strings.HasPrefix(r, "Threshold Crossed: 5 out of the last 10 datapoints [100.0 (24/11/26 03:14:00), 100.0 (24/11/26 03:12:00), 100.0 (24/11/26 03:08:00), ") {
		t.Errorf("every other minute: OK at minute %d (%s), want 15", m, r)
	}
}

// The token-errors alarm, 1 out of 1 five-minute period with missing data
// treated as notBreaching: a token that fails every reading, then works
// again. A missing newest period is no clean datapoint while an older real
// one is in the evaluation range, so the alarm evaluates that one again
// and can go back to ALARM after an OK, what CloudWatch documents for a
// metric that stops ("re-evaluate the last set of data points ... might
// cause the alarm to change state", shorter periods mitigating it), until
// the failures leave the range.
func TestEvaluatorErrorsStop(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	e := NewEvaluator(Rule{Errors: true, Threshold: ErrorsThreshold}, "quotabot-token-errors")
	var got []string
	for m := 0; m <= 30; m++ {
		at := t0.Add(time.Duration(m) * time.Minute)
		if m <= 9 {
			e.Observe(sample.Record{Time: at, Token: "report", Source: sample.SourceMonitor, Error: "invalid_token", Calls: 1})
		}
		for _, ev := range e.Evaluate(at) {
			if ev.Token() != "" {
				got = append(got, fmt.Sprintf("%d:%s", m, ev.Detail.State.Value))
			}
		}
	}
	// ALARM with the third failure; OK at 12 (failures 8 and 9 in the last
	// five minutes); at 14 the newest period is empty and (4, 9] holds five;
	// and so on until 24, when the range (9, 24] holds none.
	if want := "2:ALARM 12:OK 14:ALARM 17:OK 19:ALARM 22:OK"; strings.Join(got, " ") != want {
		t.Errorf("transitions %v, want %s", got, want)
	}
	if e.TokenState("report") != "" || e.State() != StateInsufficient {
		t.Errorf("after the range: contributor %q, alarm %s", e.TokenState("report"), e.State())
	}
}
