package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/recordtest"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
)

// clock is a virtual clock whose Sleep advances time instantly.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Sleep(ctx context.Context, d time.Duration) error {
	if d > 0 {
		c.mu.Lock()
		c.t = c.t.Add(d)
		c.mu.Unlock()
	}
	return ctx.Err()
}

// fakeCW answers from a function of the virtual time.
type fakeCW struct {
	clk   *clock
	read  func(now time.Time) (chatwork.Reading, error)
	calls int64
	at    []time.Time
}

func (f *fakeCW) ReadQuota(ctx context.Context) (chatwork.Reading, error) {
	f.calls++
	f.at = append(f.at, f.clk.Now())
	return f.read(f.clk.Now())
}
func (f *fakeCW) Calls() int64 { return f.calls }

type fakeWaker struct {
	mu   sync.Mutex
	at   []time.Time
	body [][]byte
	err  error
}

func (w *fakeWaker) WakeAt(_ context.Context, at time.Time, body []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	w.at = append(w.at, at)
	w.body = append(w.body, body)
	return nil
}

var t0 = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// window models a fixed 5-minute window spending one call a second.
func window(now time.Time) (chatwork.Reading, error) {
	start := now.Truncate(5 * time.Minute)
	used := int(now.Sub(start) / time.Second)
	q := &chatwork.Quota{Limit: 300, Remaining: 300 - used, Reset: start.Add(5 * time.Minute)}
	return chatwork.Reading{At: now, Quota: q, AccountID: 42}, nil
}

func newTest(t *testing.T, start time.Time, read func(time.Time) (chatwork.Reading, error), w Waker) (*Monitor, *clock, *fakeCW, *recordtest.Memory) {
	t.Helper()
	clk := &clock{t: start}
	cw := &fakeCW{clk: clk, read: read}
	rec := &recordtest.Memory{}
	m, err := New(Config{TokenLabel: "bots", Now: clk.Now, Sleep: clk.Sleep}, Single("bots", cw), rec, w)
	if err != nil {
		t.Fatal(err)
	}
	return m, clk, cw, rec
}

