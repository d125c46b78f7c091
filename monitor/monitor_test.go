package monitor

import (
	"context"
	"encoding/json"
	"errors"
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
