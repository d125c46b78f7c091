// Package monitor samples a ChatWork token's quota and records every reading.
//
// # Strategy
//
// Within one rate-limit window the remaining count only falls, so a window's
// low point is the last reading before its reset. The monitor therefore needs
// two things: a cheap regular reading (to draw the graph, feed the alarm early
// and learn the reset time), and one reading as close to the reset as it can
// get. A scheduled tick (every minute by default) spends one call. When a tick
// sees that the reset comes before the next tick could, it arranges a final
// reading FinalLead before the reset:
//
//   - with a Waker (on Lambda: an SQS message delayed until a few seconds
//     before the final reading), the function returns at once and a wake-up
//     invocation sleeps only the last WakeLead seconds, so almost nothing of
//     the wait is billed;
//   - without one (the sandbox, or when the waker fails), the tick sleeps until
//     the final reading itself, bounded by its deadline.
//
// That is at most Window/Interval + 1 calls per window (6 with the defaults),
// every window seen, and no multi-minute sleep. The rules are in decide, a
// pure function; TestStrategy lists them one a row.
package monitor

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
	"github.com/quotabot/chatwork-quota-bot/internal/wait"
)

// ChatWork reads the quota. *chatwork.Client implements it.
type ChatWork interface {
	ReadQuota(ctx context.Context) (chatwork.Reading, error)
	Calls() int64
}

// Waker arranges for the monitor to be invoked again with body at time at.
type Waker interface {
	WakeAt(ctx context.Context, at time.Time, body []byte) error
}

// Config tunes the monitor. Zero values take the defaults.
type Config struct {
	TokenLabel string        // default sample.DefaultLabel
	Interval   time.Duration // the schedule's period, default 1m
	// Slack covers schedule jitter: a reset less than Interval+Slack away is
	// treated as arriving before the next tick. Default 10s, or a sixth of
	// the Interval when that is shorter (the sandbox's seconds-long periods).
	Slack time.Duration
	// FinalLead is how long before the reset the final reading is taken.
	// Default 1s: ChatWork's reset is whole seconds and a call takes a few
	// hundred milliseconds.
	FinalLead time.Duration
	// WakeLead is how long before the final reading a wake-up arrives; it
	// absorbs the waker's delivery jitter. Default 3s.
	WakeLead time.Duration
	// Latest, when set, returns the log group's newest record (reading it
	// costs no quota). A container that has not run for a tick period (a new
	// one, or one kept from an earlier window) knows nothing of this window,
	// so before spending a call it asks whether the tick before arranged this
	// window's final reading.
	Latest func(ctx context.Context, token string) (sample.Record, bool, error)
	Now    func() time.Time
	Sleep  func(ctx context.Context, d time.Duration) error
	Logger *slog.Logger
}

