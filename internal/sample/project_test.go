package sample

import (
	"testing"
	"time"
)

func TestProject(t *testing.T) {
	reset := at.Truncate(time.Second).Add(5 * time.Minute)
	// reading is a reading taken before the reset, remaining of 300.
	reading := func(before time.Duration, remaining int) Record {
		return Record{Time: reset.Add(-before), Token: "a", Source: SourceMonitor, HasQuota: true,
			Remaining: remaining, Limit: 300, Reset: reset.Unix(), Calls: 1}
	}
	type want struct {
		ok        bool
		projected int
		pace      float64
	}
	refused := want{}
	cases := []struct {
		name           string
		earlier, later Record
		want           want
	}{
		// 60 calls in 60 s, 120 s left: 120 more.
		{"steady pace", reading(180*time.Second, 200), reading(120*time.Second, 140), want{true, 20, 60}},
		{"nothing spent: the remaining stays", reading(180*time.Second, 200), reading(120*time.Second, 200), want{true, 200, 0}},
		// 14 calls in 25 s, 275 s left: exactly 154 more. A float product
		// lands a hair above 154 and would round down to one call less.
		{"a whole projection stays whole", reading(300*time.Second, 314-14), reading(275*time.Second, 300-14), want{true, 300 - 14 - 154, 33.6}},
		// 1 call in 30 s, 45 s left: 1.5 more, so 2 calls' worth is gone.
		{"rounded down", reading(75*time.Second, 100), reading(45*time.Second, 99), want{true, 97, 2}},
		// 30 calls in 30 s, 100 s left: 100 more of 10.
		{"negative: runs out first", reading(130*time.Second, 40), reading(100*time.Second, 10), want{true, -90, 60}},
		// 20 calls in 30 s, 50 s left: 33.3 more of 10, -23.3.
		{"negative, rounded down", reading(80*time.Second, 30), reading(50*time.Second, 10), want{true, -24, 40}},
		// 7 calls in 45 s: 9.333… a minute.
		{"pace per minute to a tenth", reading(105*time.Second, 100), reading(60*time.Second, 93), want{true, 93 - 10, 9.3}},
		// A call a second over MinPaceSpan, 40 s left: 40 more.
		{"exactly MinPaceSpan apart", reading(40*time.Second+MinPaceSpan, 90+int(MinPaceSpan/time.Second)), reading(40*time.Second, 90), want{true, 90 - 40, 60}},
		{"a 429 reading (0 left)", reading(60*time.Second, 30), reading(30*time.Second, 0), want{true, -30, 60}},

		{"earlier has no figures", func() Record { r := reading(180*time.Second, 200); r.HasQuota = false; r.Error = "server"; return r }(),
			reading(120*time.Second, 140), refused},
		{"this reading has no figures", reading(180*time.Second, 200),
			func() Record { r := reading(120*time.Second, 140); r.HasQuota = false; r.Error = "network"; return r }(), refused},
		{"another reset", func() Record { r := reading(180*time.Second, 200); r.Reset -= 300; return r }(), reading(120*time.Second, 140), refused},
		{"another limit", func() Record { r := reading(180*time.Second, 200); r.Limit = 600; return r }(), reading(120*time.Second, 140), refused},
		{"remaining grew", reading(180*time.Second, 139), reading(120*time.Second, 140), refused},
		{"closer than MinPaceSpan", reading(60*time.Second, 100), reading(60*time.Second-MinPaceSpan+time.Millisecond, 90), refused},
		{"earlier is later", reading(60*time.Second, 90), reading(120*time.Second, 100), refused},
		{"the same reading", reading(60*time.Second, 90), reading(60*time.Second, 90), refused},
		{"taken at the reset", reading(60*time.Second, 100), reading(0, 50), refused},
		{"taken after the reset", reading(60*time.Second, 100), reading(-time.Second, 50), refused},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := c.later
			ok := r.Project(c.earlier)
			if ok != c.want.ok || r.HasProjection != c.want.ok || r.Projected != c.want.projected || r.Pace != c.want.pace {
				t.Fatalf("Project = %v: has %v projected %d pace %v; want %+v", ok, r.HasProjection, r.Projected, r.Pace, c.want)
			}
			// Nothing but the projection changes.
			r.HasProjection, r.Projected, r.Pace = false, 0, 0
			if r != c.later {
				t.Fatalf("Project changed other members: %+v", r)
			}
		})
	}
}

// A refused projection leaves an earlier one in place.
func TestProjectRefusedKeepsTheRecord(t *testing.T) {
	r := good()
	r.HasProjection, r.Projected, r.Pace = true, -12, 40.5
	before := r
	if r.Project(r) || r != before {
		t.Fatalf("a refused projection changed the record: %+v", r)
	}
}

func TestProjectedPercent(t *testing.T) {
	for _, c := range []struct {
		name string
		r    Record
		want float64
	}{
		{"positive", Record{HasQuota: true, Limit: 300, HasProjection: true, Projected: 150}, 50},
		{"negative", Record{HasQuota: true, Limit: 300, HasProjection: true, Projected: -30}, -10},
		{"no projection", Record{HasQuota: true, Limit: 300, Projected: 150}, 0},
		{"no limit", Record{HasProjection: true, Projected: 150}, 0},
	} {
		if got := c.r.ProjectedPercent(); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestRunsOut(t *testing.T) {
	at := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	reset := at.Add(60 * time.Second)
	rec := func(remaining, projected int, has bool) Record {
		return Record{Time: at, HasQuota: true, Remaining: remaining, Limit: 300, Reset: reset.Unix(), HasProjection: has, Projected: projected}
	}
	for _, c := range []struct {
		name string
		r    Record
		ok   bool
		want time.Time
	}{
		{"no projection", rec(100, -50, false), false, time.Time{}},
		{"lasts past the reset", rec(100, 1, true), false, time.Time{}},
		{"exactly at the reset", rec(100, 0, true), true, reset},
		// 101 calls until the reset at this pace, the 100 left take 100/101 of the 60 s.
		{"just before the reset", rec(100, -1, true), true, at.Add(60 * time.Second * 100 / 101)},
		{"half way", rec(50, -50, true), true, at.Add(30 * time.Second)},
		{"already out", rec(0, -90, true), true, at},
	} {
		got, ok := c.r.RunsOut()
		if ok != c.ok || !got.Equal(c.want) {
			t.Errorf("%s: RunsOut() = %v, %v; want %v, %v", c.name, got, ok, c.want, c.ok)
		}
	}
}
