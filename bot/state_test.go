package bot

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
	"github.com/quotabot/chatwork-quota-bot/internal/state"
	"github.com/quotabot/chatwork-quota-bot/internal/testproc"
)

// A delivery whose webhook_event_time is more than 10 minutes from now, in
// either direction, is a replay: 200, nothing read or posted, logged. One
// without a message id is not answered.
func TestReplayedDeliveryRefused(t *testing.T) {
	for _, c := range []struct {
		name   string
		at     time.Time
		id     string
		answer bool
	}{
		{"11 minutes old", testNow.Add(-11 * time.Minute), "1", false},
		{"11 minutes ahead", testNow.Add(11 * time.Minute), "2", false},
		{"a year old (the public test vector's kind)", testNow.AddDate(-1, 0, 0), "3", false},
		{"9 minutes old", testNow.Add(-9 * time.Minute), "4", true},
		{"9 minutes ahead", testNow.Add(9 * time.Minute), "5", true},
		{"no message id", testNow, "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, nil)
			body := eventAt(chatwork.EventMessageCreated, chatwork.WebhookEvent{MessageID: c.id, RoomID: testRoom, AccountID: testSender, Body: "/quota"}, c.at)
			w := e.serve(t, signedRequest(t, body))
			if w.Code != 200 {
				t.Fatalf("status %d, want 200 for every signed delivery", w.Code)
			}
			if answered := e.cw.calls() == 2; answered != c.answer {
				t.Fatalf("%d calls: answered %v, want %v", e.cw.calls(), answered, c.answer)
			}
			logs := e.logs.String()
			switch {
			case c.answer:
			case c.id == "" && !strings.Contains(logs, "delivery without a message id: not answered"):
				t.Errorf("not logged:\n%s", logs)
			case c.id != "" && !strings.Contains(logs, "refused as a replay"):
				t.Errorf("not logged:\n%s", logs)
			}
		})
	}
}

// When the state fails, alerts and answers go out anyway, and the log
// says a duplicate is possible.
func TestStateDownStillPosts(t *testing.T) {
	e := alarmEnv(t, alarmAt, func(_ *Config, d *Deps) { d.State = brokenState{} })
	if err := e.bot.HandleAlarm(context.Background(), loadEvent(t, "alarm-state-alarm.json")); err != nil {
		t.Fatal(err)
	}
	r := newRoom(t, testNow, func(_ *Config, d *Deps) { d.State = brokenState{} })
	r.say("/quota")
	if len(e.cw.posts) != 1 || !strings.Contains(e.cw.posts[0].Body, "[info]") || len(r.cw.postBodies()) != 1 {
		t.Fatalf("alert %d posts, answer %d posts", len(e.cw.posts), len(r.cw.postBodies()))
	}
	if !strings.Contains(e.logs.String(), "the message may be repeated") || !strings.Contains(r.logs.String(), "the answer may be repeated") {
		t.Errorf("the possible duplicate is not logged:\n%s\n%s", e.logs, r.logs)
	}
	// A contributor's recovery, not knowing whether its alert was posted,
	// is posted too: a token the room believes low would be worse.
	if err := e.bot.HandleAlarm(context.Background(), loadEvent(t, "contributor-quota-ok.json")); err != nil || len(e.cw.posts) != 2 {
		t.Fatalf("recovery: %v, %d posts", err, len(e.cw.posts))
	}
	if err := e.bot.Housekeeping(context.Background()); err == nil {
		t.Error("housekeeping without a state reports nothing")
	}
	noSecret(t, e.logs.String()+r.logs.String())
}

