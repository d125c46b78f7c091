// Package cwmetrics reads the tokens' low points for the charts from the
// CloudWatch metrics the monitor's records declare: each period's Minimum
// of the remaining count (or percent) per token, every token and the whole
// range in one GetMetricData request, not a scan of the log events.
package cwmetrics

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/schemas"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/transport/http/protocol/awsjson"

	"github.com/quotabot/chatwork-quota-bot/internal/chart"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
)

// GetMetricDataAPI is the part of *cloudwatch.Client that Source uses.
type GetMetricDataAPI interface {
	GetMetricData(ctx context.Context, in *cloudwatch.GetMetricDataInput, optFns ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error)
}

var _ GetMetricDataAPI = (*cloudwatch.Client)(nil)

// Statistic is the statistic asked for each period: the lowest reading, a
// rate-limit window's low point.
const Statistic = "Minimum"

// MaxQueries is GetMetricData's limit on the queries of one request, and
// so on the tokens of one chart.
const MaxQueries = 500

// DefaultMaxPages bounds the pages one read follows. A page holds up to
// 100,800 data points: 7 days of 100 tokens at 5 minutes is 2 pages.
const DefaultMaxPages = 10

// Source reads low points from CloudWatch. It is safe for concurrent use.
type Source struct {
	api      GetMetricDataAPI
	maxPages int
}

var _ chart.Source = (*Source)(nil)

// Option configures a Source.
type Option func(*Source)

// WithMaxPages sets how many pages one read may follow (DefaultMaxPages
// otherwise); a read that needs more fails.
func WithMaxPages(n int) Option { return func(s *Source) { s.maxPages = max(n, 1) } }

// New returns a Source reading through api.
func New(api GetMetricDataAPI, opts ...Option) *Source {
	s := &Source{api: api, maxPages: DefaultMaxPages}
	for _, o := range opts {
		o(s)
	}
	return s
}

// input builds the one request for q: a query per label, Ids "t0", "t1",
// … in label order, each the Minimum per period of the metric the records
// declare (sample.Metrics{Percent: q.Percent}.Watched()) with the token's
// dimension, over q's span of whole periods, oldest first.
func input(q chart.Query) (*cloudwatch.GetMetricDataInput, error) {
	span, err := q.Span()
	if err != nil {
		return nil, err
	}
	if span.Period%time.Minute != 0 {
		return nil, fmt.Errorf("chart period %v: CloudWatch's metrics take a whole number of minutes", span.Period)
	}
	if len(q.Labels) > MaxQueries {
		return nil, fmt.Errorf("%d tokens: one request reads at most %d", len(q.Labels), MaxQueries)
	}
	name := sample.Metrics{Percent: q.Percent}.Watched()
	queries := make([]types.MetricDataQuery, len(q.Labels))
	for i, label := range q.Labels {
		queries[i] = types.MetricDataQuery{
			Id: aws.String(queryID(i)),
			MetricStat: &types.MetricStat{
				Metric: &types.Metric{
					Namespace:  aws.String(sample.Namespace),
					MetricName: aws.String(name),
					Dimensions: []types.Dimension{{Name: aws.String(sample.Dimension), Value: aws.String(label)}},
				},
				Period: aws.Int32(int32(span.Period / time.Second)),
				Stat:   aws.String(Statistic),
			},
		}
	}
	return &cloudwatch.GetMetricDataInput{
		MetricDataQueries: queries,
		StartTime:         aws.Time(span.From),
		EndTime:           aws.Time(span.To),
		ScanBy:            types.ScanByTimestampAscending,
	}, nil
}

func queryID(i int) string { return "t" + strconv.Itoa(i) }

