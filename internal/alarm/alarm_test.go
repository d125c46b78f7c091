package alarm

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/sample"
)

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseFixtures(t *testing.T) {
	cases := []struct {
		file, state, prev, name string
		last                    float64
		hasLast                 bool
	}{
		{"alarm-state-alarm.json", StateAlarm, StateOK, "quotabot-quota-low", 42, true},
		{"alarm-state-ok.json", StateOK, StateAlarm, "quotabot-quota-low", 281, true},
		{"alarm-state-insufficient.json", StateInsufficient, StateOK, "quotabot-quota-low", 0, false},
		{"alarm-state-other.json", StateAlarm, StateOK, "orders-errors", 3, true},
	}
	for _, c := range cases {
		raw := fixture(t, c.file)
		if !IsStateChange(raw) {
			t.Fatalf("%s: not recognised as a state change", c.file)
		}
		ev, err := Parse(raw)
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		if ev.Detail.State.Value != c.state || ev.Detail.PreviousState.Value != c.prev || ev.Detail.AlarmName != c.name {
			t.Fatalf("%s: %+v", c.file, ev.Detail)
		}
		if ev.Detail.State.Time().IsZero() || len(ev.Resources) == 0 || ev.Resources[0] == "" {
			t.Fatalf("%s: timestamp %q or ARN missing", c.file, ev.Detail.State.Timestamp)
		}
		d, ok := ev.Detail.State.Data()
		if !ok {
			t.Fatalf("%s: reasonData unreadable", c.file)
		}
		v, ok := d.LastValue()
		if ok != c.hasLast || (ok && v != c.last) {
			t.Fatalf("%s: last value %v %v", c.file, v, ok)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for _, raw := range [][]byte{
		fixture(t, "alarm-state-malformed.json"),
		[]byte(`{"source":"aws.events","detail-type":"Scheduled Event"}`),
		[]byte(`{"version":"2.0","rawPath":"/","requestContext":{}}`),
		[]byte(`not json`),
	} {
		if _, err := Parse(raw); err == nil || !strings.HasPrefix(err.Error(), "not a CloudWatch Alarm State Change event: ") {
			t.Errorf("Parse(%.40s) = %v", raw, err)
		}
	}
	if IsStateChange([]byte(`{"version":"2.0","rawPath":"/"}`)) {
		t.Error("a Function URL request taken for an alarm event")
	}
}

func TestDuplicateDeliveriesShareAKey(t *testing.T) {
	a, _ := Parse(fixture(t, "alarm-state-alarm.json"))
	b := a
	b.ID = "another-delivery"
	if a.Key() != b.Key() {
		t.Fatal("a redelivery must have the same key")
	}
	c, _ := Parse(fixture(t, "alarm-state-ok.json"))
	if a.Key() == c.Key() {
		t.Fatal("different transitions share a key")
	}
}

func TestEvaluator(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	e := NewEvaluator(Rule{Threshold: 60, Period: 30 * time.Second}, "quotabot-quota-low")
	rec := func(at time.Duration, remaining int) {
		e.Observe(sample.Record{Time: t0.Add(at), Token: "default", Source: sample.SourceMonitor, HasQuota: true, Remaining: remaining, Limit: 300, Reset: t0.Unix() + 300})
	}
	step := func(at time.Duration, want string, changed bool) Event {
		t.Helper()
		ev, ok := e.Evaluate(t0.Add(at))
		if ok != changed || e.State() != want {
			t.Fatalf("at %v: state %s changed %v; want %s %v", at, e.State(), ok, want, changed)
		}
		if ok {
			raw, _ := json.Marshal(ev)
			back, err := Parse(raw)
			if err != nil || back.Detail.State.Value != want {
				t.Fatalf("event does not round-trip: %v", err)
			}
		}
		return ev
	}
	step(0, StateInsufficient, false)
	rec(time.Second, 200)
	first := step(2*time.Second, StateOK, true)
	if first.Detail.PreviousState.Reason != "Unchecked: Initial alarm creation" {
		t.Fatalf("first transition's previous state: %+v", first.Detail.PreviousState)
	}
	rec(5*time.Second, 61)
	step(6*time.Second, StateOK, false)
	rec(10*time.Second, 60)
	ev := step(11*time.Second, StateAlarm, true)
	if d, _ := ev.Detail.State.Data(); d.Threshold != 60 {
		t.Fatalf("threshold %v", d.Threshold)
	}
	if v, _ := ev.Detail.State.Data(); len(v.RecentDatapoints) != 1 || v.RecentDatapoints[0] != 60 {
		t.Fatalf("datapoints %+v", v)
	}
	rec(15*time.Second, 300) // the window reset
	step(20*time.Second, StateAlarm, false)
	ok := step(41*time.Second, StateOK, true) // the low point left the period
	if lasted := ok.Detail.State.Time().Sub(ok.Detail.PreviousState.Time()); lasted != 30*time.Second {
		t.Fatalf("the ALARM state lasted %v by the event, want 30s", lasted)
	}
	step(80*time.Second, StateInsufficient, true)
	// Percent rule.
	p := NewEvaluator(Rule{Percent: true, Threshold: 20, Period: time.Minute}, "pct")
	p.Observe(sample.Record{Time: t0, Token: "d", Source: sample.SourceMonitor, HasQuota: true, Remaining: 30, Limit: 300, Reset: 1})
	if _, _ = p.Evaluate(t0); p.State() != StateAlarm {
		t.Fatalf("10%% remaining with a 20%% threshold: %s", p.State())
	}
}
