package sample

import (
	"encoding/json"
	"reflect"
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
	for _, n := range []string{MetricRemaining, MetricUsed, MetricLimit, MetricRemainingPercent} {
		if !names[n] {
			t.Errorf("metric %s missing", n)
		}
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
