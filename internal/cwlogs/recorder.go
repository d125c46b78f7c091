package cwlogs

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/quotabot/chatwork-quota-bot/internal/sample"
)

// PutLogEvents limits (CloudWatch Logs quotas).
const (
	maxBatchEvents = 10_000
	maxBatchBytes  = 1_048_576
	eventOverhead  = 26 // bytes counted per event on top of its message
	maxBatchSpan   = 24 * time.Hour
)

// Recorder writes samples to a log group. It is safe for concurrent use.
//
// Every record also goes to stdout, which Lambda sends to the function's own
// log group, where CloudWatch extracts EMF metrics too. So that a failed put
// loses nothing and no metric is counted twice:
//   - before the put, the record is written to stdout without the EMF
//     member (sample.Record.MarshalPlain): readable, but no metrics;
//   - only if the put fails (or the event is rejected) is the full EMF line
//     written to stdout as well, so the metric reaches CloudWatch that way.
type Recorder struct {
	api    WriteAPI
	group  string
	stdout io.Writer

	mu sync.Mutex // keeps lines on stdout whole when records are concurrent
}

// NewRecorder returns a Recorder for the log group. stdout is where the
// copies described on Recorder go (os.Stdout in Lambda); nil discards them.
func NewRecorder(api WriteAPI, group string, stdout io.Writer) *Recorder {
	if stdout == nil {
		stdout = io.Discard
	}
	return &Recorder{api: api, group: group, stdout: stdout}
}

// Record writes one sample as one event in the token's stream, with the
// record's time as the event's timestamp.
func (r *Recorder) Record(ctx context.Context, rec sample.Record) error {
	return r.RecordBatch(ctx, []sample.Record{rec})
}

// entry is one record ready to put.
type entry struct {
	rec   sample.Record
	emf   []byte
	stamp int64 // event timestamp, Unix ms
}

// RecordBatch writes several records with as few PutLogEvents calls as the
// limits allow: one per stream and per 10,000 events, 1 MiB or 24 hours of
// timestamps. Events are put in time order, as CloudWatch Logs requires. If
// any record is invalid, nothing is written.
func (r *Recorder) RecordBatch(ctx context.Context, recs []sample.Record) error {
	if r.group == "" {
		return errors.New("record samples: no log group configured")
	}
	streams := map[string][]entry{}
	var plain bytes.Buffer
	for _, rec := range recs {
		if err := rec.Validate(); err != nil {
			return fmt.Errorf("record sample: %w", err)
		}
		emf, err := rec.MarshalJSON()
		if err != nil {
			return fmt.Errorf("record sample: encode: %w", err)
		}
		p, err := rec.MarshalPlain()
		if err != nil {
			return fmt.Errorf("record sample: encode: %w", err)
		}
		plain.Write(p)
		plain.WriteByte('\n')
		s := StreamName(rec.Token)
		streams[s] = append(streams[s], entry{rec: rec, emf: emf, stamp: rec.Time.UnixMilli()})
	}
	if len(recs) == 0 {
		return nil
	}
	r.writeStdout(plain.Bytes())

	var errs []error
	for _, name := range slices.Sorted(maps.Keys(streams)) {
		entries := streams[name]
		slices.SortStableFunc(entries, func(a, b entry) int { return cmp.Compare(a.stamp, b.stamp) })
		for _, chunk := range chunks(entries) {
			failed, err := r.put(ctx, name, chunk)
			if err == nil {
				continue
			}
			var lost bytes.Buffer
			for i, e := range chunk {
				if failed == nil || failed[i] {
					lost.Write(e.emf)
					lost.WriteByte('\n')
				}
			}
			r.writeStdout(lost.Bytes())
			what := "sample"
			if len(recs) > 1 {
				what = fmt.Sprintf("%d samples", len(chunk))
			}
			errs = append(errs, fmt.Errorf("put %s to log group %q: %w", what, r.group, err))
		}
	}
	return errors.Join(errs...)
}

