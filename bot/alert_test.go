package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/quotabot/chatwork-quota-bot/internal/alarm"
	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/recordtest"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
	"github.com/quotabot/chatwork-quota-bot/internal/state"
)

const (
	// The fixtures' alarm, as template.yaml names it for a stack "quotabot".
	fixtureAlarm  = "quotabot-quota-low"
	testDashboard = "https://ap-northeast-1.console.aws.amazon.com/cloudwatch/home?region=ap-northeast-1#dashboards/dashboard/quotabot-quota"
	// leakyCause stands for an internal error's text: it may be logged, but
	// it must never reach the room or the records.
	leakyCause = "UPSTREAM-CAUSE-TEXT"
)

// Times around the fixtures' state changes (testdata/events), in JST.
var (
	alarmAt  = time.Date(2026, 11, 24, 12, 5, 12, 0, jst)  // 2 s after ALARM
	okAt     = time.Date(2026, 11, 24, 12, 30, 12, 0, jst) // 2 s after OK
	silentAt = time.Date(2026, 11, 24, 13, 10, 12, 0, jst) // 2 s after INSUFFICIENT_DATA
	otherAt  = time.Date(2026, 11, 24, 14, 1, 2, 0, jst)   // 2 s after orders-errors' ALARM
)

// loadEvent parses a fixture the way the dispatcher does.
func loadEvent(t testing.TB, name string) alarm.Event {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "testdata", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := alarm.Parse(raw)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return ev
}

// withPoint replaces the event's datapoint and threshold.
func withPoint(ev alarm.Event, value, threshold float64) alarm.Event {
	rd, _ := json.Marshal(map[string]any{
		"version": "1.0", "statistic": "Minimum", "period": 300, "threshold": threshold,
		"recentDatapoints":    []float64{value},
		"evaluatedDatapoints": []map[string]any{{"timestamp": "2026-11-24T03:00:00.000+0000", "sampleCount": 5.0, "value": value}},
	})
	ev.Detail.State.ReasonData = string(rd)
	return ev
}

// monitorHistory is a day of monitor samples, one a minute, ending with
// the given remaining counts in the window that resets at reset (the last
// one at last). Older windows have 250 remaining.
func monitorHistory(last, reset time.Time, current ...int) []sample.Record {
	var recs []sample.Record
	n := len(current)
	for i := 24 * 60; i >= 0; i-- {
		at := last.Add(-time.Duration(i) * time.Minute)
		r := sample.Record{Time: at, Token: "default", Source: sample.SourceMonitor, HasQuota: true, Remaining: 250, Limit: 300, Reset: at.Add(150 * time.Second).Unix(), Calls: 1}
		if i < n {
			r.Remaining, r.Reset = current[n-1-i], reset.Unix()
		}
		recs = append(recs, r)
	}
	return recs
}

// alarmEnv is an env set up for the fixtures: the quota alarm's name and
// threshold as the template would set them, the clock at now, a reading of
// remaining in a window resetting at reset, and history.
func alarmEnv(t testing.TB, now time.Time, mod func(*Config, *Deps)) *env {
	t.Helper()
	e := newEnv(t, func(c *Config, d *Deps) {
		c.Now = func() time.Time { return now }
		c.AlarmName = fixtureAlarm
		c.Threshold = 60
		c.DashboardURL = testDashboard
		if mod != nil {
			mod(c, d)
		}
	})
	return e
}

func setWindow(e *env, now time.Time, remaining int, reset time.Time) {
	e.cw.reading = chatwork.Reading{At: now, Quota: &chatwork.Quota{Limit: 300, Remaining: remaining, Reset: reset}, AccountID: testBotID}
	e.cw.postQ = &chatwork.Quota{Limit: 300, Remaining: remaining - 1, Reset: reset}
}

func netErr(op string) error {
	return &chatwork.Error{Op: op, Kind: chatwork.KindNetwork, Err: errors.New(leakyCause)}
}

// alarmScenario is one alarm message, end to end through HandleAlarm and
// the fake ChatWork.
type alarmScenario struct {
	name  string
	event func(t testing.TB) alarm.Event
	now   time.Time
	mod   func(*Config, *Deps)
	setup func(e *env)
	reads int // the readings the message may spend
}

