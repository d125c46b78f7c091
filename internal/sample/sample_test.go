package sample

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

var at = time.Date(2026, 11, 24, 3, 4, 5, 600_000_000, time.UTC)

func good() Record {
	return Record{Time: at, Token: "default", Source: SourceMonitor, HasQuota: true, Remaining: 45, Limit: 300, Reset: 1795489500, Calls: 1}
}

func TestRoundTrip(t *testing.T) {
	cases := []Record{
		good(),
		func() Record { r := good(); r.Final = true; r.Source = SourcePassive; return r }(),
		{Time: at, Token: "ops", Source: SourceMonitor, Error: "invalid_token", Detail: "chatwork read quota: invalid_token (HTTP 401)", Calls: 1},
		func() Record { r := good(); r.Remaining = 0; r.Error = "quota_exhausted"; return r }(),
		func() Record { r := good(); r.Recovered = true; return r }(),
	}
	for _, want := range cases {
		for _, marshal := range []func(Record) ([]byte, error){Record.MarshalJSON, Record.MarshalPlain} {
			b, err := marshal(want)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Parse(b)
			if err != nil {
				t.Fatalf("Parse(%s): %v", b, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("round trip\n got %+v\nwant %+v\njson %s", got, want, b)
			}
		}
	}
}

// The record carries the members readers rely on, and an EMF
// directive whose metrics all have top-level values.
func TestEMFShape(t *testing.T) {
	b, err := json.Marshal(good())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]float64{"remaining": 45, "limit": 300, "reset": 1795489500, "used": 255, "remaining_percent": 15} {
		if m[k] != want {
			t.Errorf("%s = %v, want %v", k, m[k], want)
		}
	}
	aws := m["_aws"].(map[string]any)
	if aws["Timestamp"] != float64(at.UnixMilli()) {
		t.Errorf("Timestamp = %v", aws["Timestamp"])
	}
	dir := aws["CloudWatchMetrics"].([]any)[0].(map[string]any)
	if dir["Namespace"] != Namespace {
		t.Errorf("Namespace = %v", dir["Namespace"])
	}
	if !reflect.DeepEqual(dir["Dimensions"], []any{[]any{Dimension}}) {
		t.Errorf("Dimensions = %v", dir["Dimensions"])
	}
	if m[Dimension] != "default" {
		t.Errorf("dimension value = %v", m[Dimension])
	}
	names := map[string]bool{}
	for _, x := range dir["Metrics"].([]any) {
		name := x.(map[string]any)["Name"].(string)
		names[name] = true
		if _, ok := m[name]; !ok {
			t.Errorf("metric %s has no value member", name)
		}
	}
	// One metric per token is billed, not four: used, limit and the
	// percent are members only.
	if len(names) != 1 || !names[MetricRemaining] {
		t.Errorf("metrics %v, want only %s", names, MetricRemaining)
	}
	if names[MetricErrors] {
		t.Error("a good sample must not count an error")
	}
	plain, _ := good().MarshalPlain()
	if strings.Contains(string(plain), "_aws") {
		t.Errorf("plain record has _aws: %s", plain)
	}
}

func TestFailureRecordCountsAnError(t *testing.T) {
	r := Record{Time: at, Token: "default", Source: SourceMonitor, Error: "network", Calls: 3}
	b, _ := json.Marshal(r)
	s := string(b)
	if !strings.Contains(s, `"errors":1`) || !strings.Contains(s, `"Name":"errors"`) || strings.Contains(s, `"remaining"`) {
		t.Fatalf("failure record %s", s)
	}
}