// chunks splits time-ordered entries into batches PutLogEvents accepts.
func chunks(entries []entry) [][]entry {
	var (
		out   [][]entry
		start int
		size  int
	)
	for i, e := range entries {
		n := len(e.emf) + eventOverhead
		if i > start && (i-start == maxBatchEvents || size+n > maxBatchBytes ||
			time.Duration(e.stamp-entries[start].stamp)*time.Millisecond >= maxBatchSpan) {
			out = append(out, entries[start:i])
			start, size = i, 0
		}
		size += n
	}
	return append(out, entries[start:])
}

// put sends one batch to a stream, creating the stream when it is missing.
// It tries the put first: the stream exists on every call but the very first
// for a label, so checking or creating it up front would cost a call on
// every cold start. On error, failed is nil when the whole batch was lost,
// or marks the events CloudWatch Logs rejected.
func (r *Recorder) put(ctx context.Context, stream string, batch []entry) (failed []bool, err error) {
	in := &cloudwatchlogs.PutLogEventsInput{
		LogGroupName:  aws.String(r.group),
		LogStreamName: aws.String(stream),
		LogEvents:     make([]types.InputLogEvent, len(batch)),
	}
	for i, e := range batch {
		in.LogEvents[i] = types.InputLogEvent{Message: aws.String(string(e.emf)), Timestamp: aws.Int64(e.stamp)}
	}
	out, err := r.api.PutLogEvents(ctx, in)
	if errorCode(err) == "ResourceNotFoundException" {
		// The stream is missing (or the group: creating the stream tells).
		if err := r.createStream(ctx, stream); err != nil {
			return nil, err
		}
		out, err = r.api.PutLogEvents(ctx, in)
	}
	if err != nil {
		if isContextErr(err) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", classify(err), err)
	}
	if out != nil {
		if failed, err := rejected(out.RejectedLogEventsInfo, len(batch)); err != nil {
			return failed, err
		}
	}
	return nil, nil
}

// createStream creates the stream; one that already exists (another
// container raced us) is success. The group is never created: the template
// owns it, with its retention and permissions.
func (r *Recorder) createStream(ctx context.Context, stream string) error {
	_, err := r.api.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{
		LogGroupName:  aws.String(r.group),
		LogStreamName: aws.String(stream),
	})
	switch {
	case err == nil, errorCode(err) == "ResourceAlreadyExistsException":
		return nil
	case isContextErr(err):
		return fmt.Errorf("create log stream %q: %w", stream, err)
	}
	return fmt.Errorf("create log stream %q: %w: %w", stream, classify(err), err)
}

// rejected reads RejectedLogEventsInfo for a batch of n events. The API
// reference gives the too-old and expired indexes as exclusive ends and the
// too-new index as an inclusive start; a present end index of 0 is read as
// "the first event" (moto reports the last rejected index, not the end).
func rejected(info *types.RejectedLogEventsInfo, n int) ([]bool, error) {
	if info == nil || (info.TooOldLogEventEndIndex == nil && info.TooNewLogEventStartIndex == nil && info.ExpiredLogEventEndIndex == nil) {
		return nil, nil
	}
	failed := make([]bool, n)
	mark := func(from, to int) int {
		from, to = max(from, 0), min(to, n)
		for i := from; i < to; i++ {
			failed[i] = true
		}
		return max(to-from, 0)
	}
	var reasons []string
	if i := info.TooOldLogEventEndIndex; i != nil {
		c := mark(0, max(int(*i), 1))
		reasons = append(reasons, fmt.Sprintf("%d too old (over 14 days)", c))
	}
	if i := info.ExpiredLogEventEndIndex; i != nil {
		c := mark(0, max(int(*i), 1))
		reasons = append(reasons, fmt.Sprintf("%d older than the group's retention", c))
	}
	if i := info.TooNewLogEventStartIndex; i != nil {
		c := mark(int(*i), n)
		reasons = append(reasons, fmt.Sprintf("%d too new (over 2 hours ahead)", c))
	}
	return failed, fmt.Errorf("%w: %s", ErrRejected, strings.Join(reasons, ", "))
}

// writeStdout writes whole lines. A failed write is not reported: stdout is
// the fallback copy, and the caller learns of a failed put from the error.
func (r *Recorder) writeStdout(p []byte) {
	if len(p) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	_, _ = r.stdout.Write(p)
}
