package monitor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/alarm"
	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/fanout"
	"github.com/quotabot/chatwork-quota-bot/internal/recordtest"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
)

// phased is window with the windows shifted by phase.
func phased(phase time.Duration) func(time.Time) (chatwork.Reading, error) {
	return func(now time.Time) (chatwork.Reading, error) {
		r, err := window(now.Add(-phase))
		r.At, r.Quota.Reset = now, r.Quota.Reset.Add(phase)
		return r, err
	}
}

// halfLoad is window with half its load: the same resets, other figures.
func halfLoad(now time.Time) (chatwork.Reading, error) {
	r, err := window(now)
	r.Quota.Remaining = 300 - (300-r.Quota.Remaining)/2
	return r, err
}

type fleetTest struct {
	m   *Monitor
	clk *clock
	cw  map[string]*fakeCW
	rec *recordtest.Memory
	hb  *bytes.Buffer
}

// newFleet watches one token per label, read by reads[label], in label order.
func newFleet(t *testing.T, start time.Time, w Waker, reads map[string]func(time.Time) (chatwork.Reading, error), tweak ...func(*Config)) *fleetTest {
	t.Helper()
	ft := &fleetTest{clk: &clock{t: start}, cw: map[string]*fakeCW{}, rec: &recordtest.Memory{}, hb: &bytes.Buffer{}}
	var toks []Token
	for _, label := range slices.Sorted(maps.Keys(reads)) {
		ft.cw[label] = &fakeCW{clk: ft.clk, read: reads[label]}
		toks = append(toks, Token{Label: label, ChatWork: ft.cw[label]})
	}
	cfg := Config{TokenLabel: "bots", Now: ft.clk.Now, Sleep: ft.clk.Sleep, Heartbeat: ft.hb}
	for _, f := range tweak {
		f(&cfg)
	}
	m, err := New(cfg, func(context.Context) []Token { return toks }, ft.rec, w)
	if err != nil {
		t.Fatal(err)
	}
	ft.m = m
	return ft
}

// finals is the final records per token label: its remaining.
func (ft *fleetTest) finals() map[string][]int {
	out := map[string][]int{}
	for _, r := range ft.rec.All() {
		if r.Final {
			out[r.Token] = append(out[r.Token], r.Remaining)
		}
	}
	return out
}

func wakeRequest(t *testing.T, body []byte) WakeRequest {
	t.Helper()
	var w WakeRequest
	if err := json.Unmarshal(body, &w); err != nil {
		t.Fatal(err)
	}
	return w
}

// Two tokens whose windows reset 10 s apart get a wake-up each, each
// naming its token; each wake-up takes only its token's final reading.
func TestTokensWithDifferentResetsWakeApart(t *testing.T) {
	w := &fakeWaker{}
	ft := newFleet(t, t0.Add(260*time.Second), w, map[string]func(time.Time) (chatwork.Reading, error){
		"a": window, "b": phased(10 * time.Second),
	})
	res, err := ft.m.Tick(context.Background())
	if err != nil || !res.Woken || res.Calls != 2 || len(w.at) != 2 {
		t.Fatalf("tick: %+v, %v; wake-ups %d", res, err, len(w.at))
	}
	if w.at[0].After(w.at[1]) { // they are sent concurrently
		w.at[0], w.at[1], w.body[0], w.body[1] = w.at[1], w.at[0], w.body[1], w.body[0]
	}
	want := []struct {
		at    time.Duration
		label string
	}{{296 * time.Second, "a"}, {306 * time.Second, "b"}}
	for i, x := range want {
		req := wakeRequest(t, w.body[i])
		if !w.at[i].Equal(t0.Add(x.at)) || !slices.Equal(req.Labels, []string{x.label}) ||
			req.FinalAt != t0.Add(x.at+3*time.Second).UnixMilli() || req.Reset != t0.Add(x.at+4*time.Second).Unix() {
			t.Fatalf("wake-up %d at %v: %+v", i, w.at[i], req)
		}
	}
	for i := range want {
		ft.clk.t = w.at[i]
		res, err := ft.m.Wake(context.Background(), wakeRequest(t, w.body[i]))
		if err != nil || res.Calls != 1 || len(res.Records) != 1 || res.Records[0].Token != want[i].label || !res.Records[0].Final {
			t.Fatalf("wake-up %d: %+v, %v", i, res, err)
		}
	}
	if got := ft.finals(); !slices.Equal(got["a"], []int{1}) || !slices.Equal(got["b"], []int{1}) {
		t.Fatalf("finals %v", got)
	}
}

