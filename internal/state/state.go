// Package state is the webhook bot's memory, shared by every instance of
// the function when it lives in DynamoDB: the messages answered, the alarm
// transitions posted (claimed before posting, so that one instance posts),
// the last state posted per alarm and token, and the room's mutes. The
// settled transitions are listed by when they were settled (Transitions),
// for the morning digest's "alerts posted and muted".
//
// Memory keeps it in one process (the sandbox, tests, a deployment without
// a table); Dynamo keeps it in a table and decides every "first one wins"
// with a conditional write. Both take the time from the caller, so a claim's
// expiry follows the bot's clock.
package state

import (
	"crypto/rand"
	"strings"
	"time"
)

// How long each kind of item is kept.
const (
	// ClaimFor is how long a claim holds a transition for the instance that
	// took it: a post takes seconds, so an older claim was left by an
	// instance that crashed, and another may take the transition over.
	ClaimFor = 2 * time.Minute
	// TransitionTTL keeps a settled transition beyond every redelivery
	// (EventBridge gives up after 24 hours at most, Lambda after 6).
	TransitionTTL = 30 * 24 * time.Hour
	// MessageTTL keeps an answered message: a delivery replayed later is
	// refused for its webhook_event_time anyway.
	MessageTTL = 24 * time.Hour
	// LastTTL keeps the last state of an alarm's token after its latest
	// change; a token removed from the deployment leaves its item behind
	// only this long.
	LastTTL = 30 * 24 * time.Hour
	// MuteTTL keeps a mute after its end, until housekeeping has told the
	// room what the mute held back.
	MuteTTL = 7 * 24 * time.Hour
)

// Status is what Claim found.
type Status int

const (
	// Claimed: the caller holds the transition; it posts, then settles.
	Claimed Status = iota + 1
	// Held: another instance holds a claim that has not expired.
	Held
	// Settled: the transition was handled already (Claim.Outcome says how).
	Settled
)

// Outcomes of a settled transition.
const (
	Posted  = "posted"
	Muted   = "muted"
	Skipped = "skipped" // nothing to post (a recovery of an alert never posted)
	Failed  = "failed"  // given up: a retry would meet the same refusal
)

// Claim is the result of claiming a transition.
type Claim struct {
	Key     string
	Owner   string // this claim's random id: only its owner releases it
	Status  Status
	Outcome string // when Settled
	// Token is the label of the token the transition is about, "" when it
	// is about none (or the claimant does not say). The claimant sets it
	// before Settle, which keeps it with the outcome for Transitions.
	Token string
}

// Transition is a settled transition, as Transitions lists it.
type Transition struct {
	Key     string
	Token   string // the settled Claim's Token
	Outcome string
	At      time.Time // when it was settled
}

// Last is the last state of an alarm's token (a contributor, or the own
// token of a single-metric alarm), and whether the room heard of it.
type Last struct {
	Alarm, Token string
	State        string    // ALARM, OK or INSUFFICIENT_DATA
	At           time.Time // when the alarm entered it (the state's timestamp)
	Posted       bool      // the room was told
	Muted        bool      // not told because the token was muted
	Event        string    // the alarm event (JSON), to tell the room when a mute ends
	// Since is when the room's episode this ALARM belongs to began, when
	// that was before At: an alarm that joined, or took over, an episode
	// another alarm of the token began. Zero: At.
	Since time.Time
}

// Began is when the episode of l began: Since, or At.
func (l Last) Began() time.Time {
	if !l.Since.IsZero() && l.Since.Before(l.At) {
		return l.Since
	}
	return l.At
}

// Mute silences one token's alarms, or every token's, until Until.
type Mute struct {
	Label string // the token's label; "" mutes every token
	Until time.Time
	By    int64 // the account that muted
	At    time.Time
}

// Of reports whether m is about label's token, running or not.
func (m Mute) Of(label string) bool { return m.Label == "" || strings.EqualFold(m.Label, label) }

// Covers reports whether m silences label at now.
func (m Mute) Covers(label string, now time.Time) bool { return now.Before(m.Until) && m.Of(label) }

// sort keys of the items.
func messageKey(room int64, id string) string { return itoa(room) + "#" + id }
func lastKey(alarm, token string) string      { return alarm + "|" + token }
func muteKey(label string) string {
	if label == "" {
		return "*" // not a label: labels are [A-Za-z0-9_.-]
	}
	return label
}

func newOwner() string { return rand.Text() }
