package fanout

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestEachBoundsAndCoversAll(t *testing.T) {
	for _, c := range []struct{ n, limit, want int }{{0, 3, 0}, {1, 3, 1}, {10, 3, 3}, {5, 0, 1}, {4, 10, 4}} {
		var in, most atomic.Int32
		var mu sync.Mutex
		seen := map[int]int{}
		Each(c.n, c.limit, func(i int) {
			now := in.Add(1)
			for {
				m := most.Load()
				if now <= m || most.CompareAndSwap(m, now) {
					break
				}
			}
			time.Sleep(time.Millisecond) // let the others start, if the bound allowed them
			mu.Lock()
			seen[i]++
			mu.Unlock()
			in.Add(-1)
		})
		if len(seen) != c.n {
			t.Errorf("n=%d: %d distinct calls", c.n, len(seen))
		}
		for i, k := range seen {
			if k != 1 || i < 0 || i >= c.n {
				t.Errorf("n=%d: f(%d) called %d times", c.n, i, k)
			}
		}
		if int(most.Load()) > max(c.limit, 1) {
			t.Errorf("n=%d limit=%d: %d in flight at once", c.n, c.limit, most.Load())
		}
	}
}