// Without a waker the tick sleeps until each final reading and takes it at
// its time: the later one last.
func TestTokensWithoutWakerTakeEachFinalAtItsTime(t *testing.T) {
	ft := newFleet(t, t0.Add(260*time.Second), nil, map[string]func(time.Time) (chatwork.Reading, error){
		"a": window, "b": phased(10 * time.Second), "c": phased(2 * time.Minute),
	})
	res, err := ft.m.Tick(context.Background())
	if err != nil || res.Woken || res.Calls != 5 {
		t.Fatalf("tick: %+v, %v", res, err)
	}
	if got := ft.finals(); !slices.Equal(got["a"], []int{1}) || !slices.Equal(got["b"], []int{1}) || got["c"] != nil {
		t.Fatalf("finals %v", got)
	}
	if a, b := ft.cw["a"].at[1], ft.cw["b"].at[1]; !a.Equal(t0.Add(299*time.Second)) || !b.Equal(t0.Add(309*time.Second)) {
		t.Fatalf("final readings at %v and %v", a, b)
	}
	if last := res.Records[len(res.Records)-1]; last.Token != "b" || !last.Final {
		t.Fatalf("last record %+v", last)
	}
}

// Tokens whose final readings fall in the same second share one wake-up
// naming them all, and it takes each of their final readings.
func TestTokensSharingAResetShareAWakeUp(t *testing.T) {
	w := &fakeWaker{}
	ft := newFleet(t, t0.Add(260*time.Second), w, map[string]func(time.Time) (chatwork.Reading, error){
		"a": window, "b": window, "c": halfLoad, "d": phased(time.Minute),
	})
	if res, err := ft.m.Tick(context.Background()); err != nil || res.Calls != 4 || len(w.at) != 1 {
		t.Fatalf("tick: %+v, %v; %d wake-ups", res, err, len(w.at))
	}
	req := wakeRequest(t, w.body[0])
	if !slices.Equal(req.Labels, []string{"a", "b", "c"}) || !w.at[0].Equal(t0.Add(296*time.Second)) {
		t.Fatalf("wake-up at %v: %+v", w.at[0], req)
	}
	ft.clk.t = w.at[0]
	res, err := ft.m.Wake(context.Background(), req)
	if err != nil || res.Calls != 3 {
		t.Fatalf("wake: %+v, %v", res, err)
	}
	if got := ft.finals(); !slices.Equal(got["a"], []int{1}) || !slices.Equal(got["b"], []int{1}) || !slices.Equal(got["c"], []int{151}) {
		t.Fatalf("finals %v", got)
	}
	// A later tick of the container just before the reset spends nothing on
	// the tokens whose final reading it took.
	ft.clk.t = t0.Add(298 * time.Second)
	if res, _ := ft.m.Tick(context.Background()); res.Calls != 1 || res.Records[0].Token != "d" {
		t.Fatalf("tick after the wake-up: %+v", res)
	}
}

