// Package monitor samples the quota of every watched ChatWork token and
// records every reading.
//
// # Strategy
//
// Within one rate-limit window the remaining count only falls, so a window's
// low point is the last reading before its reset. The monitor therefore needs
// two things per token: a cheap regular reading (to draw the graph, feed the
// alarm early and learn the reset time), and one reading as close to the
// reset as it can get. A scheduled tick (every minute by default) spends one
// call per token. When a tick sees that a token's reset comes before the next
// tick could, it arranges that token's final reading FinalLead before the
// reset:
//
//   - with a Waker (on Lambda: an SQS message delayed until a few seconds
//     before the final reading), the function returns at once and a wake-up
//     invocation sleeps only the last WakeLead seconds, so almost nothing of
//     the wait is billed; tokens whose final readings fall in the same second
//     share one wake-up;
//   - without one (the sandbox, or when the waker fails), the tick sleeps until
//     the final readings themselves, bounded by its deadline.
//
// That is at most Window/Interval + 1 calls per token and window (6 with the
// defaults), every window seen, and no multi-minute sleep. The rules are in
// decide, a pure function applied to each token with that token's memory;
// TestStrategy lists them one a row.
//
// # Projection
//
// Every reading with figures is projected (sample.Record.Project) before it
// is recorded, from an earlier reading of the same window: one this
// container took (it keeps the readings of each token's current window and
// forgets them at the first reading of another reset), or, for a container
// that has not run for a tick period, the log group's newest monitor record
// that the tick asks for anyway. Config.AveragePace chooses which of them
// gives the pace. A reading with no earlier one in its window at least
// sample.MinPaceSpan older has no projection; so has a final reading taken
// by a wake-up in a container that did not read the window before, as a
// wake-up asks the log group nothing. Projection reads nothing and changes
// no decision: when and how often the monitor reads stays decide's.
package monitor

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/alarm"
	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/fanout"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
	"github.com/quotabot/chatwork-quota-bot/internal/wait"
)

// ChatWork reads the quota. *chatwork.Client implements it.
type ChatWork interface {
	ReadQuota(ctx context.Context) (chatwork.Reading, error)
	Calls() int64
}

// Token is one watched token: its label (empty: Config.TokenLabel) and the
// client that reads it. No two tokens of a list share a label or a client.
type Token struct {
	Label    string
	ChatWork ChatWork
}

// Single is the token list of a deployment that watches one token.
func Single(label string, cw ChatWork) func(context.Context) []Token {
	list := []Token{{Label: label, ChatWork: cw}}
	return func(context.Context) []Token { return list }
}

// Waker arranges for the monitor to be invoked again with body at time at.
type Waker interface {
	WakeAt(ctx context.Context, at time.Time, body []byte) error
}

