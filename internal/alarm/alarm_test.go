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
		if _, err := Parse(raw); err == nil || !strings.HasPrefix(err.Error(), "not a CloudWatch alarm event: ") {
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

// TestParseInsightsFixtures: the contributor state changes of the two
// Metrics Insights alarms, the quota alarm's own change, and the heartbeat
// alarm's, as written by hand from AWS's documented shapes.
func TestParseInsightsFixtures(t *testing.T) {
	cases := []struct {
		file, detailType, name, state, prev, token, metric string
		threshold, last                                    float64
		hasLast                                            bool
	}{
		{"contributor-quota-alarm.json", ContributorChange, "quotabot-quota-low", StateAlarm, "", "deploy", "remaining", 60, 12, true},
		{"contributor-quota-ok.json", ContributorChange, "quotabot-quota-low", StateOK, "", "deploy", "remaining", 60, 281, true},
		{"contributor-errors-alarm.json", ContributorChange, "quotabot-token-errors", StateAlarm, "", "report", "errors", 3, 5, true},
		{"contributor-errors-ok.json", ContributorChange, "quotabot-token-errors", StateOK, "", "report", "errors", 3, 0, true},
		{"insights-quota-alarm.json", StateChange, "quotabot-quota-low", StateAlarm, StateOK, "", "remaining", 0, 0, false},
		{"heartbeat-alarm.json", StateChange, "quotabot-monitor-heartbeat", StateAlarm, StateOK, "", "heartbeat", 1, 0, false},
		{"heartbeat-ok.json", StateChange, "quotabot-monitor-heartbeat", StateOK, StateAlarm, "", "heartbeat", 1, 5, true},
	}
	for _, c := range cases {
		raw := fixture(t, c.file)
		if !IsStateChange(raw) {
			t.Fatalf("%s: not recognised", c.file)
		}
		ev, err := Parse(raw)
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		d := ev.Detail
		if ev.DetailType != c.detailType || d.AlarmName != c.name || d.State.Value != c.state || d.PreviousState.Value != c.prev || ev.Token() != c.token {
			t.Errorf("%s: %s %q %s (was %q) token %q", c.file, ev.DetailType, d.AlarmName, d.State.Value, d.PreviousState.Value, ev.Token())
		}
		if (d.AlarmContributor != nil) != (c.detailType == ContributorChange) || d.State.Time().IsZero() {
			t.Errorf("%s: contributor %+v, time %q", c.file, d.AlarmContributor, d.State.Timestamp)
		}
		if m, tok := ev.Watched(); m != c.metric || tok != "" {
			t.Errorf("%s: watches %q (token %q), want %q", c.file, m, tok, c.metric)
		}
		if ev.Insights() != (c.metric != "heartbeat") {
			t.Errorf("%s: Insights() = %v", c.file, ev.Insights())
		}
		data, ok := d.State.Data()
		if !ok && c.threshold != 0 {
			t.Errorf("%s: no threshold read", c.file)
		}
		v, has := data.LastValue()
		if data.Threshold != c.threshold || has != c.hasLast || v != c.last {
			t.Errorf("%s: threshold %v, last %v %v; want %v, %v %v", c.file, data.Threshold, v, has, c.threshold, c.last, c.hasLast)
		}
	}
	// A parsed contributor event encodes without a previous state, as AWS
	// sends it.
	ev, _ := Parse(fixture(t, "contributor-quota-alarm.json"))
	raw, _ := json.Marshal(ev)
	if strings.Contains(string(raw), "previousState") || strings.Contains(string(raw), "metricStat") {
		t.Errorf("re-encoded contributor event has members AWS does not send: %s", raw)
	}
}

func TestParseRejectsContributors(t *testing.T) {
	good := string(fixture(t, "contributor-quota-alarm.json"))
	for name, raw := range map[string]string{
		"no contributor":      strings.Replace(good, `"alarmContributor"`, `"other"`, 1),
		"no contributor id":   strings.Replace(good, `"id": "6d442278dba546f6"`, `"id": ""`, 1),
		"INSUFFICIENT_DATA":   strings.Replace(good, `"value": "ALARM"`, `"value": "INSUFFICIENT_DATA"`, 1),
		"another detail type": strings.Replace(good, "Contributor State Change", "Configuration Change", 1),
		"another source":      strings.Replace(good, `"aws.cloudwatch"`, `"aws.events"`, 1),
	} {
		if _, err := Parse([]byte(raw)); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
	if IsStateChange([]byte(strings.Replace(good, "Contributor State Change", "Configuration Change", 1))) {
		t.Error("a configuration change taken for a state change")
	}
}

func TestKeysTellContributorsApart(t *testing.T) {
	a, _ := Parse(fixture(t, "contributor-quota-alarm.json"))
	b := a
	b.ID = "another-delivery"
	if a.Key() != b.Key() {
		t.Fatal("a redelivery must have the same key")
	}
	// Two tokens crossing in the same evaluation: same alarm, state and time.
	other := a
	other.Detail.AlarmContributor = &Contributor{ID: "0123456789abcdef", Attributes: map[string]string{"Token": "notify"}}
	parent, _ := Parse(fixture(t, "insights-quota-alarm.json"))
	parent.Detail.State.Timestamp = a.Detail.State.Timestamp
	if a.Key() == other.Key() || a.Key() == parent.Key() || other.Token() != "notify" {
		t.Fatalf("keys %q %q %q", a.Key(), other.Key(), parent.Key())
	}
}

func TestWatched(t *testing.T) {
	classic, _ := Parse(fixture(t, "alarm-state-alarm.json"))
	if m, tok := classic.Watched(); m != "remaining" || tok != "default" || classic.Insights() {
		t.Errorf("classic: %q %q", m, tok)
	}
	other, _ := Parse(fixture(t, "alarm-state-other.json"))
	if m, _ := other.Watched(); m != "" {
		t.Errorf("another namespace's alarm watches %q", m)
	}
	for _, c := range []struct{ expr, want string }{
		{(Rule{Percent: true}).Query(), "remaining_percent"},
		{(Rule{Errors: true}).Query(), "errors"},
		{`select min("remaining") from schema("ChatWorkQuota", Token) group by Token`, "remaining"},
		{`SELECT MIN(remaining) FROM SCHEMA("OtherSpace", Token)`, ""},
		{`SELECT MIN(remaining) FROM SCHEMA("ChatWorkQuotaX", Token)`, ""},
		{`m1 * 100`, ""},
	} {
		ev := classic
		ev.Detail.Configuration.Metrics = []MetricConfig{{ID: "q", Expression: c.expr}}
		if m, _ := ev.Watched(); m != c.want {
			t.Errorf("Watched(%q) = %q, want %q", c.expr, m, c.want)
		}
	}
}

// roundTrip encodes ev as EventBridge would deliver it and parses it back.
func roundTrip(t *testing.T, ev Event) Event {
	t.Helper()
	raw, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	if !IsStateChange(raw) {
		t.Fatalf("not recognised: %s", raw)
	}
	back, err := Parse(raw)
	if err != nil {
		t.Fatalf("event does not round-trip: %v\n%s", err, raw)
	}
	return back
}

func TestEvaluatorPerToken(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	e := NewEvaluator(Rule{Threshold: 60, Shape: Shape{Period: 30 * time.Second}}, "quotabot-quota-low")
	rec := func(at time.Duration, token string, remaining int) {
		e.Observe(sample.Record{Time: t0.Add(at), Token: token, Source: sample.SourceMonitor, HasQuota: true, Remaining: remaining, Limit: 300, Reset: t0.Unix() + 300})
	}
	// step evaluates at and checks the events: "token:STATE" for a
	// contributor, "STATE" for the alarm's own change.
	step := func(at time.Duration, want ...string) []Event {
		t.Helper()
		evs := e.Evaluate(t0.Add(at))
		var got []string
		for _, ev := range evs {
			back := roundTrip(t, ev)
			if back.Detail.AlarmName != "quotabot-quota-low" || back.Detail.Configuration.Metrics[0].Expression != (Rule{}).Query() {
				t.Errorf("at %v: %+v", at, back.Detail)
			}
			if m, _ := back.Watched(); m != "remaining" {
				t.Errorf("at %v: the event watches %q", at, m)
			}
			if tok := back.Token(); tok != "" {
				got = append(got, tok+":"+back.Detail.State.Value)
				if back.DetailType != ContributorChange || back.Detail.PreviousState.Value != "" {
					t.Errorf("at %v: contributor event %s with previous state %+v", at, back.DetailType, back.Detail.PreviousState)
				}
				continue
			}
			got = append(got, back.Detail.State.Value)
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("at %v: events %v, want %v", at, got, want)
		}
		return evs
	}
	step(0)
	if e.State() != StateInsufficient || e.TokenState("deploy") != "" {
		t.Fatalf("a new alarm: %s, contributor %q", e.State(), e.TokenState("deploy"))
	}
	rec(time.Second, "deploy", 200)
	rec(time.Second, "notify", 250)
	first := step(2*time.Second, StateOK) // contributors appear OK silently
	if first[0].Detail.PreviousState.Reason != "Unchecked: Initial alarm creation" || first[0].DetailType != StateChange {
		t.Fatalf("first transition: %+v", first[0])
	}
	rec(5*time.Second, "deploy", 61)
	rec(5*time.Second, "notify", 250)
	step(6 * time.Second)
	rec(10*time.Second, "deploy", 60)
	rec(10*time.Second, "notify", 12)
	evs := step(11*time.Second, "deploy:ALARM", "notify:ALARM", StateAlarm)
	d, ok := evs[1].Detail.State.Data()
	if v, has := d.LastValue(); !ok || d.Threshold != 60 || !has || v != 12 {
		t.Fatalf("notify's datapoint %v %v, threshold %v", v, has, d.Threshold)
	}
	if evs[0].Key() == evs[1].Key() || evs[0].Detail.AlarmContributor.ID == evs[1].Detail.AlarmContributor.ID {
		t.Fatal("two contributors share a key or an id")
	}
	if !strings.HasPrefix(evs[2].Detail.State.Reason, "Threshold Crossed: 2 out of 2 time series") {
		t.Fatalf("the alarm's reason: %q", evs[2].Detail.State.Reason)
	}
	if e.TokenState("deploy") != StateAlarm || e.State() != StateAlarm {
		t.Fatal("states not kept")
	}
	rec(15*time.Second, "deploy", 300) // deploy's window reset
	rec(15*time.Second, "notify", 10)
	step(20 * time.Second)
	rec(41*time.Second, "notify", 5)
	rec(41*time.Second, "deploy", 290)
	step(41*time.Second, "deploy:OK") // deploy's low point left the period
	rec(60*time.Second, "notify", 280)
	step(60 * time.Second) // notify's 5 is still in the period
	step(72*time.Second, "notify:OK", StateOK)
	// A token appearing already low alarms at once.
	rec(75*time.Second, "report", 3)
	step(76*time.Second, "report:ALARM", StateAlarm)
	// The series stop. A period without data is missing, not clean: the
	// alarm evaluates the most recent real datapoint within its evaluation
	// range (3 periods), so notify's newest periods being empty brings back
	// (30 s, 60 s], its 5 at 41 s, and notify goes back to ALARM (what
	// CloudWatch documents as re-evaluating the last datapoints after a
	// metric stops); a series leaves the result, and goes back to OK, once
	// the range holds nothing of it.
	step(120*time.Second, "notify:ALARM")
	step(150*time.Second, "notify:OK")
	step(165*time.Second, "report:OK", StateInsufficient)
	if e.TokenState("report") != "" {
		t.Errorf("a token with no series left: %q", e.TokenState("report"))
	}
}

func TestEvaluatorErrorsAndPercent(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	e := NewEvaluator(Rule{Errors: true, Threshold: ErrorsThreshold}, "quotabot-token-errors")
	fail := func(at time.Duration, token, kind string) {
		e.Observe(sample.Record{Time: t0.Add(at), Token: token, Source: sample.SourceMonitor, Error: kind, Detail: kind, Calls: 1})
	}
	for i := range 3 {
		fail(time.Duration(i)*time.Minute, "report", "invalid_token")
		fail(time.Duration(i)*time.Minute, "deploy", "quota_exhausted") // a 429 is a reading, not a failure
		e.Observe(sample.Record{Time: t0.Add(time.Duration(i) * time.Minute), Token: "notify", Source: sample.SourceMonitor, HasQuota: true, Remaining: 0, Limit: 300, Reset: 1})
	}
	fail(0, "blip", "network")
	evs := e.Evaluate(t0.Add(3 * time.Minute))
	if len(evs) != 2 || roundTrip(t, evs[0]).Token() != "report" || evs[0].Detail.State.Value != StateAlarm || evs[1].Detail.State.Value != StateAlarm {
		t.Fatalf("events %+v", evs)
	}
	if d, _ := evs[0].Detail.State.Data(); d.Threshold != 3 || d.RecentDatapoints[0] != 3 || !strings.Contains(evs[0].Detail.State.Reason, "greater than or equal to") {
		t.Fatalf("reason %q", evs[0].Detail.State.Reason)
	}
	if m, _ := evs[0].Watched(); m != "errors" || e.TokenState("blip") != StateOK || e.TokenState("deploy") != "" {
		t.Fatalf("watched %q, blip %q, deploy %q", m, e.TokenState("blip"), e.TokenState("deploy"))
	}
	// The token works again. The newest period holds no failure, so the
	// alarm evaluates the most recent real datapoint, (0, 5 min]: 2 failures,
	// under the threshold, back to OK.
	evs = e.Evaluate(t0.Add(10 * time.Minute))
	if len(evs) != 2 || evs[0].Token() != "report" || evs[0].Detail.State.Value != StateOK {
		t.Fatalf("after the failures stopped: %+v", evs)
	}

	p := NewEvaluator(Rule{Percent: true, Threshold: 20, Shape: Shape{Period: time.Minute}}, "pct")
	p.Observe(sample.Record{Time: t0, Token: "d", Source: sample.SourceMonitor, HasQuota: true, Remaining: 30, Limit: 300, Reset: 1})
	if evs := p.Evaluate(t0); len(evs) != 2 || p.TokenState("d") != StateAlarm || !strings.Contains(evs[0].Detail.Configuration.Metrics[0].Expression, "MIN(remaining_percent)") {
		t.Fatalf("10%% remaining with a 20%% threshold: %s %+v", p.TokenState("d"), evs)
	}
}

func TestHeartbeat(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 3, 0, 0, 0, time.UTC)
	period := 10 * time.Second
	h := NewHeartbeat("quotabot-monitor-heartbeat", period, t0)
	step := func(at time.Duration, want string, changed bool) Event {
		t.Helper()
		ev, ok := h.Evaluate(t0.Add(at))
		if ok != changed || h.State() != want {
			t.Fatalf("at %v: %s changed %v, want %s %v", at, h.State(), ok, want, changed)
		}
		if ok {
			back := roundTrip(t, ev)
			if m, tok := back.Watched(); m != sample.MetricHeartbeat || tok != "" || back.Insights() || back.Detail.State.Value != want {
				t.Fatalf("at %v: %+v", at, back.Detail)
			}
		}
		return ev
	}
	step(0, StateInsufficient, false)
	step(19*time.Second, StateInsufficient, false) // not yet two periods
	step(20*time.Second, StateAlarm, true)         // a monitor that never started
	h.Beat(t0.Add(21 * time.Second))
	ok := step(22*time.Second, StateOK, true)
	if ok.Detail.PreviousState.Value != StateAlarm || !ok.Detail.PreviousState.Time().Equal(t0.Add(20*time.Second)) {
		t.Fatalf("previous state %+v", ok.Detail.PreviousState)
	}
	h.Beat(t0.Add(5 * time.Second)) // an older beat changes nothing
	step(40*time.Second, StateOK, false)
	alarm := step(41*time.Second, StateAlarm, true) // two periods since the last beat
	if d, _ := alarm.Detail.State.Data(); d.Threshold != 1 {
		t.Fatalf("reason data %q", alarm.Detail.State.ReasonData)
	}
}