func alarmScenarios() []alarmScenario {
	alarmReset := time.Date(2026, 11, 24, 12, 7, 30, 0, jst)
	alarmWindow := func(e *env) {
		setWindow(e, alarmAt, 38, alarmReset)
		e.setHistory(monitorHistory(alarmAt.Add(-22*time.Second), alarmReset, 80, 60, 42)...)
	}
	fixture := func(name string) func(testing.TB) alarm.Event {
		return func(t testing.TB) alarm.Event { return loadEvent(t, name) }
	}
	silentReset := time.Date(2026, 11, 24, 13, 12, 30, 0, jst)
	lastMonitor := time.Date(2026, 11, 24, 13, 4, 50, 0, jst)
	return []alarmScenario{
		{name: "alert_count", event: fixture("alarm-state-alarm.json"), now: alarmAt, setup: alarmWindow, reads: 1},
		{name: "alert_percent", now: alarmAt, setup: alarmWindow, reads: 1,
			mod: func(c *Config, _ *Deps) { c.Threshold, c.ThresholdPercent = 20, true },
			event: func(t testing.TB) alarm.Event {
				ev := withPoint(loadEvent(t, "alarm-state-alarm.json"), 14, 20)
				ev.Detail.Configuration.Metrics[0].MetricStat.Metric.Name = sample.MetricRemainingPercent
				return ev
			}},
		{name: "alert_mention_all", event: fixture("alarm-state-alarm.json"), now: alarmAt, setup: alarmWindow, reads: 1,
			mod: func(c *Config, _ *Deps) { c.MentionAll = true }},
		{name: "alert_mention_ids", event: fixture("alarm-state-alarm.json"), now: alarmAt, setup: alarmWindow, reads: 1,
			mod: func(c *Config, _ *Deps) { c.MentionAccountIDs = []int64{123, 456} }},
		{name: "alert_nearly_exhausted", now: alarmAt, reads: 0,
			event: func(t testing.TB) alarm.Event { return withPoint(loadEvent(t, "alarm-state-alarm.json"), 2, 60) },
			setup: func(e *env) {
				setWindow(e, alarmAt, 1, alarmReset)
				e.setHistory(monitorHistory(alarmAt.Add(-22*time.Second), alarmReset, 40, 9, 2)...)
			}},
		{name: "alert_read_failed", event: fixture("alarm-state-alarm.json"), now: alarmAt, reads: 1,
			setup: func(e *env) { alarmWindow(e); e.cw.readErr = netErr("read quota") }},
		{name: "alert_datapoint_only", event: fixture("alarm-state-alarm.json"), now: alarmAt, reads: 1,
			setup: func(e *env) {
				alarmWindow(e)
				e.cw.readErr = netErr("read quota")
				e.hist.Err = errors.New(leakyCause)
			}},
		{name: "recovery_after_alarm", event: fixture("alarm-state-ok.json"), now: okAt, reads: 0,
			setup: func(e *env) { setWindow(e, okAt, 290, okAt.Add(time.Minute)) }},
		{name: "recovery_after_insufficient", now: okAt, reads: 0,
			setup: func(e *env) { setWindow(e, okAt, 290, okAt.Add(time.Minute)) },
			event: func(t testing.TB) alarm.Event {
				ev := loadEvent(t, "alarm-state-ok.json")
				ev.Detail.PreviousState = alarm.State{Value: alarm.StateInsufficient, Reason: "Insufficient Data: 1 datapoint was unknown.", Timestamp: "2026-11-24T03:20:10.000+0000"}
				return ev
			}},
		{name: "recovery_initial", now: okAt, reads: 0,
			setup: func(e *env) { setWindow(e, okAt, 290, okAt.Add(time.Minute)) },
			event: func(t testing.TB) alarm.Event {
				ev := loadEvent(t, "alarm-state-ok.json")
				ev.Detail.PreviousState = alarm.State{Value: alarm.StateInsufficient, Reason: "Unchecked: Initial alarm creation", Timestamp: "2026-11-24T03:20:10.000+0000"}
				return ev
			}},
		{name: "insufficient", event: fixture("alarm-state-insufficient.json"), now: silentAt, reads: 1,
			setup: func(e *env) {
				setWindow(e, silentAt, 290, silentReset)
				e.setHistory(monitorHistory(lastMonitor, lastMonitor.Add(2*time.Minute), 250)...)
			}},
		{name: "insufficient_monitor_failing", event: fixture("alarm-state-insufficient.json"), now: silentAt, reads: 1,
			setup: func(e *env) {
				setWindow(e, silentAt, 290, silentReset)
				e.cw.readErr = netErr("read quota")
				recs := monitorHistory(lastMonitor, lastMonitor.Add(2*time.Minute), 250)
				for i := 1; i <= 5; i++ {
					recs = append(recs, sample.Record{
						Time: lastMonitor.Add(time.Duration(i) * time.Minute), Token: "default", Source: sample.SourceMonitor,
						Error: "network", Detail: "read quota: network", Calls: 1,
					})
				}
				e.setHistory(recs...)
			}},
		{name: "alert_with_pace", event: fixture("alarm-state-alarm.json"), now: alarmAt, reads: 1,
			setup: func(e *env) {
				setWindow(e, alarmAt, 38, alarmReset)
				e.setHistory(projected(monitorHistory(alarmAt.Add(-22*time.Second), alarmReset, 80, 60, 42))...)
			}},
		{name: "pace_alert", now: alarmAt, reads: 0,
			event: func(t testing.TB) alarm.Event { return paceOf(t, "contributor-quota-alarm.json", "default", "", -83) },
			setup: func(e *env) {
				e.setHistory(projected(monitorHistory(alarmAt.Add(-22*time.Second), alarmReset, 200, 130, 72))...)
			}},
		{name: "pace_alert_low", now: alarmAt, reads: 0,
			event: func(t testing.TB) alarm.Event { return paceOf(t, "contributor-quota-alarm.json", "default", "", -113) },
			setup: func(e *env) {
				e.setHistory(projected(monitorHistory(alarmAt.Add(-22*time.Second), alarmReset, 150, 100, 42))...)
			}},
		{name: "pace_alert_mention_all", now: alarmAt, reads: 0,
			mod:   func(c *Config, _ *Deps) { c.MentionAll = true },
			event: func(t testing.TB) alarm.Event { return paceOf(t, "contributor-quota-alarm.json", "default", "", -83) },
			setup: func(e *env) {
				e.setHistory(projected(monitorHistory(alarmAt.Add(-22*time.Second), alarmReset, 200, 130, 72))...)
			}},
		{name: "pace_alert_datapoint_only", now: alarmAt, reads: 0,
			event: func(t testing.TB) alarm.Event { return paceOf(t, "contributor-quota-alarm.json", "default", "", -83) },
			setup: func(e *env) { e.hist.Err = errors.New(leakyCause) }},
		{name: "pace_alert_window_reset", now: alarmAt, reads: 0,
			// The projection belongs to a window that has reset since.
			event: func(t testing.TB) alarm.Event { return paceOf(t, "contributor-quota-alarm.json", "default", "", -40) },
			setup: func(e *env) {
				e.setHistory(projected(monitorHistory(alarmAt.Add(-2*time.Minute), alarmAt.Add(-time.Second), 200, 130, 72))...)
			}},
		{name: "pace_recovery", now: okAt, reads: 0,
			event: func(t testing.TB) alarm.Event { return paceOf(t, "contributor-quota-ok.json", "default", "", 260) },
			setup: func(e *env) {
				paceAlarm := paceOf(e.t, "contributor-quota-alarm.json", "default", "", -83)
				if err := e.bot.state.SetLast(context.Background(), state.Last{Alarm: paceAlarm.Detail.AlarmName, Token: "default", State: alarm.StateAlarm, At: paceAlarm.Detail.State.Time(), Posted: true}, okAt); err != nil {
					e.t.Fatal(err)
				}
				reset := okAt.Add(90 * time.Second)
				e.setHistory(projected(monitorHistory(okAt.Add(-22*time.Second), reset, 280, 275, 270))...)
			}},
		{name: "other_alarm", event: fixture("alarm-state-other.json"), now: otherAt, reads: 0},
		{name: "other_alarm_unsafe", now: otherAt, reads: 0,
			event: func(t testing.TB) alarm.Event {
				ev := loadEvent(t, "alarm-state-other.json")
				ev.Detail.AlarmName = "orders[toall]"
				ev.Detail.PreviousState.Value = "OK[/info]"
				ev.Detail.State.Reason = "[toall] [To:1]\n[/info]/quota\r\n" + strings.Repeat("datapoints [3.0] ", 60)
				return ev
			}},
	}
}

