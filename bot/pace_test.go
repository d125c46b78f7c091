package bot

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/alarm"
	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
	"github.com/quotabot/chatwork-quota-bot/internal/state"
)

// testPaceAlarm is the pace alarm as template.yaml names it for a stack
// "quotabot".
const testPaceAlarm = "quotabot-quota-pace"

// paceOf turns a quota contributor fixture into the pace alarm's, for
// token, at timestamp ("" keeps the fixture's), its datapoint value.
func paceOf(t testing.TB, fixture, token, timestamp string, value float64) alarm.Event {
	t.Helper()
	ev := loadEvent(t, fixture)
	ev.ID += "-pace"
	ev.Resources = []string{"arn:aws:cloudwatch:ap-northeast-1:123456789012:alarm:" + testPaceAlarm}
	ev.Detail.AlarmName = testPaceAlarm
	ev.Detail.AlarmContributor = &alarm.Contributor{ID: "7ac3" + token, Attributes: map[string]string{sample.Dimension: token}}
	ev.Detail.Configuration.Description = "At the pace of use seen, a ChatWork API token's quota runs out before the reset (one contributor per token)"
	ev.Detail.Configuration.Metrics[0].Expression = `SELECT MIN(projected_remaining) FROM SCHEMA("ChatWorkQuota", Token) GROUP BY Token ORDER BY MIN() ASC`
	crossed := "less than or equal to"
	if ev.Detail.State.Value == alarm.StateOK {
		crossed = "not less than or equal to"
	}
	ev.Detail.State.Reason = fmt.Sprintf("Threshold Crossed: 1 datapoint was %s the threshold (0.0). The most recent datapoint: [%.1f (24/11/26 03:00:00)].", crossed, value)
	if timestamp != "" {
		ev.Detail.State.Timestamp = timestamp
	}
	return ev
}

// projected gives each record the projection from the one before it, as
// the monitor does (Project refuses two readings of different windows).
func projected(recs []sample.Record) []sample.Record {
	for i := 1; i < len(recs); i++ {
		recs[i].Project(recs[i-1])
	}
	return recs
}

// The states of the episode tests: the pace alarm enters ALARM a minute
// before the quota alarm (the fixture's 03:05:10) and leaves it ten
// minutes before it (the fixture's 03:30:10).
const (
	paceAlarmAt = "2026-11-24T03:04:10.000+0000"
	paceOKAt    = "2026-11-24T03:20:10.000+0000"
)

// episodeRoom is a room whose bot knows both alarms of an episode by name;
// deploy's window runs low at a pace that runs it dry before the reset.
func episodeRoom(t *testing.T, mod func(*Config, *Deps)) *room {
	t.Helper()
	r := newRoom(t, alarmAt, func(c *Config, d *Deps) {
		c.Language, c.PaceAlarmName = "en", testPaceAlarm
		if mod != nil {
			mod(c, d)
		}
	})
	reset := time.Date(2026, 11, 24, 12, 7, 30, 0, jst)
	setWindow(&env{cw: r.others["deploy"]}, alarmAt, 38, reset)
	r.setHistory(tagged("deploy", projected(monitorHistory(alarmAt.Add(-22*time.Second), reset, 150, 100, 42)))...)
	return r
}

func paceAlarmOf(t *testing.T, token string) alarm.Event {
	return paceOf(t, "contributor-quota-alarm.json", token, paceAlarmAt, -113)
}
func paceOKOf(t *testing.T, token string) alarm.Event {
	return paceOf(t, "contributor-quota-ok.json", token, paceOKAt, 40)
}
func quotaAlarmOf(t *testing.T, token string) alarm.Event {
	return contributorOf(t, "contributor-quota-alarm.json", token, "")
}
func quotaOKOf(t *testing.T, token string) alarm.Event {
	return contributorOf(t, "contributor-quota-ok.json", token, "")
}

// What each message of an episode says (the room's language is en).
const (
	quotaAlertSays = "Used this window: 262"                 // the low-quota alert's fresh reading of deploy
	paceAlertSays  = "Remaining: 42 of 300 (14%)\nResets at" // the pace alert's recorded figures
	bothSay        = "running low and, at this pace, runs out before the reset (token: deploy)"
	quotaOKSays    = "ChatWork API quota has recovered (token: deploy)"
	paceOKSays     = "The pace of ChatWork API use has come down (token: deploy)"
)

