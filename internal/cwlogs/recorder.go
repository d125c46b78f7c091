package cwlogs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/quotabot/chatwork-quota-bot/internal/sample"
)

// Recorder writes samples to a log group. It is safe for concurrent use.
//
// Every record also goes to stdout, the function's own log group, where
// CloudWatch extracts EMF metrics too: first without its EMF member
// (sample.Record.MarshalPlain), and in full only when the put fails or is
// rejected. So a failed put loses nothing and no metric is counted twice.
type Recorder struct {
	// Metrics is what each record declares as CloudWatch metrics (the
	// quota metric the alarm watches; see sample.Metrics). Set it before
	// the first Record.
	Metrics sample.Metrics

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
	if r.group == "" {
		return errors.New("record sample: no log group configured")
	}
	if err := rec.Validate(); err != nil {
		return fmt.Errorf("record sample: %w", err)
	}
	emf, err := rec.MarshalEMF(r.Metrics)
	if err != nil {
		return fmt.Errorf("record sample: encode: %w", err)
	}
	plain, err := rec.MarshalPlain()
	if err != nil {
		return fmt.Errorf("record sample: encode: %w", err)
	}
	r.writeStdout(append(plain, '\n'))
	if err := r.put(ctx, StreamName(rec.Token), emf, rec.Time.UnixMilli()); err != nil {
		r.writeStdout(append(emf, '\n'))
		return fmt.Errorf("put sample to log group %q: %w", r.group, err)
	}
	return nil
}

// put sends one event to a stream, creating the stream when it is missing.
// The put comes first: the stream exists on every call but a label's very
// first, so creating it up front would cost a call on every cold start.
func (r *Recorder) put(ctx context.Context, stream string, emf []byte, stamp int64) error {
	in := &cloudwatchlogs.PutLogEventsInput{
		LogGroupName:  aws.String(r.group),
		LogStreamName: aws.String(stream),
		LogEvents:     []types.InputLogEvent{{Message: aws.String(string(emf)), Timestamp: aws.Int64(stamp)}},
	}
	out, err := r.api.PutLogEvents(ctx, in)
	if errorCode(err) == "ResourceNotFoundException" {
		// The stream is missing (or the group: creating the stream tells).
		if err := r.createStream(ctx, stream); err != nil {
			return err
		}
		out, err = r.api.PutLogEvents(ctx, in)
	}
	if err != nil {
		return describe(err)
	}
	return rejected(out.RejectedLogEventsInfo)
}

// createStream creates the stream; one that already exists (another
// container raced us) is success. The group is never created: the template
// owns it, with its retention and permissions.
func (r *Recorder) createStream(ctx context.Context, stream string) error {
	_, err := r.api.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{
		LogGroupName:  aws.String(r.group),
		LogStreamName: aws.String(stream),
	})
	if err == nil || errorCode(err) == "ResourceAlreadyExistsException" {
		return nil
	}
	return fmt.Errorf("create log stream %q: %w", stream, describe(err))
}

// rejected reads RejectedLogEventsInfo for a put of one event: any index
// present means the event was refused (moto reports the last rejected index,
// AWS the end of the range).
func rejected(info *types.RejectedLogEventsInfo) error {
	switch {
	case info == nil:
		return nil
	case info.TooOldLogEventEndIndex != nil:
		return errors.New("rejected by CloudWatch Logs: too old (over 14 days)")
	case info.ExpiredLogEventEndIndex != nil:
		return errors.New("rejected by CloudWatch Logs: older than the group's retention")
	case info.TooNewLogEventStartIndex != nil:
		return errors.New("rejected by CloudWatch Logs: too new (over 2 hours ahead)")
	}
	return nil
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