// A wake-up queued before tokens had labels is the default label's.
func TestWakeWithoutLabelsIsTheDefaultToken(t *testing.T) {
	ft := newFleet(t, t0.Add(296*time.Second), nil, map[string]func(time.Time) (chatwork.Reading, error){
		"bots": window, "other": window,
	})
	res, err := ft.m.Wake(context.Background(), WakeRequest{Action: "final", Reset: t0.Add(5 * time.Minute).Unix(), FinalAt: t0.Add(299 * time.Second).UnixMilli()})
	if err != nil || res.Calls != 1 || res.Records[0].Token != "bots" || ft.cw["other"].calls != 0 {
		t.Fatalf("wake: %+v, %v", res, err)
	}
	// A label no longer watched is skipped; the others are read.
	ft.clk.t = t0.Add(296 * time.Second)
	res, err = ft.m.Wake(context.Background(), WakeRequest{Action: "final", Reset: t0.Add(5 * time.Minute).Unix(),
		FinalAt: t0.Add(299 * time.Second).UnixMilli(), Labels: []string{"gone", "other"}})
	if err != nil || res.Calls != 1 || res.Records[0].Token != "other" || !res.Records[0].Final {
		t.Fatalf("wake: %+v, %v", res, err)
	}
}

// A failing token is recorded and reported, and the others are read and
// their final readings arranged all the same.
func TestFailingTokenDoesNotStopTheOthers(t *testing.T) {
	w := &fakeWaker{}
	revoked := func(time.Time) (chatwork.Reading, error) {
		return chatwork.Reading{}, &chatwork.Error{Op: "read quota", Kind: chatwork.KindInvalidToken, Status: 401}
	}
	ft := newFleet(t, t0.Add(260*time.Second), w, map[string]func(time.Time) (chatwork.Reading, error){
		"a": window, "b": revoked, "c": window,
	})
	res, err := ft.m.Tick(context.Background())
	if err == nil || !strings.Contains(err.Error(), "token b") || !strings.Contains(err.Error(), "invalid_token") {
		t.Fatalf("err = %v", err)
	}
	if res.Calls != 3 || len(res.Records) != 3 || res.Records[1].Error != "invalid_token" || !res.Records[0].HasQuota || !res.Records[2].HasQuota {
		t.Fatalf("result %+v", res)
	}
	if len(w.at) != 1 || !slices.Equal(wakeRequest(t, w.body[0]).Labels, []string{"a", "c"}) {
		t.Fatalf("wake-ups %d", len(w.at))
	}
	if n := strings.Count(ft.hb.String(), "\n"); n != 1 {
		t.Fatalf("%d heartbeats after a tick with a failing token, want 1", n)
	}
}

// Each token has its own memory: a final reading planned for one token
// does not count for another with the same reset.
func TestMemoryIsPerToken(t *testing.T) {
	w := &fakeWaker{}
	var down atomic.Bool
	down.Store(true)
	flaky := func(now time.Time) (chatwork.Reading, error) {
		if down.Load() {
			return chatwork.Reading{}, &chatwork.Error{Op: "read quota", Kind: chatwork.KindNetwork, Err: errors.New("unreachable")}
		}
		return window(now)
	}
	ft := newFleet(t, t0.Add(250*time.Second), w, map[string]func(time.Time) (chatwork.Reading, error){"a": window, "b": flaky})
	if _, err := ft.m.Tick(context.Background()); err == nil || len(w.at) != 1 {
		t.Fatalf("first tick: %v, %d wake-ups", err, len(w.at))
	}
	down.Store(false)
	ft.clk.t = t0.Add(290 * time.Second)
	if _, err := ft.m.Tick(context.Background()); err != nil || len(w.at) != 2 {
		t.Fatalf("second tick: %v, %d wake-ups", err, len(w.at))
	}
	if labels := wakeRequest(t, w.body[1]).Labels; !slices.Equal(labels, []string{"b"}) {
		t.Fatalf("second wake-up names %v, want only b (a's is arranged)", labels)
	}
}

