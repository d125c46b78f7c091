package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/app"
	"github.com/quotabot/chatwork-quota-bot/internal/app/monitorfn"
	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/chatworksim"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
	"github.com/quotabot/chatwork-quota-bot/internal/sqswake"
	"github.com/quotabot/chatwork-quota-bot/monitor"
)

// Load is the traffic other programs put on the shared token.
type Load int

const (
	// Steady is 250 calls per 5 minutes, one every 1.2 s.
	Steady Load = iota
	// Bursts arrive as a Poisson process (mean gap 40 s), each of 1 to 60
	// calls (uniform) at one instant: about 230 calls per window on
	// average, so some windows run dry.
	Bursts
	// LastBurst is 120 calls spread evenly over the last 30 s of every
	// window (one every 250 ms) and nothing else: the low point comes in
	// the window's last second.
	LastBurst
	// Overload is a runaway program: after a quiet spell of 30 minutes
	// plus U[0, 5 min) (whole seconds), 400 calls per window at a constant
	// pace (one every 750 ms) for 15 minutes, then quiet again, and so on.
	// Every window it fully covers runs dry about 225 s in.
	Overload
	// Ramp is a program whose pace doubles each minute: after a quiet
	// spell as Overload's, 2 calls in the first minute, 4 in the second,
	// and so on up to 256 in the eighth (254 calls in 7 minutes), 256 a
	// minute for one more minute, then quiet again. Each minute's calls are
	// evenly spaced from the minute's start.
	Ramp
	// Sustained is one long episode: 280 calls per window (one every
	// 300/280 s) for an hour, so that every window ends with about 14
	// left, under the alarm threshold but not dry; then an hour plus
	// U[0, 5 min) of 150 per window (one every 2 s); and so on, starting
	// with the normal hour.
	Sustained
)

// Loads is every load of the coverage tables, in table order.
var Loads = []Load{Steady, Bursts, LastBurst}

// WarnLoads is every load of the lead-time tables, in table order.
var WarnLoads = []Load{Steady, Bursts, LastBurst, Overload, Ramp, Sustained}

var loadNames = [...]string{"steady 250/window", "random bursts", "last-30s burst",
	"overload 400/window", "ramp ×2/min", "sustained episode"}

func (l Load) String() string {
	if l >= 0 && int(l) < len(loadNames) {
		return loadNames[l]
	}
	return fmt.Sprintf("Load(%d)", int(l))
}

// Modes is both window semantics the simulator knows.
var Modes = []chatworksim.WindowMode{chatworksim.WindowFixed, chatworksim.WindowFirstCall}

// Design is a sampler under test.
type Design struct {
	Name string
	// Seed selects the 2018 design: every Every, read the reset (1 call),
	// sleep until 10 s before it, read again (1 call); the sleep is billed.
	Seed bool
	// Monitor configures this project's monitor (Interval is also the
	// schedule's period). Now, Sleep and Logger are set by the run.
	Monitor monitor.Config
	// NoWaker runs the monitor without SQS wake-ups: ticks sleep until the
	// final reading (the fallback, and the sandbox).
	NoWaker bool
	// Every is the schedule's period: Monitor.Interval (default 1m) for
	// the monitor, 10m for the seed.
	Every time.Duration
}

// SeedDesign is the 2018 article's design.
func SeedDesign() Design {
	return Design{Name: "seed (2018)", Seed: true, Every: 10 * time.Minute}
}

// MonitorDesign is this project's monitor with its defaults.
func MonitorDesign() Design {
	return Design{Name: "monitor", Every: time.Minute}
}

func (d Design) period() time.Duration {
	switch {
	case d.Every > 0:
		return d.Every
	case d.Monitor.Interval > 0:
		return d.Monitor.Interval
	}
	return time.Minute
}