// Two instances sharing one state (as two containers share the table):
// one transition, delivered to both at once and one after the other, is
// posted once; one message delivered to both is answered once.
func TestSharedStatePostsOnce(t *testing.T) {
	shared := &state.Memory{}
	instance := func() *env {
		return alarmEnv(t, alarmAt, func(c *Config, d *Deps) {
			d.State = shared
			c.Sleep = func(ctx context.Context, _ time.Duration) error { time.Sleep(time.Millisecond); return ctx.Err() }
		})
	}
	a, b := instance(), instance()
	ev := loadEvent(t, "alarm-state-alarm.json")
	var wg sync.WaitGroup
	for _, e := range []*env{a, b, a, b} {
		wg.Go(func() {
			if err := e.bot.HandleAlarm(context.Background(), ev); err != nil && !strings.Contains(err.Error(), "another instance claimed it") {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	// Lambda's retry of an instance that met the other's claim finds it posted.
	if err := b.bot.HandleAlarm(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if n := len(a.cw.posts) + len(b.cw.posts); n != 1 {
		t.Fatalf("%d posts of one transition", n)
	}
	ok := loadEvent(t, "alarm-state-ok.json")
	for _, e := range []*env{b, a} {
		if err := e.bot.HandleAlarm(context.Background(), ok); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(a.cw.posts) + len(b.cw.posts); n != 2 {
		t.Fatalf("%d posts after the recovery delivered to both", n)
	}

	body := message("/quota help")
	for _, e := range []*env{a, b} {
		e.bot.cfg.Now = func() time.Time { return testNow }
		e.serve(t, signedRequest(t, body))
	}
	if n := len(a.cw.posts) + len(b.cw.posts); n != 3 {
		t.Fatalf("%d posts after one message delivered to both, want 3", n)
	}
}

// A claim left by an instance that crashed before posting holds the
// transition until it expires: a retry meeting it is told to come back
// (Lambda retries), the one after the expiry posts, once.
func TestCrashedClaimExpires(t *testing.T) {
	shared := &state.Memory{}
	clock := alarmAt
	e := alarmEnv(t, time.Time{}, func(c *Config, d *Deps) {
		d.State = shared
		c.Now = func() time.Time { return clock }
		c.Sleep = func(ctx context.Context, d time.Duration) error { clock = clock.Add(d); return ctx.Err() }
	})
	ev := loadEvent(t, "alarm-state-alarm.json")
	if c, err := shared.Claim(context.Background(), ev.Key(), alarmAt); err != nil || c.Status != state.Claimed {
		t.Fatalf("the crashed instance's claim: %+v, %v", c, err)
	}
	clock = alarmAt.Add(time.Minute) // Lambda's first retry
	if err := e.bot.HandleAlarm(context.Background(), ev); err == nil || len(e.cw.posts) != 0 {
		t.Fatalf("a held claim: error %v, %d posts; want a retry asked for, nothing posted", err, len(e.cw.posts))
	}
	clock = alarmAt.Add(state.ClaimFor + 10*time.Second) // the second retry
	for range 2 {
		if err := e.bot.HandleAlarm(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	if len(e.cw.posts) != 1 {
		t.Fatalf("%d posts after the claim expired, want 1", len(e.cw.posts))
	}
}

// A retryable failure releases the claim (the retry posts); giving up
// settles it and writes the alert_post_failures metric line.
func TestGiveUpIsCounted(t *testing.T) {
	metrics := &testproc.Buffer{}
	e := alarmEnv(t, alarmAt, func(_ *Config, d *Deps) { d.Metrics = metrics })
	ev := loadEvent(t, "alarm-state-alarm.json")
	e.cw.postErrs = []error{netErr("post message")}
	if err := e.bot.HandleAlarm(context.Background(), ev); err == nil {
		t.Fatal("a network failure asks for no retry")
	}
	if metrics.String() != "" {
		t.Fatalf("a failure that is retried is counted: %s", metrics)
	}
	e.cw.postErrs = []error{apiErr(chatwork.KindServer, 503, nil)}
	if err := e.bot.HandleAlarm(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if err := e.bot.HandleAlarm(context.Background(), ev); err != nil || len(e.cw.posts) != 2 {
		t.Fatalf("after giving up: %v, %d posts; want the transition settled", err, len(e.cw.posts))
	}
	lines := strings.Split(strings.TrimSpace(metrics.String()), "\n")
	var line struct {
		AWS struct {
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name string }
			}
		} `json:"_aws"`
	}
	var members map[string]any
	if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &line) != nil || json.Unmarshal([]byte(lines[0]), &members) != nil {
		t.Fatalf("metric lines: %q", lines)
	}
	d := line.AWS.CloudWatchMetrics
	if len(d) != 1 || d[0].Namespace != sample.Namespace || len(d[0].Dimensions) != 1 || len(d[0].Dimensions[0]) != 0 ||
		len(d[0].Metrics) != 1 || d[0].Metrics[0].Name != sample.MetricAlertPostFailures || members[sample.MetricAlertPostFailures] != 1.0 {
		t.Fatalf("metric line %s", lines[0])
	}
	if members["alarm"] != fixtureAlarm || members["kind"] != "server" {
		t.Errorf("metric line %s does not name the alarm and the kind", lines[0])
	}
}

func noSecret(t *testing.T, s string) {
	t.Helper()
	if strings.Contains(s, apiToken) || strings.Contains(s, vectorToken) {
		t.Error("a secret leaked")
	}
}

// lastMinutePoster posts, then answers only when the caller's context is
// done: a post that used the whole budget, as a slow ChatWork makes it.
type lastMinutePoster struct{ *fakeChatWork }

func (p lastMinutePoster) Post(ctx context.Context, room int64, body string) (chatwork.Posted, error) {
	posted, err := p.fakeChatWork.Post(ctx, room, body)
	<-ctx.Done()
	return posted, err
}

// deadlineState refuses a write whose context is already done, as a real
// table client does.
type deadlineState struct{ *state.Memory }

func (s deadlineState) Settle(ctx context.Context, c state.Claim, outcome string, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.Memory.Settle(ctx, c, outcome, now)
}

func (s deadlineState) SetLast(ctx context.Context, l state.Last, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.Memory.SetLast(ctx, l, now)
}

// A post that returns at the end of its budget still has its transition
// settled and the token's last state recorded: otherwise a redelivery
// would post the alert again and its recovery would never be posted.
func TestPostAtTheDeadlineIsStillRecorded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := deadlineState{&state.Memory{}}
		e := alarmEnv(t, alarmAt, func(_ *Config, d *Deps) { d.State = st })
		e.bot.cw = lastMinutePoster{e.cw}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		ev := loadEvent(t, "contributor-quota-alarm.json")
		if err := e.bot.HandleAlarm(ctx, ev); err != nil {
			t.Fatal(err)
		}
		if err := e.bot.HandleAlarm(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
		if err := e.bot.HandleAlarm(context.Background(), loadEvent(t, "contributor-quota-ok.json")); err != nil {
			t.Fatal(err)
		}
		if len(e.cw.posts) != 2 || !strings.Contains(e.logs.String(), "duplicate alarm event ignored") {
			t.Fatalf("%d posts (want the alert once and its recovery):\n%s", len(e.cw.posts), e.logs.String())
		}
	})
}
