package cwlogs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/quotabot/chatwork-quota-bot/internal/awstest"
	"github.com/quotabot/chatwork-quota-bot/internal/cwlogs"
	"github.com/quotabot/chatwork-quota-bot/internal/recordtest"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
)

func TestMain(m *testing.M) { awstest.Main(m) }

// base is recent (moto, like AWS, rejects events older than 14 days) and
// has sub-millisecond digits, which the record keeps and the event
// timestamp does not.
var base = time.Now().UTC().Add(-time.Hour).Truncate(time.Second).Add(123456789)

func quota(token string, at time.Duration, remaining int) sample.Record {
	return sample.Record{
		Time: base.Add(at), Token: token, Source: sample.SourceMonitor,
		HasQuota: true, Remaining: remaining, Limit: 300, Reset: base.Add(5 * time.Minute).Unix(), Calls: 1,
	}
}

func failure(token string, at time.Duration) sample.Record {
	return sample.Record{
		Time: base.Add(at), Token: token, Source: sample.SourcePassive,
		Error: "server", Detail: "HTTP 503 from ChatWork", Calls: 1,
	}
}

func emf(t *testing.T, r sample.Record) string {
	t.Helper()
	b, err := r.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func plain(t *testing.T, r sample.Record) string {
	t.Helper()
	b, err := r.MarshalPlain()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func lines(s string) []string {
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// counter wraps the client and counts calls per operation.
type counter struct {
	cwlogs.API
	mu    sync.Mutex
	calls map[string]int
	// optional hooks, run before the real call; an error is returned as is
	beforePut func(n int) error
	pageLimit int32
}

func (c *counter) count(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.calls == nil {
		c.calls = map[string]int{}
	}
	c.calls[op]++
	return c.calls[op]
}

func (c *counter) n(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[op]
}

func (c *counter) CreateLogStream(ctx context.Context, in *cloudwatchlogs.CreateLogStreamInput, o ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.CreateLogStreamOutput, error) {
	c.count("CreateLogStream")
	return c.API.CreateLogStream(ctx, in, o...)
}

func (c *counter) PutLogEvents(ctx context.Context, in *cloudwatchlogs.PutLogEventsInput, o ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.PutLogEventsOutput, error) {
	n := c.count("PutLogEvents")
	if c.beforePut != nil {
		if err := c.beforePut(n); err != nil {
			return nil, err
		}
	}
	return c.API.PutLogEvents(ctx, in, o...)
}

func (c *counter) GetLogEvents(ctx context.Context, in *cloudwatchlogs.GetLogEventsInput, o ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.GetLogEventsOutput, error) {
	c.count("GetLogEvents")
	if c.pageLimit > 0 {
		in.Limit = aws.Int32(c.pageLimit)
	}
	return c.API.GetLogEvents(ctx, in, o...)
}

func (c *counter) FilterLogEvents(ctx context.Context, in *cloudwatchlogs.FilterLogEventsInput, o ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.FilterLogEventsOutput, error) {
	c.count("FilterLogEvents")
	if c.pageLimit > 0 {
		in.Limit = aws.Int32(c.pageLimit)
	}
	return c.API.FilterLogEvents(ctx, in, o...)
}

// recordAll records each of recs in turn.
func recordAll(t *testing.T, rec *cwlogs.Recorder, recs ...sample.Record) {
	t.Helper()
	for _, r := range recs {
		if err := rec.Record(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
}

type env struct {
	cfg   aws.Config
	api   *counter
	group string
}

// setup returns a client for the shared moto and a fresh log group.
func setup(t *testing.T) env {
	t.Helper()
	cfg := awstest.Config(t, awstest.StartMoto(t))
	group := "/" + awstest.UniqueName(t, "quotabot/samples/")
	awstest.CreateLogGroup(t, cfg, group)
	return env{cfg: cfg, api: &counter{API: cloudwatchlogs.NewFromConfig(cfg)}, group: group}
}

func TestRecordThenHistory(t *testing.T) {
	e := setup(t)
	var out bytes.Buffer
	rec := cwlogs.NewRecorder(e.api, e.group, &out)
	written := []sample.Record{quota("default", 0, 280), failure("default", time.Minute), quota("default", 2*time.Minute, 12)}
	written[2].Final = true
	for _, r := range written {
		if err := rec.Record(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}

	// Created once, on the first put's ResourceNotFoundException.
	if got := e.api.n("CreateLogStream"); got != 1 {
		t.Errorf("CreateLogStream calls = %d, want 1", got)
	}
	if got := e.api.n("PutLogEvents"); got != 4 {
		t.Errorf("PutLogEvents calls = %d, want 4 (first one retried after creating the stream)", got)
	}
	// The events are the EMF records, one per sample.
	var want []string
	for _, r := range written {
		want = append(want, emf(t, r))
	}
	if got := awstest.LogEvents(t, e.cfg, e.group, "default"); !reflect.DeepEqual(got, want) {
		t.Errorf("events =\n%q\nwant\n%q", got, want)
	}
	// stdout got the plain copies only: a successful put must not put the
	// metrics on stdout too.
	var wantOut []string
	for _, r := range written {
		wantOut = append(wantOut, plain(t, r))
	}
	if got := lines(out.String()); !reflect.DeepEqual(got, wantOut) {
		t.Errorf("stdout =\n%q\nwant\n%q", got, wantOut)
	}
	if strings.Contains(out.String(), "_aws") {
		t.Error("stdout holds EMF although every put succeeded")
	}

	got, err := cwlogs.NewHistory(e.api, e.group).Samples(t.Context(), "default", base.Add(-time.Minute), base.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, written) {
		t.Errorf("History =\n%+v\nwant\n%+v", got, written)
	}
}

func TestHistoryContract(t *testing.T) {
	recordtest.TestHistory(t, func(t *testing.T) (sample.Recorder, sample.History) {
		e := setup(t)
		return cwlogs.NewRecorder(e.api, e.group, nil), cwlogs.NewHistory(e.api, e.group)
	})
}

func TestHistoryTimeRange(t *testing.T) {
	e := setup(t)
	rec := cwlogs.NewRecorder(e.api, e.group, nil)
	var all []sample.Record
	for i := range 5 {
		all = append(all, quota("default", time.Duration(i)*time.Minute, 300-i))
	}
	recordAll(t, rec, all...)
	h := cwlogs.NewHistory(e.api, e.group)
	tests := []struct {
		name         string
		since, until time.Time
		want         []sample.Record
	}{
		{"open", time.Time{}, time.Time{}, all},
		{"since is inclusive", all[1].Time, time.Time{}, all[1:]},
		{"until is exclusive", time.Time{}, all[3].Time, all[:3]},
		// all[2] lies 123456789 ns past a second: its event timestamp is
		// .123, and a bound within the same millisecond must still split.
		{"sub-millisecond bounds", all[2].Time.Add(-time.Nanosecond), all[2].Time.Add(time.Nanosecond), all[2:3]},
		{"sub-millisecond until excludes", time.Time{}, all[2].Time.Add(-time.Nanosecond), all[:2]},
		{"empty", base.Add(time.Hour), base.Add(2 * time.Hour), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := h.Samples(t.Context(), "default", tt.since, tt.until)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %d records %+v\nwant %d %+v", len(got), got, len(tt.want), tt.want)
			}
		})
	}
}

func TestStreamNames(t *testing.T) {
	e := setup(t)
	rec := cwlogs.NewRecorder(e.api, e.group, nil)
	// Both labels map to the stream "team_a_b"; each reader gets its own.
	a, b := quota("team:a*b", 0, 100), quota("team*a:b", time.Second, 200)
	recordAll(t, rec, a, b)
	if got := cwlogs.StreamName("team:a*b"); got != "team_a_b" {
		t.Errorf("StreamName = %q", got)
	}
	if n := len(awstest.LogEvents(t, e.cfg, e.group, "team_a_b")); n != 2 {
		t.Errorf("stream team_a_b holds %d events, want 2", n)
	}
	got, err := cwlogs.NewHistory(e.api, e.group).Samples(t.Context(), "team:a*b", time.Time{}, time.Time{})
	if err != nil || len(got) != 1 || got[0] != a {
		t.Errorf("Samples(team:a*b) = %+v, %v; want only its own record", got, err)
	}
	if long := cwlogs.StreamName(strings.Repeat("é", 300)); len(long) != 512 {
		t.Errorf("long label gives a %d-byte stream name, want 512", len(long))
	}
}

func TestStreamRaceAlreadyExistsIsSuccess(t *testing.T) {
	e := setup(t)
	// Another container creates the stream between our failed put and our
	// CreateLogStream: ours then gets ResourceAlreadyExistsException.
	e.api.beforePut = func(n int) error {
		if n == 1 {
			if _, err := e.api.API.CreateLogStream(context.Background(), &cloudwatchlogs.CreateLogStreamInput{
				LogGroupName: aws.String(e.group), LogStreamName: aws.String("default"),
			}); err != nil {
				return err
			}
			return &types.ResourceNotFoundException{Message: aws.String("The specified log stream does not exist.")}
		}
		return nil
	}
	r := quota("default", 0, 5)
	if err := cwlogs.NewRecorder(e.api, e.group, nil).Record(t.Context(), r); err != nil {
		t.Fatalf("Record: %v", err)
	}
	if got := awstest.LogEvents(t, e.cfg, e.group, "default"); !reflect.DeepEqual(got, []string{emf(t, r)}) {
		t.Errorf("events = %q, want the record once", got)
	}
}

func TestExistingStreamNeedsNoCreate(t *testing.T) {
	e := setup(t)
	if err := cwlogs.NewRecorder(e.api, e.group, nil).Record(t.Context(), quota("default", 0, 5)); err != nil {
		t.Fatal(err)
	}
	// A new container (new Recorder) finds the stream by putting.
	api := &counter{API: e.api.API}
	if err := cwlogs.NewRecorder(api, e.group, nil).Record(t.Context(), quota("default", time.Second, 4)); err != nil {
		t.Fatal(err)
	}
	if api.n("CreateLogStream") != 0 || api.n("PutLogEvents") != 1 {
		t.Errorf("calls = %v, want a single PutLogEvents", api.calls)
	}
}

func TestMissingGroup(t *testing.T) {
	cfg := awstest.Config(t, awstest.StartMoto(t))
	api := cloudwatchlogs.NewFromConfig(cfg)
	group := "/" + awstest.UniqueName(t, "never-created/")
	var out bytes.Buffer
	r := quota("default", 0, 5)

	err := cwlogs.NewRecorder(api, group, &out).Record(t.Context(), r)
	if err == nil {
		t.Fatal("Record succeeded without a log group")
	}
	wantPrefix := fmt.Sprintf("put sample to log group %q: create log stream %q: log group not found: ", group, "default")
	if !strings.HasPrefix(err.Error(), wantPrefix) {
		t.Errorf("err = %q\nwant prefix %q", err, wantPrefix)
	}
	// Nothing lost: the EMF line went to stdout after the plain one.
	if got, want := lines(out.String()), []string{plain(t, r), emf(t, r)}; !reflect.DeepEqual(got, want) {
		t.Errorf("stdout = %q, want %q", got, want)
	}

	_, err = cwlogs.NewHistory(api, group).Samples(t.Context(), "default", time.Time{}, time.Time{})
	if err == nil || !strings.Contains(err.Error(), "log group not found: ") || !strings.Contains(err.Error(), group) {
		t.Errorf("History err = %v, want \"log group not found\" naming the group", err)
	}
}

func TestHistoryMissingStreamIsEmpty(t *testing.T) {
	e := setup(t)
	got, err := cwlogs.NewHistory(e.api, e.group).Samples(t.Context(), "nobody", time.Time{}, time.Time{})
	if err != nil || got != nil {
		t.Errorf("Samples = %v, %v; want no samples and no error", got, err)
	}
}

func TestHistoryPagesAndSkips(t *testing.T) {
	e := setup(t)
	var all []sample.Record
	for i := range 7 {
		all = append(all, quota("default", time.Duration(i)*time.Second, 300-i))
	}
	recordAll(t, cwlogs.NewRecorder(e.api, e.group, nil), all...)
	// Lines that are not records: skipped and counted.
	_, err := e.api.API.PutLogEvents(t.Context(), &cloudwatchlogs.PutLogEventsInput{
		LogGroupName: aws.String(e.group), LogStreamName: aws.String("default"),
		LogEvents: []types.InputLogEvent{
			{Message: aws.String("START RequestId: 1"), Timestamp: aws.Int64(base.Add(10 * time.Second).UnixMilli())},
			{Message: aws.String(`{"remaining": 1}`), Timestamp: aws.Int64(base.Add(11 * time.Second).UnixMilli())},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.api.pageLimit = 2
	res, err := cwlogs.NewHistory(e.api, e.group).Read(t.Context(), "default", time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res.Records, all) || res.Skipped != 2 || res.Truncated {
		t.Errorf("Read = %d records, skipped %d, truncated %v; want 7, 2, false", len(res.Records), res.Skipped, res.Truncated)
	}
	if n := e.api.n("GetLogEvents"); n < 5 {
		t.Errorf("GetLogEvents calls = %d, want at least 5 pages of 2 for 9 events", n)
	}
}

func TestHistoryPageBoundKeepsNewest(t *testing.T) {
	e := setup(t)
	var all []sample.Record
	for i := range cwlogs.MaxPages + 10 {
		all = append(all, quota("default", time.Duration(i)*time.Second, 300-i))
	}
	recordAll(t, cwlogs.NewRecorder(e.api, e.group, nil), all...)
	e.api.pageLimit = 1
	res, err := cwlogs.NewHistory(e.api, e.group).Read(t.Context(), "default", time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Truncated || !reflect.DeepEqual(res.Records, all[10:]) {
		t.Errorf("Read = %d records (truncated %v), want the newest %d and Truncated", len(res.Records), res.Truncated, cwlogs.MaxPages)
	}
}

func TestTooOldIsRejected(t *testing.T) {
	e := setup(t)
	var out bytes.Buffer
	old := quota("default", -15*24*time.Hour, 9)
	err := cwlogs.NewRecorder(e.api, e.group, &out).Record(t.Context(), old)
	if err == nil || !strings.Contains(err.Error(), "rejected by CloudWatch Logs: too old") {
		t.Fatalf("err = %v, want rejected as too old", err)
	}
	if got, want := lines(out.String()), []string{plain(t, old), emf(t, old)}; !reflect.DeepEqual(got, want) {
		t.Errorf("stdout = %q, want %q", got, want)
	}
}

func TestInvalidRecordWritesNothing(t *testing.T) {
	var out bytes.Buffer
	api := &fake{}
	err := cwlogs.NewRecorder(api, "g", &out).Record(t.Context(), sample.Record{Time: base, Token: "default"})
	if err == nil || !strings.Contains(err.Error(), "invalid record: ") {
		t.Errorf("err = %v, want an invalid record error", err)
	}
	if out.Len() != 0 || api.puts.Load() != 0 {
		t.Errorf("an invalid record reached stdout (%q) or the API (%d puts)", out.String(), api.puts.Load())
	}
}

// fake is a WriteAPI whose PutLogEvents answers with fixed results.
type fake struct {
	put  func(*cloudwatchlogs.PutLogEventsInput) (*cloudwatchlogs.PutLogEventsOutput, error)
	puts atomic.Int64
}

func (f *fake) CreateLogStream(context.Context, *cloudwatchlogs.CreateLogStreamInput, ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.CreateLogStreamOutput, error) {
	return &cloudwatchlogs.CreateLogStreamOutput{}, nil
}

func (f *fake) PutLogEvents(_ context.Context, in *cloudwatchlogs.PutLogEventsInput, _ ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.PutLogEventsOutput, error) {
	f.puts.Add(1)
	if f.put == nil {
		return &cloudwatchlogs.PutLogEventsOutput{}, nil
	}
	return f.put(in)
}

func TestStdoutPolicy(t *testing.T) {
	r0 := quota("default", 0, 10)
	rejectedInfo := func(info types.RejectedLogEventsInfo) func(*cloudwatchlogs.PutLogEventsInput) (*cloudwatchlogs.PutLogEventsOutput, error) {
		return func(*cloudwatchlogs.PutLogEventsInput) (*cloudwatchlogs.PutLogEventsOutput, error) {
			return &cloudwatchlogs.PutLogEventsOutput{RejectedLogEventsInfo: &info}, nil
		}
	}
	fail := func(err error) func(*cloudwatchlogs.PutLogEventsInput) (*cloudwatchlogs.PutLogEventsOutput, error) {
		return func(*cloudwatchlogs.PutLogEventsInput) (*cloudwatchlogs.PutLogEventsOutput, error) { return nil, err }
	}
	tests := []struct {
		name    string
		put     func(*cloudwatchlogs.PutLogEventsInput) (*cloudwatchlogs.PutLogEventsOutput, error)
		wantErr error  // for errors.Is, when set
		errText string // the error's prefix, "" for success; the EMF line follows the plain one exactly on error
	}{
		{"success", nil, nil, ""},
		{"empty rejection info", rejectedInfo(types.RejectedLogEventsInfo{}), nil, ""},
		{"throttled", fail(&types.ThrottlingException{Message: aws.String("Rate exceeded")}),
			nil, `put sample to log group "g": throttled: `},
		{"unavailable", fail(&types.ServiceUnavailableException{Message: aws.String("down")}),
			nil, `put sample to log group "g": service unavailable: `},
		{"network", fail(errors.New("dial tcp: connection refused")),
			nil, `put sample to log group "g": request failed: `},
		{"canceled", fail(fmt.Errorf("operation error: %w", context.Canceled)),
			context.Canceled, `put sample to log group "g": operation error`},
		{"too old", rejectedInfo(types.RejectedLogEventsInfo{TooOldLogEventEndIndex: aws.Int32(1)}),
			nil, `put sample to log group "g": rejected by CloudWatch Logs: too old`},
		{"too old at index 0, as moto says it", rejectedInfo(types.RejectedLogEventsInfo{TooOldLogEventEndIndex: aws.Int32(0)}),
			nil, `put sample to log group "g": rejected by CloudWatch Logs: too old`},
		{"too new", rejectedInfo(types.RejectedLogEventsInfo{TooNewLogEventStartIndex: aws.Int32(0)}),
			nil, `put sample to log group "g": rejected by CloudWatch Logs: too new`},
		{"expired", rejectedInfo(types.RejectedLogEventsInfo{ExpiredLogEventEndIndex: aws.Int32(1)}),
			nil, `put sample to log group "g": rejected by CloudWatch Logs: older than the group's retention`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := cwlogs.NewRecorder(&fake{put: tt.put}, "g", &out).Record(t.Context(), r0)
			want := []string{plain(t, r0)}
			if tt.errText == "" {
				if err != nil {
					t.Fatal(err)
				}
			} else {
				if err == nil || !strings.HasPrefix(err.Error(), tt.errText) || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v\nwant %v with prefix %q", err, tt.wantErr, tt.errText)
				}
				want = append(want, emf(t, r0))
			}
			if got := lines(out.String()); !reflect.DeepEqual(got, want) {
				t.Errorf("stdout =\n%q\nwant\n%q", got, want)
			}
		})
	}
}

// The SDK's retryer makes 3 attempts on throttling and unavailability; what
// comes out after that must still say what happened.
func TestRetriedErrorsSurface(t *testing.T) {
	tests := []struct {
		code   string
		status int
		want   string
	}{
		{"ThrottlingException", http.StatusBadRequest, "throttled: "},
		{"ServiceUnavailableException", http.StatusServiceUnavailable, "service unavailable: "},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			var hits atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				w.Header().Set("Content-Type", "application/x-amz-json-1.1")
				w.WriteHeader(tt.status)
				fmt.Fprintf(w, `{"__type":"%s","message":"try later"}`, tt.code)
			}))
			defer srv.Close()
			client := cloudwatchlogs.NewFromConfig(awstest.Config(t, srv.URL), func(o *cloudwatchlogs.Options) {
				// Default attempts, no waiting between them.
				o.Retryer = retry.NewStandard(func(o *retry.StandardOptions) {
					o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
				})
			})
			err := cwlogs.NewRecorder(client, "g", nil).Record(t.Context(), quota("default", 0, 1))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if got := hits.Load(); got != 3 {
				t.Errorf("%d requests, want 3 (the default retryer's attempts)", got)
			}
			if !strings.Contains(err.Error(), tt.code) || strings.Contains(err.Error(), "\n") {
				t.Errorf("err = %q: want one line naming %s", err, tt.code)
			}
			t.Log(err)
		})
	}
}

// declared is the metric names a record's EMF directive declares.
func declared(t *testing.T, msg string) []string {
	t.Helper()
	var v struct {
		AWS struct {
			CloudWatchMetrics []struct{ Metrics []struct{ Name string } }
		} `json:"_aws"`
	}
	if err := json.Unmarshal([]byte(msg), &v); err != nil || len(v.AWS.CloudWatchMetrics) != 1 {
		t.Fatalf("not one EMF directive: %s (%v)", msg, err)
	}
	var names []string
	for _, m := range v.AWS.CloudWatchMetrics[0].Metrics {
		names = append(names, m.Name)
	}
	return names
}

// A percent alarm watches remaining_percent, so that is the quota metric
// the records declare, in the log group and in stdout's fallback copy.
func TestRecorderMetrics(t *testing.T) {
	e := setup(t)
	revoked := sample.Record{Time: base.Add(time.Second), Token: "p", Source: sample.SourceMonitor, Error: "invalid_token", Detail: "HTTP 401", Calls: 1}
	for _, c := range []struct {
		stream  string
		metrics sample.Metrics
		want    []string
	}{
		{"count", sample.Metrics{}, []string{sample.MetricRemaining}},
		{"percent", sample.Metrics{Percent: true}, []string{sample.MetricRemainingPercent}},
	} {
		rec := cwlogs.NewRecorder(e.api, e.group, nil)
		rec.Metrics = c.metrics
		r, failed := quota(c.stream, 0, 30), revoked
		failed.Token = c.stream
		recordAll(t, rec, r, failed)
		events := awstest.LogEvents(t, e.cfg, e.group, c.stream)
		if len(events) != 2 {
			t.Fatalf("%s: %d events", c.stream, len(events))
		}
		if got := declared(t, events[0]); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: a sample declares %v, want %v", c.stream, got, c.want)
		}
		if got := declared(t, events[1]); !reflect.DeepEqual(got, []string{sample.MetricErrors}) {
			t.Errorf("%s: a failure declares %v, want only errors", c.stream, got)
		}
		got, err := sample.Parse([]byte(events[0]))
		if err != nil || got != r {
			t.Errorf("%s: the event reads back as %+v, %v", c.stream, got, err)
		}
	}

	var out bytes.Buffer
	rec := cwlogs.NewRecorder(&fake{put: func(*cloudwatchlogs.PutLogEventsInput) (*cloudwatchlogs.PutLogEventsOutput, error) {
		return nil, errors.New("dial tcp: connection refused")
	}}, "g", &out)
	rec.Metrics = sample.Metrics{Percent: true}
	if err := rec.Record(t.Context(), quota("p", 0, 30)); err == nil {
		t.Fatal("no error from a failed put")
	}
	if l := lines(out.String()); len(l) != 2 || !reflect.DeepEqual(declared(t, l[1]), []string{sample.MetricRemainingPercent}) {
		t.Errorf("stdout's EMF copy =\n%s\nwant it to declare remaining_percent", out.String())
	}
}