// Params are the model's assumptions.
type Params struct {
	Windows int    // windows measured per run (the first, partial one is not counted)
	Seed    uint64 // randomness; the same seed gives the same figures

	// Latency is one ChatWork call's round trip, half before the request
	// is counted and half after. Billed.
	Latency time.Duration
	// Overhead is billed once per invocation (runtime, JSON, logging).
	Overhead time.Duration
	// TickJitter: each scheduled invocation starts uniformly within
	// [0, TickJitter) after its nominal time (EventBridge Scheduler).
	TickJitter time.Duration
	// Phase is where the schedule's grid sits relative to the windows'.
	// RunSweep overrides it.
	Phase time.Duration
	// Phases is how many schedule phases RunSweep spreads the windows
	// over, evenly across a window.
	Phases int
	// WakeLag: an SQS message becomes visible after its whole-second
	// DelaySeconds (sqswake.Delay) and is delivered uniformly within
	// [0, WakeLag) later (the event source's polling).
	WakeLag time.Duration
	// MemoryMB is the functions' memory size, both designs.
	MemoryMB int
	// InProcess sends the client's requests straight to the simulator's
	// handler instead of over loopback TCP. Same client, same handler.
	InProcess bool
	// Tokens is how many tokens the monitor watches (0: 1). The first is
	// the one-token run's; each other one has its own account, its own
	// load (the same shape, its own randomness) and its own window phase,
	// uniform over a window: fixed windows are shifted by it
	// (chatworksim's SetPhase), and its load starts that much later, which
	// is what places first-call windows. The seed design watches one.
	Tokens int
	// SamePhase puts every token's windows and load on the first one's
	// phase (still each with its own load): ChatWork's windows aligned to
	// the clock for every token, or loads that start together.
	SamePhase bool
}

// DefaultParams are the assumptions BENCHMARKS.md states.
func DefaultParams() Params {
	return Params{
		Windows:    1000,
		Seed:       7,
		Latency:    150 * time.Millisecond,
		Overhead:   5 * time.Millisecond,
		TickJitter: 5 * time.Second,
		Phase:      17*time.Second + 300*time.Millisecond,
		Phases:     20,
		WakeLag:    time.Second,
		MemoryMB:   128,
	}
}

// Result is one design under one load and window mode.
type Result struct {
	Design string
	Load   Load
	Mode   chatworksim.WindowMode
	Limit  int

	Tokens      int
	SamePhase   bool
	Windows     int           // measured windows, all tokens'
	Seen        int           // windows whose low point was recorded within 2% of the limit
	Calls       int           // the design's calls in the measured windows
	Invocations int           // invocations that started in the measured span
	Wakes       int           // the SQS wake-ups among them
	Billed      time.Duration // their billed duration
	Span        time.Duration // virtual time from the first measured window's start to the last one's reset
	TokenSpan   time.Duration // each token's measured windows' span, summed (Span with one token)
	Resets      int           // distinct reset seconds of all tokens' windows in the span
	Read        int           // windows with at least one reading
	MissSum     int           // sum over those of (least remaining recorded - Low)
	Errors      int           // invocations that returned an error
	MemoryMB    int
	PerToken    []TokenResult // in token order
}

// TokenResult is one token's part of a Result.
type TokenResult struct{ Windows, Seen, Calls int }

// Coverage is the share of windows seen.
func (r Result) Coverage() float64 { return float64(r.Seen) / float64(r.Windows) }

// CallsPerWindow is the design's calls per window and token.
func (r Result) CallsPerWindow() float64 { return float64(r.Calls) / float64(r.Windows) }

// perWindow turns a total over the measured span into a figure per window
// of the deployment: the rate over the span times a token's mean window
// (with one token, the total divided by the windows).
func (r Result) perWindow(total float64) float64 {
	return total / r.Span.Seconds() * r.TokenSpan.Seconds() / float64(r.Windows)
}

// BilledPerWindow is billed Lambda seconds per window.
func (r Result) BilledPerWindow() float64 { return r.perWindow(r.Billed.Seconds()) }

// InvocationsPerWindow is Lambda invocations per window.
func (r Result) InvocationsPerWindow() float64 { return r.perWindow(float64(r.Invocations)) }

// WakesPerWindow is SQS wake-ups per window.
func (r Result) WakesPerWindow() float64 { return r.perWindow(float64(r.Wakes)) }

