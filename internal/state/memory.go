package state

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MemoryCapacity bounds the answered messages and the transitions Memory
// keeps, each: when full, expired entries go first, then the one that
// expires soonest.
const MemoryCapacity = 1024

// Memory is the state of one process. Its zero value is ready to use.
type Memory struct {
	mu       sync.Mutex
	messages map[string]time.Time // key → expiry
	claims   map[string]memClaim
	lasts    map[string]Last
	mutes    map[string]Mute
}

type memClaim struct {
	Claim
	expires time.Time // the claim's end, or the settled transition's
	settled time.Time // when it was settled
}

// Answered records that the message is being answered at now, and reports
// whether no one answered it before.
func (m *Memory) Answered(_ context.Context, room int64, id string, now time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := messageKey(room, id)
	if exp, ok := m.messages[key]; ok && now.Before(exp) {
		return false, nil
	}
	m.messages = bounded(m.messages, now, func(t time.Time) time.Time { return t })
	m.messages[key] = now.Add(MessageTTL)
	return true, nil
}

// Claim takes the transition key for ClaimFor, unless it is held by a
// claim that has not expired or was settled.
func (m *Memory) Claim(_ context.Context, key string, now time.Time) (Claim, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.claims[key]; ok && (c.Status == Settled || now.Before(c.expires)) {
		if c.Status == Claimed {
			c.Status = Held
		}
		c.Owner = ""
		return c.Claim, nil
	}
	m.claims = bounded(m.claims, now, func(c memClaim) time.Time { return c.expires })
	c := Claim{Key: key, Owner: newOwner(), Status: Claimed}
	m.claims[key] = memClaim{Claim: c, expires: now.Add(ClaimFor)}
	return c, nil
}

// Settle records the claimed transition's outcome; an empty outcome
// releases the claim (if it is still c's), so that a retry can post.
func (m *Memory) Settle(_ context.Context, c Claim, outcome string, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if outcome == "" {
		if cur, ok := m.claims[c.Key]; ok && cur.Status == Claimed && cur.Owner == c.Owner {
			delete(m.claims, c.Key)
		}
		return nil
	}
	m.claims = bounded(m.claims, now, func(c memClaim) time.Time { return c.expires })
	m.claims[c.Key] = memClaim{Claim{Key: c.Key, Status: Settled, Outcome: outcome, Token: c.Token}, now.Add(TransitionTTL), now}
	return nil
}

// Transitions lists the transitions settled in [from, to), in the order
// they were settled (by key at the same time).
func (m *Memory) Transitions(_ context.Context, from, to time.Time) ([]Transition, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Transition
	for _, c := range m.claims {
		if c.Status == Settled && !c.settled.Before(from) && c.settled.Before(to) {
			out = append(out, Transition{Key: c.Key, Token: c.Token, Outcome: c.Outcome, At: c.settled})
		}
	}
	sortTransitions(out)
	return out, nil
}

// Last is the last state of the alarm's token; ok is false when none is known.
func (m *Memory) Last(_ context.Context, alarm, token string) (Last, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.lasts[lastKey(alarm, token)]
	return l, ok, nil
}

// Lasts lists every alarm's tokens' last states.
func (m *Memory) Lasts(context.Context) ([]Last, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return sorted(m.lasts, func(l Last) string { return lastKey(l.Alarm, l.Token) }), nil
}

// SetLast records l unless a later state of the same alarm and token is
// known (deliveries arrive out of order); the same time replaces it.
func (m *Memory) SetLast(_ context.Context, l Last, _ time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := lastKey(l.Alarm, l.Token)
	if cur, ok := m.lasts[key]; ok && cur.At.UnixMilli() > l.At.UnixMilli() {
		return nil
	}
	if m.lasts == nil {
		m.lasts = map[string]Last{}
	}
	m.lasts[key] = l
	return nil
}

// Mutes lists the mutes, ended ones included (until DropMute), by label.
func (m *Memory) Mutes(context.Context) ([]Mute, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return sorted(m.mutes, func(mu Mute) string { return muteKey(mu.Label) }), nil
}

// SetMute records mu, replacing the label's earlier mute.
func (m *Memory) SetMute(_ context.Context, mu Mute, _ time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mutes == nil {
		m.mutes = map[string]Mute{}
	}
	m.mutes[muteKey(mu.Label)] = mu
	return nil
}

// DropMute removes the label's mute if it still ends when mu does: a mute
// set again since is kept.
func (m *Memory) DropMute(_ context.Context, mu Mute) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if cur, ok := m.mutes[muteKey(mu.Label)]; ok && cur.Until.UnixMilli() == mu.Until.UnixMilli() {
		delete(m.mutes, muteKey(mu.Label))
	}
	return nil
}

// Len is the number of entries held, for tests of the bounds.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.messages) + len(m.claims) + len(m.lasts) + len(m.mutes)
}

// bounded returns entries with room for one more: when it is full,
// expired entries are dropped, then the one that expires soonest.
func bounded[V any](entries map[string]V, now time.Time, expiry func(V) time.Time) map[string]V {
	if entries == nil {
		return map[string]V{}
	}
	if len(entries) < MemoryCapacity {
		return entries
	}
	var soonest string
	for k, v := range entries {
		switch {
		case !now.Before(expiry(v)):
			delete(entries, k)
		case soonest == "" || expiry(v).Before(expiry(entries[soonest])):
			soonest = k
		}
	}
	if len(entries) >= MemoryCapacity {
		delete(entries, soonest)
	}
	return entries
}

func sorted[V any](entries map[string]V, key func(V) string) []V {
	out := make([]V, 0, len(entries))
	for _, v := range entries {
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b V) int { return strings.Compare(key(a), key(b)) })
	return out
}

func sortTransitions(ts []Transition) {
	slices.SortFunc(ts, func(a, b Transition) int {
		return cmp.Or(a.At.Compare(b.At), strings.Compare(a.Key, b.Key))
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
