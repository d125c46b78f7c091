package bench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/app/monitorfn"
	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/chatworksim"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
	"github.com/quotabot/chatwork-quota-bot/monitor"
)

var flagFleetWindows = flag.Int("fleet.windows", 300, "BenchmarkFleet: windows per token")

// fleet is a number of tokens, on their own window phases or on one, in
// both window modes or (fixed) fixed windows only.
type fleet struct {
	tokens      int
	same, fixed bool
}

// runFleet runs the monitor with one token and with each fleet under every
// load and mode, in process, in parallel. It returns the fleets' results in
// table order (by mode, load, fleet) and the one-token result of each.
func runFleet(tb testing.TB, fleets []fleet, p Params) ([]Result, func(Result) Result) {
	tb.Helper()
	p.InProcess = true
	type job struct {
		f    fleet
		l    Load
		mode chatworksim.WindowMode
	}
	var jobs []job
	for _, mode := range Modes {
		for _, l := range Loads {
			for _, f := range append([]fleet{{tokens: 1}}, fleets...) {
				if !f.fixed || mode == chatworksim.WindowFixed {
					jobs = append(jobs, job{f, l, mode})
				}
			}
		}
	}
	results := make([]Result, len(jobs))
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i, j := range jobs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			q := p
			q.Tokens, q.SamePhase = j.f.tokens, j.f.same
			results[i], errs[i] = RunSweep(MonitorDesign(), j.l, j.mode, q)
		})
	}
	wg.Wait()
	ones := map[string]Result{}
	var rows []Result
	for i, r := range results {
		if errs[i] != nil {
			tb.Fatal(errs[i])
		}
		if r.Tokens == 1 {
			ones[r.Load.String()+r.Mode.String()] = r
			continue
		}
		rows = append(rows, r)
	}
	return rows, func(r Result) Result { return ones[r.Load.String()+r.Mode.String()] }
}

// TestFleetGoals is the quick version of BenchmarkFleet run by every `go
// test`: 100 tokens on their own phases, and on one with fixed windows (with
// first-call windows the loads place them), 4 windows per token (400 per
// case), goals asserted over all tokens' windows together.
func TestFleetGoals(t *testing.T) {
	p := DefaultParams()
	p.Windows, p.Phases = 4, 1
	began := time.Now()
	rows, one := runFleet(t, []fleet{{tokens: 100}, {tokens: 100, same: true, fixed: true}}, p)
	t.Logf("%d windows per token in %v\n%s", p.Windows, time.Since(began).Round(time.Millisecond), FleetTable(rows, one))
	for _, r := range rows {
		if err := CheckFleet(r, one(r), false); err != nil {
			t.Error(err)
		}
		if missed, _ := BilledGoal(r, one(r)); missed != "" {
			t.Logf("known miss (BENCHMARKS.md), %s / %s: %s", r.Load, r.Mode, missed)
		}
	}
}

// BenchmarkFleet is the fleet table of BENCHMARKS.md: 10 and 100 tokens,
// on their own phases and on one, against one token. Run it once:
//
//	go test ./bench -run '^$' -bench Fleet -benchtime 1x
func BenchmarkFleet(b *testing.B) {
	p := DefaultParams()
	p.Windows = *flagFleetWindows
	for b.Loop() {
		began := time.Now()
		rows, one := runFleet(b, []fleet{{tokens: 10}, {tokens: 10, same: true}, {tokens: 100}, {tokens: 100, same: true}}, p)
		fmt.Printf("\n%d windows per token, load and mode; %v wall time\n\n%s\n", p.Windows, time.Since(began).Round(time.Millisecond), FleetTable(rows, one))
		for _, r := range rows {
			if missed, _ := BilledGoal(r, one(r)); missed != "" {
				fmt.Printf("billed goal missed: %d tokens / %s / %s: %s\n", r.Tokens, r.Load, r.Mode, missed)
			}
			if err := CheckFleet(r, one(r), true); err != nil {
				fmt.Printf("goal missed: %v\n", err)
			}
		}
	}
}

// discard is a recorder that encodes each record as cwlogs would and keeps
// nothing.
type discard struct{}

func (discard) Record(_ context.Context, r sample.Record) error {
	_, err := r.MarshalEMF(sample.Metrics{})
	return err
}

// BenchmarkTick is one scheduled tick of the monitor Lambda's handler over
// n tokens against the simulator, in process or over loopback TCP, with
// goroutines (InFlight 10): wall time and allocations. The latency rows add
// 150 ms of real time to each answer, as the coverage model assumes.
//
//	go test ./bench -run '^$' -bench Tick -benchmem
func BenchmarkTick(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("tokens=%d/inprocess", n), func(b *testing.B) { benchTick(b, n, false, 0) })
		b.Run(fmt.Sprintf("tokens=%d/loopback", n), func(b *testing.B) { benchTick(b, n, true, 0) })
		b.Run(fmt.Sprintf("tokens=%d/inprocess+150ms", n), func(b *testing.B) { benchTick(b, n, false, 150*time.Millisecond) })
	}
}