// ResetsPerWindow is distinct reset seconds per window: 1 with one token,
// up to the number of tokens when no two share one.
func (r Result) ResetsPerWindow() float64 { return r.perWindow(float64(r.Resets)) }

// WorstCoverage is the least share of windows seen of any token.
func (r Result) WorstCoverage() float64 {
	worst := 1.0
	for _, t := range r.PerToken {
		worst = min(worst, float64(t.Seen)/float64(t.Windows))
	}
	return worst
}

// MostCallsPerWindow is the most calls per window of any token.
func (r Result) MostCallsPerWindow() float64 {
	most := 0.0
	for _, t := range r.PerToken {
		most = max(most, float64(t.Calls)/float64(t.Windows))
	}
	return most
}

// MonthlyGBSeconds is the billed GB-seconds of 30 days at this rate.
func (r Result) MonthlyGBSeconds() float64 {
	month := 30 * 24 * time.Hour
	return r.Billed.Seconds() * (month.Seconds() / r.Span.Seconds()) * float64(r.MemoryMB) / 1024
}

// MeanMiss is how far above the true low point the lowest reading was, in
// calls, on average over the windows that had a reading.
func (r Result) MeanMiss() float64 {
	if r.Read == 0 {
		return math.NaN()
	}
	return float64(r.MissSum) / float64(r.Read)
}

const (
	simToken = "bench-token" // the first token's; the others' add their label
	botID    = 1001
	// hit is the coverage criterion: within 2% of the limit.
	hitShare = 0.02
)

// start is on a 5-minute boundary, in the past of nothing that matters:
// the run never looks at the real clock.
var start = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

// run is one simulation.
type run struct {
	d   Design
	p   Params
	s   *sched
	sim *chatworksim.Server
	rt  http.RoundTripper
	url string

	rngAWS *rand.Rand // ticks, SQS lag
	toks   []token
	trace  *trace // nil: not traced

	idle    []*container
	best    map[window]int           // least remaining recorded
	latest  map[string]sample.Record // the log group's newest monitor record by label
	invokes []invocation
	errs    int
	firstEr error
}

// token is one watched token and the other programs sharing it.
type token struct {
	label string // its records' label
	sim   string // the token itself
	phase time.Duration
	rng   *rand.Rand // its load's: the same for every design
}

// window names a token's window by its reset.
type window struct {
	label string
	reset int64
}

type container struct {
	handle app.Handler[monitorfn.Summary] // the monitor Lambda's handler
	cw     []*chatwork.Client             // one per token
}

type invocation struct {
	start  time.Time
	billed time.Duration
	wake   bool // an SQS wake-up, not a scheduled tick
}

func seedOf(parts ...string) uint64 {
	h := fnv.New64a()
	for _, p := range parts {
		io.WriteString(h, p)
		h.Write([]byte{0})
	}
	return h.Sum64()
}

// Run simulates design d under load l with window mode mode.
func Run(d Design, l Load, mode chatworksim.WindowMode, p Params) (Result, error) {
	return simulate(d, l, mode, p, nil)
}

