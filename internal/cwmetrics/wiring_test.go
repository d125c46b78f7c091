package cwmetrics_test

import (
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/quotabot/chatwork-quota-bot/internal/chart"
	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/cwmetrics"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
)

// The request names the namespace, metric and dimension that the
// monitor's records declare in their EMF directive, for either threshold
// kind, and asks each period's Minimum.
func TestWiring(t *testing.T) {
	if cwmetrics.Statistic != "Minimum" {
		t.Errorf("Statistic = %q, want Minimum: a window's low point", cwmetrics.Statistic)
	}
	taken := t0.Add(2*time.Minute + 17*time.Second)
	earlier := sample.FromCall("deploy-bot", sample.SourceMonitor, taken.Add(-time.Minute),
		&chatwork.Quota{Remaining: 150, Limit: 300, Reset: t0.Add(chart.Window)}, nil, 1)
	rec := sample.FromCall("deploy-bot", sample.SourceMonitor, taken,
		&chatwork.Quota{Remaining: 120, Limit: 300, Reset: t0.Add(chart.Window)}, nil, 1)
	if !rec.Project(earlier) {
		t.Fatal("no projection: the directive would declare one metric only")
	}
	for _, percent := range []bool{false, true} {
		d, members := emf(t, rec, sample.Metrics{Percent: percent})
		dir := d.AWS.CloudWatchMetrics[0]
		if len(dir.Dimensions) != 1 || len(dir.Dimensions[0]) != 1 {
			t.Fatalf("percent=%v: the records declare dimensions %v, want one", percent, dir.Dimensions)
		}
		dim := dir.Dimensions[0][0]

		api := &fakeAPI{pages: []*cloudwatch.GetMetricDataOutput{{}}}
		q := chart.Query{Labels: []string{rec.Token, "other"}, From: t0.Add(-24*time.Hour + 90*time.Second), To: taken, Percent: percent}
		if _, err := cwmetrics.New(api).Lows(t.Context(), q); err != nil {
			t.Fatal(err)
		}
		in := api.ins[0]
		mq := in.MetricDataQueries[0]
		stat, m := mq.MetricStat, mq.MetricStat.Metric
		name := aws.ToString(m.MetricName)

		if got := aws.ToString(m.Namespace); got != dir.Namespace {
			t.Errorf("percent=%v: namespace %q, the records declare %q", percent, got, dir.Namespace)
		}
		if !slices.ContainsFunc(dir.Metrics, func(def metricDef) bool { return def.Name == name }) {
			t.Errorf("percent=%v: metric %q, the records declare %v", percent, name, dir.Metrics)
		}
		// The metric asked for carries the quota figure the alarm watches.
		want := float64(rec.Remaining)
		if percent {
			want = rec.RemainingPercent()
		}
		if v, ok := members[name].(float64); !ok || v != want {
			t.Errorf("percent=%v: the record's %q is %v, want the quota figure %v", percent, name, members[name], want)
		}
		// The record's value of the dimension is the token's label.
		if len(m.Dimensions) != 1 || aws.ToString(m.Dimensions[0].Name) != dim || aws.ToString(m.Dimensions[0].Value) != members[dim] || members[dim] != rec.Token {
			t.Errorf("percent=%v: dimensions %+v, want %s = %v (the record's)", percent, m.Dimensions, dim, members[dim])
		}
		if got := aws.ToString(stat.Stat); got != cwmetrics.Statistic {
			t.Errorf("percent=%v: statistic %q, want %q", percent, got, cwmetrics.Statistic)
		}
		if got := aws.ToInt32(stat.Period); got != int32(chart.Window/time.Second) {
			t.Errorf("percent=%v: period %d s, want a window (%v)", percent, got, chart.Window)
		}
		// A unit would drop data written with another; math and Insights
		// queries are not what is asked.
		if stat.Unit != "" || mq.Expression != nil || mq.ReturnData != nil && !*mq.ReturnData {
			t.Errorf("percent=%v: query %+v, want a plain MetricStat returning its data", percent, mq)
		}
		other := in.MetricDataQueries[1].MetricStat.Metric
		if aws.ToString(in.MetricDataQueries[1].Id) != "t1" || aws.ToString(other.Dimensions[0].Value) != "other" || aws.ToString(other.MetricName) != name {
			t.Errorf("percent=%v: second query %+v, want t1 for the token other", percent, in.MetricDataQueries[1])
		}
		if wantFrom, wantTo := t0.Add(-24*time.Hour), t0.Add(chart.Window); !aws.ToTime(in.StartTime).Equal(wantFrom) || !aws.ToTime(in.EndTime).Equal(wantTo) {
			t.Errorf("percent=%v: range %v to %v, want whole windows %v to %v", percent, aws.ToTime(in.StartTime), aws.ToTime(in.EndTime), wantFrom, wantTo)
		}
		if in.ScanBy != types.ScanByTimestampAscending {
			t.Errorf("percent=%v: ScanBy %q, want oldest first", percent, in.ScanBy)
		}
	}
}
