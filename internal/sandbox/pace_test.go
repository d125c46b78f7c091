package sandbox

import (
	"context"
	"testing"
	"time"
)

func TestParsePace(t *testing.T) {
	good := map[string]float64{"6/s": 6, "6": 6, "0.5/s": 0.5, "120/m": 2, "off": 0, "0": 0, " 3/S ": 3}
	for in, want := range good {
		if got, err := parsePace(in); err != nil || got != want {
			t.Errorf("parsePace(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "fast", "-1/s", "6/h", "NaN", "1e9/s", "6/s/s"} {
		if got, err := parsePace(in); err == nil {
			t.Errorf("parsePace(%q) = %v, want an error", in, got)
		}
	}
}

// TestPacerSpendsAtItsPace drives a pacer by hand: 25 calls a second
// spends 2.5 calls a step, so 2 and 3 alternate, and setting 0 stops it.
func TestPacerSpendsAtItsPace(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	spent := map[string]int{}
	p := newPacers(ctx, func(token string, n int) { spent[token] += n })
	ticks := make(chan time.Time)
	p.ticker = func(time.Duration) (<-chan time.Time, func()) { return ticks, func() {} }
	p.set("tok", 25)
	if p.pace("tok") != 25 {
		t.Fatalf("pace = %v, want 25", p.pace("tok"))
	}
	for range 10 {
		ticks <- time.Now()
	}
	p.set("tok", 0)
	p.wait() // the 10th step's spend is done once the pacer has returned
	if got := spent["tok"]; got != 25 {
		t.Errorf("spent %d calls in 10 steps of 0.1 s at 25/s, want 25", got)
	}
	if p.pace("tok") != 0 {
		t.Errorf("pace after set 0 = %v, want 0", p.pace("tok"))
	}
	select {
	case ticks <- time.Now():
		t.Error("a stopped pacer still takes ticks")
	case <-time.After(50 * time.Millisecond):
	}
}