func TestTokens(t *testing.T) {
	e := setup(t)
	rec := cwlogs.NewRecorder(e.api, e.group, nil)
	recordAll(t, rec, quota("notify", 0, 10), quota("deploy", time.Second, 20), quota("report", 2*time.Second, 30), quota("deploy", 3*time.Second, 19))
	// A stream not named after a label (written by hand, say) is no token.
	if _, err := e.api.CreateLogStream(t.Context(), &cloudwatchlogs.CreateLogStreamInput{
		LogGroupName: aws.String(e.group), LogStreamName: aws.String("not a label"),
	}); err != nil {
		t.Fatal(err)
	}
	h := cwlogs.NewHistory(e.api, e.group)
	got, err := h.Tokens(t.Context())
	if err != nil || !reflect.DeepEqual(got, []string{"deploy", "notify", "report"}) {
		t.Errorf("Tokens = %v, %v", got, err)
	}

	missing := "/" + awstest.UniqueName(t, "never-created/")
	_, err = cwlogs.NewHistory(e.api, missing).Tokens(t.Context())
	if err == nil || !strings.HasPrefix(err.Error(), fmt.Sprintf("list the streams of log group %q: log group not found: ", missing)) {
		t.Errorf("missing group: err = %v", err)
	}
}

// LatestMonitor reads the whole group in one query and keeps each label's
// newest monitor record from since on: passive records are ignored, and a
// stream with nothing recent is absent.
func TestLatestMonitor(t *testing.T) {
	e := setup(t)
	passive := quota("deploy", 40*time.Second, 1)
	passive.Source = sample.SourcePassive
	recordAll(t, cwlogs.NewRecorder(e.api, e.group, nil),
		quota("old", 0, 90), // before since
		quota("deploy", 10*time.Second, 50), quota("notify", 11*time.Second, 60), quota("report", 12*time.Second, 70),
		quota("deploy", 20*time.Second, 49), quota("notify", 21*time.Second, 59),
		passive, failure("report", 50*time.Second))
	// A line that is no record is skipped.
	if _, err := e.api.API.PutLogEvents(t.Context(), &cloudwatchlogs.PutLogEventsInput{
		LogGroupName: aws.String(e.group), LogStreamName: aws.String("notify"),
		LogEvents: []types.InputLogEvent{{Message: aws.String("START RequestId: 1"), Timestamp: aws.Int64(base.Add(60 * time.Second).UnixMilli())}},
	}); err != nil {
		t.Fatal(err)
	}
	got, err := cwlogs.NewHistory(e.api, e.group).LatestMonitor(t.Context(), base.Add(5*time.Second))
	want := map[string]sample.Record{
		"deploy": quota("deploy", 20*time.Second, 49), "notify": quota("notify", 21*time.Second, 59), "report": quota("report", 12*time.Second, 70),
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("LatestMonitor = %+v, %v\nwant %+v", got, err, want)
	}
	if n := e.api.n("FilterLogEvents"); n != 1 {
		t.Errorf("FilterLogEvents calls = %d, want 1", n)
	}
	if n := e.api.n("GetLogEvents"); n != 0 {
		t.Errorf("GetLogEvents calls = %d, want 0", n)
	}

	missing := "/" + awstest.UniqueName(t, "never-created/")
	if _, err := cwlogs.NewHistory(e.api, missing).LatestMonitor(t.Context(), base); err == nil || !strings.Contains(err.Error(), "log group not found") {
		t.Errorf("missing group: err = %v", err)
	}
}