// simulate is Run, also filling tr when it is not nil.
func simulate(d Design, l Load, mode chatworksim.WindowMode, p Params, trc *trace) (Result, error) {
	clock := chatworksim.NewFakeClock(start)
	sim := chatworksim.New(chatworksim.Config{Clock: clock, Mode: mode})
	defer sim.Close()
	if d.Seed {
		p.Tokens = 1
	}
	r := &run{d: d, p: p, s: newSched(clock), sim: sim, best: map[window]int{}, latest: map[string]sample.Record{}, trace: trc}
	r.rngAWS = rand.New(rand.NewPCG(p.Seed, seedOf("aws", d.Name, l.String(), mode.String())))
	for k := range max(p.Tokens, 1) {
		t := token{label: sample.DefaultLabel, sim: simToken, rng: rand.New(rand.NewPCG(p.Seed, seedOf("load", l.String(), mode.String())))}
		if k > 0 {
			t.label = fmt.Sprintf("t%03d", k)
			t.sim = simToken + "-" + t.label
			t.rng = rand.New(rand.NewPCG(p.Seed, seedOf("load", l.String(), mode.String(), t.label)))
			if !p.SamePhase {
				t.phase = time.Duration(rand.New(rand.NewPCG(p.Seed, seedOf("phase", t.label))).Int64N(300)) * time.Second
			}
		}
		sim.AddAccount(t.sim, botID+int64(k), "Quota Monitor")
		sim.SetPhase(t.sim, t.phase)
		r.toks = append(r.toks, t)
	}

	var base http.RoundTripper
	if p.InProcess {
		base, r.url = handlerTransport{sim}, "http://chatwork.invalid/v2"
	} else {
		ts := httptest.NewServer(sim)
		defer ts.Close()
		tr := http.DefaultTransport.(*http.Transport).Clone()
		defer tr.CloseIdleConnections()
		base, r.url = tr, ts.URL+"/v2"
	}
	r.rt = latencyTransport{s: r.s, base: base, latency: p.Latency, counted: r.watch}

	for _, t := range r.toks {
		r.startLoad(l, t)
	}
	r.schedule(start.Add(p.Phase))

	// Run until enough windows of every token are over: first-call windows
	// last longer than 5 minutes when nobody calls right at the reset.
	length := 5 * time.Minute
	until := start.Add(time.Duration(p.Windows+2) * length)
	measured := make([][]chatworksim.WindowStat, len(r.toks))
	for {
		r.s.run(until)
		fewest := p.Windows
		for k, t := range r.toks {
			ws := sim.Windows(t.sim)
			if len(ws) > 2 {
				measured[k] = ws[1 : len(ws)-1] // not the first (partial) nor the open one
			}
			fewest = min(fewest, len(measured[k]))
		}
		if fewest >= p.Windows {
			break
		}
		until = until.Add(time.Duration(p.Windows-fewest+1) * length)
	}
	r.s.finish()
	if r.errs > 0 {
		return Result{}, fmt.Errorf("%s / %s / %s: %d invocations failed, first: %w", d.Name, l, mode, r.errs, r.firstEr)
	}

	limit, _, _ := sim.Quota(simToken)
	res := Result{Design: d.Name, Load: l, Mode: mode, Limit: limit, Tokens: len(r.toks), SamePhase: p.SamePhase && len(r.toks) > 1, MemoryMB: p.MemoryMB}
	tolerance := int(math.Floor(hitShare * float64(limit)))
	resets := map[int64]bool{}
	var from, to time.Time
	for k, t := range r.toks {
		ws := measured[k][:p.Windows]
		var tr TokenResult
		for _, w := range ws {
			tr.Windows++
			tr.Calls += w.Calls - w.Other
			reset := resetSecond(w)
			best, ok := r.best[window{t.label, reset}]
			if !ok {
				continue
			}
			res.Read++
			res.MissSum += max(best-w.Low, 0)
			if best <= w.Low+tolerance {
				tr.Seen++
			}
		}
		res.PerToken = append(res.PerToken, tr)
		if trc != nil {
			trc.windows[t.label] = ws
		}
		res.Windows += tr.Windows
		res.Seen += tr.Seen
		res.Calls += tr.Calls
		first, last := ws[0].Start, ws[len(ws)-1].Reset
		res.TokenSpan += last.Sub(first)
		if k == 0 || first.Before(from) {
			from = first
		}
		if k == 0 || last.After(to) {
			to = last
		}
	}
	for _, t := range r.toks {
		for _, w := range sim.Windows(t.sim) {
			if w.Reset.After(from) && !w.Reset.After(to) {
				resets[resetSecond(w)] = true
			}
		}
	}
	res.Resets = len(resets)
	res.Span = to.Sub(from)
	if trc != nil {
		trc.from, trc.to = from, to
	}
	for _, inv := range r.invokes {
		if !inv.start.Before(from) && inv.start.Before(to) {
			res.Invocations++
			res.Billed += inv.billed
			if inv.wake {
				res.Wakes++
			}
		}
	}
	return res, nil
}

// resetSecond is w's reset as ChatWork's header gives it: whole seconds,
// rounded up.
func resetSecond(w chatworksim.WindowStat) int64 { return ceilSecond(w.Reset) }