func (c *Config) defaults() {
	c.TokenLabel = cmp.Or(c.TokenLabel, sample.DefaultLabel)
	c.Logger = cmp.Or(c.Logger, slog.New(slog.DiscardHandler))
	if c.Interval <= 0 {
		c.Interval = time.Minute
	}
	if c.Slack <= 0 {
		c.Slack = min(10*time.Second, c.Interval/6)
	}
	if c.FinalLead <= 0 {
		c.FinalLead = time.Second
	}
	if c.WakeLead <= 0 {
		c.WakeLead = 3 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Sleep == nil {
		c.Sleep = wait.Sleep
	}
}

// Monitor takes readings and records them.
type Monitor struct {
	cfg   Config
	cw    ChatWork
	rec   sample.Recorder
	waker Waker

	mu      sync.Mutex
	planned map[int64]bool // resets whose final reading this container has arranged
	seen    time.Time      // when this container last ran a tick or a wake-up
}

// New returns a Monitor. waker may be nil.
func New(cfg Config, cw ChatWork, rec sample.Recorder, waker Waker) (*Monitor, error) {
	if cw == nil || rec == nil {
		return nil, errors.New("monitor: a ChatWork client and a recorder are required")
	}
	cfg.defaults()
	if err := sample.CheckLabel(cfg.TokenLabel); err != nil {
		return nil, fmt.Errorf("monitor: %w", err)
	}
	if cfg.FinalLead >= cfg.Interval {
		return nil, fmt.Errorf("monitor: final lead %v must be shorter than the interval %v", cfg.FinalLead, cfg.Interval)
	}
	return &Monitor{cfg: cfg, cw: cw, rec: rec, waker: waker, planned: map[int64]bool{}}, nil
}

// WakeRequest is the body of a wake-up: take the final reading of the window
// that resets at Reset, at FinalAt.
type WakeRequest struct {
	Action  string `json:"action"` // always "final"
	Reset   int64  `json:"reset"`  // Unix seconds
	FinalAt int64  `json:"final_at_ms"`
}

// Result says what an invocation did.
type Result struct {
	Records []sample.Record
	Calls   int  // ChatWork calls spent
	Woken   bool // a wake-up was arranged instead of sleeping
}

// do is what the monitor does next.
type do int

const (
	doRead  do = iota // take a reading now
	doSkip            // nothing (more) to do
	doWake            // arrange a wake-up at At for the final reading at Final
	doSleep           // sleep until At and take the final reading then
)

// action is decide's answer.
type action struct {
	do    do
	at    time.Time // doWake: when the wake-up arrives; doSleep: when the final reading is taken
	final time.Time // doWake: when the woken invocation takes the final reading
	plan  int64     // the reset whose final reading now counts as arranged (0: none)
	why   string
}

// facts are what a decision is made from.
type facts struct {
	now time.Time
	// reading is this tick's reading; nil before it is taken. Once it is
	// there its own time counts, not now: a slow put cannot make decisions
	// from the reading and from the log group disagree.
	reading *sample.Record
	// latest is the log group's newest monitor record, asked for only by a
	// container that has not run for a tick period (see stale); nil when
	// not asked, unreadable or absent.
	latest  *sample.Record
	planned []int64 // resets whose final reading this container has arranged
	canWake bool    // a Waker is configured
}

// decide is the strategy: what a tick does next, from the facts alone.
// Before the reading it answers read or skip; after it, skip, wake or sleep.
func decide(cfg Config, f facts) action {
	if f.reading == nil {
		for _, r := range f.planned {
			if left := time.Unix(r, 0).Sub(f.now); left > 0 && left <= cfg.Slack/2 {
				// A reading now would show nearly the same low point a
				// second or two before the final one, for one more call.
				return action{do: doSkip, why: "this container arranged the final reading, due within Slack/2"}
			}
		}
		if l := f.latest; l != nil && arrangedElsewhere(cfg, f.now, *l) {
			return action{do: doSkip, plan: l.Reset, why: "the previous tick arranged this window's final reading"}
		}
		return action{do: doRead}
	}
	r := *f.reading
	now, reset := r.Time, r.ResetTime()
	switch {
	case !r.HasQuota:
		return action{do: doSkip, why: "no quota in the reading"}
	case reset.Sub(now) > cfg.Interval+cfg.Slack:
		return action{do: doSkip, why: "the next tick comes before the reset"}
	case r.Remaining == 0:
		return action{do: doSkip, why: "exhausted: the low point is already recorded"}
	case reset.Sub(now) <= cfg.Slack/2:
		// The tick one Interval ago saw this reset within Interval+Slack and
		// arranged the final reading, perhaps in another container: a second
		// one would spend a call and a billed sleep on the same low point.
		return action{do: doSkip, plan: r.Reset, why: "the tick before arranged the final reading"}
	case slices.Contains(f.planned, r.Reset):
		return action{do: doSkip, why: "this container already arranged the final reading"}
	}
	finalAt := reset.Add(-cfg.FinalLead)
	switch {
	case !finalAt.After(now):
		return action{do: doSkip, plan: r.Reset, why: "this reading is as late as a final one would be"}
	case f.canWake && finalAt.Sub(now) > cfg.WakeLead+time.Second:
		return action{do: doWake, at: finalAt.Add(-cfg.WakeLead), final: finalAt, plan: r.Reset, why: "the reset comes before the next tick"}
	}
	return action{do: doSleep, at: finalAt, plan: r.Reset, why: "the reset comes before the next tick"}
}

// arrangedElsewhere reports whether r, the log group's newest monitor record,
// shows that the tick before arranged the coming reset's final reading, due
// within Slack/2, so that this tick's reading would only repeat it. Any
// doubt (an older or odd record) means no.
func arrangedElsewhere(cfg Config, now time.Time, r sample.Record) bool {
	if !r.HasQuota || r.Source != sample.SourceMonitor || r.Remaining == 0 {
		return false
	}
	reset := r.ResetTime()
	if left := reset.Sub(now); left <= 0 || left > cfg.Slack/2 {
		return false
	}
	if !r.Final && !now.Before(reset.Add(-cfg.FinalLead/2)) {
		// The final reading (due FinalLead before the reset, half of that
		// allowed for its call and its record) should be there by now and
		// is not: the wake-up may be late or lost, so this tick's reading
		// is the window's last.
		return false
	}
	// The final reading itself, or a tick that arranged one: it saw the
	// reset within Interval+Slack, but not so close that it left it alone.
	before := reset.Sub(r.Time)
	return r.Final || (before <= cfg.Interval+cfg.Slack && before > cfg.Slack/2)
}

// Tick handles one scheduled invocation: it gathers the facts, asks decide
// and carries the action out.
func (m *Monitor) Tick(ctx context.Context) (Result, error) {
	var res Result
	f := facts{canWake: m.waker != nil}
	if m.stale() {
		f.latest = m.latest(ctx)
	}
	f.now, f.planned = m.cfg.Now(), m.plannedResets()
	a := decide(m.cfg, f)
	if a.do == doRead {
		rec, err := m.read(ctx, &res, 0)
		if err != nil {
			return res, err
		}
		f.reading, f.planned = &rec, m.plannedResets()
		a = decide(m.cfg, f)
	} else {
		m.cfg.Logger.InfoContext(ctx, "tick skipped: "+a.why, "reset", a.plan)
	}
	if a.plan != 0 && !m.plan(a.plan) && a.do != doSkip {
		return res, nil // a concurrent tick of this container arranged it meanwhile
	}
	switch a.do {
	case doWake:
		body, _ := json.Marshal(WakeRequest{Action: "final", Reset: a.plan, FinalAt: a.final.UnixMilli()})
		err := m.waker.WakeAt(ctx, a.at, body)
		if err == nil {
			res.Woken = true
			return res, nil
		}
		// Fall back to sleeping here: better a billed wait than a lost low point.
		m.cfg.Logger.WarnContext(ctx, "arrange wake-up failed; sleeping instead", "error", err)
		return m.final(ctx, &res, a.final, a.plan)
	case doSleep:
		return m.final(ctx, &res, a.at, a.plan)
	}
	return res, nil
}

// plan marks reset's final reading as arranged, reporting false when this
// container already did.
func (m *Monitor) plan(reset int64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.planned[reset] {
		return false
	}
	for r := range m.planned {
		if r < reset {
			delete(m.planned, r) // keep the map small: old windows are over
		}
	}
	m.planned[reset] = true
	return true
}

func (m *Monitor) plannedResets() []int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Collect(maps.Keys(m.planned))
}