// Config tunes the monitor. Zero values take the defaults.
type Config struct {
	// TokenLabel is the label of a token listed without one, and of the
	// token a wake-up naming no label is for. Default sample.DefaultLabel.
	TokenLabel string
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
	// InFlight bounds the tokens a tick reads (or asks about) at once.
	// Default 10. The final readings due at one time are taken together.
	InFlight int
	// Margin is what an invocation keeps of its deadline for writing the
	// records of what it read: no reading starts, and none runs on, later
	// than Margin before the deadline. Default 5s.
	Margin time.Duration
	// Latest, when set, returns the log group's newest monitor record of each
	// token label (reading it costs no quota). A container that has not run
	// for a tick period (a new one, or one kept from an earlier window) knows
	// nothing of this window, so before spending a call it asks, once a tick
	// for all tokens, whether the tick before arranged the final reading.
	//
	// The same answer serves the projection: a record of the window being
	// read is an earlier reading of it.
	Latest func(ctx context.Context) (map[string]sample.Record, error)
	// AveragePace chooses the earlier reading a projection takes its pace
	// from. False (the default): the newest reading at least
	// sample.MinPaceSpan older, so the pace is the recent one and a load
	// that grows is seen sooner. True: the window's first reading known
	// (this container's, or the log's newest record when the container
	// knows nothing older), so the pace is the average since then and a
	// short burst weighs less. The benchmark (BENCHMARKS.md section 7)
	// measured the recent pace warning earlier in every case, with fewer
	// false pace alarms under random bursts and one more under an overload
	// on first-call windows, and false alerts fewer on fixed windows and
	// two more on first-call ones.
	AveragePace bool
	// Current, when set, is the token list as it stands, without a new
	// listing (a fleet's Current): a wake-up's final readings are due within
	// WakeLead, no time to list a registry. Default: New's token list.
	Current func(context.Context) []Token
	// Heartbeat receives sample.Heartbeat's line after every completed tick
	// (on Lambda the function's log, where CloudWatch extracts it); nil: none.
	Heartbeat io.Writer
	Now       func() time.Time
	Sleep     func(ctx context.Context, d time.Duration) error
	// Each runs f(0), …, f(n-1), at most limit at a time, and returns when
	// all have returned. Default goroutines; the benchmark runs them on its
	// virtual clock.
	Each   func(n, limit int, f func(i int))
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
	if c.InFlight <= 0 {
		c.InFlight = 10
	}
	c.Margin = cmp.Or(c.Margin, 5*time.Second)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Sleep == nil {
		c.Sleep = wait.Sleep
	}
	if c.Each == nil {
		c.Each = fanout.Each
	}
}

// Monitor takes readings and records them.
type Monitor struct {
	cfg    Config
	tokens func(context.Context) []Token
	rec    sample.Recorder
	waker  Waker

	mu     sync.Mutex
	memory map[string]*memory // by token label
}

// memory is what this container knows of one token.
type memory struct {
	planned map[int64]bool // resets whose final reading this container has arranged
	seen    time.Time      // when this container last ran a tick or a wake-up for it
	// failed is when the token's last failed reading was taken, as far as
	// this container knows (its own readings, or the log's newest record
	// when it was stale); zero once a success has declared the recovery.
	failed time.Time
	// window is the readings with figures this container knows of the
	// token's current window (one Reset), oldest first: the earlier
	// readings a new reading is projected from. See note.
	window []sample.Record
}

// windowReadings bounds memory.window: the window's first reading and the
// newest ones are kept. A 5-minute window read once a minute has 7 at most.
const windowReadings = 16

// errorsHold is how long after a token's last failed reading its
// successes declare errors 0: as far back as the token-errors alarm looks
// (its evaluation range). When its newest period holds no datapoint,
// CloudWatch evaluates the most recent real one instead, however far back
// in that range; the zeros make sure that is a period of successes, not
// one that also holds the failures, so the alarm does not go back to
// ALARM when a token that works again stops reporting errors.
var errorsHold = alarm.ErrorsShape.Reach()

// New returns a Monitor of the tokens that tokens lists at each invocation.
// waker may be nil.
func New(cfg Config, tokens func(context.Context) []Token, rec sample.Recorder, waker Waker) (*Monitor, error) {
	if tokens == nil || rec == nil {
		return nil, errors.New("monitor: a token list and a recorder are required")
	}
	cfg.defaults()
	if cfg.Current == nil {
		cfg.Current = tokens
	}
	if err := sample.CheckLabel(cfg.TokenLabel); err != nil {
		return nil, fmt.Errorf("monitor: %w", err)
	}
	if cfg.FinalLead >= cfg.Interval {
		return nil, fmt.Errorf("monitor: final lead %v must be shorter than the interval %v", cfg.FinalLead, cfg.Interval)
	}
	return &Monitor{cfg: cfg, tokens: tokens, rec: rec, waker: waker, memory: map[string]*memory{}}, nil
}

// WakeRequest is the body of a wake-up: take the final reading of the
// tokens labelled Labels, whose windows reset at Reset, at FinalAt. No
// labels means Config.TokenLabel (the wake-ups of a one-token monitor).
type WakeRequest struct {
	Action  string   `json:"action"` // always "final"
	Reset   int64    `json:"reset"`  // Unix seconds
	FinalAt int64    `json:"final_at_ms"`
	Labels  []string `json:"labels,omitempty"`
}

