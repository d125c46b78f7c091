package bot

import (
	"context"
	"errors"

	"github.com/quotabot/chatwork-quota-bot/internal/alarm"
	"github.com/quotabot/chatwork-quota-bot/internal/state"
)

// Side is what the bot knows of one per-token alarm (the quota alarm or
// the pace alarm) for one token: its last state and whether the room heard
// of the episode that state belongs to, or was kept from hearing of it by
// a mute (the end of the mute tells it).
type Side struct {
	State  string // alarm.StateAlarm, alarm.StateOK, or "" when unknown
	Posted bool
	Muted  bool
}

// Post is what a transition puts in the room.
type Post int

const (
	PostNothing  Post = iota
	PostAlert         // the alert: this alarm entered ALARM and the other is not in it
	PostRecovery      // the recovery: both alarms are out of ALARM after an alert the room heard
)

// Episode is the rule that makes the quota alarm and the pace alarm of one
// token one story for the room: an episode runs from the first of them
// entering ALARM to the last of them leaving it, and the room hears one
// alert and one recovery for it. next is the state this alarm enters, prev
// its last known side and other the other alarm's. It returns what to post
// and, when nothing is posted, the side to keep for this alarm: an ALARM
// joining a running episode inherits whether the room heard of it, so that
// whichever alarm leaves last posts the recovery, and whether a mute held
// its alert back, so that the housekeeping after the mute tells it even
// when the alarm that was held back has left meanwhile. An episode whose
// alert was neither posted nor muted (the post failed) is not joined: this
// alarm's alert is posted, as an alert lost is worse than one repeated.
func Episode(next string, prev, other Side) (Post, Side) {
	switch {
	case next == alarm.StateAlarm && other.State == alarm.StateAlarm && (other.Posted || other.Muted):
		return PostNothing, Side{State: next, Posted: other.Posted, Muted: other.Muted && !other.Posted}
	case next == alarm.StateAlarm:
		return PostAlert, Side{State: next}
	case other.State == alarm.StateAlarm:
		return PostNothing, Side{State: next}
	case prev.State == alarm.StateAlarm && prev.Posted:
		return PostRecovery, Side{State: next}
	}
	return PostNothing, Side{State: next}
}

// episodic reports whether kind's alarm is one side of a token's episode.
func episodic(kind alarmKind) bool { return kind == kindQuota || kind == kindPace }

// episodeKey is the state key that serialises the decisions of one
// token's episode. It cannot be a transition's: those start with an alarm
// name and a state, and no label holds a "|".
func episodeKey(label string) string { return "episode|" + label }

// lockEpisode holds the token's episode while one transition of it is
// decided, posted and recorded, so that the quota alarm entering ALARM in
// one instance and the pace alarm in another do not both alert: it claims
// the token's episode key in the state, polled like a transition's, and
// returns the release. Still held after the polls, it gives up with an
// error (the transition is then released for Lambda's retry; a claim left
// by a crash expires). When the state fails, the transition is decided
// without the lock: a second alert is possible, none is lost.
func (b *Bot) lockEpisode(ctx context.Context, label string, attrs []any) (func(), error) {
	c, err := b.take(ctx, episodeKey(label))
	switch {
	case err != nil:
		b.log.WarnContext(ctx, "state unavailable: the token's episode is decided unlocked, the message may be repeated", append(attrs, "error", err)...)
		return func() {}, nil
	case c.Status == state.Held:
		b.log.WarnContext(ctx, "another instance is deciding this token's episode: left to a retry", attrs...)
		return nil, errors.New("alarm message not posted: another instance holds the token's episode (a retry decides it once released)")
	case c.Status != state.Claimed:
		return func() {}, nil // never settled, so never found so
	}
	return func() {
		if err := b.state.Settle(ctx, c, "", b.cfg.Now()); err != nil {
			b.log.WarnContext(ctx, "state unavailable: the token's episode is not released, it expires", append(attrs, "error", err)...)
		}
	}, nil
}

