package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/quotabot/chatwork-quota-bot/internal/awstest"
	"github.com/quotabot/chatwork-quota-bot/internal/cwlogs"
	"github.com/quotabot/chatwork-quota-bot/internal/localstore"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
)

type recorder interface {
	Record(ctx context.Context, r sample.Record) error
}

// seed writes three windows of the "default" token (the middle one running
// out), a network failure, another token's sample and one too old to show.
func seed(t *testing.T, rec recorder) (r1, r2, r3 time.Time) {
	t.Helper()
	base := time.Now().Add(-2 * time.Hour).Truncate(5 * time.Minute)
	r1, r2, r3 = base.Add(5*time.Minute), base.Add(10*time.Minute), base.Add(15*time.Minute)
	q := func(at time.Time, remaining int, reset time.Time, src sample.Source) sample.Record {
		return sample.Record{Time: at, Token: "default", Source: src, HasQuota: true, Remaining: remaining, Limit: 300, Reset: reset.Unix(), Calls: 1}
	}
	exhausted := q(base.Add(8*time.Minute), 0, r2, sample.SourceMonitor)
	exhausted.Error, exhausted.Detail = "quota_exhausted", "quota exhausted (HTTP 429)"
	other := q(base.Add(time.Minute), 3, r1, sample.SourceMonitor)
	other.Token = "other-bots"
	old := q(time.Now().Add(-30*time.Hour), 1, time.Now().Add(-30*time.Hour+time.Minute), sample.SourceMonitor)
	recs := []sample.Record{
		old,
		q(base.Add(time.Minute), 280, r1, sample.SourceMonitor),
		q(base.Add(3*time.Minute), 150, r1, sample.SourcePassive),
		q(base.Add(4*time.Minute+59*time.Second), 140, r1, sample.SourceMonitor),
		other,
		q(base.Add(6*time.Minute), 200, r2, sample.SourceMonitor),
		exhausted,
		{Time: base.Add(11 * time.Minute), Token: "default", Source: sample.SourceMonitor, Error: "network", Detail: "chatwork read quota: network: timeout", Calls: 3},
		q(base.Add(12*time.Minute), 299, r3, sample.SourceMonitor),
	}
	for _, r := range recs {
		if err := rec.Record(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	return r1, r2, r3
}

func checkReport(t *testing.T, rep historyReport, r1, r2, r3 time.Time) {
	t.Helper()
	if len(rep.Windows) != 3 {
		t.Fatalf("windows %+v", rep.Windows)
	}
	want := []struct {
		reset     time.Time
		low       int
		samples   int
		exhausted bool
	}{{r1, 140, 3, false}, {r2, 0, 2, true}, {r3, 299, 1, false}}
	for i, w := range want {
		got := rep.Windows[i]
		if !got.Reset.Equal(w.reset) || got.Low != w.low || got.Limit != 300 || got.Samples != w.samples || got.Exhausted != w.exhausted {
			t.Errorf("window %d: %+v, want %+v", i, got, w)
		}
	}
	if len(rep.Failures) != 2 || rep.ByKind["network"] != 1 || rep.ByKind["quota_exhausted"] != 1 || rep.Records != 7 {
		t.Errorf("records %d, failures %+v, by kind %v", rep.Records, rep.Failures, rep.ByKind)
	}
}

func TestHistoryFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "samples.jsonl")
	store, err := localstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	r1, r2, r3 := seed(t, store)
	store.Close()
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("not a record\n")
	f.Close()

	r := runWith(t, nil, nil, "history", "--file", path)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{
		`token "default"`, "7 records, 3 windows",
		"140/300  47%", "  0/300   0%", "exhausted (429)", "299/300 100%",
		"low points  ▄▁█",
		"failures    2 (network 1, quota_exhausted 1)",
		"chatwork read quota: network: timeout",
		"1 lines were not sample records",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	// Oldest first.
	if i, j := strings.Index(r.stdout, "140/300"), strings.Index(r.stdout, "299/300"); i < 0 || j < i {
		t.Errorf("windows out of order:\n%s", r.stdout)
	}

	r = runWith(t, nil, nil, "history", "--file", path, "--json", "--since", "48h", "--token", "default")
	rep := reportOf(t, r, "default")
	if len(rep.Windows) != 4 { // the 30-hour-old window is in range now
		t.Fatalf("with --since 48h: %d windows", len(rep.Windows))
	}
	r2d := runWith(t, nil, nil, "history", "--file", path, "--json", "--since", "2d")
	if rep2d := reportOf(t, r2d, "default"); !reflect.DeepEqual(rep2d.Windows, rep.Windows) {
		t.Errorf("--since 2d differs from --since 48h:\n%s\n%s", r2d.stdout, r.stdout)
	}
	rep.Windows = rep.Windows[1:]
	rep.Records--
	checkReport(t, rep, r1, r2, r3)

	r = runWith(t, nil, nil, "history", "--file", path, "--token-label", "other-bots")
	if r.code != 0 || !strings.Contains(r.stdout, "3/300") || !strings.Contains(r.stdout, "1 records, 1 windows") {
		t.Errorf("other label:\n%s", r.stdout)
	}
}

// reportOf decodes history --json, an array of one report per token, and
// returns token's.
func reportOf(t *testing.T, r result, token string) historyReport {
	t.Helper()
	var reps []historyReport
	if err := json.Unmarshal([]byte(r.stdout), &reps); err != nil || r.code != 0 {
		t.Fatalf("exit %d, %v\nstdout:\n%s\nstderr:\n%s", r.code, err, r.stdout, r.stderr)
	}
	for _, rep := range reps {
		if rep.Token == token {
			return rep
		}
	}
	t.Fatalf("no report of %q in\n%s", token, r.stdout)
	return historyReport{}
}

func TestHistoryUnreadableFile(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.jsonl")
	r := runWith(t, nil, nil, "history", "--file", missing)
	if r.code != 1 || !strings.Contains(r.stderr, missing) || strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("exit %d\nstderr:\n%s", r.code, r.stderr)
	}
}

