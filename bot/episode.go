package bot

import "github.com/quotabot/chatwork-quota-bot/internal/alarm"

// Side is what the bot knows of one per-token alarm (the quota alarm or
// the pace alarm) for one token: its last state and whether the room heard
// of the episode that state belongs to.
type Side struct {
	State  string // alarm.StateAlarm, alarm.StateOK, or "" when unknown
	Posted bool
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
// whichever alarm leaves last posts the recovery.
func Episode(next string, prev, other Side) (Post, Side) {
	switch {
	case next == alarm.StateAlarm && other.State == alarm.StateAlarm:
		return PostNothing, Side{State: next, Posted: other.Posted}
	case next == alarm.StateAlarm:
		return PostAlert, Side{State: next}
	case other.State == alarm.StateAlarm:
		return PostNothing, Side{State: next}
	case prev.State == alarm.StateAlarm && prev.Posted:
		return PostRecovery, Side{State: next}
	}
	return PostNothing, Side{State: next}
}
