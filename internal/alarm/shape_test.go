package alarm

import (
	"cmp"
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
		{"a period alone is one period", Rule{Shape: Shape{Period: 30 * time.Second}}, Shape{30 * time.Second, 1, 1}},
		{"no more datapoints than periods", Rule{Shape: Shape{Period: time.Minute, Evaluations: 3, Datapoints: 5}}, Shape{time.Minute, 3, 3}},
		{"counts without a period", Rule{Shape: Shape{Evaluations: 3, Datapoints: 2}}, Shape{QuotaShape.Period, 3, 2}},
	} {
		if got := NewEvaluator(c.rule, "a").Rule().Shape; got != c.want {
			t.Errorf("%s: shape %+v, want %+v", c.name, got, c.want)
		}
	}
	if LegacyQuotaShape != (Shape{Period, 1, 1}) || ErrorsShape != (Shape{Period, 1, 1}) {
		t.Errorf("the 5-minute shapes: legacy %+v, errors %+v", LegacyQuotaShape, ErrorsShape)
	}
	if got := QuotaShape.Scaled(time.Minute); got != (Shape{QuotaShape.Period / 5, QuotaShape.Evaluations, QuotaShape.Datapoints}) {
		t.Errorf("QuotaShape for a 1-minute window: %+v", got)
	}
	if QuotaShape.Span() != time.Duration(QuotaShape.Evaluations)*QuotaShape.Period {
		t.Errorf("span %v", QuotaShape.Span())
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
				!strings.HasSuffix(r, "were not less than or equal to the threshold (60.0) (minimum 1 datapoint for ALARM -> OK transition).") {
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
	// The series stops: it leaves the result once ten periods are empty.
	if got, _ := events(t, e, t0.Add(30*time.Minute)); strings.Join(got, " ") != "INSUFFICIENT_DATA" || e.TokenState("deploy") != "" {
		t.Fatalf("after the series stopped: %v, contributor %q", got, e.TokenState("deploy"))
	}
}

// With 2 datapoints out of 3, one low minute is not enough; two in the
// last three minutes are, adjacent or not; it recovers when fewer than two
// of the last three breach, with clean periods or empty ones.
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
	step(6, -1, "deploy:OK", StateOK)       // minute 3 left
	step(7, -1)
	step(8, 5)
	step(9, 5, "deploy:ALARM", StateAlarm)
	step(10, -1) // 8 and 9 still in the last three minutes
	// Only one breaching datapoint left and no clean one: OK, and the
	// reason says too few breached, not that there was no data.
	if r := step(11, -1, "deploy:OK", StateOK); r != "Threshold Crossed: 1 out of the last 3 datapoints [5.0 (24/11/26 03:09:00)] was less than or equal to the threshold (60.0) (minimum 2 datapoints for OK -> ALARM transition)." {
		t.Errorf("OK reason %q", r)
	}
	step(12, -1, StateInsufficient)
	if e.TokenState("deploy") != "" {
		t.Errorf("a series without data left: %q", e.TokenState("deploy"))
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
