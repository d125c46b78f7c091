package bot

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/alarm"
	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/state"
)

// brokenState is a state that fails every call: a table that is down, or
// with hang, one that never answers (each call waits for its context).
type brokenState struct{ hang bool }

var errStateDown = errors.New("state table unreachable")

func (s brokenState) fail(ctx context.Context) error {
	if s.hang {
		<-ctx.Done()
		return ctx.Err()
	}
	return errStateDown
}

func (s brokenState) Answered(ctx context.Context, _ int64, _ string, _ time.Time) (bool, error) {
	return false, s.fail(ctx)
}
func (s brokenState) Claim(ctx context.Context, _ string, _ time.Time) (state.Claim, error) {
	return state.Claim{}, s.fail(ctx)
}
func (s brokenState) Settle(ctx context.Context, _ state.Claim, _ string, _ time.Time) error {
	return s.fail(ctx)
}
func (s brokenState) Last(ctx context.Context, _, _ string) (state.Last, bool, error) {
	return state.Last{}, false, s.fail(ctx)
}
func (s brokenState) Lasts(ctx context.Context) ([]state.Last, error) { return nil, s.fail(ctx) }
func (s brokenState) SetLast(ctx context.Context, _ state.Last, _ time.Time) error {
	return s.fail(ctx)
}
func (s brokenState) Mutes(ctx context.Context) ([]state.Mute, error) { return nil, s.fail(ctx) }
func (s brokenState) SetMute(ctx context.Context, _ state.Mute, _ time.Time) error {
	return s.fail(ctx)
}
func (s brokenState) DropMute(ctx context.Context, _ state.Mute) error { return s.fail(ctx) }
func (s brokenState) Transitions(ctx context.Context, _, _ time.Time) ([]state.Transition, error) {
	return nil, s.fail(ctx)
}

// room is a bot watching two more tokens (deploy and report), on a clock
// the test moves, with a person typing in its room.
type room struct {
	*env
	now    time.Time
	seq    int
	others map[string]*fakeChatWork
}

func newRoom(t *testing.T, now time.Time, mod func(*Config, *Deps)) *room {
	t.Helper()
	r := &room{now: now, others: map[string]*fakeChatWork{"deploy": newFakeChatWork(), "report": newFakeChatWork()}}
	for _, f := range r.others {
		f.reading.AccountID = 4242
	}
	r.env = newEnv(t, func(c *Config, d *Deps) {
		c.Now = func() time.Time { return r.now }
		c.AlarmName, c.ErrorsAlarmName, c.HeartbeatAlarmName = fixtureAlarm, "quotabot-token-errors", "quotabot-monitor-heartbeat"
		c.Threshold = 60
		d.Tokens = func(context.Context) []Token {
			return []Token{{"deploy", r.others["deploy"]}, {"report", r.others["report"]}}
		}
		if mod != nil {
			mod(c, d)
		}
	})
	return r
}

// sayAs delivers text typed by account, as message id, and returns the
// bot's reply ("" for none).
func (r *room) sayAs(account int64, id, text string) string {
	r.t.Helper()
	before := len(r.cw.postBodies())
	body := eventAt(chatwork.EventMessageCreated, chatwork.WebhookEvent{MessageID: id, RoomID: testRoom, AccountID: account, Body: text}, r.now)
	if w := r.serve(r.t, signedRequest(r.t, body)); w.Code != 200 {
		r.t.Fatalf("%q: status %d", text, w.Code)
	}
	if posts := r.cw.postBodies(); len(posts) > before {
		return posts[len(posts)-1]
	}
	return ""
}

// say delivers a new message of the test's sender.
func (r *room) say(text string) string {
	r.seq++
	return r.sayAs(testSender, fmt.Sprint(2000+r.seq), text)
}