// A file with no record line is not a samples file: exit 1, one line. (An
// empty file used to be "no samples in this period" and exit 0.)
func TestHistoryNoRecords(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{"empty.jsonl": "", "junk.jsonl": "not a record\n{}\n"} {
		path := filepath.Join(dir, name)
		os.WriteFile(path, []byte(content), 0o644)
		r := runWith(t, nil, nil, "history", "--file", path)
		if r.code != 1 || !strings.Contains(r.stderr, "no line of "+path+" is a sample record") || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%s: exit %d\n%s%s", name, r.code, r.stdout, r.stderr)
		}
	}
}

// Records, but none in the period: exit 0, "no samples".
func TestHistoryNoneInPeriod(t *testing.T) {
	path := filepath.Join(t.TempDir(), "samples.jsonl")
	store, err := localstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	seed(t, store)
	store.Close()
	r := runWith(t, nil, nil, "history", "--file", path, "--since", "1m")
	if r.code != 0 || !strings.Contains(r.stdout, "no samples in this period") {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestHistoryLogGroup(t *testing.T) {
	endpoint := awstest.StartMoto(t)
	cfg := awstest.Config(t, endpoint)
	awsEnv(t, endpoint)
	group := awstest.UniqueName(t, "quotabot-test/samples")
	awstest.CreateLogGroup(t, cfg, group)
	r1, r2, r3 := seed(t, cwlogs.NewRecorder(cloudwatchlogs.NewFromConfig(cfg), group, nil))

	r := runWith(t, map[string]string{"QUOTA_LOG_GROUP": group}, nil, "history", "--json")
	checkReport(t, reportOf(t, r, "default"), r1, r2, r3)

	r = runWith(t, nil, nil, "history", "--log-group", "quotabot-test/no-such-group")
	if r.code != 1 || !strings.Contains(r.stderr, "no-such-group") || strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("exit %d\nstderr:\n%s", r.code, r.stderr)
	}
}

// seedThree writes one window of each of three tokens, each with its own
// low point, in an order that is not the labels'.
func seedThree(t *testing.T, rec recorder) map[string]int {
	t.Helper()
	at := time.Now().Add(-time.Hour).Truncate(5 * time.Minute)
	lows := map[string]int{"notify": 120, "deploy": 12, "report": 250}
	for i, label := range []string{"notify", "report", "deploy"} {
		for j, remaining := range []int{lows[label] + 40, lows[label]} {
			r := sample.Record{Time: at.Add(time.Duration(2*i+j) * time.Second), Token: label, Source: sample.SourceMonitor,
				HasQuota: true, Remaining: remaining, Limit: 300, Reset: at.Add(5 * time.Minute).Unix(), Calls: 1}
			if err := rec.Record(context.Background(), r); err != nil {
				t.Fatal(err)
			}
		}
	}
	return lows
}

// checkThree runs history over a source of seedThree's records: every
// token by default, one with --token (or its older name --token-label).
func checkThree(t *testing.T, vars map[string]string, lows map[string]int, source ...string) {
	t.Helper()
	r := runWith(t, vars, nil, append([]string{"history"}, source...)...)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	prev := -1
	for _, label := range []string{"deploy", "notify", "report"} {
		i := strings.Index(r.stdout, fmt.Sprintf("Quota of token %q from ", label))
		low := fmt.Sprintf("%3d/300", lows[label])
		if i < prev || !strings.Contains(r.stdout[i:], low) {
			t.Errorf("%s's section is missing, out of label order or lacks %s:\n%s", label, low, r.stdout)
		}
		prev = i
	}
	if n := strings.Count(r.stdout, "2 records, 1 windows"); n != 3 {
		t.Errorf("%d sections of 2 records, want 3:\n%s", n, r.stdout)
	}

	var reps []historyReport
	r = runWith(t, vars, nil, append([]string{"history", "--json"}, source...)...)
	if err := json.Unmarshal([]byte(r.stdout), &reps); err != nil || len(reps) != 3 {
		t.Fatalf("--json: %v\n%s", err, r.stdout)
	}
	for i, label := range []string{"deploy", "notify", "report"} {
		if reps[i].Token != label || len(reps[i].Windows) != 1 || reps[i].Windows[0].Low != lows[label] {
			t.Errorf("--json element %d = %+v, want %s low %d", i, reps[i], label, lows[label])
		}
	}

	for _, flag := range []string{"--token", "--token-label"} {
		r = runWith(t, vars, nil, append([]string{"history", flag, "notify", "--json"}, source...)...)
		if err := json.Unmarshal([]byte(r.stdout), &reps); err != nil || len(reps) != 1 || reps[0].Token != "notify" || reps[0].Windows[0].Low != 120 {
			t.Errorf("%s notify: %v\n%s", flag, err, r.stdout)
		}
	}
	r = runWith(t, vars, nil, append([]string{"history", "--token", "deploy"}, source...)...)
	if r.code != 0 || strings.Count(r.stdout, "Quota of token") != 1 || !strings.Contains(r.stdout, ` 12/300`) {
		t.Errorf("--token deploy:\n%s", r.stdout)
	}
}

func TestHistoryThreeTokensFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "samples.jsonl")
	store, err := localstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	lows := seedThree(t, store)
	store.Close()
	checkThree(t, nil, lows, "--file", path)
}

