// Package fanout runs work over many tokens at once with a bound on how
// much is in flight: the monitor's readings, the bot's /quota for every
// token and the CLI's check all share it.
package fanout

import "sync"

// Each calls f(0), …, f(n-1), at most limit at a time (at least one), and
// returns when all have returned. With n of 1 it calls f in the caller's
// goroutine.
func Each(n, limit int, f func(i int)) {
	if n == 1 {
		f(0)
		return
	}
	sem := make(chan struct{}, max(limit, 1))
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			f(i)
		})
	}
	wg.Wait()
}