func (r *room) mutes() []state.Mute {
	r.t.Helper()
	ms, err := r.bot.state.Mutes(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	return ms
}

func TestParseMuteDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"10m": 10 * time.Minute, "30m": 30 * time.Minute, "2h": 2 * time.Hour, "1d": 24 * time.Hour, "7d": 7 * 24 * time.Hour,
		"1h30m": 90 * time.Minute, "2H": 2 * time.Hour, "6d23h59m": 7*24*time.Hour - time.Minute,
	} {
		if got, ok := parseMuteDuration(in); !ok || got != want {
			t.Errorf("%q: %v %v, want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "9m", "7d1m", "8d", "30", "m", "2x", "-1h", "1.5h", "30min", "99999d", "２h", "1h 30m",
		// A long sum that wraps round time.Duration to 10m26s, and too many parts.
		strings.Repeat("9999d", 21) + "3524d23h45m", "1d1h1m1m"} {
		if d, ok := parseMuteDuration(in); ok {
			t.Errorf("%q accepted as %v", in, d)
		}
	}
}

// The replies to mute, unmute and mutes, and their refusals, in both
// languages. Each scenario's last command is the golden one.
func TestMuteReplies(t *testing.T) {
	scenarios := []struct {
		name  string
		setup []string
		cmd   string
		mod   func(*Config, *Deps)
	}{
		{name: "mute_token", cmd: "/quota mute 2h deploy"},
		{name: "mute_all", cmd: "/quota mute 1d"},
		{name: "mutes", setup: []string{"/quota mute 2h DEPLOY", "/quota mute 30m all"}, cmd: "/quota mutes"},
		{name: "mutes_none", cmd: "/quota mutes"},
		{name: "unmute_token", setup: []string{"/quota mute 2h deploy"}, cmd: "/quota unmute Deploy"},
		{name: "unmute_all", setup: []string{"/quota mute 2h deploy", "/quota mute 1h"}, cmd: "/quota unmute"},
		{name: "unmute_not_muted", setup: []string{"/quota mute 30m"}, cmd: "/quota unmute report"},
		{name: "unmute_token_all_muted", setup: []string{"/quota mute 2h deploy", "/quota mute 30m"}, cmd: "/quota unmute deploy"},
		{name: "mute_usage", cmd: "/quota mute 5m"},
		{name: "mute_unknown_label", cmd: "/quota mute 30m deplyo"},
		{name: "mute_unknown_unsafe", cmd: "/quota mute 30m [toall]"},
		{name: "mute_refused", cmd: "/quota mute 30m", mod: func(c *Config, _ *Deps) { c.AdminAccountIDs = []int64{11, 12} }},
		{name: "mute_failed", cmd: "/quota mute 30m", mod: func(_ *Config, d *Deps) { d.State = brokenState{} }},
	}
	for _, lang := range []string{"ja", "en"} {
		for _, sc := range scenarios {
			t.Run(sc.name+"_"+lang, func(t *testing.T) {
				r := newRoom(t, testNow, func(c *Config, d *Deps) {
					c.Language = lang
					if sc.mod != nil {
						sc.mod(c, d)
					}
				})
				for _, cmd := range sc.setup {
					r.say(cmd)
				}
				got := r.sayAs(testSender, testMessage, sc.cmd)
				checkGolden(t, sc.name+"_"+lang+".txt", got)
				checkMessage(t, got)
				if strings.Count(got, "\n") > 1 && strings.HasPrefix(sc.name, "mute_") {
					t.Errorf("a mute's reply takes one line after the reply tag:\n%s", got)
				}
			})
		}
	}
}

func TestMuteCommands(t *testing.T) {
	r := newRoom(t, testNow, nil)
	r.say("/quota mute 2h deploy")
	r.say("／ｑｕｏｔａ　ＭＵＴＥ　１ｈ３０ｍ") // full-width, every token
	ms := r.mutes()
	if len(ms) != 2 || ms[0].Label != "" || !ms[0].Until.Equal(testNow.Add(90*time.Minute)) ||
		ms[1].Label != "deploy" || !ms[1].Until.Equal(testNow.Add(2*time.Hour)) || ms[1].By != testSender || !ms[1].At.Equal(testNow) {
		t.Fatalf("mutes %+v", ms)
	}
	// Nothing changes on a bad command.
	for _, cmd := range []string{"/quota mute", "/quota mute 9m", "/quota mute 8d deploy", "/quota mute 1h nope", "/quota mute 1h deploy report", "/quota unmute nope", "/quota unmute deploy report"} {
		if reply := r.say(cmd); reply == "" {
			t.Errorf("%q: no reply", cmd)
		}
		if got := r.mutes(); len(got) != 2 || got[0] != ms[0] || got[1] != ms[1] {
			t.Fatalf("%q changed the mutes: %+v", cmd, got)
		}
	}
	// Unmuting ends a mute now: housekeeping drops it after telling the room.
	r.now = testNow.Add(time.Minute)
	r.say("/quota unmute deploy")
	if got := r.mutes(); len(got) != 2 || !got[1].Until.Equal(r.now) || !got[0].Until.Equal(ms[0].Until) {
		t.Fatalf("after unmute deploy: %+v", got)
	}
	if reply := r.say("/quota mutes"); strings.Contains(reply, "deploy") || !strings.Contains(reply, "すべてのトークン") {
		t.Errorf("mutes lists what runs:\n%s", reply)
	}
	// One mute, one post: every command costs one call.
	if reads := r.cw.reads; reads != 0 {
		t.Errorf("%d readings for mute commands", reads)
	}
	if err := r.bot.Housekeeping(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := r.mutes(); len(got) != 1 || got[0].Label != "" {
		t.Fatalf("after housekeeping: %+v", got)
	}

	// With admins, others may list but not mute or unmute.
	a := newRoom(t, testNow, func(c *Config, _ *Deps) { c.AdminAccountIDs = []int64{testSender} })
	if reply := a.sayAs(555, "1", "/quota mute 1h"); !strings.Contains(reply, fmt.Sprintf("[piconname:%d]", testSender)) {
		t.Errorf("the refusal does not say who may:\n%s", reply)
	}
	a.sayAs(555, "2", "/quota mutes")
	a.sayAs(testSender, "3", "/quota mute 1h report")
	a.sayAs(555, "4", "/quota unmute report")
	if got := a.mutes(); len(got) != 1 || got[0].Label != "report" || !got[0].Until.Equal(testNow.Add(time.Hour)) {
		t.Fatalf("mutes %+v", got)
	}
	if n := len(a.cw.postBodies()); n != 4 {
		t.Errorf("%d replies to 4 commands", n)
	}
}

// contributorOf is a fixture's contributor event for token, at timestamp.
func contributorOf(t *testing.T, fixture, token, timestamp string) alarm.Event {
	ev := loadEvent(t, fixture)
	ev.Detail.AlarmContributor.Attributes["Token"] = token
	ev.Detail.AlarmContributor.ID += token
	if timestamp != "" {
		ev.Detail.State.Timestamp = timestamp
	}
	return ev
}

func (r *room) alarm(ev alarm.Event) {
	r.t.Helper()
	if err := r.bot.HandleAlarm(context.Background(), ev); err != nil {
		r.t.Fatal(err)
	}
}

func (r *room) housekeeping() {
	r.t.Helper()
	if err := r.bot.Housekeeping(context.Background()); err != nil {
		r.t.Fatal(err)
	}
}

// While deploy is muted its alert and its recovery are not posted; the
// other tokens' are, and so is the heartbeat's even under a mute of every
// token. When the mute ends with deploy still in ALARM, housekeeping tells
// the room once, and the recovery after that is posted.
func TestMutedAlarms(t *testing.T) {
	r := newRoom(t, alarmAt, func(c *Config, _ *Deps) { c.Language = "en" })
	setWindow(&env{cw: r.others["deploy"]}, alarmAt, 38, alarmAt.Add(time.Minute))
	r.say("/quota mute 30m deploy")
	posts := func() []string { return r.cw.postBodies()[1:] } // after the mute's reply

	r.alarm(contributorOf(t, "contributor-quota-alarm.json", "deploy", ""))
	r.alarm(contributorOf(t, "contributor-errors-alarm.json", "deploy", ""))
	r.alarm(contributorOf(t, "contributor-quota-alarm.json", "report", ""))
	if p := posts(); len(p) != 1 || !strings.Contains(p[0], "(token: report)") || r.others["deploy"].reads != 0 {
		t.Fatalf("posts while deploy is muted (%d readings of deploy):\n%s", r.others["deploy"].reads, strings.Join(p, "\n---\n"))
	}
	if n := strings.Count(r.logs.String(), "the token is muted: alarm message not posted"); n != 2 {
		t.Errorf("%d muted messages logged, want 2", n)
	}
	for _, a := range []string{fixtureAlarm, "quotabot-token-errors"} {
		if l, ok, _ := r.bot.state.Last(context.Background(), a, "deploy"); !ok || !l.Muted || l.Posted || l.State != alarm.StateAlarm || l.Event == "" {
			t.Errorf("%s: deploy's last state %+v", a, l)
		}
	}
	// A redelivery stays muted, and housekeeping says nothing while the
	// mute runs.
	r.alarm(contributorOf(t, "contributor-quota-alarm.json", "deploy", ""))
	r.housekeeping()
	if p := posts(); len(p) != 1 {
		t.Fatalf("%d posts", len(p))
	}

	// The mute ends; deploy still fails and runs low: each told once.
	r.now = alarmAt.Add(31 * time.Minute)
	setWindow(&env{cw: r.others["deploy"]}, r.now, 20, r.now.Add(time.Minute))
	r.housekeeping()
	r.housekeeping()
	p := posts()
	if len(p) != 3 || !strings.HasPrefix(p[1], enMute.resumed+"\n") || !strings.HasPrefix(p[2], enMute.resumed+"\n") {
		t.Fatalf("after the mute ended:\n%s", strings.Join(p, "\n---\n"))
	}
	if !strings.Contains(p[1]+p[2], "running low (token: deploy)") || !strings.Contains(p[1]+p[2], "Token deploy fails") || !strings.Contains(p[1]+p[2], "Remaining: 20 of 300") {
		t.Errorf("the held-back alarms:\n%s", strings.Join(p[1:], "\n---\n"))
	}
	if len(r.mutes()) != 0 {
		t.Errorf("the ended mute was kept: %+v", r.mutes())
	}
	// The room heard the alert: its recovery is posted.
	r.alarm(contributorOf(t, "contributor-quota-ok.json", "deploy", "2026-11-24T03:40:10.000+0000"))
	if p := posts(); len(p) != 4 || !strings.Contains(p[3], "recovered (token: deploy)") {
		t.Fatalf("the recovery after the told alert:\n%s", strings.Join(p, "\n---\n"))
	}

	// A mute of every token holds back a recovery whose alert was posted,
	// but not the heartbeat: the monitor is no token.
	r.alarm(contributorOf(t, "contributor-quota-alarm.json", "deploy", "2026-11-24T03:50:10.000+0000"))
	r.say("/quota mute 1h")
	r.alarm(contributorOf(t, "contributor-quota-ok.json", "deploy", "2026-11-24T03:55:10.000+0000"))
	setWindow(r.env, r.now, 200, r.now.Add(time.Minute))
	r.alarm(loadEvent(t, "heartbeat-alarm.json"))
	p = posts()
	if len(p) != 7 || !strings.Contains(p[4], "running low (token: deploy)") || !strings.Contains(p[6], "stopped reporting") {
		t.Fatalf("under a mute of every token:\n%s", strings.Join(p[4:], "\n---\n"))
	}
	// Unmuting: deploy recovered meanwhile, so there is nothing to tell.
	r.say("/quota unmute all")
	r.housekeeping()
	if n := len(posts()); n != 8 {
		t.Fatalf("%d posts after unmute: want only its reply", n)
	}
}

// Unmuting while the token is still in ALARM: housekeeping tells the room.
func TestUnmuteTellsWhatStillHolds(t *testing.T) {
	r := newRoom(t, alarmAt, func(c *Config, _ *Deps) { c.Language = "en" })
	r.say("/quota mute 1d")
	r.alarm(contributorOf(t, "contributor-quota-alarm.json", "report", ""))
	r.say("/quota unmute report") // report is muted by the mute of every token only
	r.housekeeping()
	if n := len(r.cw.postBodies()); n != 2 {
		t.Fatalf("%d posts: want the two replies", n)
	}
	r.say("/quota unmute all")
	r.housekeeping()
	p := r.cw.postBodies()
	if len(p) != 4 || !strings.Contains(p[3], "running low (token: report)") {
		t.Fatalf("posts:\n%s", strings.Join(p, "\n---\n"))
	}
}

// A state older than the token's last known one is never posted: an alert
// retried after its recovery arrived would tell the room the opposite of
// the truth.
func TestOlderStateNotPosted(t *testing.T) {
	r := newRoom(t, okAt, nil)
	r.alarm(contributorOf(t, "contributor-quota-ok.json", "deploy", ""))
	r.alarm(contributorOf(t, "contributor-quota-alarm.json", "deploy", ""))
	if n := len(r.cw.postBodies()); n != 0 || !strings.Contains(r.logs.String(), "a later state of this token is known") {
		t.Fatalf("%d posts; log:\n%s", n, r.logs)
	}
}