// ceilSecond is t in Unix seconds, rounded up.
func ceilSecond(t time.Time) int64 {
	return int64(math.Ceil(float64(t.UnixNano()) / 1e9))
}

// RunSweep is Run at p.Phases schedule phases spread evenly over a window,
// p.Windows/p.Phases windows each, summed: a deployment's schedule sits
// wherever it was created, so this is the average over deployments.
func RunSweep(d Design, l Load, mode chatworksim.WindowMode, p Params) (Result, error) {
	n := max(p.Phases, 1)
	var sum Result
	for i := range n {
		r, err := Run(d, l, mode, p.sweep(i))
		if err != nil {
			return Result{}, err
		}
		if i == 0 {
			sum = r
			sum.PerToken = slices.Clone(r.PerToken)
			continue
		}
		sum.Windows += r.Windows
		sum.Seen += r.Seen
		sum.Calls += r.Calls
		sum.Invocations += r.Invocations
		sum.Wakes += r.Wakes
		sum.Billed += r.Billed
		sum.Span += r.Span
		sum.TokenSpan += r.TokenSpan
		sum.Resets += r.Resets
		sum.Read += r.Read
		sum.MissSum += r.MissSum
		for k, t := range r.PerToken {
			sum.PerToken[k].Windows += t.Windows
			sum.PerToken[k].Seen += t.Seen
			sum.PerToken[k].Calls += t.Calls
		}
	}
	return sum, nil
}

// sweep is run i of p's sweep: its share of the windows, its phase and
// its seed.
func (p Params) sweep(i int) Params {
	n := max(p.Phases, 1)
	q := p
	q.Windows = p.Windows / n
	if i < p.Windows%n {
		q.Windows++
	}
	q.Phase = time.Duration(i)*(5*time.Minute/time.Duration(n)) + 7300*time.Millisecond
	q.Seed = p.Seed + uint64(i)
	return q
}

// schedule arranges the scheduled invocations from first on, one period
// apart, each late by the scheduler's jitter.
//
// The seed's cost depends on where its 10-minute schedule sits in the
// window (a tick just after a window's start sleeps almost 5 minutes), so
// each of its invocations, which share no state, is moved by its own offset,
// spread evenly over a window (golden-ratio sequence): its figures are the
// average over deployments. Every tick still lands in the same (even) window
// of a pair, as with a fixed offset.
func (r *run) schedule(first time.Time) {
	var k int
	var tick func(nominal time.Time)
	tick = func(nominal time.Time) {
		k++
		next := nominal.Add(r.d.period())
		r.s.at(next.Add(r.offset(k)+r.jitter()), func() { tick(next) })
		r.invoke([]byte(`{"action":"tick"}`), false)
	}
	r.s.at(first.Add(r.offset(0)+r.jitter()), func() { tick(first) })
}

func (r *run) offset(k int) time.Duration {
	if !r.d.Seed {
		return 0
	}
	const phi = 0.6180339887498949
	_, f := math.Modf(float64(k) * phi)
	return time.Duration(f * float64(5*time.Minute))
}

func (r *run) jitter() time.Duration {
	if r.p.TickJitter <= 0 {
		return 0
	}
	return time.Duration(r.rngAWS.Int64N(int64(r.p.TickJitter)))
}

// invoke starts one Lambda invocation with event now, in an idle container
// or a new one, and bills it.
func (r *run) invoke(event []byte, wake bool) {
	r.s.spawn(func() {
		c := r.container()
		began := r.s.now()
		err := r.handle(c, event)
		r.idle = append(r.idle, c)
		billed := r.s.now().Sub(began) + r.p.Overhead
		billed = (billed + time.Millisecond - 1).Truncate(time.Millisecond) // Lambda bills whole ms, rounded up
		r.invokes = append(r.invokes, invocation{start: began, billed: billed, wake: wake})
		if err != nil {
			r.errs++
			if r.firstEr == nil {
				r.firstEr = err
			}
		}
	})
}

