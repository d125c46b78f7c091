package bot

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/alarm"
	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
)

// fleetEnv is an alarm env whose deployment has two tokens besides the
// bot's own, deploy and report, each read through its own fake; the clock
// reads *clock.
func fleetEnv(t *testing.T, clock *time.Time, mod func(*Config, *Deps)) (*env, map[string]*fakeChatWork) {
	t.Helper()
	others := map[string]*fakeChatWork{"deploy": newFakeChatWork(), "report": newFakeChatWork()}
	for _, f := range others {
		f.reading.AccountID = 4242 // another bot account: never taken for the own
	}
	e := alarmEnv(t, time.Time{}, func(c *Config, d *Deps) {
		c.Now = func() time.Time { return *clock }
		c.ErrorsAlarmName, c.HeartbeatAlarmName = "quotabot-token-errors", "quotabot-monitor-heartbeat"
		d.Tokens = func(context.Context) []Token {
			return []Token{{"deploy", others["deploy"]}, {"report", others["report"]}}
		}
		if mod != nil {
			mod(c, d)
		}
	})
	return e, others
}

// tagged relabels records as the token label's.
func tagged(label string, recs []sample.Record) []sample.Record {
	for i := range recs {
		recs[i].Token = label
	}
	return recs
}

// reportFailing is report's history: fine until 12:02, then the token
// rejected on every reading from 12:03 on (after one network blip at 11:30).
func reportFailing() []sample.Record {
	at := time.Date(2026, 11, 24, 12, 2, 0, 0, jst)
	recs := tagged("report", monitorHistory(at, at.Add(2*time.Minute), 250))
	blip := &recs[len(recs)-33]
	*blip = sample.Record{Time: blip.Time, Token: "report", Source: sample.SourceMonitor, Error: "network", Detail: "read quota: network", Calls: 1}
	for i := 1; i <= 8; i++ {
		recs = append(recs, sample.Record{Time: at.Add(time.Duration(i) * time.Minute), Token: "report", Source: sample.SourceMonitor,
			Error: "invalid_token", Detail: "read quota: invalid_token (HTTP 401)", Calls: 1})
	}
	return recs
}