// A fresh container asks the log group once for all its tokens, and skips
// only those whose final reading the tick before arranged.
func TestFreshContainerAsksOnceForAllTokens(t *testing.T) {
	reset := t0.Add(5 * time.Minute)
	var asked atomic.Int32
	latest := func(context.Context) (map[string]sample.Record, error) {
		asked.Add(1)
		return map[string]sample.Record{"a": {Time: t0.Add(238 * time.Second), Token: "a", Source: sample.SourceMonitor,
			HasQuota: true, Remaining: 62, Limit: 300, Reset: reset.Unix(), Calls: 1}}, nil
	}
	ft := newFleet(t, t0.Add(297*time.Second), &fakeWaker{}, map[string]func(time.Time) (chatwork.Reading, error){
		"a": window, "b": window, "c": phased(time.Minute),
	}, func(c *Config) { c.Latest = latest })
	if _, err := ft.m.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	if asked.Load() != 1 || ft.cw["a"].calls != 0 || ft.cw["b"].calls != 1 || ft.cw["c"].calls != 1 {
		t.Fatalf("asked %d times; calls a %d b %d c %d", asked.Load(), ft.cw["a"].calls, ft.cw["b"].calls, ft.cw["c"].calls)
	}
}

// With 100 tokens a fresh container's tick makes one log read, and a tick
// one period later none.
func TestFreshContainerOneReadFor100Tokens(t *testing.T) {
	read := map[string]func(time.Time) (chatwork.Reading, error){}
	for i := range 100 {
		read[fmt.Sprintf("t%03d", i)] = window
	}
	var asked atomic.Int32
	ft := newFleet(t, t0.Add(130*time.Second), nil, read, func(c *Config) {
		c.Latest = func(context.Context) (map[string]sample.Record, error) { asked.Add(1); return nil, nil }
	})
	for range 2 {
		if res, err := ft.m.Tick(context.Background()); err != nil || res.Calls != 100 {
			t.Fatalf("tick: %d calls, %v", res.Calls, err)
		}
		ft.clk.t = ft.clk.t.Add(time.Minute)
	}
	if asked.Load() != 1 {
		t.Fatalf("asked the log group %d times, want once", asked.Load())
	}
}

// The heartbeat is printed once per completed tick, naming how many tokens
// it read, and not by wake-ups.
func TestHeartbeatOncePerTick(t *testing.T) {
	w := &fakeWaker{}
	ft := newFleet(t, t0.Add(260*time.Second), w, map[string]func(time.Time) (chatwork.Reading, error){
		"a": window, "b": window, "c": phased(time.Minute),
	})
	for i := range 2 {
		if _, err := ft.m.Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(ft.hb.String(), "\n"), "\n")
		if len(lines) != i+1 {
			t.Fatalf("after %d ticks: %q", i+1, ft.hb.String())
		}
		var hb struct {
			Heartbeat, Tokens int
			AWS               struct{ Timestamp int64 } `json:"_aws"`
		}
		if err := json.Unmarshal([]byte(lines[i]), &hb); err != nil || hb.Heartbeat != 1 || hb.Tokens != 3 || hb.AWS.Timestamp != ft.clk.Now().UnixMilli() {
			t.Fatalf("heartbeat %s: %+v %v", lines[i], hb, err)
		}
	}
	ft.clk.t = w.at[0]
	if _, err := ft.m.Wake(context.Background(), wakeRequest(t, w.body[0])); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(ft.hb.String(), "\n"); n != 2 {
		t.Fatalf("%d heartbeats after 2 ticks and a wake-up", n)
	}
	// A tick cut short by its context is not completed.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _ = ft.m.Tick(ctx)
	if n := strings.Count(ft.hb.String(), "\n"); n != 2 {
		t.Fatalf("%d heartbeats after a cancelled tick", n)
	}
}