// Result says what an invocation did.
type Result struct {
	Records []sample.Record // in token order, each token's final reading last
	Calls   int             // ChatWork calls spent
	Woken   bool            // a wake-up was arranged instead of sleeping
}

func (r *Result) add(recs ...sample.Record) {
	r.Records = append(r.Records, recs...)
	for _, rec := range recs {
		r.Calls += rec.Calls
	}
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
	case f.latest != nil && f.latest.Reset == r.Reset && arranges(cfg, *f.latest):
		// A fresh container's tick, one Interval after a tick elsewhere
		// that saw this reset coming.
		return action{do: doSkip, plan: r.Reset, why: "the log shows the tick before arranged the final reading"}
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
	return arranges(cfg, r)
}

// arranges reports whether r, a record from the log group, is a window's
// final reading or a tick's that arranged one: it saw the reset within
// Interval+Slack, but not so close that it left it alone.
func arranges(cfg Config, r sample.Record) bool {
	if !r.HasQuota || r.Source != sample.SourceMonitor || r.Remaining == 0 {
		return false
	}
	before := r.ResetTime().Sub(r.Time)
	return r.Final || (before <= cfg.Interval+cfg.Slack && before > cfg.Slack/2)
}

// list is the tokens of tokens (New's list, or Config.Current), each with its
// label.
func (m *Monitor) list(ctx context.Context, tokens func(context.Context) []Token) []Token {
	toks := slices.Clone(tokens(ctx))
	for i := range toks {
		toks[i].Label = cmp.Or(toks[i].Label, m.cfg.TokenLabel)
	}
	return toks
}

// finals are the final readings due at at of the tokens whose windows reset
// at reset.
type finals struct {
	at    time.Time
	reset int64
	wake  bool // every token's decision was a wake-up
	toks  []Token
}

// Tick handles one scheduled invocation: for every token, at most InFlight
// at a time, it gathers the facts, asks decide and reads; then it arranges
// the final readings decide asked for, one wake-up per reset second, or
// sleeps until each and takes it.
//
// A token it has no time left to read (see Config.Margin) gets no record:
// it was not tried, so its errors metric must not count it against it. The
// tick names it in a warning and its error, and prints no heartbeat, whose
// alarm is what tells the room that tokens go unwatched.
func (m *Monitor) Tick(ctx context.Context) (Result, error) {
	work, cancel := trim(ctx, m.cfg.Margin)
	defer cancel()
	toks := m.list(work, m.tokens)
	latest := sync.OnceValue(func() map[string]sample.Record { return m.readLatest(work) })
	steps := make([]step, len(toks))
	m.cfg.Each(len(toks), m.cfg.InFlight, func(i int) { steps[i] = m.step(ctx, toks[i], latest) })
	var res Result
	var errs []error
	var due []*finals
	var unread []string
	for i, s := range steps {
		if s.unread {
			unread = append(unread, toks[i].Label)
			continue
		}
		res.add(s.recs...)
		errs = append(errs, s.err)
		a := s.next
		if a == nil {
			continue
		}
		k := slices.IndexFunc(due, func(g *finals) bool { return g.reset == a.plan })
		if k < 0 {
			at := time.Unix(a.plan, 0).Add(-m.cfg.FinalLead) // a.final (doWake) or a.at (doSleep)
			due, k = append(due, &finals{at: at, reset: a.plan, wake: true}), len(due)
		}
		due[k].toks = append(due[k].toks, toks[i])
		due[k].wake = due[k].wake && a.do == doWake
	}
	if len(unread) > 0 {
		m.cfg.Logger.WarnContext(ctx, "out of time: tokens not read", "tokens", unread)
		errs = append(errs, fmt.Errorf("monitor: out of time: %d of %d tokens not read", len(unread), len(toks)))
	}
	slices.SortFunc(due, func(a, b *finals) int { return a.at.Compare(b.at) })
	woken := make([]bool, len(due))
	m.cfg.Each(len(due), m.cfg.InFlight, func(i int) { woken[i] = due[i].wake && m.arrange(work, due[i]) })
	for i, g := range due {
		if woken[i] {
			res.Woken = true
			continue
		}
		errs = append(errs, m.final(ctx, &res, g))
	}
	if m.cfg.Heartbeat != nil && len(unread) == 0 && ctx.Err() == nil {
		_, _ = m.cfg.Heartbeat.Write(append(sample.Heartbeat(m.cfg.Now(), len(toks)), '\n'))
	}
	return res, errors.Join(errs...)
}