// LatestMonitor follows the pages, and a read cut short by MaxPages, which
// would leave out the newest records, is an error.
func TestLatestMonitorPages(t *testing.T) {
	e := setup(t)
	var all []sample.Record
	for i := range cwlogs.MaxPages + 1 {
		all = append(all, quota(fmt.Sprintf("t%02d", i%3), time.Duration(i)*time.Second, 300-i))
	}
	recordAll(t, cwlogs.NewRecorder(e.api, e.group, nil), all...)
	h := cwlogs.NewHistory(e.api, e.group)
	e.api.pageLimit = 2
	got, err := h.LatestMonitor(t.Context(), base)
	n := len(all)
	if err != nil || !reflect.DeepEqual(got, map[string]sample.Record{"t00": all[n-3], "t01": all[n-2], "t02": all[n-1]}) {
		t.Errorf("LatestMonitor = %+v, %v", got, err)
	}
	if calls := e.api.n("FilterLogEvents"); calls < n/2 {
		t.Errorf("FilterLogEvents calls = %d, want at least %d pages of 2", calls, n/2)
	}
	e.api.pageLimit = 1
	if _, err := h.LatestMonitor(t.Context(), base); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("more than %d pages", cwlogs.MaxPages)) {
		t.Errorf("past MaxPages: err = %v", err)
	}
}