// A tick reads every token through Config.Each with InFlight as its bound.
func TestTickFansOutWithInFlight(t *testing.T) {
	reads := map[string]func(time.Time) (chatwork.Reading, error){}
	for _, l := range []string{"a", "b", "c", "d", "e"} {
		reads[l] = window
	}
	var calls [][2]int
	ft := newFleet(t, t0.Add(10*time.Second), nil, reads, func(c *Config) {
		c.InFlight = 2
		c.Each = func(n, limit int, f func(int)) {
			calls = append(calls, [2]int{n, limit})
			fanout.Each(n, limit, f)
		}
	})
	res, err := ft.m.Tick(context.Background())
	if err != nil || res.Calls != 5 || len(calls) == 0 || calls[0] != [2]int{5, 2} {
		t.Fatalf("tick %+v, %v; Each calls %v", res, err, calls)
	}
	for i, r := range res.Records {
		if want := string(rune('a' + i)); r.Token != want {
			t.Fatalf("record %d is %q's, want %q's: records in token order", i, r.Token, want)
		}
	}
}

// hangingCW never answers: a reading ends with its context.
type hangingCW struct{ calls atomic.Int64 }

func (h *hangingCW) ReadQuota(ctx context.Context) (chatwork.Reading, error) {
	h.calls.Add(1)
	<-ctx.Done()
	return chatwork.Reading{}, &chatwork.Error{Op: "read quota", Kind: chatwork.KindNetwork, Err: ctx.Err()}
}
func (h *hangingCW) Calls() int64 { return h.calls.Load() }

// liveRecorder keeps only the records written while their context lives.
type liveRecorder struct{ recordtest.Memory }

func (l *liveRecorder) Record(ctx context.Context, r sample.Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return l.Memory.Record(ctx, r)
}

// Readings that never end are cut Margin before the deadline, in a tick and
// in a wake-up, and what they read is recorded in the time left; a tick that
// ran out of time before reading every token names those it did not read,
// writes them no record and prints no heartbeat. In virtual time.
func TestReadingsKeepAMarginBeforeTheDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var toks []Token
		for i := range 100 {
			toks = append(toks, Token{Label: fmt.Sprintf("t%03d", i), ChatWork: &hangingCW{}})
		}
		var hb, logs bytes.Buffer
		rec := &liveRecorder{}
		m, err := New(Config{Heartbeat: &hb, Logger: slog.New(slog.NewTextHandler(&logs, nil))},
			func(context.Context) []Token { return toks }, rec, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		start := time.Now()
		_, err = m.Tick(ctx)
		if took := time.Since(start); took != 85*time.Second {
			t.Fatalf("the tick took %v, want 85s: the deadline less the 5 s margin", took)
		}
		// The first 10 (InFlight) hung until the margin; the other 90 were
		// never started.
		if n := len(rec.All()); n != 10 || hb.Len() != 0 || err == nil || !strings.Contains(err.Error(), "out of time: 90 of 100 tokens not read") ||
			!strings.Contains(logs.String(), `msg="out of time: tokens not read" tokens="[t010 t011`) {
			t.Fatalf("%d records, heartbeat %q, err %v, logs:\n%s", n, hb.String(), err, logs.String())
		}

		ctx, cancel = context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		start = time.Now()
		w := WakeRequest{Action: "final", Reset: start.Add(4 * time.Second).Unix(), FinalAt: start.Add(3 * time.Second).UnixMilli(), Labels: []string{"t000", "t050", "t099"}}
		if res, err := m.Wake(ctx, w); len(res.Records) != 3 || err == nil {
			t.Fatalf("wake: %+v, %v", res, err)
		}
		if took := time.Since(start); took != 85*time.Second || len(rec.All()) != 13 {
			t.Fatalf("the wake-up took %v and wrote %d of its 3 records", took, len(rec.All())-10)
		}
	})
}