func TestHistoryThreeStreams(t *testing.T) {
	endpoint := awstest.StartMoto(t)
	cfg := awstest.Config(t, endpoint)
	awsEnv(t, endpoint)
	group := awstest.UniqueName(t, "quotabot-test/samples")
	awstest.CreateLogGroup(t, cfg, group)
	lows := seedThree(t, cwlogs.NewRecorder(cloudwatchlogs.NewFromConfig(cfg), group, nil))
	for _, label := range []string{"deploy", "notify", "report"} {
		if n := len(awstest.LogEvents(t, cfg, group, label)); n != 2 {
			t.Fatalf("stream %s holds %d events, want 2", label, n)
		}
	}
	checkThree(t, map[string]string{"QUOTA_LOG_GROUP": group}, lows)

	// A group with no stream yet: no token, no error.
	empty := awstest.UniqueName(t, "quotabot-test/empty")
	awstest.CreateLogGroup(t, cfg, empty)
	r := runWith(t, nil, nil, "history", "--log-group", empty)
	if r.code != 0 || r.stdout != "no token has samples in log group "+empty+"\n" {
		t.Errorf("empty group: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runWith(t, nil, nil, "history", "--log-group", empty, "--json")
	if r.code != 0 || strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("empty group --json: exit %d\n%s", r.code, r.stdout)
	}
}

// --png writes the chart of what history read: the same as chart.Draw over
// the same records, with the threshold of QUOTA_ALARM_THRESHOLD unless
// --threshold says otherwise.
func TestHistoryPNG(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "samples.jsonl")
	store, err := localstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	seed(t, store)
	store.Close()
	out := filepath.Join(dir, "quota.png")
	env := map[string]string{"QUOTA_ALARM_THRESHOLD": "60", "QUOTA_TIME_ZONE": "Asia/Tokyo"}
	r := runWith(t, env, nil, "history", "--file", path, "--png", out)
	if r.code != 0 || !strings.Contains(r.stdout, "chart of 2 tokens written to "+out) {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 400 || b.Dy() < 200 {
		t.Errorf("chart of %v", b)
	}
	// A threshold line makes another picture than none.
	other := filepath.Join(dir, "none.png")
	if r := runWith(t, env, nil, "history", "--file", path, "--png", other, "--threshold", "0"); r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if raw0, _ := os.ReadFile(other); bytes.Equal(raw0, raw) {
		t.Error("--threshold 0 drew the same chart as QUOTA_ALARM_THRESHOLD=60")
	}
	for _, args := range [][]string{
		{"--png", filepath.Join(dir, "no", "such", "dir.png")},
		{"--png", out, "--threshold-kind", "ratio"},
		{"--png", out, "--threshold", "101", "--threshold-kind", "percent"},
	} {
		r := runWith(t, env, nil, append([]string{"history", "--file", path}, args...)...)
		if r.code == 0 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q: want one line and a failure", args, r.code, r.stderr)
		}
	}
	// A threshold in the environment that the functions would refuse is
	// refused here too, with the functions' words.
	r = runWith(t, map[string]string{"QUOTA_ALARM_THRESHOLD": "sixty"}, nil, "history", "--file", path, "--png", out)
	if r.code == 0 || !strings.Contains(r.stderr, `QUOTA_ALARM_THRESHOLD "sixty" is not an integer`) {
		t.Errorf("a bad QUOTA_ALARM_THRESHOLD: exit %d, stderr %q", r.code, r.stderr)
	}
}
