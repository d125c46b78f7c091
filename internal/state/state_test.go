package state_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/quotabot/chatwork-quota-bot/bot"
	"github.com/quotabot/chatwork-quota-bot/internal/awstest"
	"github.com/quotabot/chatwork-quota-bot/internal/state"
)

func TestMain(m *testing.M) { awstest.Main(m) }

var (
	_ bot.State = (*state.Memory)(nil)
	_ bot.State = (*state.Dynamo)(nil)
)

var t0 = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// implementations returns a fresh state of each kind: one process's, and
// a table of its own on moto.
func implementations(t *testing.T) map[string]bot.State {
	t.Helper()
	cfg := awstest.Config(t, awstest.StartMoto(t))
	table := awstest.UniqueName(t, "quotabot-state-")
	awstest.CreateStateTable(t, cfg, table)
	return map[string]bot.State{"memory": &state.Memory{}, "dynamodb": state.NewDynamo(dynamodb.NewFromConfig(cfg), table)}
}

// The contract both implementations keep, run against each.
func TestContract(t *testing.T) {
	for name, st := range implementations(t) {
		t.Run(name, func(t *testing.T) {
			t.Run("answered", func(t *testing.T) { answered(t, st) })
			t.Run("claims", func(t *testing.T) { claims(t, st) })
			t.Run("last states", func(t *testing.T) { lasts(t, st) })
			t.Run("mutes", func(t *testing.T) { mutes(t, st) })
			t.Run("transitions", func(t *testing.T) { transitions(t, st) })
		})
	}
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func answered(t *testing.T, st bot.State) {
	ctx := context.Background()
	first := must[bool](t)
	if !first(st.Answered(ctx, 1, "100", t0)) {
		t.Fatal("a new message is not answered yet")
	}
	if first(st.Answered(ctx, 1, "100", t0.Add(time.Hour))) {
		t.Fatal("the same message was answered again an hour later")
	}
	if !first(st.Answered(ctx, 2, "100", t0)) {
		t.Fatal("the same message id in another room is another message")
	}
	// The TTL attribute is honoured by the read path itself, as DynamoDB
	// deletes expired items within days, not at once.
	if !first(st.Answered(ctx, 1, "100", t0.Add(state.MessageTTL+time.Second))) {
		t.Fatal("an answer older than the TTL still counts")
	}
}

func claims(t *testing.T, st bot.State) {
	ctx := context.Background()
	claim := func(key string, at time.Time, want state.Status) state.Claim {
		t.Helper()
		c, err := st.Claim(ctx, key, at)
		if err != nil {
			t.Fatal(err)
		}
		if c.Status != want || c.Key != key || (want == state.Claimed) != (c.Owner != "") {
			t.Fatalf("claim %s at %v: %+v, want status %v", key, at.Sub(t0), c, want)
		}
		return c
	}
	settle := func(c state.Claim, outcome string, at time.Time) {
		t.Helper()
		if err := st.Settle(ctx, c, outcome, at); err != nil {
			t.Fatal(err)
		}
	}

	a := claim("quota-low|ALARM|2026-11-24T03:05:10.125+0000|6d44", t0, state.Claimed)
	claim(a.Key, t0.Add(time.Second), state.Held)
	settle(a, state.Posted, t0.Add(2*time.Second))
	if c := claim(a.Key, t0.Add(time.Hour), state.Settled); c.Outcome != state.Posted {
		t.Fatalf("settled as %q, want posted", c.Outcome)
	}
	// Settled is final, also after a claim would have expired.
	claim(a.Key, t0.Add(3*state.ClaimFor), state.Settled)

	// A released claim can be taken again; only its owner releases it.
	r := claim("released", t0, state.Claimed)
	settle(state.Claim{Key: r.Key, Owner: "someone-else"}, "", t0)
	claim(r.Key, t0.Add(time.Second), state.Held)
	settle(r, "", t0.Add(time.Second))
	r2 := claim(r.Key, t0.Add(2*time.Second), state.Claimed)
	if r2.Owner == r.Owner {
		t.Fatal("a new claim has the old owner")
	}

	// A claim left by a crashed instance expires; the one who takes it over
	// is not undone by the old owner's late release.
	x := claim("crashed", t0, state.Claimed)
	claim(x.Key, t0.Add(state.ClaimFor-time.Millisecond), state.Held)
	y := claim(x.Key, t0.Add(state.ClaimFor+time.Millisecond), state.Claimed)
	settle(x, "", t0.Add(state.ClaimFor+2*time.Millisecond))
	claim(x.Key, t0.Add(state.ClaimFor+3*time.Millisecond), state.Held)
	settle(y, state.Muted, t0.Add(state.ClaimFor+4*time.Millisecond))
	if c := claim(x.Key, t0.Add(time.Hour), state.Settled); c.Outcome != state.Muted {
		t.Fatalf("settled as %q, want muted", c.Outcome)
	}
}

// transitions: the settled ones are listed by when they were settled, with
// their outcome and token, in [from, to); claims held or released are not.
func transitions(t *testing.T, st bot.State) {
	ctx := context.Background()
	day := t0.Add(10 * 24 * time.Hour) // clear of the other subtests' times
	settle := func(key, token, outcome string, at time.Time) {
		t.Helper()
		c, err := st.Claim(ctx, key, at)
		if err != nil || c.Status != state.Claimed {
			t.Fatalf("claim %s: %+v, %v", key, c, err)
		}
		c.Token = token
		if err := st.Settle(ctx, c, outcome, at); err != nil {
			t.Fatal(err)
		}
	}
	settle("q-quota-low|ALARM|2026-12-04T01:00:00.000+0000|6d44", "deploy", state.Posted, day.Add(time.Hour))
	settle("q-quota-low|ALARM|2026-12-04T02:00:00.000+0000|7a1b", "report", state.Muted, day.Add(2*time.Hour))
	settle("q-monitor-heartbeat|ALARM|2026-12-04T00:30:00.000+0000", "", state.Posted, day.Add(30*time.Minute))
	settle("q-quota-low|OK|2026-12-04T23:59:59.999+0000|6d44", "deploy", state.Posted, day.Add(24*time.Hour)) // the next day
	settle("q-quota-low|ALARM|2026-12-03T23:59:59.999+0000|6d44", "deploy", "joined", day.Add(-time.Millisecond))
	if _, err := st.Claim(ctx, "held|ALARM|x", day.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	got, err := st.Transitions(ctx, day, day.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want := []state.Transition{
		{Key: "q-monitor-heartbeat|ALARM|2026-12-04T00:30:00.000+0000", Outcome: state.Posted, At: day.Add(30 * time.Minute)},
		{Key: "q-quota-low|ALARM|2026-12-04T01:00:00.000+0000|6d44", Token: "deploy", Outcome: state.Posted, At: day.Add(time.Hour)},
		{Key: "q-quota-low|ALARM|2026-12-04T02:00:00.000+0000|7a1b", Token: "report", Outcome: state.Muted, At: day.Add(2 * time.Hour)},
	}
	if !slices.EqualFunc(got, want, func(a, b state.Transition) bool {
		return a.Key == b.Key && a.Token == b.Token && a.Outcome == b.Outcome && a.At.Equal(b.At)
	}) {
		t.Fatalf("transitions of the day:\n%+v\nwant\n%+v", got, want)
	}
}

func lasts(t *testing.T, st bot.State) {
	ctx := context.Background()
	alert := state.Last{Alarm: "q-quota-low", Token: "deploy", State: "ALARM", At: t0.Add(1234 * time.Millisecond), Muted: true, Event: `{"id":"1"}`, Since: t0.Add(-time.Minute)}
	if _, ok, err := st.Last(ctx, alert.Alarm, alert.Token); ok || err != nil {
		t.Fatalf("a last state before any: %v, %v", ok, err)
	}
	set := func(l state.Last) {
		t.Helper()
		if err := st.SetLast(ctx, l, t0); err != nil {
			t.Fatal(err)
		}
	}
	get := func(alarm, token string) state.Last {
		t.Helper()
		l, ok, err := st.Last(ctx, alarm, token)
		if err != nil || !ok {
			t.Fatalf("last of %s %s: %v, %v", alarm, token, ok, err)
		}
		return l
	}
	same := func(got, want state.Last) bool {
		return got.Alarm == want.Alarm && got.Token == want.Token && got.State == want.State && got.At.Equal(want.At) &&
			got.Posted == want.Posted && got.Muted == want.Muted && got.Event == want.Event && got.Since.Equal(want.Since)
	}
	set(alert)
	if got := get(alert.Alarm, alert.Token); !same(got, alert) {
		t.Fatalf("round trip: %+v, want %+v", got, alert)
	}
	// An older state delivered late does not replace a newer one.
	older := state.Last{Alarm: alert.Alarm, Token: alert.Token, State: "OK", At: t0, Posted: true}
	set(older)
	if got := get(alert.Alarm, alert.Token); !same(got, alert) {
		t.Fatalf("an older state replaced the newer: %+v", got)
	}
	// The same state told after all (a mute ended) replaces it.
	told := alert
	told.Posted, told.Muted = true, false
	set(told)
	if got := get(alert.Alarm, alert.Token); !same(got, told) {
		t.Fatalf("%+v, want %+v", got, told)
	}
	other := state.Last{Alarm: "q-token-errors", Token: "report", State: "OK", At: t0.Add(time.Minute), Posted: true}
	set(other)
	all, err := st.Lasts(ctx)
	if err != nil || len(all) != 2 || !same(all[0], told) || !same(all[1], other) {
		t.Fatalf("lasts: %+v, %v", all, err)
	}
}

func mutes(t *testing.T, st bot.State) {
	ctx := context.Background()
	deploy := state.Mute{Label: "deploy", Until: t0.Add(2 * time.Hour), By: 777, At: t0}
	every := state.Mute{Until: t0.Add(30 * time.Minute), By: 778, At: t0.Add(time.Second)}
	for _, m := range []state.Mute{deploy, every} {
		if err := st.SetMute(ctx, m, t0); err != nil {
			t.Fatal(err)
		}
	}
	list := func() []state.Mute {
		t.Helper()
		ms, err := st.Mutes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return ms
	}
	same := func(got, want []state.Mute) bool {
		return slices.EqualFunc(got, want, func(a, b state.Mute) bool {
			return a.Label == b.Label && a.Until.Equal(b.Until) && a.By == b.By && a.At.Equal(b.At)
		})
	}
	if got := list(); !same(got, []state.Mute{every, deploy}) {
		t.Fatalf("mutes %+v", got)
	}
	// A mute set again is not dropped by the one it replaced.
	again := deploy
	again.Until = t0.Add(3 * time.Hour)
	if err := st.SetMute(ctx, again, t0); err != nil {
		t.Fatal(err)
	}
	for _, m := range []state.Mute{deploy, every} {
		if err := st.DropMute(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if got := list(); !same(got, []state.Mute{again}) {
		t.Fatalf("after dropping: %+v", got)
	}
}

func TestMuteCovers(t *testing.T) {
	m := state.Mute{Label: "Deploy", Until: t0}
	all := state.Mute{Until: t0}
	switch {
	case !m.Covers("deploy", t0.Add(-time.Second)), !all.Covers("anything", t0.Add(-time.Second)):
		t.Error("a running mute does not cover its token")
	case m.Covers("deploy", t0), all.Covers("x", t0):
		t.Error("a mute covers its token at its end")
	case m.Covers("report", t0.Add(-time.Second)):
		t.Error("a token's mute covers another token")
	}
}

// Memory stays within its bounds however many messages and transitions
// pass, dropping expired entries first.
func TestMemoryIsBounded(t *testing.T) {
	m := &state.Memory{}
	ctx := context.Background()
	for i := range 3 * state.MemoryCapacity {
		at := t0.Add(time.Duration(i) * time.Second)
		if ok, _ := m.Answered(ctx, 1, fmt.Sprint(i), at); !ok {
			t.Fatalf("message %d taken for answered", i)
		}
		c, _ := m.Claim(ctx, fmt.Sprint(i), at)
		if err := m.Settle(ctx, c, state.Posted, at); err != nil {
			t.Fatal(err)
		}
	}
	if n := m.Len(); n > 2*state.MemoryCapacity {
		t.Fatalf("memory holds %d entries, bound %d", n, 2*state.MemoryCapacity)
	}
	// The newest are kept.
	if ok, _ := m.Answered(ctx, 1, fmt.Sprint(3*state.MemoryCapacity-1), t0); ok {
		t.Fatal("the newest answered message was dropped")
	}
}

// A table that cannot be reached is an error, never a silent "first".
func TestDynamoDown(t *testing.T) {
	cfg := awstest.Config(t, awstest.DeadEndpoint(t))
	st := state.NewDynamo(dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.RetryMaxAttempts = 1 }), "quotabot-state")
	ctx := context.Background()
	if ok, err := st.Answered(ctx, 1, "1", t0); ok || err == nil || !strings.Contains(err.Error(), `state table "quotabot-state"`) {
		t.Errorf("answered: %v, %v", ok, err)
	}
	if c, err := st.Claim(ctx, "k", t0); c.Status == state.Claimed || err == nil {
		t.Errorf("claim: %+v, %v", c, err)
	}
	if _, err := st.Mutes(ctx); err == nil {
		t.Error("mutes: no error")
	}
}

// lostAnswer applies every PutItem, then sends it once more, as the SDK
// retries a request whose answer was lost, and returns the second answer.
type lostAnswer struct{ *dynamodb.Client }

func (l lostAnswer) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if _, err := l.Client.PutItem(ctx, in, opts...); err != nil {
		return nil, err
	}
	return l.Client.PutItem(ctx, in, opts...)
}

// A claim whose put was applied but whose answer was lost is still ours:
// the retried put fails its condition, and the claim it finds is our own.
func TestClaimSurvivesALostAnswer(t *testing.T) {
	cfg := awstest.Config(t, awstest.StartMoto(t))
	table := awstest.UniqueName(t, "quotabot-state-")
	awstest.CreateStateTable(t, cfg, table)
	st := state.NewDynamo(lostAnswer{dynamodb.NewFromConfig(cfg)}, table)
	c, err := st.Claim(t.Context(), "alarm|ALARM|t", t0)
	if err != nil || c.Status != state.Claimed {
		t.Fatalf("claim %+v, %v: want our own claim", c, err)
	}
	if err := st.Settle(t.Context(), c, "posted", t0); err != nil {
		t.Fatal(err)
	}
	if again, err := st.Claim(t.Context(), "alarm|ALARM|t", t0.Add(time.Minute)); err != nil || again.Status != state.Settled {
		t.Fatalf("second claim %+v, %v: want settled", again, err)
	}
}
