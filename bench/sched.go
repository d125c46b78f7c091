package bench

import (
	"container/heap"
	"context"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/chatworksim"
)

// sched is a discrete-event loop on a virtual clock. Events run in time
// order (ties in the order they were scheduled) in the loop's goroutine.
// A process is a goroutine that can sleep in virtual time: while it runs the
// loop waits, and its sleep hands control back to the loop, so at most one
// of them ever runs and a sleeping Lambda invocation sees the load that
// other programs put on the token meanwhile.
type sched struct {
	clock *chatworksim.FakeClock
	q     eventQueue
	seq   uint64
	yield chan struct{} // a process blocked or finished
	cur   *proc         // the running process, nil in the loop itself
	live  int           // processes started and not finished
}

type event struct {
	at     time.Time
	seq    uint64
	resume *proc  // a sleeping process to continue, or
	fn     func() // a plain event
	part   bool   // fn starts part of a running process's work (each)
}

type eventQueue []event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(event)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

func newSched(clock *chatworksim.FakeClock) *sched {
	return &sched{clock: clock, yield: make(chan struct{})}
}

func (s *sched) now() time.Time { return s.clock.Now() }

// at runs fn at t (now, if t is past).
func (s *sched) at(t time.Time, fn func()) {
	s.seq++
	heap.Push(&s.q, event{at: t, seq: s.seq, fn: fn})
}

// run processes events up to and including until.
func (s *sched) run(until time.Time) {
	for s.q.Len() > 0 && !s.q[0].at.After(until) {
		s.step()
	}
}

// finish lets the processes still sleeping end, running no new plain
// events, so that no goroutine outlives the simulation.
func (s *sched) finish() {
	for s.live > 0 {
		e := heap.Pop(&s.q).(event)
		switch {
		case e.resume != nil:
			s.advance(e.at)
			s.switchTo(e.resume)
		case e.part:
			s.advance(e.at)
			e.fn()
		}
	}
}

func (s *sched) step() {
	e := heap.Pop(&s.q).(event)
	s.advance(e.at)
	if e.resume != nil {
		s.switchTo(e.resume)
		return
	}
	e.fn()
}

func (s *sched) advance(t time.Time) {
	if t.After(s.clock.Now()) {
		s.clock.Set(t)
	}
}

// proc is a process of the loop.
type proc struct {
	s    *sched
	wake chan struct{}
}

// spawn starts f as a process now. It must be called from a plain event.
func (s *sched) spawn(f func()) {
	p := &proc{s: s, wake: make(chan struct{})}
	s.live++
	go func() {
		<-p.wake
		f()
		s.live--
		s.cur = nil
		s.yield <- struct{}{}
	}()
	s.switchTo(p)
}

// switchTo runs p until it sleeps or ends.
func (s *sched) switchTo(p *proc) {
	s.cur = p
	p.wake <- struct{}{}
	<-s.yield
}

// each is monitor.Config.Each on the virtual clock: f(0), …, f(n-1) run as
// processes of their own, at most limit at a time, while the calling
// process waits for the last. One item runs in the calling process.
func (s *sched) each(n, limit int, f func(i int)) {
	parent := s.cur
	if parent == nil {
		panic("bench: each outside a process")
	}
	if n <= 1 {
		if n == 1 {
			f(0)
		}
		return
	}
	next, running := 0, 0
	var launch func()
	launch = func() {
		i := next
		next++
		running++
		s.seq++
		heap.Push(&s.q, event{at: s.now(), seq: s.seq, part: true, fn: func() {
			s.spawn(func() {
				f(i)
				running--
				switch {
				case next < n:
					launch()
				case running == 0:
					s.seq++
					heap.Push(&s.q, event{at: s.now(), seq: s.seq, resume: parent})
				}
			})
		}})
	}
	for next < min(n, limit) {
		launch()
	}
	s.cur = nil
	s.yield <- struct{}{}
	<-parent.wake
}

// sleep blocks the running process for d of virtual time. Called outside a
// process it is a bug: there is nothing to block.
func (s *sched) sleep(ctx context.Context, d time.Duration) error {
	p := s.cur
	if p == nil {
		panic("bench: sleep outside a process")
	}
	if d > 0 {
		s.seq++
		heap.Push(&s.q, event{at: s.now().Add(d), seq: s.seq, resume: p})
		s.cur = nil
		s.yield <- struct{}{}
		<-p.wake
	}
	return ctx.Err()
}
