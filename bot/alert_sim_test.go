package bot

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/chatworksim"
	"github.com/quotabot/chatwork-quota-bot/internal/recordtest"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
	"github.com/quotabot/chatwork-quota-bot/internal/testproc"
)

// TestAlarmsLandInTheSimulatorRoom delivers the fixtures, in the order
// CloudWatch would send them and with a duplicate, to a bot on the real
// client, and reads what landed in the simulator's room.
func TestAlarmsLandInTheSimulatorRoom(t *testing.T) {
	sim, base := chatworksim.Start(t, chatworksim.Config{Mode: chatworksim.WindowFirstCall})
	sim.AddAccount(apiToken, testBotID, "quota bot")
	sim.AddRoom(testRoom)
	client, err := chatwork.New(chatwork.Config{BaseURL: base, Token: chatwork.StaticToken(apiToken)})
	if err != nil {
		t.Fatal(err)
	}
	v, err := chatwork.NewVerifier(vectorToken)
	if err != nil {
		t.Fatal(err)
	}
	rec, logs := &recordtest.Memory{}, &testproc.Buffer{}
	b, err := New(Config{
		RoomID: testRoom, Language: "en", AlarmName: fixtureAlarm, Threshold: 60,
		DashboardURL: testDashboard, MentionAccountIDs: []int64{123},
	}, Deps{ChatWork: client, Recorder: rec, History: &recordtest.Memory{}, Verifier: v, Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{
		"alarm-state-alarm.json", "alarm-state-alarm.json", // EventBridge delivering twice
		"alarm-state-ok.json", "alarm-state-insufficient.json", "alarm-state-other.json",
	} {
		if err := b.HandleAlarm(context.Background(), loadEvent(t, name)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}

	msgs := sim.Messages(testRoom)
	if len(msgs) != 4 {
		t.Fatalf("%d messages in the room, want 4 (alert, recovery, silent monitor, other alarm): %+v", len(msgs), msgs)
	}
	// The simulator's window opens with the alert's reading: 299 left after
	// it, 298 after the post, and so on.
	want := []struct{ prefix, contains string }{
		{"[To:123]\n[info][title]⚠ ChatWork API quota is running low (token: default)[/title]Remaining: 299 of 300 (99.6%)\n", "Dashboard: " + testDashboard},
		{"[info][title]✅ ChatWork API quota has recovered (token: default)[/title]", "The alert lasted 25m"},
		{"[info][title]⚠ The monitor has stopped reporting (token: default)[/title]", "ChatWork answers (read just now): 296 of 300 remaining"},
		{`CloudWatch alarm "orders-errors" is now ALARM (was OK).`, "［3.0 (24/11/26 05:00:00)］"},
	}
	for i, m := range msgs {
		if m.AccountID != testBotID || !strings.HasPrefix(m.Body, want[i].prefix) || !strings.Contains(m.Body, want[i].contains) {
			t.Errorf("message %d from %d:\n%s\nwant it to start with %q and contain %q", i, m.AccountID, m.Body, want[i].prefix, want[i].contains)
		}
		checkAlarmMessage(t, m.Body, false)
	}
	// 2 calls for the alert, 1 for the recovery, 2 for the silent monitor,
	// 1 for the other alarm; the duplicate none.
	if n := sim.Calls(apiToken); n != 6 {
		t.Errorf("%d calls, want 6", n)
	}
	recs := rec.All()
	if len(recs) != 6 {
		t.Fatalf("%d records, want one per call", len(recs))
	}
	for i, r := range recs {
		if r.Source != sample.SourcePassive || !r.HasQuota || r.Limit != 300 || r.Remaining != 299-i {
			t.Errorf("record %d = %+v, want a passive sample of %d/300", i, r, 299-i)
		}
	}
	if strings.Contains(logs.String(), apiToken) {
		t.Error("the token is in the logs")
	}
}
