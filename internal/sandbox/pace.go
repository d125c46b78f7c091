package sandbox

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxPace bounds !pace: a hundred thousand calls a second is a runaway
// already, and more only burns the machine.
const maxPace = 100_000

// paceStep is how often a pacer spends the calls its pace has accrued.
const paceStep = 100 * time.Millisecond

// pacers are the background loads !pace starts: per token, calls spent at
// a steady pace, as another program using that token would, until the
// pace is set to 0 or the sandbox stops.
type pacers struct {
	mu     sync.Mutex
	ctx    context.Context // the sandbox's work; pacers end with it
	wg     sync.WaitGroup
	stops  map[string]context.CancelFunc // by token
	spend  func(token string, n int)
	paces  map[string]float64 // by token, calls per second
	ticker func(time.Duration) (<-chan time.Time, func())
}

func newPacers(ctx context.Context, spend func(token string, n int)) *pacers {
	return &pacers{
		ctx: ctx, spend: spend, stops: map[string]context.CancelFunc{}, paces: map[string]float64{},
		ticker: func(d time.Duration) (<-chan time.Time, func()) { t := time.NewTicker(d); return t.C, t.Stop },
	}
}

// parsePace reads "N/s" (calls per second), "N/m" (per minute), a bare N
// (per second) or "off" (0) into calls per second.
func parsePace(arg string) (float64, error) {
	arg = strings.ToLower(strings.TrimSpace(arg))
	if arg == "off" {
		return 0, nil
	}
	num, unit, _ := strings.Cut(arg, "/")
	per := map[string]float64{"": 1, "s": 1, "m": 1.0 / 60}
	f, ok := per[unit]
	n, err := strconv.ParseFloat(num, 64)
	if !ok || err != nil || math.IsNaN(n) || n < 0 || n*f > maxPace {
		return 0, fmt.Errorf("pace %q: want N/s or N/m, from 0 (off) to %d/s", arg, maxPace)
	}
	return n * f, nil
}

// set runs token's background load at perSecond calls a second, replacing
// the one it had; 0 stops it.
func (p *pacers) set(token string, perSecond float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if stop := p.stops[token]; stop != nil {
		stop()
		delete(p.stops, token)
		delete(p.paces, token)
	}
	if perSecond <= 0 || p.ctx.Err() != nil {
		return
	}
	ctx, stop := context.WithCancel(p.ctx)
	p.stops[token], p.paces[token] = stop, perSecond
	p.wg.Go(func() {
		c, stopTicker := p.ticker(paceStep)
		defer stopTicker()
		owed := 0.0
		for {
			select {
			case <-ctx.Done():
				return
			case <-c:
				owed += perSecond * paceStep.Seconds()
				if n := int(owed); n > 0 {
					owed -= float64(n)
					p.spend(token, n)
				}
			}
		}
	})
}

// pace is token's background pace, calls per second (0: none).
func (p *pacers) pace(token string) float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paces[token]
}

// wait returns once every pacer has stopped (the sandbox's work is done).
func (p *pacers) wait() { p.wg.Wait() }