// step is one token's part of a tick.
type step struct {
	recs   []sample.Record
	next   *action // a final reading to arrange (doWake) or take (doSleep)
	err    error
	unread bool // out of time before the reading decide asked for
}

// step gathers one token's facts, asks decide and reads when it says so;
// latest is the tick's one question to the log group, asked by the first
// stale token.
func (m *Monitor) step(ctx context.Context, t Token, latest func() map[string]sample.Record) (s step) {
	work, cancel := trim(ctx, m.cfg.Margin)
	defer cancel()
	f := facts{canWake: m.waker != nil}
	if m.stale(t.Label) {
		f.latest = m.latest(t.Label, latest())
	}
	f.now, f.planned = m.cfg.Now(), m.plannedResets(t.Label)
	a := decide(m.cfg, f)
	if a.do == doRead {
		if work.Err() != nil {
			return step{unread: true}
		}
		rec, err := m.read(ctx, t, 0, f.latest)
		s.recs = []sample.Record{rec}
		if s.err = err; err != nil {
			return s
		}
		f.reading, f.planned = &rec, m.plannedResets(t.Label)
		a = decide(m.cfg, f)
	} else {
		m.cfg.Logger.InfoContext(ctx, "tick skipped: "+a.why, "token", t.Label, "reset", a.plan)
	}
	if a.plan != 0 && !m.plan(t.Label, a.plan) && a.do != doSkip {
		return s // a concurrent tick of this container arranged it meanwhile
	}
	if a.do == doWake || a.do == doSleep {
		s.next = &a
	}
	return s
}

// arrange sends g's wake-up, reporting whether it went.
func (m *Monitor) arrange(ctx context.Context, g *finals) bool {
	w := WakeRequest{Action: "final", Reset: g.reset, FinalAt: g.at.UnixMilli()}
	for _, t := range g.toks {
		w.Labels = append(w.Labels, t.Label)
	}
	body, _ := json.Marshal(w)
	err := m.waker.WakeAt(ctx, g.at.Add(-m.cfg.WakeLead), body)
	if err != nil {
		// Fall back to sleeping here: better a billed wait than a lost low point.
		m.cfg.Logger.WarnContext(ctx, "arrange wake-up failed; sleeping instead", "tokens", w.Labels, "error", err)
	}
	return err == nil
}

// mem is label's memory; m.mu must be held.
func (m *Monitor) mem(label string) *memory {
	r := m.memory[label]
	if r == nil {
		r = &memory{planned: map[int64]bool{}}
		m.memory[label] = r
	}
	return r
}

// plan marks the final reading of label's window ending at reset as
// arranged, reporting false when this container already did.
func (m *Monitor) plan(label string, reset int64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	planned := m.mem(label).planned
	if planned[reset] {
		return false
	}
	for r := range planned {
		if r < reset {
			delete(planned, r) // keep the map small: old windows are over
		}
	}
	planned[reset] = true
	return true
}

func (m *Monitor) plannedResets(label string) []int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Collect(maps.Keys(m.mem(label).planned))
}

// stale reports whether this container has not run for label for longer
// than a tick period (a new container, a new token, or one Lambda kept from
// an earlier window), so that its memory may have missed a final reading
// arranged elsewhere. It marks the token as current.
func (m *Monitor) stale(label string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	now, r := m.cfg.Now(), m.mem(label)
	old := r.seen.IsZero() || now.Sub(r.seen) > m.cfg.Interval+m.cfg.Slack
	r.seen = now
	return old
}