func TestInvalid(t *testing.T) {
	bad := []string{
		``, `{`, `[]`,
		`{"time":"yesterday","Token":"a","source":"monitor","error":"x"}`,
		`{"time":"2026-11-24T00:00:00Z","Token":"a","source":"monitor"}`,
		`{"time":"2026-11-24T00:00:00Z","Token":"a","source":"monitor","remaining":1}`,
		`{"time":"2026-11-24T00:00:00Z","Token":"a","source":"monitor","remaining":1,"limit":0,"reset":5}`,
		`{"time":"2026-11-24T00:00:00Z","Token":"","source":"monitor","error":"x"}`,
		`{"time":"2026-11-24T00:00:00Z","Token":"a","source":"monitor","remaining":1.5,"limit":300,"reset":5}`,
	}
	for _, s := range bad {
		if _, err := Parse([]byte(s)); err == nil || !strings.HasPrefix(err.Error(), "invalid record: ") {
			t.Errorf("Parse(%q) = %v, want an invalid record error", s, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	b, _ := json.Marshal(good())
	f.Add(b)
	f.Add([]byte(`{"time":"2026-11-24T00:00:00Z","Token":"a","source":"monitor","error":"x"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse(data)
		if err != nil {
			return
		}
		// Whatever parses must survive a round trip unchanged.
		again, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := Parse(again)
		if err != nil || !reflect.DeepEqual(r.Time.UnixNano(), r2.Time.UnixNano()) || r.Remaining != r2.Remaining || r.Error != r2.Error {
			t.Fatalf("round trip changed %+v into %+v (%v)", r, r2, err)
		}
	})
}

func emfMetrics(t *testing.T, b []byte) (names []string, dims any) {
	t.Helper()
	var v struct {
		AWS struct {
			CloudWatchMetrics []struct {
				Dimensions any
				Metrics    []struct{ Name string }
			}
		} `json:"_aws"`
	}
	if err := json.Unmarshal(b, &v); err != nil || len(v.AWS.CloudWatchMetrics) != 1 {
		t.Fatalf("not one EMF directive: %s (%v)", b, err)
	}
	for _, m := range v.AWS.CloudWatchMetrics[0].Metrics {
		names = append(names, m.Name)
	}
	return names, v.AWS.CloudWatchMetrics[0].Dimensions
}

// A successful reading after a failure declares errors 0, beside its quota
// metric, once marked Recovered; a failure stays 1 whatever the mark; an
// unmarked success declares no errors metric at all.
func TestRecoveredDeclaresZeroErrors(t *testing.T) {
	recovered := good()
	recovered.Recovered = true
	failed := Record{Time: at, Token: "default", Source: SourceMonitor, Error: "invalid_token", Recovered: true}
	for _, c := range []struct {
		name   string
		r      Record
		want   []string
		errors string
	}{
		{"recovered", recovered, []string{MetricRemaining, MetricErrors}, `"errors":0`},
		{"success", good(), []string{MetricRemaining}, ""},
		{"failure marked recovered", failed, []string{MetricErrors}, `"errors":1`},
	} {
		b, err := c.r.MarshalEMF(Metrics{})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := emfMetrics(t, b)
		if !reflect.DeepEqual(got, c.want) || (c.errors == "") == strings.Contains(string(b), `"errors"`) || !strings.Contains(string(b), c.errors) {
			t.Errorf("%s: metrics %v, want %v; record %s", c.name, got, c.want, b)
		}
	}
	plain, _ := recovered.MarshalPlain()
	if !strings.Contains(string(plain), `"errors":0`) || strings.Contains(string(plain), "_aws") {
		t.Errorf("plain %s", plain)
	}
}

func TestMetricsDeclaredPerKind(t *testing.T) {
	exhausted := Record{Time: at, Token: "a", Source: SourceMonitor, HasQuota: true, Remaining: 0, Limit: 300, Reset: 1795489500, Error: "quota_exhausted"}
	roomLimit := Record{Time: at, Token: "a", Source: SourcePassive, Error: "room_limit"}
	revoked := Record{Time: at, Token: "a", Source: SourceMonitor, Error: "invalid_token"}
	for _, c := range []struct {
		name string
		r    Record
		m    Metrics
		want []string
	}{
		{"sample, count alarm", good(), Metrics{}, []string{MetricRemaining}},
		{"sample, percent alarm", good(), Metrics{Percent: true}, []string{MetricRemainingPercent}},
		{"429 is a reading, not a failure", exhausted, Metrics{}, []string{MetricRemaining}},
		{"the room's limit is not the token's failure", roomLimit, Metrics{}, nil},
		{"a revoked token fails", revoked, Metrics{}, []string{MetricErrors}},
	} {
		b, err := c.r.MarshalEMF(c.m)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := emfMetrics(t, b)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: metrics %v, want %v", c.name, got, c.want)
		}
		if c.r.Failed() != slices.Contains(c.want, MetricErrors) || strings.Contains(string(b), `"errors"`) != c.r.Failed() {
			t.Errorf("%s: Failed() = %v, record %s", c.name, c.r.Failed(), b)
		}
		if _, err := Parse(b); err != nil {
			t.Errorf("%s: does not parse back: %v", c.name, err)
		}
	}
	if (Metrics{}).Watched() != MetricRemaining || (Metrics{Percent: true}).Watched() != MetricRemainingPercent {
		t.Error("Watched names the wrong metric")
	}
}

func TestHeartbeatHasNoDimension(t *testing.T) {
	b := Heartbeat(at, 3)
	names, dims := emfMetrics(t, b)
	if !reflect.DeepEqual(names, []string{MetricHeartbeat}) || !reflect.DeepEqual(dims, []any{[]any{}}) {
		t.Fatalf("heartbeat metrics %v dimensions %v: %s", names, dims, b)
	}
	var v map[string]any
	_ = json.Unmarshal(b, &v)
	if v[MetricHeartbeat] != float64(1) || v["tokens"] != float64(3) || v[Dimension] != nil {
		t.Errorf("heartbeat members: %s", b)
	}
	if _, err := Parse(b); err == nil {
		t.Error("a heartbeat must not parse as a sample record")
	}
}

func projected(r Record, projected int, pace float64) Record {
	r.HasProjection, r.Projected, r.Pace = true, projected, pace
	return r
}

// The projection survives a round trip through either encoding, a zero or
// negative one and a zero pace included.
func TestRoundTripKeepsTheProjection(t *testing.T) {
	for _, want := range []Record{
		projected(good(), -25, 70.5),
		projected(good(), 0, 0),
		projected(good(), 45, 0),
		func() Record {
			r := projected(good(), -300, 120)
			r.Remaining, r.Error = 0, "quota_exhausted"
			return r
		}(),
	} {
		for _, marshal := range []func(Record) ([]byte, error){
			Record.MarshalJSON, Record.MarshalPlain,
			func(r Record) ([]byte, error) { return r.MarshalEMF(Metrics{Percent: true}) },
		} {
			b, err := marshal(want)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Parse(b)
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("round trip: %v\n got %+v\nwant %+v\njson %s", err, got, want, b)
			}
		}
	}
}

// A projected record carries projected_remaining, its percent and the pace
// as members whatever it declares; without a projection none of them.
func TestProjectionMembers(t *testing.T) {
	b, _ := projected(good(), -30, 70.5).MarshalPlain()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]float64{MetricProjected: -30, MetricProjectedPercent: -10, "pace_per_minute": 70.5, MetricRemaining: 45} {
		if m[k] != want {
			t.Errorf("%s = %v, want %v: %s", k, m[k], want, b)
		}
	}
	b, _ = good().MarshalJSON()
	for _, k := range []string{MetricProjected, MetricProjectedPercent, "pace_per_minute"} {
		if strings.Contains(string(b), `"`+k+`"`) {
			t.Errorf("a record without a projection has %s: %s", k, b)
		}
	}
}

// The EMF directive declares the projection metric only for a record that
// has one, in the kind the alarm watches: at most two metrics besides
// errors.
func TestProjectionDeclared(t *testing.T) {
	failing := projected(good(), -30, 70.5)
	failing.Error = "server" // a failing response that still carried the headers
	for _, c := range []struct {
		name string
		r    Record
		m    Metrics
		want []string
	}{
		{"count", projected(good(), -30, 70.5), Metrics{}, []string{MetricRemaining, MetricProjected}},
		{"percent", projected(good(), -30, 70.5), Metrics{Percent: true}, []string{MetricRemainingPercent, MetricProjectedPercent}},
		{"no projection, count", good(), Metrics{}, []string{MetricRemaining}},
		{"no projection, percent", good(), Metrics{Percent: true}, []string{MetricRemainingPercent}},
		{"a failure with figures", failing, Metrics{}, []string{MetricRemaining, MetricProjected, MetricErrors}},
		{"recovered, percent", func() Record { r := projected(good(), 10, 5); r.Recovered = true; return r }(), Metrics{Percent: true},
			[]string{MetricRemainingPercent, MetricProjectedPercent, MetricErrors}},
		{"no figures: no projection", func() Record {
			r := projected(good(), 10, 5)
			r.HasQuota, r.Error = false, "network"
			return r
		}(), Metrics{}, []string{MetricErrors}},
	} {
		b, err := c.r.MarshalEMF(c.m)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := emfMetrics(t, b)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: metrics %v, want %v", c.name, got, c.want)
		}
		if n := len(slices.DeleteFunc(slices.Clone(got), func(s string) bool { return s == MetricErrors })); n > 2 {
			t.Errorf("%s: %d metrics besides errors", c.name, n)
		}
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		for _, name := range got {
			if _, ok := m[name]; !ok {
				t.Errorf("%s: metric %s has no value member: %s", c.name, name, b)
			}
		}
		if c.r.HasQuota && c.r.HasProjection && !slices.Contains(got, c.m.Projection()) {
			t.Errorf("%s: Projection() names %s, not declared in %v", c.name, c.m.Projection(), got)
		}
	}
	if (Metrics{}).Projection() != MetricProjected || (Metrics{Percent: true}).Projection() != MetricProjectedPercent {
		t.Error("Projection names the wrong metric")
	}
}