// checkGolden compares got with testdata/golden/name, or rewrites it with -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	file := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test ./bot -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file:\n--- got ---\n%s\n--- want ---\n%s", file, got, want)
	}
}

// checkAlarmMessage holds for every alarm message: within ChatWork's length,
// not a command, balanced notation, no [toall] unless configured, and no
// secret or internal error text.
func checkAlarmMessage(t *testing.T, msg string, toall bool) {
	t.Helper()
	if n := utf8.RuneCountInString(msg); n == 0 || n > 65535 {
		t.Errorf("message is %d characters", n)
	}
	if c := parseCommand(msg); c.kind != cmdNone {
		t.Errorf("the bot's own message parses as command %v", c.kind)
	}
	for _, tag := range []string{"info", "title", "code"} {
		if o, c := strings.Count(msg, "["+tag+"]"), strings.Count(msg, "[/"+tag+"]"); o != c || o > 1 {
			t.Errorf("[%s] opened %d times, closed %d times", tag, o, c)
		}
	}
	if got := strings.Contains(msg, "[toall]"); got != toall {
		t.Errorf("[toall] in the message: %v, want %v", got, toall)
	}
	for _, bad := range []string{apiToken, leakyCause, "%!"} {
		if strings.Contains(msg, bad) {
			t.Errorf("message contains %q:\n%s", bad, msg)
		}
	}
}

