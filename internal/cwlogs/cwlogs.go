// Package cwlogs records quota samples to a CloudWatch Logs group and reads
// them back. Each token label has a log stream of its own; each sample is
// one event whose message is the record's EMF JSON (sample.Record.MarshalEMF),
// so CloudWatch extracts the metrics the alarms watch.
package cwlogs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/smithy-go"
)

// WriteAPI is the part of *cloudwatchlogs.Client that Recorder uses.
type WriteAPI interface {
	CreateLogStream(ctx context.Context, in *cloudwatchlogs.CreateLogStreamInput, optFns ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.CreateLogStreamOutput, error)
	PutLogEvents(ctx context.Context, in *cloudwatchlogs.PutLogEventsInput, optFns ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.PutLogEventsOutput, error)
}

// ReadAPI is the part of *cloudwatchlogs.Client that History uses.
type ReadAPI interface {
	DescribeLogStreams(ctx context.Context, in *cloudwatchlogs.DescribeLogStreamsInput, optFns ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.DescribeLogStreamsOutput, error)
	GetLogEvents(ctx context.Context, in *cloudwatchlogs.GetLogEventsInput, optFns ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.GetLogEventsOutput, error)
	FilterLogEvents(ctx context.Context, in *cloudwatchlogs.FilterLogEventsInput, optFns ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.FilterLogEventsOutput, error)
}

// API is everything the package uses; *cloudwatchlogs.Client implements it.
type API interface {
	WriteAPI
	ReadAPI
}

var _ API = (*cloudwatchlogs.Client)(nil)

// maxStreamName is CloudWatch Logs' limit on a stream name, in bytes.
const maxStreamName = 512

// StreamName is the log stream that holds a token label's samples: the
// label with ':' and '*', which stream names cannot contain, replaced by
// '_', cut to 512 bytes. Different labels can share a stream this way, so
// readers filter by the label inside each record.
func StreamName(token string) string {
	s := strings.Map(func(r rune) rune {
		if r == ':' || r == '*' {
			return '_'
		}
		return r
	}, token)
	if len(s) > maxStreamName {
		s = s[:maxStreamName]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return s
}

func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// describe wraps an SDK error with its cause in a few words for the
// operator; nil and context errors are returned as they are. Throttling and
// unavailability arrive here only after the SDK's retryer gave up.
func describe(err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	cause := "request failed"
	switch errorCode(err) {
	case "ResourceNotFoundException":
		cause = "log group not found" // the template owns the group: it is never created here
	case "ThrottlingException":
		cause = "throttled"
	case "ServiceUnavailableException":
		cause = "service unavailable"
	case "AccessDeniedException", "UnrecognizedClientException":
		cause = "access denied"
	}
	return fmt.Errorf("%s: %w", cause, err)
}