// readLatest asks Config.Latest for the newest monitor record of every
// token; nil when it is not set or the log group cannot be read.
func (m *Monitor) readLatest(ctx context.Context) map[string]sample.Record {
	if m.cfg.Latest == nil {
		return nil
	}
	lctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	all, err := m.cfg.Latest(lctx)
	if err != nil {
		m.cfg.Logger.WarnContext(ctx, "read the latest records failed", "error", err)
		return nil
	}
	return all
}

// latest is label's record in all, noted in its memory; nil when there is
// none.
func (m *Monitor) latest(label string, all map[string]sample.Record) *sample.Record {
	r, ok := all[label]
	if !ok {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mem(label).failed = time.Time{}
	if r.Failed() || r.Recovered { // a recovery under way goes on
		m.mem(label).failed = r.Time
	}
	return &r
}

// recovering notes rec in label's memory and reports whether rec, a success,
// declares errors 0 (sample.Record.Recovered): every success less than
// errorsHold after the token's last failure.
func (m *Monitor) recovering(label string, rec sample.Record) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.mem(label)
	if rec.Failed() {
		r.failed = rec.Time
	}
	if !r.failed.IsZero() && rec.Time.Sub(r.failed) >= errorsHold {
		r.failed = time.Time{}
	}
	return !rec.Failed() && !r.failed.IsZero()
}