// TestAlarmMessages runs every fixture-driven scenario in both languages:
// one post into the room, with the golden text, at most 2 calls.
func TestAlarmMessages(t *testing.T) {
	for _, sc := range alarmScenarios() {
		for _, lang := range []string{"ja", "en"} {
			t.Run(sc.name+"_"+lang, func(t *testing.T) {
				e := alarmEnv(t, sc.now, func(c *Config, d *Deps) {
					c.Language = lang
					if sc.mod != nil {
						sc.mod(c, d)
					}
				})
				if sc.setup != nil {
					sc.setup(e)
				}
				if err := e.bot.HandleAlarm(context.Background(), sc.event(t)); err != nil {
					t.Fatalf("HandleAlarm: %v", err)
				}
				if e.cw.reads != sc.reads || len(e.cw.posts) != 1 {
					t.Fatalf("reads %d posts %d, want %d and 1", e.cw.reads, len(e.cw.posts), sc.reads)
				}
				if n := e.cw.calls(); n > 2 {
					t.Errorf("%d calls, an alarm message may spend at most 2", n)
				}
				post := e.cw.posts[0]
				if post.Room != testRoom {
					t.Errorf("posted to room %d, want %d", post.Room, testRoom)
				}
				checkGolden(t, "alarm_"+sc.name+"_"+lang+".txt", post.Body)
				checkAlarmMessage(t, post.Body, strings.HasSuffix(sc.name, "mention_all"))
				// Every response's quota is recorded: the reading's (sample
				// or failure) and the post's.
				if recs := e.rec.All(); len(recs) != e.cw.calls() {
					t.Errorf("%d records for %d calls: %+v", len(recs), e.cw.calls(), recs)
				}
				for _, r := range e.rec.All() {
					j, _ := r.MarshalJSON()
					if r.Source != sample.SourcePassive || strings.Contains(string(j), leakyCause) {
						t.Errorf("record %s", j)
					}
				}
				if logs := e.logs.String(); strings.Contains(logs, apiToken) || strings.Contains(logs, "record failed") {
					t.Errorf("logs:\n%s", logs)
				}
			})
		}
	}
}

func TestAlertRecordsReadingAndPost(t *testing.T) {
	e := alarmEnv(t, alarmAt, nil)
	reset := time.Date(2026, 11, 24, 12, 7, 30, 0, jst)
	setWindow(e, alarmAt, 38, reset)
	if err := e.bot.HandleAlarm(context.Background(), loadEvent(t, "alarm-state-alarm.json")); err != nil {
		t.Fatal(err)
	}
	recs := e.rec.All()
	if len(recs) != 2 {
		t.Fatalf("%d records, want the reading's and the post's: %+v", len(recs), recs)
	}
	for i, want := range []int{38, 37} {
		r := recs[i]
		if r.Source != sample.SourcePassive || !r.HasQuota || r.Remaining != want || r.Limit != 300 || r.Reset != reset.Unix() || r.Calls != 1 {
			t.Errorf("record %d = %+v, want a passive sample of %d/300", i, r, want)
		}
	}
	// The fresh reading's figures are the ones shown.
	if body := e.cw.posts[0].Body; !strings.Contains(body, "残り: 38 / 300 回") || strings.Contains(body, "記録です") {
		t.Errorf("alert does not show the fresh reading:\n%s", body)
	}
}

