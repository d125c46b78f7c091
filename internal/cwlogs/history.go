package cwlogs

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/quotabot/chatwork-quota-bot/internal/sample"
)

// MaxPages bounds how many GetLogEvents pages one read follows (a page holds
// up to 10,000 events or 1 MB). Reading goes backwards from the end of the
// range, so when the bound is hit it is the oldest samples that are left
// out, and Result.Truncated says so.
const MaxPages = 50

// History reads recorded samples back from the log group. It is safe for
// concurrent use.
type History struct {
	api   ReadAPI
	group string
}

// NewHistory returns a History for the log group.
func NewHistory(api ReadAPI, group string) *History {
	return &History{api: api, group: group}
}

// Result is what Read found.
type Result struct {
	Records   []sample.Record // oldest first
	Skipped   int             // events in the stream that were not valid records
	Truncated bool            // MaxPages was reached; older records may exist
}

// Samples implements sample.History. A stream that does not exist yet means
// no samples; a missing group is an error.
func (h *History) Samples(ctx context.Context, token string, since, until time.Time) ([]sample.Record, error) {
	res, err := h.Read(ctx, token, since, until)
	return res.Records, err
}

// Read is Samples with the details of the read.
func (h *History) Read(ctx context.Context, token string, since, until time.Time) (Result, error) {
	var res Result
	wrap := func(err error) error {
		return fmt.Errorf("read samples of %q from log group %q: %w", token, h.group, err)
	}
	in := &cloudwatchlogs.GetLogEventsInput{
		LogGroupName:  aws.String(h.group),
		LogStreamName: aws.String(StreamName(token)),
		StartFromHead: aws.Bool(false),
	}
	// Event timestamps are record times cut to milliseconds, and endTime is
	// exclusive: ask for a millisecond more and filter exactly below.
	if !since.IsZero() {
		in.StartTime = aws.Int64(since.UnixMilli())
	}
	if !until.IsZero() {
		in.EndTime = aws.Int64(until.UnixMilli() + 1)
	}
	for page := 0; ; page++ {
		if page == MaxPages {
			res.Truncated = true
			break
		}
		out, err := h.api.GetLogEvents(ctx, in)
		if err != nil {
			if errorCode(err) == "ResourceNotFoundException" {
				if err := h.groupExists(ctx); err != nil {
					return res, wrap(err)
				}
				return res, nil // no stream yet: nothing recorded for this token
			}
			return res, wrap(describe(err))
		}
		for _, e := range out.Events {
			rec, err := sample.Parse([]byte(aws.ToString(e.Message)))
			if err != nil {
				res.Skipped++
				continue
			}
			if rec.Token == token && sample.InRange(rec.Time, since, until) {
				res.Records = append(res.Records, rec)
			}
		}
		// At the start of the stream the same token comes back.
		next := out.NextBackwardToken
		if next == nil || (in.NextToken != nil && *next == *in.NextToken) {
			break
		}
		in.NextToken = next
	}
	slices.SortStableFunc(res.Records, func(a, b sample.Record) int { return a.Time.Compare(b.Time) })
	return res, nil
}

// LatestMonitor returns each token label's newest monitor record from since
// on, read in one FilterLogEvents query over the group, not one read per
// stream. Pages come oldest first: a read cut short by MaxPages, which would
// miss the newest records, is an error.
func (h *History) LatestMonitor(ctx context.Context, since time.Time) (map[string]sample.Record, error) {
	latest := map[string]sample.Record{}
	in := &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(h.group), StartTime: aws.Int64(since.UnixMilli())}
	pages := cloudwatchlogs.NewFilterLogEventsPaginator(h.api, in)
	for page := 0; pages.HasMorePages(); page++ {
		out, err := pages.NextPage(ctx)
		if err = describe(err); err == nil && page == MaxPages {
			err = fmt.Errorf("more than %d pages", MaxPages)
		}
		if err != nil {
			return nil, fmt.Errorf("read the latest samples from log group %q: %w", h.group, err)
		}
		for _, e := range out.Events {
			rec, err := sample.Parse([]byte(aws.ToString(e.Message)))
			if old, ok := latest[rec.Token]; err == nil && rec.Source == sample.SourceMonitor && !rec.Time.Before(since) && (!ok || rec.Time.After(old.Time)) {
				latest[rec.Token] = rec
			}
		}
	}
	return latest, nil
}

// Tokens returns the labels that have a stream in the group, sorted: the
// tokens with records. Streams whose names are no label are left out.
func (h *History) Tokens(ctx context.Context) ([]string, error) {
	var labels []string
	pages := cloudwatchlogs.NewDescribeLogStreamsPaginator(h.api, &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: aws.String(h.group)})
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list the streams of log group %q: %w", h.group, describe(err))
		}
		for _, s := range out.LogStreams {
			if name := aws.ToString(s.LogStreamName); sample.CheckLabel(name) == nil {
				labels = append(labels, name)
			}
		}
	}
	slices.Sort(labels)
	return labels, nil
}

// groupExists tells a missing group from a missing stream, which
// GetLogEvents reports alike: filtering the group over one millisecond is
// cheap and fails only if the group is missing.
func (h *History) groupExists(ctx context.Context) error {
	_, err := h.api.FilterLogEvents(ctx, &cloudwatchlogs.FilterLogEventsInput{
		LogGroupName: aws.String(h.group),
		StartTime:    aws.Int64(0),
		EndTime:      aws.Int64(1),
		Limit:        aws.Int32(1),
	})
	return describe(err)
}