// project sets rec's projection from an earlier reading of its window, and
// notes rec in label's memory. The earlier readings are those the memory
// holds of rec's window (readings of another reset are forgotten), and
// latest, the log group's newest record of the token, when it is of the
// same window and older than rec. Of those that sample.Record.Project
// accepts, it takes the newest, or with Config.AveragePace the oldest.
func (m *Monitor) project(label string, rec *sample.Record, latest *sample.Record) {
	if !rec.HasQuota {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.mem(label)
	if len(r.window) > 0 && r.window[0].Reset != rec.Reset {
		r.window = nil
	}
	if latest != nil && latest.HasQuota && latest.Reset == rec.Reset && latest.Time.Before(rec.Time) {
		r.note(*latest)
	}
	earlier := slices.Clone(r.window)
	if !m.cfg.AveragePace {
		slices.Reverse(earlier)
	}
	for _, e := range earlier {
		if rec.Project(e) {
			break
		}
	}
	r.note(*rec)
}

// note adds x, a reading of the window r.window holds (or of a new one
// when it holds none), in time order; a reading already there (same time)
// is not added twice. Past windowReadings it forgets the oldest but the
// first.
func (r *memory) note(x sample.Record) {
	i, found := slices.BinarySearchFunc(r.window, x.Time, func(e sample.Record, t time.Time) int { return e.Time.Compare(t) })
	if found {
		return
	}
	r.window = slices.Insert(r.window, i, x)
	if len(r.window) > windowReadings {
		r.window = slices.Delete(r.window, 1, 2)
	}
}

// Wake handles a wake-up arranged by an earlier tick: the final readings of
// the tokens it names, together.
func (m *Monitor) Wake(ctx context.Context, w WakeRequest) (Result, error) {
	var res Result
	if w.Action != "final" || w.Reset <= 0 || w.FinalAt <= 0 {
		return res, fmt.Errorf("monitor: malformed wake-up %+v", w)
	}
	labels := w.Labels
	if len(labels) == 0 {
		labels = []string{m.cfg.TokenLabel}
	}
	g := &finals{at: time.UnixMilli(w.FinalAt), reset: w.Reset}
	work, cancel := trim(ctx, m.cfg.Margin)
	defer cancel()
	toks := m.list(work, m.cfg.Current)
	for _, label := range labels {
		i := slices.IndexFunc(toks, func(t Token) bool { return t.Label == label })
		if i < 0 {
			m.cfg.Logger.WarnContext(ctx, "wake-up for a token no longer watched", "token", label)
			continue
		}
		m.plan(label, w.Reset) // a later tick in this container must not plan it again
		m.stale(label)
		g.toks = append(g.toks, toks[i])
	}
	if len(g.toks) == 0 {
		return res, nil
	}
	return res, m.final(ctx, &res, g)
}

// final sleeps until g.at and takes the final readings of g's tokens,
// unless the window has already reset (a late wake-up, or a redelivered
// one): a reading then would belong to the next window and cost a call for
// nothing.
func (m *Monitor) final(ctx context.Context, res *Result, g *finals) error {
	if dl, ok := ctx.Deadline(); ok && g.at.After(dl.Add(-m.cfg.Margin)) {
		return fmt.Errorf("monitor: final reading at %s is past this invocation's deadline", g.at.UTC().Format(time.RFC3339))
	}
	if err := m.cfg.Sleep(ctx, g.at.Sub(m.cfg.Now())); err != nil {
		return fmt.Errorf("monitor: wait for the final reading: %w", err)
	}
	if !m.cfg.Now().Before(time.Unix(g.reset, 0)) {
		m.cfg.Logger.WarnContext(ctx, "final reading skipped: the window already reset", "reset", g.reset, "tokens", len(g.toks))
		return nil
	}
	recs := make([]sample.Record, len(g.toks))
	errs := make([]error, len(g.toks))
	// All at once, not InFlight at a time: a final reading is worth taking
	// only in its window's last second, and the fleet is at most 100.
	m.cfg.Each(len(g.toks), len(g.toks), func(i int) { recs[i], errs[i] = m.read(ctx, g.toks[i], g.reset, nil) })
	res.add(recs...)
	return errors.Join(errs...)
}

// read takes one reading of t, projects it (see project) and records it,
// failures included; the record's Calls are the calls it spent. It returns
// an error for failures an operator must act on; an exhausted quota is
// data. finalReset is the reset of the window whose final reading this is
// (0 for a tick): a reading that retries pushed past that reset belongs to
// the next window and is not marked final. latest is the log group's newest
// record of t when the tick asked for it (nil otherwise).
//
// The reading ends Config.Margin before ctx's deadline, and the record is
// written with half of that margin, so that a put which hangs still leaves
// the recorder time to copy the record to stdout.
func (m *Monitor) read(ctx context.Context, t Token, finalReset int64, latest *sample.Record) (sample.Record, error) {
	work, cancel := trim(ctx, m.cfg.Margin)
	defer cancel()
	was := t.ChatWork.Calls()
	reading, err := t.ChatWork.ReadQuota(work)
	calls := int(t.ChatWork.Calls() - was)

	at := reading.At
	if at.IsZero() {
		at = m.cfg.Now()
	}
	rec := sample.FromCall(t.Label, sample.SourceMonitor, at, reading.Quota, err, calls)
	rec.Final = finalReset != 0 && rec.HasQuota && rec.Reset == finalReset
	rec.Recovered = m.recovering(t.Label, rec)
	m.project(t.Label, &rec, latest)
	var fail error
	switch {
	case err == nil && !rec.HasQuota:
		fail = fmt.Errorf("monitor: token %s: ChatWork answered without usable rate-limit headers", t.Label)
	case err != nil && chatwork.KindOf(err) != chatwork.KindQuotaExhausted:
		fail = fmt.Errorf("monitor: token %s: read quota: %w", t.Label, err)
	}
	rctx, cancel := trim(ctx, m.cfg.Margin/2)
	defer cancel()
	if rerr := m.rec.Record(rctx, rec); rerr != nil {
		// The recorder has already copied the record to stdout.
		return rec, errors.Join(fail, fmt.Errorf("monitor: token %s: record sample: %w", t.Label, rerr))
	}
	return rec, fail
}

// trim is ctx ending d before ctx's deadline, when it has one.
func trim(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if dl, ok := ctx.Deadline(); ok {
		return context.WithDeadline(ctx, dl.Add(-d))
	}
	return ctx, func() {}
}