func TestAlarmDuplicate(t *testing.T) {
	for _, name := range []string{"alarm-state-alarm.json", "alarm-state-ok.json", "alarm-state-insufficient.json", "alarm-state-other.json"} {
		e := alarmEnv(t, alarmAt, nil)
		ev := loadEvent(t, name)
		for range 2 {
			if err := e.bot.HandleAlarm(context.Background(), ev); err != nil {
				t.Fatal(err)
			}
		}
		// A redelivery has another event id but the same transition.
		ev.ID = "redelivered"
		if err := e.bot.HandleAlarm(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
		if len(e.cw.posts) != 1 {
			t.Errorf("%s delivered 3 times: %d posts, want 1", name, len(e.cw.posts))
		}
		if !strings.Contains(e.logs.String(), "duplicate alarm event ignored") {
			t.Errorf("%s: duplicate not logged", name)
		}
	}

	// Concurrent deliveries (two containers cannot be helped, but two
	// invocations in one process can).
	e := alarmEnv(t, alarmAt, nil)
	ev := loadEvent(t, "alarm-state-alarm.json")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if err := e.bot.HandleAlarm(context.Background(), ev); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if len(e.cw.posts) != 1 {
		t.Errorf("8 concurrent deliveries: %d posts, want 1", len(e.cw.posts))
	}

	// The next transition of the same alarm is a new message.
	if err := e.bot.HandleAlarm(context.Background(), loadEvent(t, "alarm-state-ok.json")); err != nil {
		t.Fatal(err)
	}
	if len(e.cw.posts) != 2 {
		t.Errorf("the recovery after the alert: %d posts, want 2", len(e.cw.posts))
	}
}

func TestAlarmMalformed(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "testdata", "events", "alarm-state-malformed.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alarm.Parse(raw); err == nil {
		t.Fatal("the malformed fixture parses: the dispatcher would post for it")
	}

	unknown := loadEvent(t, "alarm-state-alarm.json")
	unknown.Detail.State.Value = "BROKEN[toall]"
	noName := loadEvent(t, "alarm-state-alarm.json")
	noName.Detail.AlarmName = ""
	empty := loadEvent(t, "alarm-state-alarm.json")
	empty.Detail.State = alarm.State{}
	for name, ev := range map[string]alarm.Event{"unknown state": unknown, "no alarm name": noName, "no state": empty} {
		e := alarmEnv(t, alarmAt, nil)
		err := e.bot.HandleAlarm(context.Background(), ev)
		if err == nil || !strings.Contains(err.Error(), "unusable alarm state change event") {
			t.Errorf("%s: error %v, want an unusable event", name, err)
		}
		if n := e.cw.calls(); n != 0 || len(e.rec.All()) != 0 {
			t.Errorf("%s: %d calls, %d records, want none", name, n, len(e.rec.All()))
		}
		if !strings.Contains(e.logs.String(), "alarm event rejected") {
			t.Errorf("%s: not logged:\n%s", name, e.logs)
		}
		// Rejected events are not remembered: they take no memory.
		if n := e.remembered(); n != 0 {
			t.Errorf("%s: %d keys remembered", name, n)
		}
	}
}

