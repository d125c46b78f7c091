package cwmetrics_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/quotabot/chatwork-quota-bot/internal/awstest"
	"github.com/quotabot/chatwork-quota-bot/internal/chart"
	"github.com/quotabot/chatwork-quota-bot/internal/cwmetrics"
)

// fakeAPI answers GetMetricData with its pages in turn (the last one
// again once they run out) or err, and keeps every request.
type fakeAPI struct {
	pages []*cloudwatch.GetMetricDataOutput
	err   error
	ins   []cloudwatch.GetMetricDataInput
}

func (f *fakeAPI) GetMetricData(_ context.Context, in *cloudwatch.GetMetricDataInput, _ ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error) {
	f.ins = append(f.ins, *in)
	if f.err != nil {
		return nil, f.err
	}
	return f.pages[min(len(f.ins), len(f.pages))-1], nil
}

// t0 is a period boundary.
var t0 = time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)

func at(n int) time.Time { return t0.Add(time.Duration(n) * chart.Window) }

func result(id string, status types.StatusCode, points ...float64) types.MetricDataResult {
	r := types.MetricDataResult{Id: aws.String(id), StatusCode: status}
	for i := 0; i < len(points); i += 2 {
		r.Timestamps = append(r.Timestamps, at(int(points[i])))
		r.Values = append(r.Values, points[i+1])
	}
	return r
}

func pt(n int, low float64) chart.Point { return chart.Point{At: at(n), Low: low} }

var labels = []string{"ops", "deploy", "idle"}

func query() chart.Query {
	return chart.Query{Labels: labels, From: t0, To: at(12)}
}

// A read follows the pages to the end: points of a token spread over
// pages come together, oldest first, and a token marked PartialData on an
// earlier page is complete on the last.
func TestLowsPages(t *testing.T) {
	tokyo := time.FixedZone("JST", 9*3600)
	late := result("t1", types.StatusCodeComplete, 9, 40, 7, 30)
	late.Timestamps[0] = late.Timestamps[0].In(tokyo)
	api := &fakeAPI{pages: []*cloudwatch.GetMetricDataOutput{
		{NextToken: aws.String("page 2"), MetricDataResults: []types.MetricDataResult{
			result("t0", types.StatusCodePartialData, 0, 180, 1, 0),
			result("t1", types.StatusCodePartialData, 2, 60),
			result("t2", types.StatusCodePartialData),
		}},
		{NextToken: aws.String("page 3"), MetricDataResults: []types.MetricDataResult{
			result("t0", types.StatusCodePartialData, 3, 12),
			late,
			result("x9", types.StatusCodeComplete, 1, 1), // not asked for
		}},
		{MetricDataResults: []types.MetricDataResult{
			result("t0", types.StatusCodeComplete, 5, 295),
			result("t2", types.StatusCodeComplete),
		}},
	}}
	got, err := cwmetrics.New(api).Lows(t.Context(), query())
	if err != nil {
		t.Fatal(err)
	}
	want := []chart.Series{
		{Label: "ops", Points: []chart.Point{pt(0, 180), pt(1, 0), pt(3, 12), pt(5, 295)}},
		{Label: "deploy", Points: []chart.Point{pt(2, 60), pt(7, 30), pt(9, 40)}},
		{Label: "idle"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Lows =\n%v\nwant\n%v", got, want)
	}
	if len(api.ins) != 3 {
		t.Fatalf("%d requests, want 3 (the pages)", len(api.ins))
	}
	for i, next := range []*string{nil, aws.String("page 2"), aws.String("page 3")} {
		in := api.ins[i]
		if aws.ToString(in.NextToken) != aws.ToString(next) {
			t.Errorf("request %d: NextToken %q, want %q", i, aws.ToString(in.NextToken), aws.ToString(next))
		}
		in.NextToken = nil
		if !reflect.DeepEqual(in, api.ins[0]) {
			t.Errorf("request %d differs from the first in more than its NextToken", i)
		}
	}
}

// secret stands for a credential a server echoed into its answer.
const secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

func TestLowsIncomplete(t *testing.T) {
	page := func(results ...types.MetricDataResult) []*cloudwatch.GetMetricDataOutput {
		return []*cloudwatch.GetMetricDataOutput{{MetricDataResults: results}}
	}
	withMessage := result("t1", types.StatusCodeComplete, 0, 5)
	withMessage.Messages = []types.MessageData{{Code: aws.String("MaxDatapointsExceeded"), Value: aws.String(secret)}}
	mismatched := result("t2", types.StatusCodeComplete, 0, 5, 1, 6)
	mismatched.Values = mismatched.Values[:1]
	cases := []struct {
		name  string
		pages []*cloudwatch.GetMetricDataOutput
		want  []string // what the error says
	}{
		{"partial after the last page", page(result("t0", types.StatusCodeComplete), result("t1", types.StatusCodePartialData, 0, 5)),
			[]string{`"deploy"`, "PartialData"}},
		{"partial on the last of two pages", []*cloudwatch.GetMetricDataOutput{
			{NextToken: aws.String("next"), MetricDataResults: []types.MetricDataResult{result("t2", types.StatusCodePartialData, 0, 5)}},
			{MetricDataResults: []types.MetricDataResult{result("t0", types.StatusCodeComplete, 1, 5), result("t2", types.StatusCodePartialData, 1, 6)}},
		}, []string{`"idle"`, "PartialData"}},
		{"internal error", page(result("t0", types.StatusCodeInternalError)), []string{`"ops"`, "InternalError"}},
		{"forbidden", page(result("t0", types.StatusCodeForbidden)), []string{`"ops"`, "Forbidden"}},
		{"a result's messages", page(result("t0", types.StatusCodeComplete), withMessage), []string{`"deploy"`, "MaxDatapointsExceeded"}},
		{"the answer's messages", []*cloudwatch.GetMetricDataOutput{{
			MetricDataResults: []types.MetricDataResult{result("t0", types.StatusCodeComplete)},
			Messages:          []types.MessageData{{Code: aws.String("InternalError"), Value: aws.String(secret)}, {}},
		}}, []string{"InternalError", "a message without a code"}},
		{"timestamps without values", page(mismatched), []string{`"idle"`, "2 timestamps for 1 values"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := cwmetrics.New(&fakeAPI{pages: tc.pages}).Lows(t.Context(), query())
			if err == nil {
				t.Fatalf("Lows = %v, want an error", got)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q repeats the server's text", err)
			}
		})
	}
}

// A read stops after its pages' bound.
func TestLowsMaxPages(t *testing.T) {
	endless := []*cloudwatch.GetMetricDataOutput{{NextToken: aws.String("more"),
		MetricDataResults: []types.MetricDataResult{result("t0", types.StatusCodePartialData, 0, 1)}}}
	for _, tc := range []struct {
		opts []cwmetrics.Option
		want int
	}{
		{nil, cwmetrics.DefaultMaxPages},
		{[]cwmetrics.Option{cwmetrics.WithMaxPages(3)}, 3},
	} {
		api := &fakeAPI{pages: endless}
		_, err := cwmetrics.New(api, tc.opts...).Lows(t.Context(), query())
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("more than %d pages", tc.want)) || len(api.ins) != tc.want {
			t.Errorf("after %d requests: err = %v; want %d requests and an error saying so", len(api.ins), err, tc.want)
		}
	}
}