// otherSide is the last state of the token's other episode alarm (the pace
// alarm's for the quota alarm, and the other way round): zero when unknown,
// which its configured name being empty makes it.
func (b *Bot) otherSide(ctx context.Context, kind alarmKind, token string, attrs []any) state.Last {
	name := b.cfg.AlarmName
	if kind == kindQuota {
		name = b.cfg.PaceAlarmName
	}
	if name == "" {
		return state.Last{}
	}
	l, _, err := b.state.Last(ctx, name, token)
	if err != nil {
		b.log.WarnContext(ctx, "state unavailable: the token's other alarm is unknown, this one is told alone", append(attrs, "error", err)...)
	}
	return l
}

// episode applies Episode to a transition of the quota or pace alarm. It
// reports told when the transition's own message is to be posted (the
// alert of a new episode, the recovery of a heard one, or a message that
// is no part of an episode: a single alarm's INSUFFICIENT_DATA and its
// end). Otherwise it keeps the token's last state and returns the outcome:
// an ALARM joining the running episode inherits whether the room heard of
// it; an alarm leaving while the other holds hands that over to it.
//
// A contributor's side is its last state (unknown: taken as a heard ALARM,
// so that its end is told: a recovery too many is better than a room left
// waiting for one); a single alarm's recovery is told whenever it leaves
// ALARM, as its event says.
func (b *Bot) episode(ctx context.Context, ev alarm.Event, kind alarmKind, last state.Last, prev state.Last, prevErr error, attrs []any) (outcome string, told bool) {
	d := ev.Detail
	contributor := d.AlarmContributor != nil
	var mine Side
	switch {
	case d.State.Value == alarm.StateInsufficient, !contributor && d.State.Value == alarm.StateOK && d.PreviousState.Value != alarm.StateAlarm:
		return "", true
	case !contributor:
		mine = Side{State: d.PreviousState.Value, Posted: true}
	case prevErr != nil:
		mine = Side{State: alarm.StateAlarm, Posted: true}
	default:
		mine = Side{State: prev.State, Posted: prev.Posted}
	}
	other := b.otherSide(ctx, kind, last.Token, attrs)
	post, keep := Episode(d.State.Value, mine, Side{State: other.State, Posted: other.Posted, Muted: other.Muted})
	switch {
	case post != PostNothing:
		return "", true
	case d.State.Value == alarm.StateAlarm:
		last.Posted, last.Since = keep.Posted, other.Began()
		if keep.Muted {
			// Held back with the episode: the housekeeping after the
			// mute renders this event if it is still in ALARM then.
			last.Muted, last.Event = true, eventJSON(ev)
		}
		b.setLast(ctx, last, attrs)
		b.log.InfoContext(ctx, "the token's episode is running under its other alarm: this one joins it, not posted", append(attrs, "episode_alarm", truncate(other.Alarm, maxAlarmName), "heard", keep.Posted)...)
		return outcomeJoined, false
	case other.State == alarm.StateAlarm:
		changed := mine.Posted && !other.Posted
		if changed {
			other.Posted = true
		}
		if began := prev.Began(); prevErr == nil && prev.State == alarm.StateAlarm && began.Before(other.Began()) {
			other.Since, changed = began, true // the episode goes on under the other: it began with this one
		}
		if changed {
			b.setLast(ctx, other, attrs)
		}
		b.setLast(ctx, last, attrs)
		b.log.InfoContext(ctx, "the token's episode goes on under its other alarm: this end is not posted", append(attrs, "episode_alarm", truncate(other.Alarm, maxAlarmName))...)
		return state.Skipped, false
	}
	b.setLast(ctx, last, attrs)
	b.log.InfoContext(ctx, "no alert of this episode was posted here: its end is not posted", attrs...)
	return state.Skipped, false
}