// TestEpisodePaths runs every path of Episode through HandleAlarm for one
// token: whichever of the quota and pace alarms enters ALARM first alerts,
// the other joins silently, and whichever leaves last posts the recovery;
// each event delivered twice (EventBridge's redelivery) posts nothing more.
func TestEpisodePaths(t *testing.T) {
	cases := []struct {
		name   string
		events func(t *testing.T) []alarm.Event
		posts  []string // what each post says, in order
		logs   []string
	}{
		{"pace first, then low: one alert; pace OK while low holds: silent; low OK: its recovery",
			func(t *testing.T) []alarm.Event {
				return []alarm.Event{paceAlarmOf(t, "deploy"), quotaAlarmOf(t, "deploy"), paceOKOf(t, "deploy"), quotaOKOf(t, "deploy")}
			},
			[]string{paceAlertSays, quotaOKSays},
			[]string{"this one joins it", "the token's episode goes on under its other alarm"}},
		{"low first, then pace: one alert; low OK while pace holds: silent; pace OK: the pace came down",
			func(t *testing.T) []alarm.Event {
				return []alarm.Event{quotaAlarmOf(t, "deploy"), paceAlarmOf(t, "deploy"), quotaOKOf(t, "deploy"), paceOKOf(t, "deploy")}
			},
			[]string{quotaAlertSays, paceOKSays},
			[]string{"this one joins it", "the token's episode goes on under its other alarm"}},
		{"low first, pace OK first: the low-quota recovery",
			func(t *testing.T) []alarm.Event {
				return []alarm.Event{quotaAlarmOf(t, "deploy"), paceAlarmOf(t, "deploy"), paceOKOf(t, "deploy"), quotaOKOf(t, "deploy")}
			},
			[]string{quotaAlertSays, quotaOKSays}, nil},
		{"pace alone",
			func(t *testing.T) []alarm.Event {
				return []alarm.Event{paceAlarmOf(t, "deploy"), paceOKOf(t, "deploy")}
			},
			[]string{paceAlertSays, paceOKSays}, nil},
		{"low alone",
			func(t *testing.T) []alarm.Event {
				return []alarm.Event{quotaAlarmOf(t, "deploy"), quotaOKOf(t, "deploy")}
			},
			[]string{quotaAlertSays, quotaOKSays}, nil},
		{"another token's episode is its own",
			func(t *testing.T) []alarm.Event {
				return []alarm.Event{paceAlarmOf(t, "deploy"), quotaAlarmOf(t, "report"), paceOKOf(t, "deploy"), quotaOKOf(t, "report")}
			},
			[]string{paceAlertSays, "running low (token: report)", paceOKSays, "recovered (token: report)"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := episodeRoom(t, nil)
			for _, ev := range c.events(t) {
				r.alarm(ev)
				ev.ID = "redelivered"
				r.alarm(ev)
			}
			posts := r.cw.postBodies()
			if len(posts) != len(c.posts) {
				t.Fatalf("%d posts, want %d:\n%s", len(posts), len(c.posts), strings.Join(posts, "\n---\n"))
			}
			for i, want := range c.posts {
				if !strings.Contains(posts[i], want) {
					t.Errorf("post %d does not say %q:\n%s", i+1, want, posts[i])
				}
				checkAlarmMessage(t, posts[i], false)
			}
			if strings.Contains(posts[0], "(token: deploy)") && !strings.Contains(posts[0], bothSay) {
				t.Errorf("deploy's figures show both low remaining and a pace running out, the alert says not:\n%s", posts[0])
			}
			for _, want := range append(c.logs, "duplicate alarm event ignored") {
				if !strings.Contains(r.logs.String(), want) {
					t.Errorf("not logged: %q", want)
				}
			}
			// Each episode's lock was released.
			for _, token := range []string{"deploy", "report"} {
				if c, err := r.bot.state.Claim(context.Background(), episodeKey(token), r.now); err != nil || c.Status != state.Claimed {
					t.Errorf("%s's episode is still held: %+v, %v", token, c, err)
				}
			}
		})
	}
}

