package localstore_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/localstore"
	"github.com/quotabot/chatwork-quota-bot/internal/recordtest"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
)

var base = time.Date(2026, 5, 1, 9, 0, 0, 123456789, time.UTC)

func rec(token string, at time.Duration, remaining int) sample.Record {
	return sample.Record{
		Time: base.Add(at), Token: token, Source: sample.SourceMonitor,
		HasQuota: true, Remaining: remaining, Limit: 300, Reset: base.Add(5 * time.Minute).Unix(), Calls: 1,
	}
}

func open(t *testing.T, path string) *localstore.Store {
	t.Helper()
	s, err := localstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestHistoryContract(t *testing.T) {
	recordtest.TestHistory(t, func(t *testing.T) (sample.Recorder, sample.History) {
		s := open(t, filepath.Join(t.TempDir(), "samples.jsonl"))
		return s, s
	})
}

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new", "dir", "samples.jsonl")
	s := open(t, path)
	failure := sample.Record{Time: base.Add(90 * time.Second), Token: "default", Source: sample.SourcePassive, Error: "network", Detail: "timeout"}
	written := []sample.Record{rec("default", 2*time.Minute, 10), rec("other", time.Minute, 50), rec("default", 0, 300), failure}
	for _, r := range written {
		if err := s.Record(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}

	// The file holds exactly the log group's format, one record per line.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, r := range written {
		b, _ := r.MarshalJSON()
		want = append(want, string(b))
	}
	if got := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n"); !reflect.DeepEqual(got, want) {
		t.Errorf("file =\n%q\nwant\n%q", got, want)
	}

	tests := []struct {
		name         string
		token        string
		since, until time.Time
		want         []sample.Record
	}{
		{"all of a token, sorted", "default", time.Time{}, time.Time{}, []sample.Record{written[2], written[3], written[0]}},
		{"other token", "other", time.Time{}, time.Time{}, []sample.Record{written[1]}},
		{"since inclusive", "default", written[3].Time, time.Time{}, []sample.Record{written[3], written[0]}},
		{"until exclusive", "default", time.Time{}, written[3].Time, []sample.Record{written[2]}},
		{"unknown token", "nobody", time.Time{}, time.Time{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Samples(t.Context(), tt.token, tt.since, tt.until)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Samples =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}

	// Reopening appends.
	s.Close()
	s2 := open(t, path)
	if err := s2.Record(t.Context(), rec("other", 3*time.Minute, 40)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s2.Samples(t.Context(), "other", time.Time{}, time.Time{}); len(got) != 2 {
		t.Errorf("after reopening, %d records of other, want 2", len(got))
	}
}

func TestTornLastLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "samples.jsonl")
	first, second := rec("default", 0, 300), rec("default", time.Minute, 299)
	b1, _ := first.MarshalJSON()
	b2, _ := second.MarshalJSON()
	// A writer died halfway through the second line.
	torn := append(append(b1, '\n'), b2[:len(b2)/2]...)
	if err := os.WriteFile(path, torn, 0o644); err != nil {
		t.Fatal(err)
	}

	s := open(t, path)
	got, err := s.Samples(t.Context(), "default", time.Time{}, time.Time{})
	if err != nil || !reflect.DeepEqual(got, []sample.Record{first}) {
		t.Fatalf("Samples = %+v, %v; want the first record only", got, err)
	}
	// The next record starts on a line of its own instead of completing
	// the torn one.
	third := rec("default", 2*time.Minute, 298)
	if err := s.Record(t.Context(), third); err != nil {
		t.Fatal(err)
	}
	got, err = s.Samples(t.Context(), "default", time.Time{}, time.Time{})
	if err != nil || !reflect.DeepEqual(got, []sample.Record{first, third}) {
		t.Errorf("Samples = %+v, %v; want first and third", got, err)
	}
}

func TestConcurrentRecords(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "samples.jsonl"))
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			if err := s.Record(t.Context(), rec("default", time.Duration(i)*time.Second, 300-i)); err != nil {
				t.Error(err)
			}
			if _, err := s.Samples(t.Context(), "default", time.Time{}, time.Time{}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	got, err := s.Samples(t.Context(), "default", time.Time{}, time.Time{})
	if err != nil || len(got) != 50 {
		t.Fatalf("%d records, %v; want 50", len(got), err)
	}
	for i, r := range got {
		if r.Remaining != 300-i {
			t.Fatalf("record %d out of order: %+v", i, r)
		}
	}
}

func TestErrors(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "samples.jsonl"))
	if err := s.Record(t.Context(), sample.Record{Token: "default"}); err == nil || !strings.Contains(err.Error(), "invalid record: ") {
		t.Errorf("invalid record: err = %v, want an invalid record error", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Record(t.Context(), rec("default", 0, 1)); err == nil || !strings.Contains(err.Error(), "store closed") {
		t.Errorf("Record after Close: err = %v, want \"store closed\"", err)
	}
	if _, err := s.Samples(t.Context(), "default", time.Time{}, time.Time{}); err == nil || !strings.Contains(err.Error(), "store closed") {
		t.Errorf("Samples after Close: err = %v, want \"store closed\"", err)
	}
	// Open fails clearly where the directory cannot exist.
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	if _, err := localstore.Open(filepath.Join(file, "samples.jsonl")); err == nil {
		t.Error("Open under a regular file succeeded")
	}
}

// Lines declare the metrics a log group's events would: remaining_percent
// for a percent alarm.
func TestMetrics(t *testing.T) {
	path := filepath.Join(t.TempDir(), "samples.jsonl")
	s := open(t, path)
	s.Metrics = sample.Metrics{Percent: true}
	r := rec("default", 0, 30)
	if err := s.Record(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	want, _ := r.MarshalEMF(sample.Metrics{Percent: true})
	if err != nil || string(data) != string(want)+"\n" || !strings.Contains(string(data), `"Name":"remaining_percent"`) {
		t.Errorf("file = %s, %v\nwant %s", data, err, want)
	}
}