// container takes an idle container, or starts one: a container serves one
// invocation at a time, so concurrent ones get fresh containers with empty
// memory, as on Lambda.
func (r *run) container() *container {
	if n := len(r.idle); n > 0 {
		c := r.idle[n-1]
		r.idle = r.idle[:n-1]
		return c
	}
	c := &container{}
	var toks []monitor.Token
	for _, t := range r.toks {
		cw, err := chatwork.New(chatwork.Config{
			BaseURL:    r.url,
			Token:      chatwork.StaticToken(t.sim),
			HTTPClient: &http.Client{Transport: r.rt},
			Now:        r.s.now,
		})
		if err != nil {
			panic(err) // the URL is ours
		}
		c.cw = append(c.cw, cw)
		toks = append(toks, monitor.Token{Label: t.label, ChatWork: cw})
	}
	if !r.d.Seed {
		cfg := r.d.Monitor
		cfg.Now, cfg.Sleep, cfg.Each = r.s.now, r.s.sleep, r.s.each
		// The log group, for a fresh container's question (an instant read:
		// one FilterLogEvents costs no ChatWork call; its time is not
		// modelled). The map itself, so each token sees its newest record.
		cfg.Latest = func(context.Context) (map[string]sample.Record, error) { return r.latest, nil }
		var w monitor.Waker
		if !r.d.NoWaker {
			w = sqsWaker{r}
		}
		m, err := monitor.New(cfg, func(context.Context) []monitor.Token { return toks }, recorder{r}, w)
		if err != nil {
			panic(err) // a design's configuration is ours
		}
		c.handle = monitorfn.Handler(m)
	}
	return c
}

func (r *run) handle(c *container, event []byte) error {
	// No deadline: the context's would be on the real clock. The monitor's
	// waits are bounded by Interval+Slack, well inside Lambda's 90 s.
	ctx := context.Background()
	if r.d.Seed {
		return r.seed(ctx, c.cw[0])
	}
	_, err := c.handle(ctx, event)
	return err
}

// seed is one invocation of the 2018 design.
func (r *run) seed(ctx context.Context, cw *chatwork.Client) error {
	q, err := r.seedRead(ctx, cw)
	if err != nil || q == nil {
		return err
	}
	if err := r.s.sleep(ctx, q.Reset.Add(-10*time.Second).Sub(r.s.now())); err != nil {
		return err
	}
	_, err = r.seedRead(ctx, cw)
	return err
}

func (r *run) seedRead(ctx context.Context, cw *chatwork.Client) (*chatwork.Quota, error) {
	reading, err := cw.ReadQuota(ctx)
	q := reading.Quota
	if err != nil {
		if chatwork.KindOf(err) != chatwork.KindQuotaExhausted || chatwork.QuotaOf(err) == nil {
			return nil, err
		}
		q = chatwork.QuotaOf(err)
		q.Remaining = 0
	}
	if q != nil {
		r.note(window{sample.DefaultLabel, q.Reset.Unix()}, q.Remaining)
	}
	return q, nil
}

func (r *run) note(w window, remaining int) {
	if b, ok := r.best[w]; !ok || remaining < b {
		r.best[w] = remaining
	}
}

// recorder keeps the least remaining recorded per window.
type recorder struct{ r *run }

func (rec recorder) Record(_ context.Context, s sample.Record) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if s.HasQuota {
		rec.r.note(window{s.Token, s.Reset}, s.Remaining)
	}
	if s.Source == sample.SourceMonitor {
		rec.r.latest[s.Token] = s
	}
	if tr := rec.r.trace; tr != nil {
		tr.records = append(tr.records, s)
	}
	return nil
}

// sqsWaker is the SQS queue: a message sent now with sqswake's whole-second
// delay invokes the function that much later plus the delivery lag.
type sqsWaker struct{ r *run }

func (w sqsWaker) WakeAt(_ context.Context, at time.Time, body []byte) error {
	r := w.r
	now := r.s.now()
	delay, err := sqswake.Delay(now, at)
	if err != nil {
		return err
	}
	lag := time.Duration(0)
	if r.p.WakeLag > 0 {
		lag = time.Duration(r.rngAWS.Int64N(int64(r.p.WakeLag)))
	}
	event, err := json.Marshal(map[string]any{"Records": []map[string]any{{
		"messageId": fmt.Sprintf("m-%d", len(r.invokes)), "eventSource": "aws:sqs", "body": string(body),
	}}})
	if err != nil {
		return err
	}
	r.s.at(now.Add(time.Duration(delay)*time.Second+lag), func() { r.invoke(event, true) })
	return nil
}

