package webhookfn

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/quotabot/chatwork-quota-bot/internal/alarm"
	"github.com/quotabot/chatwork-quota-bot/internal/app"
	"github.com/quotabot/chatwork-quota-bot/internal/awstest"
	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/state"
)

type handler = func(context.Context, json.RawMessage) (any, error)

// instances wires n webhook functions from one environment, as n Lambda
// containers: each with its own memory, sharing QUOTA_STATE_TABLE on moto
// (a table of the test's own, created as the template declares it, unless
// the test named another).
func instances(t *testing.T, e *testEnv, n int) []handler {
	t.Helper()
	cfg := awstest.Config(t, e.endpoint)
	if e.vars["QUOTA_STATE_TABLE"] == "" {
		e.vars["QUOTA_STATE_TABLE"] = awstest.UniqueName(t, "quotabot-state-")
		awstest.CreateStateTable(t, cfg, e.vars["QUOTA_STATE_TABLE"])
	}
	param := "/" + awstest.UniqueName(t, "quotabot-test/webhook-token")
	awstest.PutSecureString(t, cfg, param, webhookToken)
	e.sim.AddRoom(roomID)
	e.vars["CHATWORK_WEBHOOK_TOKEN_PARAMETER"] = param
	e.vars["CHATWORK_ROOM_ID"] = fmt.Sprint(roomID)
	e.vars["QUOTA_LANGUAGE"] = "en"
	e.vars["QUOTA_ALARM_NAME"] = "quotabot-quota-low"
	var hs []handler
	for range n {
		h, err := Wire(context.Background(), env(e.vars), cfg, e.stdout, app.Logger(e.logs))
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	return hs
}

func fixture(t *testing.T, name string) json.RawMessage {
	t.Helper()
	raw, err := os.ReadFile("../../../testdata/events/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// say delivers text as a new message to h and checks it is answered 200.
func say(t *testing.T, h handler, body []byte) {
	t.Helper()
	sig, _ := chatwork.Sign(webhookToken, body)
	out, err := h(context.Background(), request(t, body, sig, false))
	if err != nil {
		t.Fatal(err)
	}
	if res := out.(events.LambdaFunctionURLResponse); res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
}

func (e *testEnv) posts(t *testing.T, want int) []string {
	t.Helper()
	var bodies []string
	for _, m := range e.sim.Messages(roomID) {
		bodies = append(bodies, m.Body)
	}
	if len(bodies) != want {
		t.Fatalf("%d messages in the room, want %d:\n%s\nlog:\n%s", len(bodies), want, strings.Join(bodies, "\n---\n"), e.logs)
	}
	return bodies
}

// Two instances sharing the table: an alarm transition delivered to both
// at once is posted once, and its recovery, delivered to the other one
// first, is known there to follow an alert the room heard; a signed
// delivery sent to both is answered once; a mute set through one holds
// back the alert the other receives, and after the unmute the other's
// housekeeping tells the room, once.
func TestInstancesShareTheTable(t *testing.T) {
	e := setup(t)
	hs := instances(t, e, 2)
	alert := fixture(t, "contributor-quota-alarm.json")
	var wg sync.WaitGroup
	for _, h := range []handler{hs[0], hs[1], hs[0], hs[1]} {
		wg.Go(func() {
			if _, err := h(context.Background(), alert); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	e.posts(t, 1)
	for _, h := range []handler{hs[1], hs[0]} {
		if _, err := h(context.Background(), fixture(t, "contributor-quota-ok.json")); err != nil {
			t.Fatal(err)
		}
	}
	if p := e.posts(t, 2); !strings.Contains(p[1], "recovered (token: deploy)") {
		t.Fatalf("not the recovery: %s", p[1])
	}

	body := delivery(t, "/quota help")
	say(t, hs[0], body)
	say(t, hs[1], body)
	e.posts(t, 3)

	say(t, hs[0], delivery(t, "/quota mute 30m"))
	var ev alarm.Event
	if err := json.Unmarshal(alert, &ev); err != nil {
		t.Fatal(err)
	}
	ev.Detail.State.Timestamp = "2026-11-24T04:00:00.000+0000" // after the recovery
	later, _ := json.Marshal(ev)
	if _, err := hs[1](context.Background(), later); err != nil {
		t.Fatal(err)
	}
	e.posts(t, 4) // the mute's reply, no alert
	say(t, hs[0], delivery(t, "/quota unmute"))
	for _, h := range []handler{hs[1], hs[0]} {
		if _, err := h(context.Background(), json.RawMessage(Housekeeping)); err != nil {
			t.Fatal(err)
		}
	}
	if p := e.posts(t, 6); !strings.Contains(p[5], "running low (token: deploy)") || !strings.Contains(p[5], "A mute has ended") {
		t.Fatalf("not the held-back alert: %s", p[5])
	}
	e.noSecret(t)
}

// A claim left by an instance that crashed before posting: once it has
// expired, the transition is posted, once.
func TestCrashedInstanceClaimExpires(t *testing.T) {
	e := setup(t)
	hs := instances(t, e, 1)
	raw := fixture(t, "contributor-quota-alarm.json")
	ev, err := alarm.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	table := state.NewDynamo(dynamodb.NewFromConfig(awstest.Config(t, e.endpoint)), e.vars["QUOTA_STATE_TABLE"])
	if c, err := table.Claim(context.Background(), ev.Key(), time.Now().Add(-state.ClaimFor-time.Second)); err != nil || c.Status != state.Claimed {
		t.Fatalf("the crashed instance's claim: %+v, %v", c, err)
	}
	for range 2 {
		if _, err := hs[0](context.Background(), raw); err != nil {
			t.Fatal(err)
		}
	}
	e.posts(t, 1)
}

// A table that fails (here: it does not exist) costs no alert and no
// answer; the log says a duplicate is possible.
func TestFailingTableStillPosts(t *testing.T) {
	e := setup(t)
	e.vars["QUOTA_STATE_TABLE"] = "quotabot-no-such-table"
	hs := instances(t, e, 1)
	if _, err := hs[0](context.Background(), fixture(t, "contributor-quota-alarm.json")); err != nil {
		t.Fatal(err)
	}
	say(t, hs[0], delivery(t, "/quota help"))
	e.posts(t, 2)
	if logs := e.logs.String(); !strings.Contains(logs, "the message may be repeated") || !strings.Contains(logs, "the answer may be repeated") || !strings.Contains(logs, "quotabot-no-such-table") {
		t.Fatalf("log:\n%s", logs)
	}
	if _, err := hs[0](context.Background(), json.RawMessage(`{"action":"compact"}`)); err == nil {
		t.Error("an unknown scheduled action is not an error")
	}
}

// paceFixture is a quota contributor fixture turned into the pace alarm's
// (QUOTA_PACE_ALARM_NAME), its state at timestamp.
func paceFixture(t *testing.T, name, alarmName, timestamp string) json.RawMessage {
	t.Helper()
	var ev alarm.Event
	if err := json.Unmarshal(fixture(t, name), &ev); err != nil {
		t.Fatal(err)
	}
	ev.ID += "-pace"
	ev.Detail.AlarmName = alarmName
	ev.Detail.AlarmContributor.ID = "7ac3deploy"
	ev.Detail.Configuration.Metrics[0].Expression = `SELECT MIN(projected_remaining) FROM SCHEMA("ChatWorkQuota", Token) GROUP BY Token ORDER BY MIN() ASC`
	ev.Detail.State.Reason = "Threshold Crossed: 1 datapoint was less than or equal to the threshold (0.0). The most recent datapoint which crossed the threshold: [-40.0 (24/11/26 03:00:00)]."
	ev.Detail.State.Timestamp = timestamp
	raw, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// Two instances sharing the table: a token's quota alarm entering ALARM
// delivered to one and its pace alarm to the other, at once, are one
// episode: one alert; its end, each alarm's OK to the other instance, one
// recovery.
func TestEpisodeSharesTheTable(t *testing.T) {
	e := setup(t)
	const paceAlarm = "quotabot-quota-pace"
	e.vars["QUOTA_PACE_ALARM_NAME"] = paceAlarm
	hs := instances(t, e, 2)
	var wg sync.WaitGroup
	for i, raw := range []json.RawMessage{fixture(t, "contributor-quota-alarm.json"), paceFixture(t, "contributor-quota-alarm.json", paceAlarm, "2026-11-24T03:05:10.100+0000")} {
		wg.Go(func() {
			if _, err := hs[i](context.Background(), raw); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if p := e.posts(t, 1); !strings.Contains(p[0], "(token: deploy)") {
		t.Fatalf("not deploy's alert: %s", p[0])
	}
	if _, err := hs[1](context.Background(), fixture(t, "contributor-quota-ok.json")); err != nil {
		t.Fatal(err)
	}
	e.posts(t, 1) // the pace alarm holds the episode
	if _, err := hs[0](context.Background(), paceFixture(t, "contributor-quota-ok.json", paceAlarm, "2026-11-24T03:35:10.000+0000")); err != nil {
		t.Fatal(err)
	}
	if p := e.posts(t, 2); !strings.Contains(p[1], "pace of ChatWork API use has come down (token: deploy)") {
		t.Fatalf("not the episode's end: %s", p[1])
	}
	e.noSecret(t)
}