// An SDK error keeps its code and HTTP status in the message, not the
// server's text; the error itself stays reachable.
func TestLowsAPIError(t *testing.T) {
	apiErr := &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "User with secret key " + secret + " is not authorized"}
	sdkErr := &smithy.OperationError{ServiceID: "CloudWatch", OperationName: "GetMetricData", Err: &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: 400}}, Err: apiErr},
		RequestID:     "r-1",
	}}
	_, err := cwmetrics.New(&fakeAPI{err: sdkErr}).Lows(t.Context(), query())
	var ae smithy.APIError
	if err == nil || strings.Contains(err.Error(), secret) || !errors.As(err, &ae) || ae.ErrorCode() != "AccessDeniedException" {
		t.Fatalf("err = %v, want the API error without the server's text", err)
	}
	if want := "get metric data of 3 tokens: access denied (AccessDeniedException, HTTP 400)"; err.Error() != want {
		t.Errorf("err = %q, want %q", err, want)
	}

	_, err = cwmetrics.New(&fakeAPI{err: fmt.Errorf("wrapped: %w", context.Canceled)}).Lows(t.Context(), query())
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

// Without an answer, the SDK's cause is told.
func TestLowsNoAnswer(t *testing.T) {
	client := cloudwatch.NewFromConfig(awstest.Config(t, "http://127.0.0.1:1"), func(o *cloudwatch.Options) { o.RetryMaxAttempts = 1 })
	_, err := cwmetrics.New(client).Lows(t.Context(), query())
	if err == nil || !strings.Contains(err.Error(), "request failed: ") || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("err = %v, want the request's failure and where it went", err)
	}
}

func TestLowsQuery(t *testing.T) {
	many := make([]string, cwmetrics.MaxQueries+1)
	for i := range many {
		many[i] = fmt.Sprintf("t%03d", i)
	}
	for _, tc := range []struct {
		name string
		q    chart.Query
	}{
		{"too many tokens", chart.Query{Labels: many, From: t0, To: at(1)}},
		{"a period of seconds", chart.Query{Labels: labels, From: t0, To: at(1), Period: 90 * time.Second}},
		{"an empty range", chart.Query{Labels: labels, From: t0, To: t0}},
	} {
		api := &fakeAPI{}
		if _, err := cwmetrics.New(api).Lows(t.Context(), tc.q); err == nil || len(api.ins) != 0 {
			t.Errorf("%s: err = %v after %d requests, want an error and no request", tc.name, err, len(api.ins))
		}
	}

	api := &fakeAPI{}
	got, err := cwmetrics.New(api).Lows(t.Context(), chart.Query{From: t0, To: at(1)})
	if err != nil || len(got) != 0 || len(api.ins) != 0 {
		t.Errorf("no tokens: %v, %v after %d requests; want nothing and no request", got, err, len(api.ins))
	}

	// The largest fleet in one request, the Ids in label order.
	api = &fakeAPI{pages: []*cloudwatch.GetMetricDataOutput{{}}}
	got, err = cwmetrics.New(api).Lows(t.Context(), chart.Query{Labels: many[:cwmetrics.MaxQueries], From: t0, To: at(1), Period: 10 * time.Minute})
	if err != nil || len(got) != cwmetrics.MaxQueries || len(api.ins) != 1 {
		t.Fatalf("%d tokens: %d series, %v after %d requests; want a series each and one request", cwmetrics.MaxQueries, len(got), err, len(api.ins))
	}
	for i, mq := range api.ins[0].MetricDataQueries {
		if id, p := aws.ToString(mq.Id), aws.ToInt32(mq.MetricStat.Period); id != fmt.Sprintf("t%d", i) || p != 600 || got[i].Label != many[i] {
			t.Fatalf("query %d: Id %q, Period %d, series %q; want t%d, 600, %q", i, id, p, got[i].Label, i, many[i])
		}
	}
}