// After a failed reading, the token's successes declare errors 0 (Recovered)
// for the token-errors alarm's evaluation range (15 minutes); then, and for
// a token that never failed, no errors metric at all.
func TestRecoveryDeclaresZeroErrors(t *testing.T) {
	var down atomic.Bool
	flaky := func(now time.Time) (chatwork.Reading, error) {
		if down.Load() {
			return chatwork.Reading{}, &chatwork.Error{Op: "read quota", Kind: chatwork.KindInvalidToken, Status: 401}
		}
		return window(now)
	}
	ft := newFleet(t, t0, nil, map[string]func(time.Time) (chatwork.Reading, error){"a": flaky, "b": window})
	// Ticks far from the reset: one reading each, no final one.
	for _, x := range []struct {
		at        time.Duration
		down      bool
		recovered bool
	}{
		{10 * time.Second, false, false},
		{70 * time.Second, true, false},
		{130 * time.Second, false, true}, // the first success after the failure
		{190 * time.Second, false, true},
		{310 * time.Second, false, true},  // a later 5-minute period, still within the range
		{969 * time.Second, false, true},  // 14m59s after the failure: the last
		{970 * time.Second, false, false}, // 15m after it
		{1030 * time.Second, false, false},
	} {
		down.Store(x.down)
		ft.clk.t = t0.Add(x.at)
		res, _ := ft.m.Tick(context.Background())
		a, b := res.Records[0], res.Records[1]
		if a.Token != "a" || a.Failed() != x.down || a.Recovered != x.recovered || b.Recovered {
			t.Fatalf("tick at %v: records %+v and %+v", x.at, a, b)
		}
		if emf, _ := a.MarshalEMF(sample.Metrics{}); strings.Contains(string(emf), `"errors"`) != (x.down || x.recovered) {
			t.Fatalf("tick at %v: %s", x.at, emf)
		}
	}
}

// A container that has not run for a tick period learns of a failure from
// the log's newest record, and of a recovery under way; a success there
// means nothing to declare.
func TestFreshContainerLearnsOfAFailureFromTheLog(t *testing.T) {
	failed := sample.Record{Time: t0.Add(10 * time.Second), Token: "a", Source: sample.SourceMonitor, Error: "invalid_token", Calls: 1}
	recovering := sample.Record{Time: t0.Add(70 * time.Second), Token: "a", Source: sample.SourceMonitor, HasQuota: true,
		Remaining: 230, Limit: 300, Reset: t0.Add(5 * time.Minute).Unix(), Calls: 1, Recovered: true}
	ok := recovering
	ok.Recovered = false
	for _, c := range []struct {
		name   string
		latest sample.Record
		want   bool
	}{{"failed", failed, true}, {"recovering", recovering, true}, {"succeeded", ok, false}} {
		ft := newFleet(t, t0.Add(130*time.Second), nil, map[string]func(time.Time) (chatwork.Reading, error){"a": window},
			func(cfg *Config) {
				cfg.Latest = func(context.Context) (map[string]sample.Record, error) {
					return map[string]sample.Record{"a": c.latest}, nil
				}
			})
		res, err := ft.m.Tick(context.Background())
		if err != nil || len(res.Records) != 1 || res.Records[0].Recovered != c.want {
			t.Fatalf("%s: %+v, %v", c.name, res, err)
		}
	}
}