// startLoad arranges the other programs' calls on t, from t's phase on.
func (r *run) startLoad(l Load, t token) {
	s, sim, begin := r.s, r.sim, start.Add(t.phase)
	switch l {
	case Steady:
		const every = 1200 * time.Millisecond
		var call func()
		call = func() {
			r.spend(t, 1)
			s.at(s.now().Add(every), call)
		}
		s.at(begin.Add(370*time.Millisecond), call)
	case Bursts:
		const meanGap = 40 * time.Second
		var burst func()
		next := func(from time.Time) time.Time {
			return from.Add(time.Duration(t.rng.ExpFloat64() * float64(meanGap)))
		}
		burst = func() {
			r.spend(t, 1+t.rng.IntN(60))
			s.at(next(s.now()), burst)
		}
		s.at(next(begin), burst)
	case LastBurst:
		const (
			span  = 30 * time.Second
			every = 250 * time.Millisecond // 120 calls in 30 s
		)
		var call func()
		call = func() {
			now := s.now()
			// Quota spends nothing; when no window is open it gives the
			// reset a window opened now would have, and this looks again
			// before that window's last 30 s.
			_, _, reset := sim.Quota(t.sim)
			if burstAt := reset.Add(-span); now.Before(burstAt) {
				s.at(burstAt, call)
				return
			}
			r.spend(t, 1)
			s.at(now.Add(every), call)
		}
		s.at(begin.Add(time.Second), call)
	case Overload:
		const (
			on    = 15 * time.Minute
			every = 750 * time.Millisecond // 400 per window
		)
		r.cycles(t, begin, 30*time.Minute, 0, func(from time.Time, again func()) {
			r.paced(t, from, from.Add(on), every, again)
		})
	case Ramp:
		const (
			first, most = 2, 256 // calls in the first minute, and at most
			hold        = 1      // minutes at most after the first one
		)
		r.cycles(t, begin, 30*time.Minute, 0, func(from time.Time, again func()) {
			var minute func(n, left int)
			minute = func(n, left int) {
				if left < 0 {
					again()
					return
				}
				next := func() {
					if n == most {
						minute(n, left-1)
						return
					}
					minute(min(2*n, most), left)
				}
				now := s.now()
				r.paced(t, now, now.Add(time.Minute), time.Minute/time.Duration(n), next)
			}
			s.at(from, func() { minute(first, hold) })
		})
	case Sustained:
		const (
			heavy  = 300 * time.Second / 280 // 280 per window
			normal = 2 * time.Second         // 150 per window
		)
		r.cycles(t, begin, time.Hour, normal, func(from time.Time, again func()) {
			r.paced(t, from, from.Add(time.Hour), heavy, again)
		})
	}
}

// cycles runs a load of episodes on t from begin: a spell between them of
// rest plus U[0, 5 min) (whole seconds, t's randomness), with one call
// every gap (0: quiet), then active from the spell's end, which calls
// again when its episode is over. The episodes' starts are traced.
func (r *run) cycles(t token, begin time.Time, rest, gap time.Duration, active func(from time.Time, again func())) {
	var cycle func()
	cycle = func() {
		now := r.s.now()
		from := now.Add(rest + time.Duration(t.rng.IntN(300))*time.Second)
		if r.trace != nil {
			r.trace.cycles[t.label] = append(r.trace.cycles[t.label], from)
		}
		if gap > 0 {
			r.paced(t, now, from, gap, func() { active(from, cycle) })
			return
		}
		active(from, cycle)
	}
	r.s.at(begin, cycle)
}

// paced spends one call on t every every from from until before until,
// then calls then at until.
func (r *run) paced(t token, from, until time.Time, every time.Duration, then func()) {
	var call func()
	call = func() {
		now := r.s.now()
		if !now.Before(until) {
			then()
			return
		}
		r.spend(t, 1)
		next := now.Add(every)
		if next.After(until) {
			next = until
		}
		r.s.at(next, call)
	}
	r.s.at(from, call)
}