func TestAlarmMemoryIsBounded(t *testing.T) {
	e := alarmEnv(t, otherAt, nil)
	ev := loadEvent(t, "alarm-state-other.json")
	var wg sync.WaitGroup
	for i := range 2 * state.MemoryCapacity {
		wg.Go(func() {
			ev := ev
			ev.Detail.State.Timestamp = fmt.Sprintf("2026-11-24T05:01:00.%03d+0000", i%1000)
			ev.Detail.AlarmName = fmt.Sprintf("orders-errors-%d", i)
			if err := e.bot.HandleAlarm(context.Background(), ev); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := e.remembered(); n > state.MemoryCapacity {
		t.Errorf("the memory holds %d keys, bound %d", n, state.MemoryCapacity)
	}
	if n := len(e.cw.posts); n != 2*state.MemoryCapacity {
		t.Errorf("%d posts for %d distinct transitions", n, 2*state.MemoryCapacity)
	}
}

func TestAlarmFailures(t *testing.T) {
	apiErr := func(kind chatwork.Kind, status int, q *chatwork.Quota) error {
		return &chatwork.Error{Op: "x", Kind: kind, Status: status, Quota: q, Err: errors.New(leakyCause)}
	}
	reset := time.Date(2026, 11, 24, 12, 7, 30, 0, jst)
	exhausted := &chatwork.Quota{Limit: 300, Remaining: 0, Reset: reset}
	cases := []struct {
		name           string
		setup          func(e *env)
		wantErr        bool
		reads, posts   int
		sleeps         int
		postsAfterSend int // posts after a second delivery of the same event
	}{
		{name: "post hits the token's quota: logged, recorded, nothing posted", reads: 1, posts: 1, postsAfterSend: 1,
			setup: func(e *env) { e.cw.postErrs = []error{apiErr(chatwork.KindQuotaExhausted, 429, exhausted)} }},
		{name: "per-room limit: one wait, one retry", reads: 1, posts: 2, sleeps: 1, postsAfterSend: 2,
			setup: func(e *env) { e.cw.postErrs = []error{apiErr(chatwork.KindRoomLimit, 429, nil)} }},
		{name: "post fails on the network: error, forgotten, a retry posts", reads: 1, posts: 1, wantErr: true, postsAfterSend: 2,
			setup: func(e *env) { e.cw.postErrs = []error{netErr("post message")} }},
		{name: "token rejected on post: error, forgotten, a retry posts", reads: 1, posts: 1, wantErr: true, postsAfterSend: 2,
			setup: func(e *env) { e.cw.postErrs = []error{apiErr(chatwork.KindInvalidToken, 401, nil)} }},
		{name: "token rejected on reading: nothing posted, error", reads: 1, posts: 0, wantErr: true, postsAfterSend: 1,
			setup: func(e *env) { e.cw.readErr = apiErr(chatwork.KindInvalidToken, 401, nil) }},
		{name: "reading hits the token's quota: nothing posted", reads: 1, posts: 0, postsAfterSend: 0,
			setup: func(e *env) { e.cw.readErr = apiErr(chatwork.KindQuotaExhausted, 429, exhausted) }},
		{name: "a recorded 429 in the running window: no reading", reads: 0, posts: 1, postsAfterSend: 1,
			setup: func(e *env) {
				e.setHistory(sample.Record{Time: alarmAt.Add(-time.Minute), Token: "default", Source: sample.SourcePassive,
					Error: "quota_exhausted", HasQuota: true, Remaining: 0, Limit: 300, Reset: reset.Unix(), Calls: 1})
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := alarmEnv(t, alarmAt, nil)
			setWindow(e, alarmAt, 38, reset)
			c.setup(e)
			ev := loadEvent(t, "alarm-state-alarm.json")
			err := e.bot.HandleAlarm(context.Background(), ev)
			if (err != nil) != c.wantErr {
				t.Errorf("error %v, want error: %v", err, c.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), apiToken) {
				t.Errorf("error holds the token: %v", err)
			}
			if e.cw.reads != c.reads || len(e.cw.posts) != c.posts || len(e.sleeps) != c.sleeps {
				t.Errorf("reads %d posts %d sleeps %d, want %d %d %d", e.cw.reads, len(e.cw.posts), len(e.sleeps), c.reads, c.posts, c.sleeps)
			}
			if recs := e.rec.All(); len(recs) != e.cw.calls() {
				t.Errorf("%d records for %d calls", len(recs), e.cw.calls())
			}
			e.cw.readErr = nil
			if err := e.bot.HandleAlarm(context.Background(), ev); err != nil {
				t.Errorf("second delivery: %v", err)
			}
			if len(e.cw.posts) != c.postsAfterSend {
				t.Errorf("after a second delivery: %d posts, want %d", len(e.cw.posts), c.postsAfterSend)
			}
			for _, p := range e.cw.posts {
				checkAlarmMessage(t, p.Body, false)
			}
			if !strings.Contains(e.logs.String(), `"level":"`) {
				t.Error("nothing logged")
			}
		})
	}
}

// TestWhichAlarmIsOurs: with QUOTA_ALARM_NAME the name decides; without it
// (the sandbox) any alarm on the quota namespace for this token is ours.
// The errors and heartbeat alarms are told apart the same way.
func TestWhichAlarmIsOurs(t *testing.T) {
	quota := loadEvent(t, "alarm-state-alarm.json")
	other := loadEvent(t, "alarm-state-other.json")
	otherToken := loadEvent(t, "alarm-state-alarm.json")
	otherToken.Detail.Configuration.Metrics[0].MetricStat.Metric.Dimensions = map[string]string{sample.Dimension: "another"}
	sandbox := alarm.NewEvaluator(alarm.Rule{Threshold: 60}, "chatwork-quota-sandbox")
	sandbox.Observe(sample.Record{Time: alarmAt, Token: "deploy", HasQuota: true, Remaining: 10, Limit: 300, Reset: alarmAt.Unix()})
	evs := sandbox.Evaluate(alarmAt)
	if len(evs) != 2 {
		t.Fatalf("the stand-in sent %d events, want a contributor's and its own", len(evs))
	}
	standIn := evs[0]
	contributor, errs, heartbeat := loadEvent(t, "contributor-quota-alarm.json"), loadEvent(t, "contributor-errors-alarm.json"), loadEvent(t, "heartbeat-alarm.json")
	pace := paceOf(t, "contributor-quota-alarm.json", "deploy", "", -10)
	pacePercent := paceOf(t, "contributor-quota-alarm.json", "deploy", "", -10)
	pacePercent.Detail.Configuration.Metrics[0].Expression = strings.Replace(pacePercent.Detail.Configuration.Metrics[0].Expression, sample.MetricProjected, sample.MetricProjectedPercent, 1)
	named := func(c *Config) {
		c.ErrorsAlarmName, c.HeartbeatAlarmName = "quotabot-token-errors", "quotabot-monitor-heartbeat"
	}
	cases := []struct {
		alarmName string
		ev        alarm.Event
		mod       func(*Config)
		want      alarmKind
	}{
		{fixtureAlarm, quota, nil, kindQuota},
		{fixtureAlarm, other, nil, kindOther},
		{fixtureAlarm, standIn, nil, kindOther},
		{"", quota, nil, kindQuota},
		{"", standIn, nil, kindQuota},
		{"", other, nil, kindOther},
		{"", otherToken, nil, kindOther},
		{fixtureAlarm, contributor, nil, kindQuota},
		{"", contributor, nil, kindQuota},
		{fixtureAlarm, errs, nil, kindErrors},
		{fixtureAlarm, errs, named, kindErrors},
		{fixtureAlarm, errs, func(c *Config) { c.ErrorsAlarmName = "x-token-errors" }, kindOther},
		{fixtureAlarm, heartbeat, nil, kindHeartbeat},
		{fixtureAlarm, heartbeat, named, kindHeartbeat},
		{fixtureAlarm, heartbeat, func(c *Config) { c.HeartbeatAlarmName = "x-heartbeat" }, kindOther},
		{fixtureAlarm, pace, nil, kindPace},
		{"", pace, nil, kindPace},
		{fixtureAlarm, pacePercent, nil, kindPace},
		{fixtureAlarm, pace, func(c *Config) { c.PaceAlarmName = testPaceAlarm }, kindPace},
		{fixtureAlarm, pace, func(c *Config) { c.PaceAlarmName = "x-quota-pace" }, kindOther},
	}
	for _, c := range cases {
		e := alarmEnv(t, alarmAt, func(cfg *Config, _ *Deps) {
			cfg.AlarmName = c.alarmName
			if c.mod != nil {
				c.mod(cfg)
			}
		})
		if got := e.bot.kindOf(c.ev); got != c.want {
			t.Errorf("AlarmName %q, event %q: kind %v, want %v", c.alarmName, c.ev.Detail.AlarmName, got, c.want)
		}
	}
}

func TestNearlyExhausted(t *testing.T) {
	now := alarmAt
	cur := func(rem int) recorded {
		return recorded{OK: true, Latest: sample.Record{Time: now.Add(-time.Minute), HasQuota: true, Remaining: rem, Limit: 300, Reset: now.Add(time.Minute).Unix()}}
	}
	old := cur(0)
	old.Latest.Reset = now.Add(-time.Second).Unix() // that window has reset
	count := func(v float64) alarmPoint { return alarmPoint{Value: v, HasValue: true, Threshold: level{60, false}} }
	pct := func(v float64) alarmPoint { return alarmPoint{Value: v, HasValue: true, Threshold: level{20, true}} }
	cases := []struct {
		name string
		p    alarmPoint
		r    recorded
		want bool
	}{
		{"plenty", count(42), cur(40), false},
		{"datapoint at 2", count(2), cur(40), true},
		{"recorded at 2", count(42), cur(2), true},
		{"recorded 0 in a window that has reset", count(42), old, false},
		{"no datapoint, no history", alarmPoint{}, recorded{}, false},
		{"percent, limit known: 0.6% of 300 is 1", pct(0.6), cur(40), true},
		{"percent, limit known: 1% of 300 is 3", pct(1), cur(40), false},
		{"percent, limit unknown", pct(1), recorded{}, true},
		{"recorded 429 without figures, recent", count(42), recorded{Exhausted: true}, true},
	}
	for _, c := range cases {
		if got := nearlyExhausted(c.p, c.r, now); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	// scanRecords: a recent 429 without figures, then one from long ago.
	r429 := sample.Record{Time: now.Add(-time.Minute), Source: sample.SourcePassive, Error: "quota_exhausted"}
	if !scanRecords([]sample.Record{r429}, now).Exhausted {
		t.Error("a 429 a minute ago is not taken as exhausted")
	}
	r429.Time = now.Add(-time.Hour)
	if scanRecords([]sample.Record{r429}, now).Exhausted {
		t.Error("a 429 an hour ago is taken as exhausted")
	}
}

func TestParseMentions(t *testing.T) {
	cases := []struct {
		in      string
		all     bool
		ids     []int64
		wantErr string
	}{
		{"", false, nil, ""},
		{"  ", false, nil, ""},
		{"all", true, nil, ""},
		{" ALL ", true, nil, ""},
		{"123", false, []int64{123}, ""},
		{"123, 456 ,123", false, []int64{123, 456}, ""},
		{"123,,456", false, nil, "item 2 is empty"},
		{"123,", false, nil, "item 2 is empty"},
		{"123,abc", false, nil, `item 2 "abc"`},
		{"all,123", false, nil, `item 1 "all"`},
		{"0", false, nil, `item 1 "0"`},
		{"-5", false, nil, `item 1 "-5"`},
		{"99999999999999999999", false, nil, "item 1"},
	}
	for _, c := range cases {
		all, ids, err := ParseMentions(c.in)
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("ParseMentions(%q): %v", c.in, err)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr) || !strings.Contains(err.Error(), "alert mentions")):
			t.Errorf("ParseMentions(%q): error %v, want one naming %q", c.in, err, c.wantErr)
		case all != c.all || !reflect.DeepEqual(ids, c.ids):
			t.Errorf("ParseMentions(%q) = %v, %v; want %v, %v", c.in, all, ids, c.all, c.ids)
		}
	}
}

func TestNewValidatesAlarmSettings(t *testing.T) {
	v, err := chatwork.NewVerifier(vectorToken)
	if err != nil {
		t.Fatal(err)
	}
	deps := Deps{ChatWork: newFakeChatWork(), Recorder: &recordtest.Memory{}, History: &recordtest.Memory{}, Verifier: v}
	cases := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"all set", Config{RoomID: 1, AlarmName: "x-quota-low", DashboardURL: testDashboard, MentionAccountIDs: []int64{1, 2}}, ""},
		{"mention all", Config{RoomID: 1, MentionAll: true}, ""},
		{"both mentions", Config{RoomID: 1, MentionAll: true, MentionAccountIDs: []int64{1}}, "exclude each other"},
		{"bad mention id", Config{RoomID: 1, MentionAccountIDs: []int64{0}}, "account ids must be positive"},
		{"relative dashboard", Config{RoomID: 1, DashboardURL: "/dashboards"}, "dashboard url"},
		{"ftp dashboard", Config{RoomID: 1, DashboardURL: "ftp://example.com/"}, "dashboard url"},
		{"notation in dashboard", Config{RoomID: 1, DashboardURL: "https://example.com/[toall]"}, "square bracket"},
		{"space in dashboard", Config{RoomID: 1, DashboardURL: "https://example.com/a b"}, "dashboard url"},
	}
	for _, c := range cases {
		_, err := New(c.cfg, deps)
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("%s: error %v, want one mentioning %q", c.name, err, c.wantErr)
		}
	}
}