// TestFleetAlarmMessages runs the contributor events of both Metrics
// Insights alarms and the heartbeat alarm's changes through one bot, in
// the order CloudWatch sends them, in both languages.
func TestFleetAlarmMessages(t *testing.T) {
	for _, lang := range []string{"ja", "en"} {
		t.Run(lang, func(t *testing.T) {
			clock := alarmAt
			e, others := fleetEnv(t, &clock, func(c *Config, _ *Deps) { c.Language = lang; c.MentionAccountIDs = []int64{123} })
			deployReset := time.Date(2026, 11, 24, 12, 7, 30, 0, jst)
			setWindow(&env{cw: others["deploy"]}, alarmAt, 38, deployReset)
			hist := append(tagged("deploy", monitorHistory(alarmAt.Add(-22*time.Second), deployReset, 80, 60, 42)), reportFailing()...)
			lastMonitor := time.Date(2026, 11, 24, 13, 4, 50, 0, jst)
			hist = append(hist, monitorHistory(lastMonitor, lastMonitor.Add(2*time.Minute), 250)...)
			e.setHistory(hist...)
			posts := 0
			// deliver hands ev over at clock and checks what landed: a post
			// with the golden text (golden "" for none) and the readings of
			// each token.
			deliver := func(at time.Time, ev alarm.Event, golden string, ownReads, deployReads int) {
				t.Helper()
				clock = at
				before := [3]int{e.cw.reads, others["deploy"].reads, others["report"].reads}
				if err := e.bot.HandleAlarm(context.Background(), ev); err != nil {
					t.Fatalf("%s: %v", golden, err)
				}
				if golden != "" {
					posts++
				}
				if len(e.cw.posts) != posts {
					t.Fatalf("%s: %d posts, want %d:\n%s", golden, len(e.cw.posts), posts, strings.Join(e.cw.postBodies(), "\n---\n"))
				}
				if e.cw.reads-before[0] != ownReads || others["deploy"].reads-before[1] != deployReads || others["report"].reads != before[2] {
					t.Errorf("%s: reads own %d deploy %d report %d, want %d %d 0", golden, e.cw.reads-before[0], others["deploy"].reads-before[1], others["report"].reads-before[2], ownReads, deployReads)
				}
				if golden != "" {
					body := e.cw.posts[posts-1].Body
					checkGolden(t, "alarm_fleet_"+golden+"_"+lang+".txt", body)
					checkAlarmMessage(t, body, false)
				}
			}
			alert := loadEvent(t, "contributor-quota-alarm.json")
			deliver(alarmAt, alert, "alert_deploy", 0, 1)
			deliver(alarmAt, alert, "", 0, 0) // EventBridge delivering twice
			deliver(alarmAt, loadEvent(t, "insights-quota-alarm.json"), "", 0, 0)
			if !strings.Contains(e.logs.String(), "Metrics Insights alarm state change") {
				t.Error("the alarm's own state change is not logged")
			}
			// The deploy token's reading is recorded as its sample; the post
			// as the own token's. The deploy account is not taken for the bot's.
			recs := e.rec.All()
			if len(recs) != 2 || recs[0].Token != "deploy" || recs[0].Remaining != 38 || recs[1].Token != "default" || e.bot.self.Load() != 0 {
				t.Errorf("records %+v, self %d", recs, e.bot.self.Load())
			}
			deliver(okAt, loadEvent(t, "contributor-quota-ok.json"), "recovery_deploy", 0, 0)
			// A second OK of the same token (another transition) has no
			// alert posted before it.
			again := loadEvent(t, "contributor-quota-ok.json")
			again.Detail.State.Timestamp = "2026-11-24T03:50:10.000+0000"
			deliver(okAt, again, "", 0, 0)

			failAt := time.Date(2026, 11, 24, 12, 10, 10, 0, jst)
			deliver(failAt, loadEvent(t, "contributor-errors-alarm.json"), "failing_report", 0, 0)
			deliver(failAt.Add(35*time.Minute), loadEvent(t, "contributor-errors-ok.json"), "works_report", 0, 0)

			setWindow(e, silentAt, 290, silentAt.Add(2*time.Minute))
			deliver(silentAt, loadEvent(t, "heartbeat-alarm.json"), "heartbeat_alarm", 1, 0)
			deliver(silentAt.Add(30*time.Minute), loadEvent(t, "heartbeat-ok.json"), "heartbeat_ok", 0, 0)
			first := loadEvent(t, "heartbeat-ok.json")
			first.Detail.PreviousState = alarm.State{Value: alarm.StateInsufficient, Reason: "Unchecked: Initial alarm creation"}
			first.Detail.State.Timestamp = "2026-11-24T05:00:00.000+0000"
			deliver(silentAt.Add(time.Hour), first, "", 0, 0) // the alarm's first OK: nothing to tell
		})
	}
}