// A wake-up takes its tokens from Config.Current, the list as it stands; a
// tick from New's list.
func TestWakeTakesTheCurrentList(t *testing.T) {
	ft := newFleet(t, t0.Add(296*time.Second), nil, map[string]func(time.Time) (chatwork.Reading, error){"a": window})
	var listed, current atomic.Int32
	toks := func(context.Context) []Token { listed.Add(1); return []Token{{Label: "a", ChatWork: ft.cw["a"]}} }
	m, err := New(Config{Now: ft.clk.Now, Sleep: ft.clk.Sleep, Current: func(ctx context.Context) []Token { current.Add(1); return toks(ctx) }}, toks, ft.rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Wake(context.Background(), WakeRequest{Action: "final", Reset: t0.Add(5 * time.Minute).Unix(), FinalAt: t0.Add(299 * time.Second).UnixMilli(), Labels: []string{"a"}})
	if err != nil || len(res.Records) != 1 || !res.Records[0].Final || current.Load() != 1 || listed.Load() != 1 {
		t.Fatalf("wake: %+v, %v; Current asked %d times", res, err, current.Load())
	}
	ft.clk.t = t0.Add(310 * time.Second)
	if _, err := m.Tick(context.Background()); err != nil || current.Load() != 1 || listed.Load() != 2 {
		t.Fatalf("tick: %v; Current asked %d times, the list %d", err, current.Load(), listed.Load())
	}
}

// Each token is projected from its own readings: one whose first reading
// failed has no projection at its second, though the others' readings of
// the same window would do.
func TestProjectionIsPerToken(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	flaky := func(now time.Time) (chatwork.Reading, error) {
		if down.Load() {
			return chatwork.Reading{}, &chatwork.Error{Op: "read quota", Kind: chatwork.KindServer, Status: 503}
		}
		return window(now)
	}
	ft := newFleet(t, t0.Add(30*time.Second), nil, map[string]func(time.Time) (chatwork.Reading, error){
		"a": window, "b": halfLoad, "c": phased(4 * time.Minute), "d": flaky,
	})
	want := [][]proj{
		{none, none, none, none},
		// a: 270 then 210 left, 60/min, 210 s to go: 0. b: 285 then 255, 30
		// in 60 s, 210 s to go: 105 more, 150. c (reset at 4 min): 210 then
		// 150, 60/min, 150 s to go: 0. d: its first reading.
		{{true, 0, 60}, {true, 150, 30}, {true, 0, 60}, none},
	}
	for i := range want {
		ft.clk.t = t0.Add(30*time.Second + time.Duration(i)*time.Minute)
		res, err := ft.m.Tick(context.Background())
		if (err != nil) != (i == 0) || len(res.Records) != 4 {
			t.Fatalf("tick %d: %+v, %v", i, res, err)
		}
		var got []proj
		for _, r := range res.Records {
			got = append(got, projOf(r))
		}
		if !slices.Equal(got, want[i]) {
			t.Fatalf("tick %d: projections %+v, want %+v", i, got, want[i])
		}
		down.Store(false)
	}
}

// A token that fails for a few minutes and then works: the token-errors
// alarm's stand-in, fed the records and evaluated every minute as
// CloudWatch evaluates it, goes to ALARM once and back to OK once, and
// stays there as the errors metric stops (its evaluation range ends in
// successes' zeros, never in the failures' period).
func TestErrorsAlarmRecoversOnce(t *testing.T) {
	var down atomic.Bool
	flaky := func(now time.Time) (chatwork.Reading, error) {
		if down.Load() {
			return chatwork.Reading{}, &chatwork.Error{Op: "read quota", Kind: chatwork.KindInvalidToken, Status: 401}
		}
		return window(now)
	}
	ft := newFleet(t, t0, nil, map[string]func(time.Time) (chatwork.Reading, error){"a": flaky})
	ev := alarm.NewEvaluator(alarm.Rule{Errors: true, Threshold: alarm.ErrorsThreshold, Shape: alarm.ErrorsShape}, "errors")
	seen := 0
	var states []string
	for minute := 1; minute <= 60; minute++ {
		down.Store(minute >= 3 && minute <= 8)
		ft.clk.t = t0.Add(time.Duration(minute)*time.Minute + 5*time.Second)
		_, _ = ft.m.Tick(context.Background())
		all := ft.rec.All()
		for _, r := range all[seen:] {
			ev.Observe(r)
		}
		seen = len(all)
		for _, e := range ev.Evaluate(ft.clk.Now()) {
			if e.Detail.AlarmContributor != nil {
				states = append(states, e.Detail.State.Value)
			}
		}
	}
	if !slices.Equal(states, []string{alarm.StateAlarm, alarm.StateOK}) {
		t.Errorf("the token's contributor states %v, want ALARM then OK once", states)
	}
}