func benchTick(b *testing.B, n int, loopback bool, latency time.Duration) {
	// A window far from its reset and a limit never reached: every tick
	// reads every token once and arranges nothing.
	clock := chatworksim.NewFakeClock(start.Add(30 * time.Second))
	sim := chatworksim.New(chatworksim.Config{Clock: clock, Limit: 1_000_000, Latency: latency})
	defer sim.Close()
	var rt http.RoundTripper = handlerTransport{sim}
	url := "http://chatwork.invalid/v2"
	if loopback {
		ts := httptest.NewServer(sim)
		defer ts.Close()
		tr := http.DefaultTransport.(*http.Transport).Clone()
		defer tr.CloseIdleConnections()
		rt, url = tr, ts.URL+"/v2"
	}
	var toks []monitor.Token
	var tokens []string
	for k := range n {
		token := fmt.Sprintf("%s-%03d", simToken, k)
		tokens = append(tokens, token)
		sim.AddAccount(token, botID+int64(k), "Quota Monitor")
		cw, err := chatwork.New(chatwork.Config{BaseURL: url, Token: chatwork.StaticToken(token), HTTPClient: &http.Client{Transport: rt}, Now: clock.Now})
		if err != nil {
			b.Fatal(err)
		}
		toks = append(toks, monitor.Token{Label: fmt.Sprintf("t%03d", k), ChatWork: cw})
	}
	m, err := monitor.New(monitor.Config{Now: clock.Now}, func(context.Context) []monitor.Token { return toks }, discard{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	handle, event := monitorfn.Handler(m), json.RawMessage(`{"action":"tick"}`)
	ctx := context.Background()
	for b.Loop() {
		sum, err := handle(ctx, event)
		if err != nil || sum.Calls != n {
			b.Fatalf("tick: %+v, %v", sum, err)
		}
	}
	calls := 0
	for _, token := range tokens {
		calls += sim.Calls(token)
	}
	b.ReportMetric(float64(calls)/float64(b.N), "calls/op")
}

// GoalFleetBilled is, by number of tokens, how many times one token's
// billed seconds per window the monitor may bill.
var GoalFleetBilled = map[int]float64{10: 2, 100: 10}

// CheckFleet compares r, a run of several tokens, with one, the monitor's
// one-token run under the same load and mode, and describes every goal
// missed: the coverage and calls goals of CheckGoals, for each token
// (perToken) or for all tokens' windows together (fewer windows); billed
// time (see BilledGoal); and invocations growing with distinct reset
// seconds, not with tokens: at most 1.2 wake-ups per distinct reset second
// (one, and now and then a second when a tick's reading of the tokens
// sharing it straddles Interval+Slack before it, or ticks in two containers
// arrange it).
func CheckFleet(r, one Result, perToken bool) error {
	var errs []error
	name := fmt.Sprintf("%d tokens / %s / %s", r.Tokens, r.Load, r.Mode)
	coverage, calls := r.Coverage(), r.CallsPerWindow()
	if perToken {
		coverage, calls = r.WorstCoverage(), r.MostCallsPerWindow()
	}
	if coverage < GoalCoverage {
		errs = append(errs, fmt.Errorf("%s: %.1f%% of windows seen, goal %.0f%%", name, 100*coverage, 100*GoalCoverage))
	}
	if calls > GoalCalls {
		errs = append(errs, fmt.Errorf("%s: %.2f calls per window, goal %.0f", name, calls, GoalCalls))
	}
	if lim := 1.2 * r.ResetsPerWindow(); r.WakesPerWindow() > lim {
		errs = append(errs, fmt.Errorf("%s: %.2f wake-ups per window for %.2f distinct reset seconds, at most %.2f", name, r.WakesPerWindow(), r.ResetsPerWindow(), lim))
	}
	if _, err := BilledGoal(r, one); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", name, err))
	}
	return errors.Join(errs...)
}

// BilledGoal checks r's billed seconds per window against one's: at most
// GoalFleetBilled[r.Tokens] times. When the tokens' windows reset at more
// distinct seconds per window than that factor the goal cannot be met, since
// each reset second costs a wake-up whose WakeLead sleep (3 s, for SQS's
// delivery jitter) bills nearly as much as one token's whole window; then
// missed says so and the error is about what is held instead: no more than
// one token's billed seconds per window for each distinct reset second.
func BilledGoal(r, one Result) (missed string, err error) {
	factor := GoalFleetBilled[r.Tokens]
	ratio := r.BilledPerWindow() / one.BilledPerWindow()
	switch {
	case factor == 0 || ratio <= factor:
		return "", nil
	case r.ResetsPerWindow() <= factor:
		return "", fmt.Errorf("%.1f billed s per window, %.1f× one token's, goal %.0f×", r.BilledPerWindow(), ratio, factor)
	}
	missed = fmt.Sprintf("%.1f× one token's billed seconds per window, goal %.0f×, with %.1f distinct reset seconds per window", ratio, factor, r.ResetsPerWindow())
	if perReset := ratio / r.ResetsPerWindow(); perReset > 1 {
		return missed, fmt.Errorf("%s: %.2f× one token's per distinct reset second, at most 1", missed, perReset)
	}
	return missed, nil
}

// FleetTable renders runs of several tokens, each next to the one-token
// run of its load and mode (one).
func FleetTable(results []Result, one func(Result) Result) string {
	var b strings.Builder
	b.WriteString("| tokens | phases | load | windows per token | seen within 2% (worst token) | mean miss (calls) | calls/window per token (most) | distinct resets/window | wake-ups/window | invocations/window | billed s/window | × one token | GB-s/month |\n")
	b.WriteString("|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range results {
		phases := "own"
		if r.SamePhase {
			phases = "one"
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %s ×%d | %.1f%% (%.1f%%) | %.2f | %.2f (%.2f) | %.2f | %.2f | %.2f | %.3f | %.2f | %.1f |\n",
			r.Tokens, phases, r.Load, r.Mode, r.Windows/r.Tokens, 100*r.Coverage(), 100*r.WorstCoverage(), r.MeanMiss(),
			r.CallsPerWindow(), r.MostCallsPerWindow(), r.ResetsPerWindow(), r.WakesPerWindow(), r.InvocationsPerWindow(),
			r.BilledPerWindow(), r.BilledPerWindow()/one(r).BilledPerWindow(), r.MonthlyGBSeconds())
	}
	return b.String()
}
