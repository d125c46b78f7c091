package cwmetrics_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/quotabot/chatwork-quota-bot/internal/awstest"
	"github.com/quotabot/chatwork-quota-bot/internal/chart"
	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/cwmetrics"
	"github.com/quotabot/chatwork-quota-bot/internal/recordtest"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
)

func TestMain(m *testing.M) { awstest.Main(m) }

// directive is the EMF member of a record, as CloudWatch reads it.
type directive struct {
	AWS struct {
		Timestamp         int64             `json:"Timestamp"`
		CloudWatchMetrics []metricDirective `json:"CloudWatchMetrics"`
	} `json:"_aws"`
}

type metricDirective struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []metricDef `json:"Metrics"`
}

type metricDef struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

// emf decodes the EMF line of r declaring m: its directive and its members.
func emf(t *testing.T, r sample.Record, m sample.Metrics) (directive, map[string]any) {
	t.Helper()
	b, err := r.MarshalEMF(m)
	if err != nil {
		t.Fatal(err)
	}
	var d directive
	var members map[string]any
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &members); err != nil {
		t.Fatal(err)
	}
	if len(d.AWS.CloudWatchMetrics) != 1 {
		t.Fatalf("EMF line %s: want one metric directive", b)
	}
	return d, members
}

// extract turns a record's EMF line into the data points CloudWatch would
// extract from it (moto does not read EMF), by namespace.
func extract(t *testing.T, r sample.Record, m sample.Metrics) map[string][]types.MetricDatum {
	t.Helper()
	d, members := emf(t, r, m)
	out := map[string][]types.MetricDatum{}
	for _, cwm := range d.AWS.CloudWatchMetrics {
		for _, set := range cwm.Dimensions {
			var dims []types.Dimension
			for _, name := range set {
				dims = append(dims, types.Dimension{Name: aws.String(name), Value: aws.String(members[name].(string))})
			}
			for _, def := range cwm.Metrics {
				out[cwm.Namespace] = append(out[cwm.Namespace], types.MetricDatum{
					MetricName: aws.String(def.Name),
					Dimensions: dims,
					Timestamp:  aws.Time(time.UnixMilli(d.AWS.Timestamp)),
					Value:      aws.Float64(members[def.Name].(float64)),
					Unit:       types.StandardUnit(def.Unit),
				})
			}
		}
	}
	return out
}

// motoClient is the charts' CloudWatch client (NewClient) for moto, which
// fails on the SDK's gzipped PutMetricData bodies (over 10 KB): the test's
// puts go uncompressed.
func motoClient(cfg aws.Config) *cloudwatch.Client {
	return cwmetrics.NewClient(cfg, func(o *cloudwatch.Options) { o.DisableRequestCompression = true })
}

// day builds a day of readings, one every 150 s, for three tokens:
//
//   - busy (limit 300) runs dry (a 429) in the windows starting on the
//     hour, and in every window goes lower than quiet;
//   - gap (limit 600) has no reading from 5h to 8h and only failures
//     without figures from 12h to 13h;
//   - quiet (limit 300) never goes under 290.
func day(labels [3]string, from time.Time, rnd *rand.Rand) []sample.Record {
	busy, gap, quiet := labels[0], labels[1], labels[2]
	var recs []sample.Record
	read := func(label string, at time.Time, remaining, limit int) {
		reset := at.Truncate(chart.Window).Add(chart.Window)
		recs = append(recs, sample.FromCall(label, sample.SourceMonitor, at,
			&chatwork.Quota{Remaining: remaining, Limit: limit, Reset: reset}, nil, 1))
	}
	fail := func(label string, at time.Time, kind chatwork.Kind, status int, q *chatwork.Quota) {
		err := &chatwork.Error{Op: "read quota", Kind: kind, Status: status, Quota: q}
		recs = append(recs, sample.FromCall(label, sample.SourceMonitor, at, nil, err, 1))
	}
	for off := time.Duration(0); off < 24*time.Hour; off += 150 * time.Second {
		at := from.Add(off).Add(time.Duration(rnd.IntN(1000)) * time.Millisecond)
		if off%time.Hour == 150*time.Second {
			fail(busy, at, chatwork.KindQuotaExhausted, 429, &chatwork.Quota{Remaining: 3, Limit: 300, Reset: at.Add(time.Minute)})
		} else {
			read(busy, at, 1+rnd.IntN(279), 300)
		}
		switch h := off / time.Hour; {
		case h >= 5 && h < 8:
		case h == 12:
			fail(gap, at, chatwork.KindServer, 503, nil)
		default:
			read(gap, at, 100+rnd.IntN(500), 600)
		}
		read(quiet, at, 290+rnd.IntN(11), 300)
	}
	return recs
}