// stale reports whether this container has not run for longer than a tick
// period (a new container, or one Lambda kept from an earlier window), so
// that its memory may have missed a final reading arranged elsewhere. It
// marks the container as current.
func (m *Monitor) stale() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.cfg.Now()
	old := m.seen.IsZero() || now.Sub(m.seen) > m.cfg.Interval+m.cfg.Slack
	m.seen = now
	return old
}

// latest asks Config.Latest for the newest monitor record; nil when there is
// none or it cannot be read.
func (m *Monitor) latest(ctx context.Context) *sample.Record {
	if m.cfg.Latest == nil {
		return nil
	}
	lctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	r, ok, err := m.cfg.Latest(lctx, m.cfg.TokenLabel)
	if err != nil || !ok {
		return nil
	}
	return &r
}

// Wake handles a wake-up arranged by an earlier tick.
func (m *Monitor) Wake(ctx context.Context, w WakeRequest) (Result, error) {
	var res Result
	if w.Action != "final" || w.Reset <= 0 || w.FinalAt <= 0 {
		return res, fmt.Errorf("monitor: malformed wake-up %+v", w)
	}
	m.plan(w.Reset) // a later tick in this container must not plan it again
	m.stale()
	return m.final(ctx, &res, time.UnixMilli(w.FinalAt), w.Reset)
}

// final sleeps until finalAt and takes the window's last reading, unless the
// window has already reset (a late wake-up, or a redelivered one): a reading
// then would belong to the next window and cost a call for nothing.
func (m *Monitor) final(ctx context.Context, res *Result, finalAt time.Time, reset int64) (Result, error) {
	wait := finalAt.Sub(m.cfg.Now())
	if dl, ok := ctx.Deadline(); ok && finalAt.After(dl.Add(-2*time.Second)) {
		return *res, fmt.Errorf("monitor: final reading at %s is past this invocation's deadline", finalAt.UTC().Format(time.RFC3339))
	}
	if err := m.cfg.Sleep(ctx, wait); err != nil {
		return *res, fmt.Errorf("monitor: wait for the final reading: %w", err)
	}
	if !m.cfg.Now().Before(time.Unix(reset, 0)) {
		m.cfg.Logger.WarnContext(ctx, "final reading skipped: the window already reset", "reset", reset)
		return *res, nil
	}
	_, err := m.read(ctx, res, reset)
	return *res, err
}

// read takes one reading and records it, failures included. It returns an
// error for failures an operator must act on; an exhausted quota is data.
// finalReset is the reset of the window whose final reading this is (0 for
// a tick): a reading that retries pushed past that reset belongs to the next
// window and is not marked final.
func (m *Monitor) read(ctx context.Context, res *Result, finalReset int64) (sample.Record, error) {
	before := m.cw.Calls()
	reading, err := m.cw.ReadQuota(ctx)
	calls := int(m.cw.Calls() - before)
	res.Calls += calls

	at := reading.At
	if at.IsZero() {
		at = m.cfg.Now()
	}
	rec := sample.FromCall(m.cfg.TokenLabel, sample.SourceMonitor, at, reading.Quota, err, calls)
	rec.Final = finalReset != 0 && rec.HasQuota && rec.Reset == finalReset
	var fail error
	switch {
	case err == nil && !rec.HasQuota:
		fail = errors.New("monitor: ChatWork answered without usable rate-limit headers")
	case err != nil && chatwork.KindOf(err) != chatwork.KindQuotaExhausted:
		fail = fmt.Errorf("monitor: read quota: %w", err)
	}
	res.Records = append(res.Records, rec)
	if rerr := m.rec.Record(ctx, rec); rerr != nil {
		// The recorder has already copied the record to stdout.
		return rec, errors.Join(fail, fmt.Errorf("monitor: record sample: %w", rerr))
	}
	return rec, fail
}