func TestPlainText(t *testing.T) {
	cases := []struct {
		in    string
		limit int
		want  string
	}{
		{"Threshold Crossed: [42.0 (24/11/26)]", 100, "Threshold Crossed: ［42.0 (24/11/26)］"},
		{"[toall]\n[To:1]\r\n[/info]", 100, "［toall］ ［To:1］  ［/info］"},
		{"abcdef", 3, "abc…"},
		{"abc", 3, "abc"},
		{"日本語のテキスト", 3, "日本語…"},
		{"bad \xff utf8", 100, "bad \uFFFD utf8"},
	}
	for _, c := range cases {
		if got := plainText(c.in, c.limit); got != c.want {
			t.Errorf("plainText(%q, %d) = %q, want %q", c.in, c.limit, got, c.want)
		}
	}
}

func FuzzPlainText(f *testing.F) {
	f.Add("[toall] reason", 500)
	f.Add("\u2028[/info]\x00", 3)
	f.Fuzz(func(t *testing.T, s string, limit int) {
		limit = max(0, limit%1000)
		got := plainText(s, limit)
		if strings.ContainsAny(got, "[]\n\r") || !utf8.ValidString(got) {
			t.Errorf("plainText(%q) = %q: notation or line breaks left", s, got)
		}
		if n := utf8.RuneCountInString(got); n > limit+1 {
			t.Errorf("plainText(%q, %d) has %d characters", s, limit, n)
		}
	})
}