// A muted token's episode: both alarms held back; when the mute ends with
// both in ALARM, housekeeping tells the room once, and the episode's end is
// one recovery.
func TestEpisodeMuted(t *testing.T) {
	r := episodeRoom(t, nil)
	r.say("/quota mute 30m deploy")
	posts := func() []string { return r.cw.postBodies()[1:] } // after the mute's reply
	r.alarm(paceAlarmOf(t, "deploy"))
	r.alarm(quotaAlarmOf(t, "deploy"))
	if p := posts(); len(p) != 0 {
		t.Fatalf("posted while muted:\n%s", strings.Join(p, "\n---\n"))
	}
	if n := strings.Count(r.logs.String(), "the token is muted: alarm message not posted"); n != 2 {
		t.Errorf("%d muted messages logged, want 2", n)
	}
	r.now = alarmAt.Add(31 * time.Minute)
	reset := r.now.Add(time.Minute)
	setWindow(&env{cw: r.others["deploy"]}, r.now, 20, reset)
	r.setHistory(tagged("deploy", projected(monitorHistory(r.now.Add(-10*time.Second), reset, 100, 60, 20)))...)
	r.housekeeping()
	r.housekeeping()
	p := posts()
	if len(p) != 1 || !strings.HasPrefix(p[0], enMute.resumed+"\n") || !strings.Contains(p[0], bothSay) || !strings.Contains(p[0], "Remaining: 20 of 300") {
		t.Fatalf("after the mute ended, want one alert saying both:\n%s", strings.Join(p, "\n---\n"))
	}
	for _, a := range []string{fixtureAlarm, testPaceAlarm} {
		if l, ok, _ := r.bot.state.Last(context.Background(), a, "deploy"); !ok || l.Muted || !l.Posted || l.State != alarm.StateAlarm {
			t.Errorf("%s: deploy's last state %+v, want a told ALARM", a, l)
		}
	}
	r.alarm(quotaOKOf(t, "deploy"))
	if p := posts(); len(p) != 1 {
		t.Fatalf("the low-quota OK while the pace holds was posted:\n%s", p[len(p)-1])
	}
	r.alarm(paceOf(t, "contributor-quota-ok.json", "deploy", "2026-11-24T03:40:10.000+0000", 40))
	if p := posts(); len(p) != 2 || !strings.Contains(p[1], paceOKSays) {
		t.Fatalf("the episode's end:\n%s", strings.Join(p, "\n---\n"))
	}
}

// A mute that ends while one alarm holds back the episode: the other
// alarm entering ALARM joins it silently (housekeeping tells it), and
// housekeeping skips an alarm whose episode the room has heard of since.
func TestEpisodeMuteEndsBetweenTheAlarms(t *testing.T) {
	r := episodeRoom(t, nil)
	r.say("/quota mute 10m deploy")
	r.alarm(paceAlarmOf(t, "deploy"))
	r.now = alarmAt.Add(11 * time.Minute) // the mute has ended, housekeeping has not run
	r.alarm(quotaAlarmOf(t, "deploy"))
	if p := r.cw.postBodies(); len(p) != 1 {
		t.Fatalf("posts:\n%s", strings.Join(p, "\n---\n"))
	}
	r.housekeeping()
	r.housekeeping()
	p := r.cw.postBodies()
	if len(p) != 2 || !strings.HasPrefix(p[1], enMute.resumed+"\n") {
		t.Fatalf("after housekeeping, want the held-back alert once:\n%s", strings.Join(p, "\n---\n"))
	}
	if l, _, _ := r.bot.state.Last(context.Background(), fixtureAlarm, "deploy"); !l.Posted {
		t.Errorf("the joined alarm is not told: %+v", l)
	}
	r.alarm(paceOKOf(t, "deploy"))
	r.alarm(quotaOKOf(t, "deploy"))
	if p := r.cw.postBodies(); len(p) != 3 || !strings.Contains(p[2], quotaOKSays) {
		t.Fatalf("the episode's end:\n%s", strings.Join(p, "\n---\n"))
	}
}

// The alarm that leaves while the other holds hands over that the room
// heard of the episode, so that the other's end is told.
func TestEpisodeHandOver(t *testing.T) {
	r := episodeRoom(t, nil)
	ctx := context.Background()
	pace, quota := paceAlarmOf(t, "deploy"), quotaAlarmOf(t, "deploy")
	for _, l := range []state.Last{
		{Alarm: testPaceAlarm, Token: "deploy", State: alarm.StateAlarm, At: pace.Detail.State.Time()},
		{Alarm: fixtureAlarm, Token: "deploy", State: alarm.StateAlarm, At: quota.Detail.State.Time(), Posted: true},
	} {
		if err := r.bot.state.SetLast(ctx, l, r.now); err != nil {
			t.Fatal(err)
		}
	}
	r.alarm(quotaOKOf(t, "deploy"))
	if l, _, _ := r.bot.state.Last(ctx, testPaceAlarm, "deploy"); !l.Posted || l.State != alarm.StateAlarm {
		t.Fatalf("the pace alarm's last state %+v, want the episode heard", l)
	}
	r.alarm(paceOKOf(t, "deploy"))
	if p := r.cw.postBodies(); len(p) != 1 || !strings.Contains(p[0], paceOKSays) {
		t.Fatalf("posts:\n%s", strings.Join(p, "\n---\n"))
	}
}

