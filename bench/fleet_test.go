package bench

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
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