func TestStackName(t *testing.T) {
	cases := map[string]string{
		"quotabot-quota-low":      "quotabot",
		"my-stack-2-quota-low":    "my-stack-2",
		"orders-errors":           "",
		"-quota-low":              "",
		"bad name-quota-low":      "",
		"[toall]-quota-low":       "",
		"chatwork-quota-sandbox":  "",
		"x-quota-low-quota-low":   "x-quota-low",
		"1stack-quota-low":        "",
		"quotabot-quota-low\nrm ": "",
	}
	for in, want := range cases {
		if got := stackName(in); got != want {
			t.Errorf("stackName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestAlertPhrasesComplete: both languages fill every phrase with the same
// format verbs, so neither can render a message the other cannot.
func TestAlertPhrasesComplete(t *testing.T) {
	jv, ev := reflect.ValueOf(jaAlert), reflect.ValueOf(enAlert)
	for i := range jv.NumField() {
		name := jv.Type().Field(i).Name
		j, e := jv.Field(i).String(), ev.Field(i).String()
		if j == "" || e == "" {
			t.Errorf("phrase %s is empty in ja or en", name)
		}
		if vj, ve := verbs(j), verbs(e); vj != ve {
			t.Errorf("phrase %s: ja has verbs %q, en %q", name, vj, ve)
		}
	}
}

func verbs(s string) string {
	var out []string
	for i := 0; i < len(s)-1; i++ {
		if s[i] == '%' {
			out = append(out, s[i:i+2])
			i++
		}
	}
	return strings.Join(out, " ")
}