// TestFleetRecoveryNeedsAPostedAlert: a contributor's OK is posted only
// after this bot posted the alert for that alarm and token.
func TestFleetRecoveryNeedsAPostedAlert(t *testing.T) {
	clock := alarmAt
	e, others := fleetEnv(t, &clock, nil)
	setWindow(&env{cw: others["deploy"]}, alarmAt, 38, alarmAt.Add(time.Minute))
	exhausted := &chatwork.Error{Op: "post message", Kind: chatwork.KindQuotaExhausted, Status: 429, Quota: &chatwork.Quota{Limit: 300, Reset: alarmAt.Add(time.Minute)}}
	e.cw.postErrs = []error{exhausted}
	if err := e.bot.HandleAlarm(context.Background(), loadEvent(t, "contributor-quota-alarm.json")); err != nil {
		t.Fatal(err)
	}
	other := loadEvent(t, "contributor-quota-ok.json")
	other.Detail.AlarmContributor = &alarm.Contributor{ID: "0123456789abcdef", Attributes: map[string]string{"Token": "report"}}
	errorsOK := loadEvent(t, "contributor-errors-ok.json")
	errorsOK.Detail.AlarmContributor.Attributes["Token"] = "deploy"
	clock = okAt
	for _, ev := range []alarm.Event{loadEvent(t, "contributor-quota-ok.json"), other, errorsOK} {
		if err := e.bot.HandleAlarm(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	if len(e.cw.posts) != 1 {
		t.Fatalf("%d posts, want only the alert that hit the quota:\n%s", len(e.cw.posts), strings.Join(e.cw.postBodies(), "\n---\n"))
	}
	// Now an alert that lands, and the recovery of another token's or
	// another alarm's contributor is still not posted, but its own is.
	// (Both come after the OK delivered above: an older state is never
	// posted once a later one is known.)
	clock = alarmAt
	ev := loadEvent(t, "contributor-quota-alarm.json")
	ev.Detail.State.Timestamp = "2026-11-24T03:36:10.000+0000"
	recovered := loadEvent(t, "contributor-quota-ok.json")
	recovered.Detail.State.Timestamp = "2026-11-24T03:41:10.000+0000" // not the OK delivered above
	for _, ev := range []alarm.Event{ev, other, errorsOK, recovered} {
		if err := e.bot.HandleAlarm(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	if len(e.cw.posts) != 3 || !strings.Contains(e.cw.posts[2].Body, "回復しました（トークン: deploy）") {
		t.Fatalf("posts:\n%s", strings.Join(e.cw.postBodies(), "\n---\n"))
	}
}

func TestFleetContributorEdgeCases(t *testing.T) {
	clock := alarmAt
	e, others := fleetEnv(t, &clock, func(c *Config, _ *Deps) { c.Language = "en" })
	// A token no longer listed: alerted from the records, nothing read.
	gone := loadEvent(t, "contributor-quota-alarm.json")
	gone.Detail.AlarmContributor = &alarm.Contributor{ID: "00000000000000bb", Attributes: map[string]string{"Token": "retired"}}
	if err := e.bot.HandleAlarm(context.Background(), gone); err != nil {
		t.Fatal(err)
	}
	if e.cw.reads+others["deploy"].reads+others["report"].reads != 0 || len(e.cw.posts) != 1 ||
		!strings.Contains(e.cw.posts[0].Body, "running low (token: retired)") || !strings.Contains(e.cw.posts[0].Body, "could not be read") {
		t.Fatalf("reads %d, posts %q", e.cw.reads, e.cw.postBodies())
	}
	// The own token's contributor reads through the bot's own client.
	own := loadEvent(t, "contributor-quota-alarm.json")
	own.Detail.AlarmContributor = &alarm.Contributor{ID: "00000000000000aa", Attributes: map[string]string{"Token": "default"}}
	if err := e.bot.HandleAlarm(context.Background(), own); err != nil {
		t.Fatal(err)
	}
	if e.cw.reads != 1 || others["deploy"].reads != 0 {
		t.Errorf("own contributor: own reads %d, deploy reads %d", e.cw.reads, others["deploy"].reads)
	}
	// Another token's rejected reading does not stop its alert: the bot
	// posts with its own token.
	others["deploy"].readErr = &chatwork.Error{Op: "read quota", Kind: chatwork.KindInvalidToken, Status: 401, Err: errors.New(leakyCause)}
	if err := e.bot.HandleAlarm(context.Background(), loadEvent(t, "contributor-quota-alarm.json")); err != nil || len(e.cw.posts) != 3 {
		t.Fatalf("deploy rejected: error %v, %d posts", err, len(e.cw.posts))
	}
	// Unusable contributors: rejected, nothing posted or remembered.
	noToken := loadEvent(t, "contributor-quota-alarm.json")
	noToken.Detail.AlarmContributor.Attributes = map[string]string{"InstanceId": "i-1"}
	notation := loadEvent(t, "contributor-errors-alarm.json")
	notation.Detail.AlarmContributor.Attributes["Token"] = "[toall]"
	insufficient := loadEvent(t, "contributor-quota-alarm.json")
	insufficient.Detail.State.Value = alarm.StateInsufficient
	for name, ev := range map[string]alarm.Event{"no token": noToken, "notation": notation, "insufficient": insufficient} {
		if err := e.bot.HandleAlarm(context.Background(), ev); err == nil || !strings.Contains(err.Error(), "unusable alarm state change event") {
			t.Errorf("%s: error %v", name, err)
		}
	}
	if len(e.cw.posts) != 3 {
		t.Errorf("%d posts after unusable events", len(e.cw.posts))
	}
	for _, p := range e.cw.posts {
		checkAlarmMessage(t, p.Body, false)
	}
}

func TestFailureRun(t *testing.T) {
	at := func(m int) time.Time { return alarmAt.Add(time.Duration(m) * time.Minute) }
	ok := func(m int) sample.Record {
		return sample.Record{Time: at(m), HasQuota: true, Remaining: 1, Limit: 300, Reset: 1}
	}
	fail := func(m int, kind string) sample.Record { return sample.Record{Time: at(m), Error: kind} }
	cases := []struct {
		name  string
		recs  []sample.Record
		kind  string
		since time.Time
	}{
		{"none", []sample.Record{ok(-3), ok(-2)}, "", time.Time{}},
		{"a run", []sample.Record{ok(-5), fail(-4, "invalid_token"), fail(-3, "invalid_token"), fail(-2, "invalid_token")}, "invalid_token", at(-4)},
		{"a success after the run", []sample.Record{fail(-4, "server"), fail(-3, "server"), ok(-1)}, "server", at(-4)},
		{"another kind ends the run", []sample.Record{fail(-4, "network"), fail(-3, "server"), fail(-2, "server")}, "server", at(-3)},
		{"a 429 is no failure", []sample.Record{fail(-4, "server"), fail(-3, "quota_exhausted"), fail(-2, "server")}, "server", at(-2)},
		{"records from the future", []sample.Record{fail(-3, "server"), fail(5, "network")}, "server", at(-3)},
	}
	for _, c := range cases {
		if kind, since := failureRun(c.recs, alarmAt); kind != c.kind || !since.Equal(c.since) {
			t.Errorf("%s: %q %v, want %q %v", c.name, kind, since, c.kind, c.since)
		}
	}
}

// TestFleetAlertOfAnExhaustedToken: another token's 429 is its reading: 0
// left until the reset, shown as fresh figures.
func TestFleetAlertOfAnExhaustedToken(t *testing.T) {
	clock := alarmAt
	e, others := fleetEnv(t, &clock, func(c *Config, _ *Deps) { c.Language = "en" })
	reset := alarmAt.Add(2 * time.Minute)
	others["deploy"].readErr = &chatwork.Error{Op: "read quota", Kind: chatwork.KindQuotaExhausted, Status: 429, Quota: &chatwork.Quota{Limit: 300, Remaining: 0, Reset: reset}}
	if err := e.bot.HandleAlarm(context.Background(), loadEvent(t, "contributor-quota-alarm.json")); err != nil {
		t.Fatal(err)
	}
	if got := e.cw.postBodies(); len(got) != 1 || !strings.Contains(got[0], "(token: deploy)[/title]Remaining: 0 of 300 (0%)\nUsed this window: 300\nResets at 12:07:12 JST (in 2m)") || strings.Contains(got[0], "could not be read") {
		t.Errorf("posted %q", got)
	}
}