// An alert that failed (ChatWork refused the post) is counted; the other
// alarm entering ALARM then alerts rather than join an episode the room
// never heard of, and the end is told once.
func TestEpisodeAfterAFailedAlert(t *testing.T) {
	var metrics strings.Builder
	r := episodeRoom(t, func(_ *Config, d *Deps) { d.Metrics = &metrics })
	r.cw.postErrs = []error{&chatwork.Error{Op: "post message", Kind: chatwork.KindServer, Status: 500, Err: errors.New(leakyCause)}}
	r.alarm(paceAlarmOf(t, "deploy"))
	if !strings.Contains(metrics.String(), `"alert_post_failures":1,"alarm":"`+testPaceAlarm+`"`) {
		t.Errorf("the pace alert's failure is not counted: %s", metrics.String())
	}
	r.alarm(quotaAlarmOf(t, "deploy"))
	r.alarm(paceOKOf(t, "deploy"))
	r.alarm(quotaOKOf(t, "deploy"))
	p := r.cw.postBodies()
	if len(p) != 3 || !strings.Contains(p[1], quotaAlertSays) || !strings.Contains(p[2], quotaOKSays) {
		t.Fatalf("posts (the first failed):\n%s", strings.Join(p, "\n---\n"))
	}
}

// A pace state older than the one known is not posted, as for the quota
// alarm.
func TestEpisodeOlderStateSkipped(t *testing.T) {
	r := episodeRoom(t, nil)
	r.alarm(paceOKOf(t, "deploy"))
	r.alarm(paceAlarmOf(t, "deploy"))
	if p := r.cw.postBodies(); len(p) != 0 || !strings.Contains(r.logs.String(), "a later state of this token is known") {
		t.Fatalf("posts:\n%s", strings.Join(p, "\n---\n"))
	}
}

// The pace alarm's own state change (a Metrics Insights alarm's) is logged
// only; a single pace alarm of the own token tells its ALARM and its end,
// and nothing of INSUFFICIENT_DATA (a window with one reading has no
// projection; the heartbeat alarm tells a silent monitor).
func TestPaceAlarmOwnStates(t *testing.T) {
	r := episodeRoom(t, nil)
	parent := loadEvent(t, "insights-quota-alarm.json")
	parent.Detail.AlarmName = testPaceAlarm
	parent.Detail.Configuration.Metrics[0].Expression = `SELECT MIN(projected_remaining) FROM SCHEMA("ChatWorkQuota", Token) GROUP BY Token ORDER BY MIN() ASC`
	r.alarm(parent)
	if len(r.cw.postBodies()) != 0 || !strings.Contains(r.logs.String(), "Metrics Insights alarm state change") {
		t.Fatalf("the parent's change: posts %q", r.cw.postBodies())
	}

	single := func(fixture, state, previous, timestamp string) alarm.Event {
		ev := loadEvent(t, fixture)
		ev.Detail.AlarmName = testPaceAlarm
		ev.Detail.Configuration.Metrics[0].MetricStat.Metric.Name = sample.MetricProjected
		ev.Detail.State.Value, ev.Detail.State.Timestamp = state, timestamp
		ev.Detail.State.ReasonData = ""
		ev.Detail.State.Reason = "Threshold Crossed: 1 datapoint was less than or equal to the threshold (0.0). The most recent datapoint which crossed the threshold: [-20.0 (24/11/26 03:00:00)]."
		ev.Detail.PreviousState.Value = previous
		return ev
	}
	r.alarm(single("alarm-state-insufficient.json", alarm.StateInsufficient, alarm.StateOK, "2026-11-24T03:01:00.000+0000"))
	r.alarm(single("alarm-state-ok.json", alarm.StateOK, alarm.StateInsufficient, "2026-11-24T03:02:00.000+0000"))
	if p := r.cw.postBodies(); len(p) != 0 || strings.Count(r.logs.String(), "the pace alarm has no projection to judge") != 2 {
		t.Fatalf("INSUFFICIENT_DATA and its end: posts %q", p)
	}
	r.alarm(single("alarm-state-alarm.json", alarm.StateAlarm, alarm.StateOK, "2026-11-24T03:03:00.000+0000"))
	r.alarm(single("alarm-state-ok.json", alarm.StateOK, alarm.StateAlarm, "2026-11-24T03:20:00.000+0000"))
	p := r.cw.postBodies()
	if len(p) != 2 || !strings.Contains(p[0], "runs out before the reset (token: default)") || !strings.Contains(p[1], "pace of ChatWork API use has come down (token: default)") {
		t.Fatalf("posts:\n%s", strings.Join(p, "\n---\n"))
	}
}