// The low points read from moto's CloudWatch, where the test put the
// metrics the records declare, are those the records themselves give.
func TestLowsMoto(t *testing.T) {
	cfg := awstest.Config(t, awstest.StartMoto(t))
	client := motoClient(cfg)
	// moto matches a query's dimensions without its namespace: the labels
	// are the test's own.
	labels := [3]string{awstest.UniqueName(t, "busy-"), awstest.UniqueName(t, "gap-"), awstest.UniqueName(t, "quiet-")}
	from := time.Now().UTC().Truncate(time.Hour).Add(-25 * time.Hour)
	to := from.Add(24 * time.Hour)
	recs := day(labels, from, rand.New(rand.NewPCG(1, 2)))

	mem := &recordtest.Memory{}
	byNamespace := map[string][]types.MetricDatum{}
	for _, r := range recs {
		if err := mem.Record(t.Context(), r); err != nil {
			t.Fatal(err)
		}
		for _, m := range []sample.Metrics{{}, {Percent: true}} {
			for ns, data := range extract(t, r, m) {
				byNamespace[ns] = append(byNamespace[ns], data...)
			}
		}
	}
	for ns, data := range byNamespace {
		for len(data) > 0 {
			n := min(len(data), 1000)
			if _, err := client.PutMetricData(t.Context(), &cloudwatch.PutMetricDataInput{Namespace: aws.String(ns), MetricData: data[:n]}); err != nil {
				t.Fatal(err)
			}
			data = data[n:]
		}
	}

	calls := &counting{api: client}
	src := cwmetrics.New(calls)
	for _, percent := range []bool{false, true} {
		t.Run(fmt.Sprintf("percent=%v", percent), func(t *testing.T) {
			q := chart.Query{Labels: labels[:], From: from, To: to, Percent: percent}
			before := calls.n
			got, err := src.Lows(t.Context(), q)
			if err != nil {
				t.Fatal(err)
			}
			if n := calls.n - before; n != 1 {
				t.Errorf("%d GetMetricData requests for a day of three tokens, want 1", n)
			}
			want, err := chart.FromRecords(mem).Lows(t.Context(), q)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("CloudWatch's low points differ from the records':\n%v\nwant\n%v", got, want)
			}

			busy, gap, quiet := got[0], got[1], got[2]
			if len(busy.Points) != 288 || len(quiet.Points) != 288 {
				t.Fatalf("busy and quiet have %d and %d points, want one per window of the day (288)", len(busy.Points), len(quiet.Points))
			}
			for i, p := range busy.Points {
				if want := from.Add(time.Duration(i) * chart.Window); !p.At.Equal(want) {
					t.Fatalf("busy's point %d at %v, want %v", i, p.At, want)
				}
				dry := p.At.Minute() == 0
				if dry != (p.Low == 0) {
					t.Errorf("busy at %v: low %v; a window on the hour ran dry, the others did not", p.At, p.Low)
				}
				if q := quiet.Points[i].Low; q < 290*scale(percent, 300) || q <= p.Low {
					t.Errorf("at %v quiet's low is %v (busy's %v): want at least 290 of 300, above busy's", p.At, q, p.Low)
				}
			}
			// gap: 24 hours less 3 without readings and 1 with failures only.
			if len(gap.Points) != 20*12 {
				t.Errorf("gap has %d points, want %d", len(gap.Points), 20*12)
			}
			for _, p := range gap.Points {
				if h := p.At.Sub(from) / time.Hour; h >= 5 && h < 8 || h == 12 {
					t.Errorf("gap has a point at %v, in the hours without figures", p.At)
				}
				if p.Low < 100*scale(percent, 600) {
					t.Errorf("gap's low at %v is %v, under its least reading", p.At, p.Low)
				}
			}
		})
	}
}

// counting counts the requests that reach api.
type counting struct {
	api cwmetrics.GetMetricDataAPI
	n   int
}

func (c *counting) GetMetricData(ctx context.Context, in *cloudwatch.GetMetricDataInput, optFns ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error) {
	c.n++
	return c.api.GetMetricData(ctx, in, optFns...)
}

// scale is the factor from a count to the chart's unit.
func scale(percent bool, limit int) float64 {
	if percent {
		return 100 / float64(limit)
	}
	return 1
}