// Lows implements chart.Source with one GetMetricData request, followed
// page by page. A result CloudWatch marks incomplete after the last page
// (PartialData, InternalError, Forbidden) or that carries messages is an
// error naming its token.
func (s *Source) Lows(ctx context.Context, q chart.Query) ([]chart.Series, error) {
	in, err := input(q)
	if err != nil {
		return nil, err
	}
	out := make([]chart.Series, len(q.Labels))
	for i, label := range q.Labels {
		out[i].Label = label
	}
	if len(q.Labels) == 0 {
		return out, nil
	}
	byID := make(map[string]int, len(q.Labels))
	for i := range q.Labels {
		byID[queryID(i)] = i
	}
	status := make([]types.StatusCode, len(q.Labels))
	for page := 0; ; page++ {
		if page == s.maxPages {
			return nil, fmt.Errorf("get metric data of %d tokens: more than %d pages", len(q.Labels), s.maxPages)
		}
		res, err := s.api.GetMetricData(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("get metric data of %d tokens: %w", len(q.Labels), describe(err))
		}
		if len(res.Messages) > 0 {
			return nil, fmt.Errorf("get metric data of %d tokens: CloudWatch says %s", len(q.Labels), codes(res.Messages))
		}
		for _, r := range res.MetricDataResults {
			i, ok := byID[aws.ToString(r.Id)]
			if !ok {
				continue
			}
			if len(r.Messages) > 0 {
				return nil, fmt.Errorf("metric data of %q: CloudWatch says %s", q.Labels[i], codes(r.Messages))
			}
			if len(r.Timestamps) != len(r.Values) {
				return nil, fmt.Errorf("metric data of %q: %d timestamps for %d values", q.Labels[i], len(r.Timestamps), len(r.Values))
			}
			for k, at := range r.Timestamps {
				out[i].Points = append(out[i].Points, chart.Point{At: at.UTC(), Low: r.Values[k]})
			}
			status[i] = r.StatusCode
		}
		if in.NextToken = res.NextToken; aws.ToString(in.NextToken) == "" {
			break
		}
	}
	for i := range out {
		if status[i] != "" && status[i] != types.StatusCodeComplete {
			return nil, fmt.Errorf("metric data of %q: %s", q.Labels[i], status[i])
		}
		slices.SortStableFunc(out[i].Points, func(a, b chart.Point) int { return a.At.Compare(b.At) })
	}
	return out, nil
}

// codes lists the messages' codes; their text stays out, as nothing a
// server sends is repeated.
func codes(msgs []types.MessageData) string {
	cs := make([]string, len(msgs))
	for i, m := range msgs {
		cs[i] = cmp.Or(aws.ToString(m.Code), "a message without a code")
	}
	return strings.Join(cs, ", ")
}

// describe reduces an SDK error to the operator's few words, the error
// code and the HTTP status: the server's text and the request stay out of
// the message. The error is still reachable with errors.As and errors.Is.
func describe(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	code, status := "", 0
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	msg := "request failed"
	switch code {
	case "AccessDenied", "AccessDeniedException", "UnrecognizedClientException", "InvalidClientTokenId",
		"ExpiredToken", "ExpiredTokenException", "SignatureDoesNotMatch":
		msg = "access denied"
	case "Throttling", "ThrottlingException", "LimitExceeded", "LimitExceededException":
		msg = "throttled"
	case "InvalidNextToken":
		msg = "invalid next token"
	}
	switch {
	case code != "" && status != 0:
		msg += fmt.Sprintf(" (%s, HTTP %d)", code, status)
	case code != "":
		msg += " (" + code + ")"
	case status != 0:
		msg += fmt.Sprintf(" (HTTP %d)", status)
	default:
		var oe *smithy.OperationError
		if !errors.As(err, &oe) {
			break
		}
		// No answer: the cause (a network error) names no secret.
		msg += ": " + oe.Err.Error()
	}
	return &safeError{msg: msg, err: err}
}

type safeError struct {
	msg string
	err error
}

func (e *safeError) Error() string { return e.msg }
func (e *safeError) Unwrap() error { return e.err }

// NewClient is the CloudWatch client the charts read through, from the
// same AWS configuration as the other clients (AWS_ENDPOINT_URL included).
// It speaks CloudWatch's awsJson 1.0 protocol instead of the SDK's default
// RPC v2 CBOR: CloudWatch serves both, with the same operations and
// members, and the AWS emulator the tests run against (moto) serves only
// the former, so the code under test is the code deployed. opts apply
// after.
func NewClient(cfg aws.Config, opts ...func(*cloudwatch.Options)) *cloudwatch.Client {
	return cloudwatch.NewFromConfig(cfg, append([]func(*cloudwatch.Options){func(o *cloudwatch.Options) {
		o.Protocol = awsjson.New10(schemas.GraniteServiceVersion20100801)
	}}, opts...)...)
}