// gatedChatWork holds each post until release is closed, after saying on
// entered that one has begun.
type gatedChatWork struct {
	*fakeChatWork
	entered chan struct{}
	release chan struct{}
}

func (g *gatedChatWork) Post(ctx context.Context, roomID int64, body string) (chatwork.Posted, error) {
	select {
	case g.entered <- struct{}{}:
	default:
	}
	<-g.release
	return g.fakeChatWork.Post(ctx, roomID, body)
}

// instance is one of two bots sharing a state, as two Lambda instances
// share the table: its own ChatWork client and deploy's, the same clock
// and history. Its polls of a held claim wait for the other instance to
// finish (wait), so that no test depends on how long anything takes.
func instance(t *testing.T, shared *state.Memory, wait <-chan struct{}, mod func(*Config, *Deps)) *room {
	t.Helper()
	return episodeRoom(t, func(c *Config, d *Deps) {
		d.State = shared
		c.Sleep = func(ctx context.Context, _ time.Duration) error {
			select {
			case <-wait:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if mod != nil {
			mod(c, d)
		}
	})
}

// The quota alarm's ALARM in one instance and the pace alarm's in another,
// sharing the state: the second waits while the first decides and posts,
// then joins its episode. One alert.
func TestEpisodeAcrossInstances(t *testing.T) {
	shared := &state.Memory{}
	aDone, bWaits := make(chan struct{}), make(chan struct{}, 1)
	gate := &gatedChatWork{entered: make(chan struct{}, 1), release: make(chan struct{})}
	a := instance(t, shared, nil, func(_ *Config, d *Deps) {
		gate.fakeChatWork = d.ChatWork.(*fakeChatWork)
		d.ChatWork = gate
	})
	b := instance(t, shared, nil, func(c *Config, _ *Deps) {
		c.Sleep = func(ctx context.Context, _ time.Duration) error {
			select {
			case bWaits <- struct{}{}:
			default:
			}
			select {
			case <-aDone:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(aDone)
		if err := a.bot.HandleAlarm(context.Background(), quotaAlarmOf(t, "deploy")); err != nil {
			t.Error(err)
		}
	})
	<-gate.entered // a holds deploy's episode and is posting its alert
	bDone := make(chan struct{})
	wg.Go(func() {
		defer close(bDone)
		if err := b.bot.HandleAlarm(context.Background(), paceAlarmOf(t, "deploy")); err != nil {
			t.Error(err)
		}
	})
	select {
	case <-bWaits: // b polls deploy's episode, held by a
	case <-bDone: // b did not wait: a second alert
	}
	close(gate.release)
	wg.Wait()
	if pa, pb := a.cw.postBodies(), b.cw.postBodies(); len(pa) != 1 || len(pb) != 0 || !strings.Contains(pa[0], quotaAlertSays) {
		t.Fatalf("posts of a %q, of b %q", pa, pb)
	}
	if !strings.Contains(b.logs.String(), "this one joins it") {
		t.Errorf("b's log:\n%s", b.logs)
	}
	// The episode's end, told by whichever instance sees the last alarm leave.
	b.alarm(quotaOKOf(t, "deploy"))
	a.alarm(paceOKOf(t, "deploy"))
	if pa, pb := a.cw.postBodies(), b.cw.postBodies(); len(pa) != 2 || len(pb) != 0 || !strings.Contains(pa[1], paceOKSays) {
		t.Fatalf("posts of a %q, of b %q", pa, pb)
	}
}

// The same two deliveries racing freely, many times over: one alert each
// time, whichever instance wins.
func TestEpisodeRaceAcrossInstances(t *testing.T) {
	for i := range 20 {
		shared := &state.Memory{}
		aDone, bDone := make(chan struct{}), make(chan struct{})
		a := instance(t, shared, bDone, nil)
		b := instance(t, shared, aDone, nil)
		var wg sync.WaitGroup
		for _, run := range []struct {
			r    *room
			ev   alarm.Event
			done chan struct{}
		}{{a, quotaAlarmOf(t, "deploy"), aDone}, {b, paceAlarmOf(t, "deploy"), bDone}} {
			wg.Go(func() {
				defer close(run.done)
				if err := run.r.bot.HandleAlarm(context.Background(), run.ev); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if n := len(a.cw.postBodies()) + len(b.cw.postBodies()); n != 1 {
			t.Fatalf("round %d: %d alerts, want 1:\n%s\n---\n%s", i, n, a.logs, b.logs)
		}
	}
}

// A mute holds back the pace alarm's alert; it ends, the quota alarm joins
// the episode, and the pace alarm leaves before the housekeeping runs: the
// housekeeping still tells the episode (through the quota alarm, which
// joined it held back), once, and its end is told.
func TestEpisodeMutedAlarmLeavesBeforeHousekeeping(t *testing.T) {
	r := episodeRoom(t, nil)
	r.say("/quota mute 10m deploy")
	r.alarm(paceAlarmOf(t, "deploy"))
	r.now = alarmAt.Add(11 * time.Minute) // the mute has ended, housekeeping has not run
	r.alarm(quotaAlarmOf(t, "deploy"))
	r.alarm(paceOKOf(t, "deploy"))
	if p := r.cw.postBodies(); len(p) != 1 {
		t.Fatalf("before housekeeping, want the mute's reply alone:\n%s", strings.Join(p, "\n---\n"))
	}
	r.housekeeping()
	r.housekeeping()
	p := r.cw.postBodies()
	if len(p) != 2 || !strings.HasPrefix(p[1], enMute.resumed+"\n") {
		t.Fatalf("after housekeeping, want the held-back episode told once:\n%s", strings.Join(p, "\n---\n"))
	}
	r.alarm(quotaOKOf(t, "deploy"))
	if p := r.cw.postBodies(); len(p) != 3 || !strings.Contains(p[2], quotaOKSays) {
		t.Fatalf("the episode's end:\n%s", strings.Join(p, "\n---\n"))
	}
}

// The recovery of an episode says how long the room's episode lasted, from
// its first alarm: the pace alarm's at 03:04:10, not the quota alarm's
// that joined at 03:05:10 and left last at 03:30:10.
func TestEpisodeRecoveryLastsFromItsStart(t *testing.T) {
	r := episodeRoom(t, nil)
	r.alarm(paceAlarmOf(t, "deploy"))
	r.alarm(quotaAlarmOf(t, "deploy"))
	r.alarm(paceOKOf(t, "deploy"))
	r.alarm(quotaOKOf(t, "deploy"))
	p := r.cw.postBodies()
	if len(p) != 2 || !strings.Contains(p[1], quotaOKSays) || !strings.Contains(p[1], "The alert lasted 26m") {
		t.Fatalf("want the alert and a recovery of 26m:\n%s", strings.Join(p, "\n---\n"))
	}
}

// The run-out line says how long before the reset the quota runs out; a
// projection of 0 runs out at the reset itself, which the expected 0 says:
// no "0s before the reset".
func TestPaceLinesRunOut(t *testing.T) {
	at := time.Date(2026, 11, 24, 12, 5, 0, 0, jst)
	rec := func(remaining, projected int) sample.Record {
		return sample.Record{Time: at, HasQuota: true, Remaining: remaining, Limit: 300, Reset: at.Add(time.Minute).Unix(),
			HasProjection: true, Projected: projected, Pace: 60}
	}
	en := languages["en"]
	has := func(lines []string) bool { return strings.Contains(strings.Join(lines, "\n"), "before the reset.") }
	if lines := paceLines(en, rec(50, -50), false, at, jst); !has(lines) {
		t.Errorf("half way: no run-out line:\n%s", strings.Join(lines, "\n"))
	}
	if lines := paceLines(en, rec(100, 0), false, at, jst); has(lines) {
		t.Errorf("a projection of 0 has a run-out line:\n%s", strings.Join(lines, "\n"))
	}
}