// spend makes n calls on t for other programs, now.
func (r *run) spend(t token, n int) {
	r.sim.Spend(t.sim, n)
	r.watch()
}

// watch notes, when the run is traced, where every token's window stands
// after a call was counted: the moments it came to the alarm threshold and
// ran dry.
func (r *run) watch() {
	if r.trace == nil {
		return
	}
	now := r.s.now()
	for _, t := range r.toks {
		_, remaining, reset := r.sim.Quota(t.sim)
		r.trace.note(window{t.label, ceilSecond(reset)}, remaining, now)
	}
}

// latencyTransport makes each request take Latency of virtual time, half
// on the way there and half on the way back; the process sleeps, so other
// programs' calls land meanwhile.
type latencyTransport struct {
	s       *sched
	base    http.RoundTripper
	latency time.Duration
	counted func() // after the simulator counted the request
}

func (t latencyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	_ = t.s.sleep(req.Context(), t.latency/2)
	resp, err := t.base.RoundTrip(req)
	t.counted()
	_ = t.s.sleep(req.Context(), t.latency-t.latency/2)
	return resp, err
}

// handlerTransport serves a request with the handler in this goroutine.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		defer req.Body.Close()
	}
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, req)
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}

// Table renders results as a markdown table, in the order given.
func Table(results []Result) string {
	var b strings.Builder
	b.WriteString("| design | load | windows | seen within 2% | mean miss (calls) | calls/window | invocations/window | billed s/window | GB-s/month |\n")
	b.WriteString("|---|---|---|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range results {
		fmt.Fprintf(&b, "| %s | %s | %s ×%d | %.1f%% | %.2f | %.2f | %.2f | %.3f | %.1f |\n",
			r.Design, r.Load, r.Mode, r.Windows, 100*r.Coverage(), r.MeanMiss(), r.CallsPerWindow(),
			r.InvocationsPerWindow(), r.BilledPerWindow(), r.MonthlyGBSeconds())
	}
	return b.String()
}

// Goals: at least 95% of windows seen, at most 6 calls per window, at most
// a tenth of the seed's billed seconds.
const (
	GoalCoverage     = 0.95
	GoalCalls        = 6.0
	GoalBilledFactor = 0.1
)

// CheckGoals compares r with the seed's result under the same load and
// mode and describes every goal missed.
func CheckGoals(r, seed Result) error {
	var errs []error
	if r.Coverage() < GoalCoverage {
		errs = append(errs, fmt.Errorf("%s / %s / %s: %.1f%% of windows seen, goal %.0f%%", r.Design, r.Load, r.Mode, 100*r.Coverage(), 100*GoalCoverage))
	}
	if r.CallsPerWindow() > GoalCalls {
		errs = append(errs, fmt.Errorf("%s / %s / %s: %.2f calls per window, goal %.0f", r.Design, r.Load, r.Mode, r.CallsPerWindow(), GoalCalls))
	}
	// Billed time is compared over the same span of time, not per window:
	// with first-call windows and little other load the two designs do not
	// open the same windows (the seed's calls open fewer).
	if lim := GoalBilledFactor * seed.MonthlyGBSeconds(); r.MonthlyGBSeconds() > lim {
		errs = append(errs, fmt.Errorf("%s / %s / %s: %.0f GB-s per month, goal %.0f (a tenth of the seed's)", r.Design, r.Load, r.Mode, r.MonthlyGBSeconds(), lim))
	}
	return errors.Join(errs...)
}

// Variants are the monitor configurations compared in BENCHMARKS.md.
func Variants() []Design {
	return []Design{
		{Name: "monitor, no waker (sleeps in the tick)", NoWaker: true, Every: time.Minute},
		{Name: "monitor, Interval 2m", Monitor: monitor.Config{Interval: 2 * time.Minute}, Every: 2 * time.Minute},
		{Name: "monitor, WakeLead 2s", Monitor: monitor.Config{WakeLead: 2 * time.Second}, Every: time.Minute},
	}
}
