package bot

import (
	"context"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/state"
)

// stateTimeout bounds each call of the state: a table that hangs must
// leave an alert the time to be posted anyway, and a delivery its answer.
const stateTimeout = 2 * time.Second

// timedState bounds every call of the state it wraps by stateTimeout.
type timedState struct{ State }

func timed(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, stateTimeout)
}

// afterPost bounds a write that records what was already posted (the
// transition settled, the token's last state): it must not die with a
// budget the post used up, or a redelivery would post the message again.
// HandleAlarm keeps 2×stateTimeout of its budget for these writes.
func afterPost(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), stateTimeout)
}

func (t timedState) Answered(ctx context.Context, room int64, id string, now time.Time) (bool, error) {
	ctx, cancel := timed(ctx)
	defer cancel()
	return t.State.Answered(ctx, room, id, now)
}

func (t timedState) Claim(ctx context.Context, key string, now time.Time) (state.Claim, error) {
	ctx, cancel := timed(ctx)
	defer cancel()
	return t.State.Claim(ctx, key, now)
}

func (t timedState) Settle(ctx context.Context, c state.Claim, outcome string, now time.Time) error {
	ctx, cancel := afterPost(ctx)
	defer cancel()
	return t.State.Settle(ctx, c, outcome, now)
}

func (t timedState) Last(ctx context.Context, alarm, token string) (state.Last, bool, error) {
	ctx, cancel := timed(ctx)
	defer cancel()
	return t.State.Last(ctx, alarm, token)
}

func (t timedState) Lasts(ctx context.Context) ([]state.Last, error) {
	ctx, cancel := timed(ctx)
	defer cancel()
	return t.State.Lasts(ctx)
}

func (t timedState) SetLast(ctx context.Context, l state.Last, now time.Time) error {
	ctx, cancel := afterPost(ctx)
	defer cancel()
	return t.State.SetLast(ctx, l, now)
}

func (t timedState) Mutes(ctx context.Context) ([]state.Mute, error) {
	ctx, cancel := timed(ctx)
	defer cancel()
	return t.State.Mutes(ctx)
}

func (t timedState) SetMute(ctx context.Context, m state.Mute, now time.Time) error {
	ctx, cancel := timed(ctx)
	defer cancel()
	return t.State.SetMute(ctx, m, now)
}

func (t timedState) Transitions(ctx context.Context, from, to time.Time) ([]state.Transition, error) {
	ctx, cancel := timed(ctx)
	defer cancel()
	return t.State.Transitions(ctx, from, to)
}

func (t timedState) DropMute(ctx context.Context, m state.Mute) error {
	ctx, cancel := timed(ctx)
	defer cancel()
	return t.State.DropMute(ctx, m)
}