func TestTickFarFromResetSpendsOneCall(t *testing.T) {
	m, _, cw, rec := newTest(t, t0.Add(30*time.Second), window, nil)
	res, err := m.Tick(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if cw.calls != 1 || res.Calls != 1 {
		t.Fatalf("calls = %d (result %d), want 1", cw.calls, res.Calls)
	}
	r := rec.All()[0]
	if !r.HasQuota || r.Remaining != 270 || r.Limit != 300 || r.Reset != t0.Add(5*time.Minute).Unix() || r.Final || r.Token != "bots" || r.Source != sample.SourceMonitor || r.Calls != 1 {
		t.Fatalf("record = %+v", r)
	}
}

func TestTickNearResetSleepsToFinalReading(t *testing.T) {
	// 40 s before the reset: the next tick would come after it.
	m, clk, cw, rec := newTest(t, t0.Add(260*time.Second), window, nil)
	res, err := m.Tick(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if cw.calls != 2 || res.Calls != 2 || len(rec.All()) != 2 {
		t.Fatalf("calls %d, records %d; want 2 and 2", cw.calls, len(rec.All()))
	}
	final := rec.All()[1]
	if !final.Final || final.Remaining != 1 {
		t.Fatalf("final record = %+v, want remaining 1 taken 1s before the reset", final)
	}
	if got := clk.Now(); !got.Equal(t0.Add(299 * time.Second)) {
		t.Fatalf("final reading at %v", got)
	}
}

func TestTickNearResetArrangesWakeUp(t *testing.T) {
	w := &fakeWaker{}
	m, clk, cw, rec := newTest(t, t0.Add(260*time.Second), window, w)
	res, err := m.Tick(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !res.Woken || cw.calls != 1 || len(w.at) != 1 {
		t.Fatalf("woken %v, calls %d, wake-ups %d", res.Woken, cw.calls, len(w.at))
	}
	if want := t0.Add(296 * time.Second); !w.at[0].Equal(want) {
		t.Fatalf("wake at %v, want %v", w.at[0], want)
	}
	if !clk.Now().Equal(t0.Add(260 * time.Second)) {
		t.Fatal("the tick slept although it arranged a wake-up")
	}
	// The wake-up arrives on time and takes the final reading.
	clk.t = w.at[0]
	var req WakeRequest
	if err := json.Unmarshal(w.body[0], &req); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Wake(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	last := rec.All()[len(rec.All())-1]
	if !last.Final || last.Remaining != 1 || cw.calls != 2 {
		t.Fatalf("final %+v after %d calls", last, cw.calls)
	}
	// A second tick in the same window, within Slack/2 of the reset, spends
	// nothing: the final reading covers it.
	clk.t = t0.Add(298 * time.Second)
	if res, _ := m.Tick(context.Background()); res.Woken || res.Calls != 0 {
		t.Fatalf("second tick: %+v", res)
	}
}

// A fresh container's tick just before the reset takes its reading but no
// second final one: the tick before it arranged that.
func TestTickJustBeforeResetArrangesNoFinal(t *testing.T) {
	w := &fakeWaker{}
	m, clk, cw, _ := newTest(t, t0.Add(296*time.Second), window, w)
	res, err := m.Tick(context.Background())
	if err != nil || res.Calls != 1 || res.Woken || len(w.at) != 0 || cw.calls != 1 {
		t.Fatalf("tick: %+v, %v; wake-ups %d", res, err, len(w.at))
	}
	if !clk.Now().Equal(t0.Add(296 * time.Second)) {
		t.Fatal("the tick slept")
	}
}

func TestWakeAfterResetSpendsNothing(t *testing.T) {
	m, _, cw, rec := newTest(t, t0.Add(301*time.Second), window, nil)
	req := WakeRequest{Action: "final", Reset: t0.Add(5 * time.Minute).Unix(), FinalAt: t0.Add(299 * time.Second).UnixMilli()}
	if _, err := m.Wake(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if cw.calls != 0 || len(rec.All()) != 0 {
		t.Fatalf("a late wake-up spent %d calls and wrote %d records", cw.calls, len(rec.All()))
	}
}

func TestWakerFailureFallsBackToSleeping(t *testing.T) {
	w := &fakeWaker{err: errors.New("queue down")}
	m, _, cw, rec := newTest(t, t0.Add(280*time.Second), window, w)
	res, err := m.Tick(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Woken || cw.calls != 2 || !rec.All()[1].Final {
		t.Fatalf("fallback: %+v", res)
	}
}

func TestFailures(t *testing.T) {
	reset := t0.Add(5 * time.Minute)
	cases := []struct {
		name      string
		err       error
		wantErr   bool
		wantKind  string
		wantQuota bool
	}{
		{"invalid token", &chatwork.Error{Op: "read quota", Kind: chatwork.KindInvalidToken, Status: 401}, true, "invalid_token", false},
		{"exhausted is data", &chatwork.Error{Op: "read quota", Kind: chatwork.KindQuotaExhausted, Status: 429,
			Quota: &chatwork.Quota{Limit: 300, Remaining: 0, Reset: reset}}, false, "quota_exhausted", true},
		{"server", &chatwork.Error{Op: "read quota", Kind: chatwork.KindServer, Status: 503}, true, "server", false},
		{"network", &chatwork.Error{Op: "read quota", Kind: chatwork.KindNetwork, Err: errors.New("connection refused")}, true, "network", false},
		{"odd answer", &chatwork.Error{Op: "read quota", Kind: chatwork.KindBadResponse, Status: 202,
			Err: errors.New(`server text: {"X-ChatWorkToken":"0123456789abcdef"}`)}, true, "bad_response", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, _, cw, rec := newTest(t, t0.Add(10*time.Second), func(time.Time) (chatwork.Reading, error) {
				return chatwork.Reading{}, c.err
			}, nil)
			_, err := m.Tick(context.Background())
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v, want error %v", err, c.wantErr)
			}
			if cw.calls != 1 || len(rec.All()) != 1 {
				t.Fatalf("calls %d records %d", cw.calls, len(rec.All()))
			}
			r := rec.All()[0]
			if r.Error != c.wantKind || r.HasQuota != c.wantQuota {
				t.Fatalf("record %+v", r)
			}
			if strings.Contains(r.Detail, "connection refused") || strings.Contains(r.Detail, "server text") {
				t.Fatalf("the record's Detail holds the cause's text: %q", r.Detail)
			}
			if c.wantQuota && (r.Remaining != 0 || r.Reset != reset.Unix()) {
				t.Fatalf("429 record %+v", r)
			}
		})
	}
}

func TestNoHeadersIsAFailureNotZero(t *testing.T) {
	m, _, _, rec := newTest(t, t0, func(now time.Time) (chatwork.Reading, error) {
		return chatwork.Reading{At: now, AccountID: 1}, nil
	}, nil)
	if _, err := m.Tick(context.Background()); err == nil {
		t.Fatal("want an error")
	}
	if r := rec.All()[0]; r.HasQuota || r.Error != "bad_response" {
		t.Fatalf("record %+v", r)
	}
}

func TestRecorderFailureIsReported(t *testing.T) {
	m, _, _, rec := newTest(t, t0, window, nil)
	rec.Err = errors.New("throttled")
	_, err := m.Tick(context.Background())
	if err == nil || !strings.Contains(err.Error(), "record sample") {
		t.Fatalf("err = %v", err)
	}
}

// Over many windows with ticks every minute, the monitor sees every window's
// final reading and spends at most 6 calls per window.
func TestCoverageAndCostOverManyWindows(t *testing.T) {
	w := &fakeWaker{}
	start := t0.Add(17 * time.Second) // ticks out of phase with the windows
	m, clk, cw, rec := newTest(t, start, window, w)
	ctx := context.Background()
	const windows = 100
	for tick := 0; tick < windows*5; tick++ {
		clk.t = start.Add(time.Duration(tick) * time.Minute)
		if _, err := m.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		for len(w.at) > 0 { // deliver due wake-ups on time
			at, body := w.at[0], w.body[0]
			w.at, w.body = w.at[1:], w.body[1:]
			saved := clk.Now()
			clk.t = at
			var req WakeRequest
			_ = json.Unmarshal(body, &req)
			if _, err := m.Wake(ctx, req); err != nil {
				t.Fatal(err)
			}
			clk.t = saved
		}
	}
	finals := map[int64]int{}
	for _, r := range rec.All() {
		if r.Final {
			finals[r.Reset] = r.Remaining
		}
	}
	if len(finals) < windows-1 {
		t.Fatalf("final readings in %d of %d windows", len(finals), windows)
	}
	for reset, low := range finals {
		if low != 1 {
			t.Fatalf("window %d: final remaining %d, want 1", reset, low)
		}
	}
	if perWindow := float64(cw.calls) / windows; perWindow > 6 {
		t.Fatalf("%.2f calls per window, want at most 6", perWindow)
	}
}

// A final reading that retries pushed past the reset reads the next window:
// it is recorded, but not as that window's final reading.
func TestLateFinalReadingIsNotFinal(t *testing.T) {
	m, _, _, rec := newTest(t, t0.Add(296*time.Second), func(now time.Time) (chatwork.Reading, error) {
		return window(now.Add(5 * time.Second)) // the answer comes from after the reset
	}, nil)
	req := WakeRequest{Action: "final", Reset: t0.Add(5 * time.Minute).Unix(), FinalAt: t0.Add(299 * time.Second).UnixMilli()}
	if _, err := m.Wake(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if len(rec.All()) != 1 || rec.All()[0].Final || rec.All()[0].Reset == req.Reset {
		t.Fatalf("records %+v", rec.All())
	}
}

// A fresh container's tick just before the reset asks the log group first:
// when the tick before it arranged the final reading, it spends nothing.
func TestFreshContainerAsksTheLogGroup(t *testing.T) {
	reset := t0.Add(5 * time.Minute)
	prevTick := sample.Record{Time: t0.Add(238 * time.Second), Token: "bots", Source: sample.SourceMonitor,
		HasQuota: true, Remaining: 62, Limit: 300, Reset: reset.Unix(), Calls: 1}
	cases := []struct {
		name   string
		latest func() (sample.Record, bool, error)
		at     time.Duration
		calls  int64
	}{
		{"previous tick arranged the final", func() (sample.Record, bool, error) { return prevTick, true, nil }, 297 * time.Second, 0},
		{"the final reading is already there", func() (sample.Record, bool, error) {
			r := prevTick
			r.Time, r.Final, r.Remaining = reset.Add(-time.Second), true, 1
			return r, true, nil
		}, 299500 * time.Millisecond, 0},
		{"reset still far", func() (sample.Record, bool, error) { return prevTick, true, nil }, 280 * time.Second, 1},
		{"the final reading is late: read", func() (sample.Record, bool, error) { return prevTick, true, nil }, 299500 * time.Millisecond, 1},
		{"record too old to have arranged it", func() (sample.Record, bool, error) {
			r := prevTick
			r.Time = t0.Add(100 * time.Second)
			return r, true, nil
		}, 297 * time.Second, 1},
		{"a passive sample says nothing of the monitor", func() (sample.Record, bool, error) {
			r := prevTick
			r.Source = sample.SourcePassive
			return r, true, nil
		}, 297 * time.Second, 1},
		{"log group unreadable", func() (sample.Record, bool, error) { return sample.Record{}, false, errors.New("throttled") }, 297 * time.Second, 1},
		{"no records", func() (sample.Record, bool, error) { return sample.Record{}, false, nil }, 297 * time.Second, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clk := &clock{t: t0.Add(c.at)}
			cw := &fakeCW{clk: clk, read: window}
			asked := 0
			m, err := New(Config{TokenLabel: "bots", Now: clk.Now, Sleep: clk.Sleep,
				Latest: func(context.Context) (map[string]sample.Record, error) {
					asked++
					r, ok, err := c.latest()
					if !ok {
						return nil, err
					}
					// Another label's record is not this token's.
					return map[string]sample.Record{"bots": r, "other": prevTick}, err
				}}, Single("bots", cw), &recordtest.Memory{}, &fakeWaker{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.Tick(context.Background()); err != nil {
				t.Fatal(err)
			}
			if cw.calls != c.calls || asked != 1 {
				t.Fatalf("calls %d, want %d; asked the log group %d times", cw.calls, c.calls, asked)
			}
			// A container that has run before does not ask again.
			clk.t = clk.t.Add(time.Minute)
			if _, err := m.Tick(context.Background()); err != nil || asked != 1 {
				t.Fatalf("second tick asked the log group again (%d) or failed: %v", asked, err)
			}
		})
	}
}

// monitor.New owns the token label's default and its rule.
func TestNewLabel(t *testing.T) {
	clk := &clock{t: t0}
	cw := &fakeCW{clk: clk, read: window}
	rec := &recordtest.Memory{}
	m, err := New(Config{Now: clk.Now, Sleep: clk.Sleep}, Single("", cw), rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Tick(context.Background()); err != nil || rec.All()[0].Token != sample.DefaultLabel {
		t.Fatalf("tick: %v, records %+v; want the label %q", err, rec.All(), sample.DefaultLabel)
	}
	if _, err := New(Config{TokenLabel: "a:b"}, Single("", cw), rec, nil); err == nil || !strings.Contains(err.Error(), `"a:b"`) {
		t.Fatalf("a label with a colon: err = %v", err)
	}
}

// load is a 5-minute window (as window) whose calls spent by the time s
// seconds into the window are used(s).
func load(used func(s float64) int) func(time.Time) (chatwork.Reading, error) {
	return func(now time.Time) (chatwork.Reading, error) {
		start := now.Truncate(5 * time.Minute)
		q := &chatwork.Quota{Limit: 300, Remaining: 300 - used(now.Sub(start).Seconds()), Reset: start.Add(5 * time.Minute)}
		return chatwork.Reading{At: now, Quota: q, AccountID: 42}, nil
	}
}

// proj is what a record says of the projection.
type proj struct {
	has       bool
	projected int
	pace      float64
}

func projOf(r sample.Record) proj { return proj{r.HasProjection, r.Projected, r.Pace} }

var none = proj{}

// runTicks runs a tick at each of ats (after t0) and delivers the wake-ups
// they arrange on time, before the next tick.
func runTicks(t *testing.T, ft *fleetTest, w *fakeWaker, ats ...time.Duration) {
	t.Helper()
	ctx := context.Background()
	deliver := func(before time.Time) {
		for len(w.at) > 0 && w.at[0].Before(before) {
			at, body := w.at[0], w.body[0]
			w.at, w.body = w.at[1:], w.body[1:]
			ft.clk.t = at
			if _, err := ft.m.Wake(ctx, wakeRequest(t, body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, at := range ats {
		deliver(t0.Add(at))
		ft.clk.t = t0.Add(at)
		if _, err := ft.m.Tick(ctx); err != nil {
			t.Fatal(err)
		}
	}
	deliver(t0.Add(time.Hour))
}

// Each reading is projected from an earlier reading of its window that this
// container took: the newest at least sample.MinPaceSpan older (the recent
// pace, the default), or with AveragePace the window's first. Paces and projections are
// worked out by hand in the comments.
func TestProjection(t *testing.T) {
	// A load that speeds up: a call every 3 s for 90 s, then 2 a second.
	speedsUp := load(func(s float64) int {
		if s <= 90 {
			return int(s / 3)
		}
		return 30 + int((s-90)*2)
	})
	// A call every 2 s for 200 s, then 2 a second.
	late := load(func(s float64) int {
		if s <= 200 {
			return int(s / 2)
		}
		return 100 + int((s-200)*2)
	})
	cases := []struct {
		name   string
		recent bool
		read   func(time.Time) (chatwork.Reading, error)
		ticks  []time.Duration
		want   []proj // one a record, in order
		final  int    // how many of the records are final readings, at the end
	}{
		// 30 s: 290 left. 90 s: 270 left, 20 in 60 s (20/min), 210 s to go:
		// 70 more, 200 at the reset.
		{"the first reading has none, the second one from the first", false, speedsUp,
			[]time.Duration{30 * time.Second, 90 * time.Second}, []proj{none, {true, 200, 20}}, 0},
		{"the same with the recent pace", true, speedsUp,
			[]time.Duration{30 * time.Second, 90 * time.Second}, []proj{none, {true, 200, 20}}, 0},
		// 150 s: 150 left. From 30 s: 140 in 120 s (70/min), 150 s to go:
		// 175 more, -25. 153 s: 144 left; from 30 s: 146 in 123 s
		// (71.2/min), 150 s… 147 s to go: 174.5 more, -31.
		{"average pace since the window's first reading", false, speedsUp,
			[]time.Duration{30 * time.Second, 90 * time.Second, 150 * time.Second, 153 * time.Second},
			[]proj{none, {true, 200, 20}, {true, -25, 70}, {true, -31, 71.2}}, 0},
		// 150 s from 90 s: 120 in 60 s (120/min), 150 s to go: 300 more,
		// -150. 153 s: the reading 3 s before is too close; from 90 s: 126
		// in 63 s (120/min), 147 s to go: 294 more of 144, -150.
		{"recent pace since the newest reading far enough back", true, speedsUp,
			[]time.Duration{30 * time.Second, 90 * time.Second, 150 * time.Second, 153 * time.Second},
			[]proj{none, {true, 200, 20}, {true, -150, 120}, {true, -150, 120}}, 0},
		// 200 s: 100 left, no earlier reading. 320 s: a new window, whose
		// first reading it is. 380 s: 60 in 60 s, 220 s to go: 0.
		{"a reading after the reset does not use the old window", false, window,
			[]time.Duration{200 * time.Second, 320 * time.Second, 380 * time.Second}, []proj{none, none, {true, 0, 60}}, 0},
		{"nor with the recent pace", true, window,
			[]time.Duration{200 * time.Second, 320 * time.Second, 380 * time.Second}, []proj{none, none, {true, 0, 60}}, 0},
		// 170 s: 215 left. 230 s (arranges the final reading): 140 left, 75
		// in 60 s, 70 s to go: 87.5 more, 52. 290 s: 20 left, from 170 s 195
		// in 120 s (97.5/min), 10 s to go: 16.25 more, 3. Final, 299 s: 2
		// left, from 170 s 213 in 129 s (99.1/min), 1 s to go: 1.7 more, 0.
		{"final readings too, average pace", false, late,
			[]time.Duration{170 * time.Second, 230 * time.Second, 290 * time.Second},
			[]proj{none, {true, 52, 75}, {true, 3, 97.5}, {true, 0, 99.1}}, 1},
		// 290 s from 230 s: 120 in 60 s, 10 s to go: 20 more, 0. Final from
		// 290 s: 18 in 9 s, 1 s to go: 0 (from 230 s, should MinPaceSpan
		// exceed 9 s: 138 in 69 s, the same).
		{"final readings too, recent pace", true, late,
			[]time.Duration{170 * time.Second, 230 * time.Second, 290 * time.Second},
			[]proj{none, {true, 52, 75}, {true, 0, 120}, {true, 0, 120}}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := &fakeWaker{}
			ft := newFleet(t, t0, w, map[string]func(time.Time) (chatwork.Reading, error){"a": c.read},
				func(cfg *Config) { cfg.AveragePace = !c.recent })
			runTicks(t, ft, w, c.ticks...)
			var got []proj
			finals := 0
			for i, r := range ft.rec.All() {
				got = append(got, projOf(r))
				if r.Final {
					finals++
					if i < len(ft.rec.All())-c.final {
						t.Errorf("record %d is final", i)
					}
				}
			}
			if !slices.Equal(got, c.want) || finals != c.final {
				t.Fatalf("projections %+v (%d final), want %+v (%d final)", got, finals, c.want, c.final)
			}
		})
	}
}

// Projection changes nothing of when and how often the monitor reads: the
// same ticks over many windows make the same calls at the same times with
// and without AveragePace, and every reading but a window's first is
// projected.
func TestProjectionReadsNothingMore(t *testing.T) {
	var calls [][]time.Time
	for _, recent := range []bool{false, true} {
		w := &fakeWaker{}
		ft := newFleet(t, t0, w, map[string]func(time.Time) (chatwork.Reading, error){"a": window},
			func(cfg *Config) { cfg.AveragePace = !recent })
		var ticks []time.Duration
		for i := range 30 {
			ticks = append(ticks, 17*time.Second+time.Duration(i)*time.Minute)
		}
		runTicks(t, ft, w, ticks...)
		calls = append(calls, ft.cw["a"].at)
		seen := map[int64]bool{}
		for _, r := range ft.rec.All() {
			// One call a second: every projection lands on 0 at the reset.
			if want := seen[r.Reset]; r.HasProjection != want || r.HasProjection && (r.Projected != 0 || r.Pace != 60) {
				t.Fatalf("recent pace %v: record %+v", recent, r)
			}
			seen[r.Reset] = true
		}
	}
	if !slices.EqualFunc(calls[0], calls[1], time.Time.Equal) || len(calls[0]) != 30+6 {
		t.Fatalf("calls at %v and %v", calls[0], calls[1])
	}
}

// A container that has not run for a tick period projects from the log
// group's newest record of the token, when it is of the same window, with
// the answer its tick asks for anyway; and keeps it as the window's first
// reading.
func TestFreshContainerProjectsFromTheLatestRecord(t *testing.T) {
	reset := t0.Add(5 * time.Minute)
	mk := func(at time.Duration, remaining int, reset time.Time) sample.Record {
		return sample.Record{Time: t0.Add(at), Token: "a", Source: sample.SourceMonitor, HasQuota: true,
			Remaining: remaining, Limit: 300, Reset: reset.Unix(), Calls: 1}
	}
	failed := sample.Record{Time: t0.Add(100 * time.Second), Token: "a", Source: sample.SourceMonitor, Error: "server", Calls: 1}
	// The ticks read window at 160 s (140 left) and 220 s (80 left).
	cases := []struct {
		name   string
		latest map[string]sample.Record
		want   [2][]proj // the average pace and the recent one
	}{
		// 160 s from the record: 120 in 60 s (120/min), 140 s to go: 280
		// more, -140. 220 s from the record: 180 in 120 s (90/min), 80 s to
		// go: 120 more, -40; from 160 s: 60 in 60 s, 80 to go, 0.
		{"the same window", map[string]sample.Record{"a": mk(100*time.Second, 260, reset)},
			[2][]proj{{{true, -140, 120}, {true, -40, 90}}, {{true, -140, 120}, {true, 0, 60}}}},
		{"an older window", map[string]sample.Record{"a": mk(-100*time.Second, 200, t0)},
			[2][]proj{{none, {true, 0, 60}}, {none, {true, 0, 60}}}},
		{"another token's record", map[string]sample.Record{"b": mk(100*time.Second, 260, reset)},
			[2][]proj{{none, {true, 0, 60}}, {none, {true, 0, 60}}}},
		{"a failure without figures", map[string]sample.Record{"a": failed},
			[2][]proj{{none, {true, 0, 60}}, {none, {true, 0, 60}}}},
		{"a record after the reading", map[string]sample.Record{"a": mk(170*time.Second, 130, reset)},
			[2][]proj{{none, {true, 0, 60}}, {none, {true, 0, 60}}}},
	}
	for _, c := range cases {
		for i, recent := range []bool{false, true} {
			asked := 0
			ft := newFleet(t, t0, nil, map[string]func(time.Time) (chatwork.Reading, error){"a": window}, func(cfg *Config) {
				cfg.AveragePace = !recent
				cfg.Latest = func(context.Context) (map[string]sample.Record, error) { asked++; return c.latest, nil }
			})
			runTicks(t, ft, &fakeWaker{}, 160*time.Second, 220*time.Second)
			var got []proj
			for _, r := range ft.rec.All() {
				got = append(got, projOf(r))
			}
			if !slices.Equal(got, c.want[i]) || asked != 1 {
				t.Errorf("%s, recent pace %v: projections %+v, want %+v; asked the log group %d times", c.name, recent, got, c.want[i], asked)
			}
		}
	}
}
