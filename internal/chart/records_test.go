package chart_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/chart"
	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/recordtest"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
)

// t0 is a period boundary.
var t0 = time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)

// reading is a reading of label taken at t0+at with remaining of limit left.
func reading(label string, at time.Duration, remaining, limit int) sample.Record {
	reset := t0.Add(at).Truncate(chart.Window).Add(chart.Window)
	return sample.FromCall(label, sample.SourceMonitor, t0.Add(at),
		&chatwork.Quota{Remaining: remaining, Limit: limit, Reset: reset}, nil, 1)
}

// failed is a failure record of label at t0+at, from a ChatWork error of
// kind and status that carried q (nil: no figures).
func failed(label string, at time.Duration, kind chatwork.Kind, status int, q *chatwork.Quota) sample.Record {
	err := &chatwork.Error{Op: "read quota", Kind: kind, Status: status, Quota: q}
	return sample.FromCall(label, sample.SourceMonitor, t0.Add(at), nil, err, 1)
}

func store(t *testing.T, recs ...sample.Record) *recordtest.Memory {
	t.Helper()
	m := &recordtest.Memory{}
	for _, r := range recs {
		if err := m.Record(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

func pt(at time.Duration, low float64) chart.Point { return chart.Point{At: t0.Add(at), Low: low} }

// fixture holds two tokens whose low points are known:
//
//	ops:    09:00 180 (three readings), 09:05 0 (a 429 reads 0, then the
//	        reset), 09:10 nothing, 09:15 only a failure without figures,
//	        09:20 12 (the room's limit keeps the token's figures), 09:25 295
//	deploy: 09:00 60 of 300 (20%), 09:10 30 of 600 (5%, a passive reading)
func fixture(t *testing.T) *recordtest.Memory {
	m := time.Minute
	passive := reading("deploy", 12*m, 30, 600)
	passive.Source = sample.SourcePassive
	return store(t,
		reading("ops", -time.Second, 1, 300), // the period before
		reading("ops", 30*time.Second, 250, 300),
		reading("ops", 2*m, 180, 300),
		reading("ops", 5*m-time.Second, 200, 300),
		failed("ops", 5*m+10*time.Second, chatwork.KindQuotaExhausted, 429,
			&chatwork.Quota{Remaining: 7, Limit: 300, Reset: t0.Add(6 * m)}),
		reading("ops", 6*m, 299, 300),
		failed("ops", 15*m, chatwork.KindNetwork, 0, nil),
		failed("ops", 16*m, chatwork.KindServer, 503, nil),
		failed("ops", 21*m, chatwork.KindRoomLimit, 429,
			&chatwork.Quota{Remaining: 12, Limit: 300, Reset: t0.Add(25 * m)}),
		reading("ops", 22*m, 40, 300),
		reading("ops", 25*m, 295, 300),
		reading("ops", 30*m, 3, 300), // the period after
		reading("deploy", 1*m, 150, 300),
		reading("deploy", 3*m, 60, 300),
		passive,
		reading("deploy", 14*m, 90, 600),
	)
}

func TestFromRecords(t *testing.T) {
	h := fixture(t)
	m := time.Minute
	cases := []struct {
		name string
		q    chart.Query
		want []chart.Series
	}{
		{"counts", chart.Query{Labels: []string{"ops", "deploy"}, From: t0, To: t0.Add(30 * m)}, []chart.Series{
			{Label: "ops", Points: []chart.Point{pt(0, 180), pt(5*m, 0), pt(20*m, 12), pt(25*m, 295)}},
			{Label: "deploy", Points: []chart.Point{pt(0, 60), pt(10*m, 30)}},
		}},
		{"percent", chart.Query{Labels: []string{"ops", "deploy"}, From: t0, To: t0.Add(30 * m), Percent: true}, []chart.Series{
			{Label: "ops", Points: []chart.Point{pt(0, 60), pt(5*m, 0), pt(20*m, 4), pt(25*m, 295.0*100/300)}},
			{Label: "deploy", Points: []chart.Point{pt(0, 20), pt(10*m, 5)}},
		}},
		{"labels in the query's order, one without records", chart.Query{Labels: []string{"idle", "deploy", "ops"}, From: t0, To: t0.Add(10 * m)}, []chart.Series{
			{Label: "idle"},
			{Label: "deploy", Points: []chart.Point{pt(0, 60)}},
			{Label: "ops", Points: []chart.Point{pt(0, 180), pt(5*m, 0)}},
		}},
		// The ends widen to whole periods: 09:02 starts at 09:00 (not the
		// reading before it), 09:21 ends at 09:25 (not the reading at 09:25).
		{"unaligned ends cover whole periods", chart.Query{Labels: []string{"ops"}, From: t0.Add(2 * m), To: t0.Add(21 * m)}, []chart.Series{
			{Label: "ops", Points: []chart.Point{pt(0, 180), pt(5*m, 0), pt(20*m, 12)}},
		}},
		{"aligned ends: From in, To out", chart.Query{Labels: []string{"ops"}, From: t0.Add(5 * m), To: t0.Add(25 * m)}, []chart.Series{
			{Label: "ops", Points: []chart.Point{pt(5*m, 0), pt(20*m, 12)}},
		}},
		{"a longer period", chart.Query{Labels: []string{"ops", "deploy"}, From: t0, To: t0.Add(30 * m), Period: 10 * m}, []chart.Series{
			{Label: "ops", Points: []chart.Point{pt(0, 0), pt(20*m, 12)}},
			{Label: "deploy", Points: []chart.Point{pt(0, 60), pt(10*m, 30)}},
		}},
		// 09:05 widens to 09:06 (a whole period of 90 s): the 429 at 09:05:10 is in.
		{"a period of seconds, as in the sandbox", chart.Query{Labels: []string{"ops"}, From: t0, To: t0.Add(5 * m), Period: 90 * time.Second}, []chart.Series{
			{Label: "ops", Points: []chart.Point{pt(0, 250), pt(90*time.Second, 180), pt(270*time.Second, 0)}},
		}},
		{"no labels", chart.Query{From: t0, To: t0.Add(30 * m)}, []chart.Series{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := chart.FromRecords(h).Lows(t.Context(), tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Lows =\n%v\nwant\n%v", got, tc.want)
			}
		})
	}
}

// Points are in UTC, whatever the zone of the query's times.
func TestFromRecordsZone(t *testing.T) {
	tokyo := time.FixedZone("JST", 9*3600)
	got, err := chart.FromRecords(fixture(t)).Lows(t.Context(),
		chart.Query{Labels: []string{"deploy"}, From: t0.In(tokyo), To: t0.Add(5 * time.Minute).In(tokyo)})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || len(got[0].Points) != 1 || got[0].Points[0].At != t0 {
		t.Errorf("Lows = %v, want one point at %v (UTC)", got, t0)
	}
}

func TestFromRecordsErrors(t *testing.T) {
	broken := errors.New("log group not found")
	h := fixture(t)
	h.Err = broken
	_, err := chart.FromRecords(h).Lows(t.Context(), chart.Query{Labels: []string{"ops"}, From: t0, To: t0.Add(time.Hour)})
	if !errors.Is(err, broken) || !strings.Contains(err.Error(), `"ops"`) {
		t.Errorf("err = %v, want the History's error naming the token", err)
	}
	for _, q := range []chart.Query{
		{Labels: []string{"ops"}, From: t0, To: t0},
		{Labels: []string{"ops"}, From: t0.Add(time.Hour), To: t0},
		{Labels: []string{"ops"}, From: t0, To: t0.Add(time.Hour), Period: -time.Minute},
	} {
		if got, err := chart.FromRecords(fixture(t)).Lows(t.Context(), q); err == nil {
			t.Errorf("Lows(%+v) = %v, want an error", q, got)
		}
	}
}

// gate is a History whose reads wait until the gate opens.
type gate struct {
	inFlight atomic.Int32
	open     chan struct{}
}

func (g *gate) Samples(_ context.Context, token string, _, _ time.Time) ([]sample.Record, error) {
	g.inFlight.Add(1)
	defer g.inFlight.Add(-1)
	<-g.open
	return []sample.Record{reading(token, 0, 100, 300)}, nil
}

// Reads run ten at a time: once every goroutine is blocked, ten reads wait
// at the gate and the rest wait their turn.
func TestFromRecordsConcurrency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := &gate{open: make(chan struct{})}
		var labels []string
		for i := range 35 {
			labels = append(labels, fmt.Sprintf("t%02d", i))
		}
		var (
			got []chart.Series
			err error
		)
		done := make(chan struct{})
		go func() {
			defer close(done)
			got, err = chart.FromRecords(g).Lows(t.Context(), chart.Query{Labels: labels, From: t0, To: t0.Add(time.Hour)})
		}()
		synctest.Wait()
		if n := g.inFlight.Load(); n != 10 {
			t.Errorf("%d reads at once, want 10", n)
		}
		close(g.open)
		<-done
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range got {
			if s.Label != labels[i] || len(s.Points) != 1 {
				t.Errorf("series %d = %+v, want %s's one point", i, s, labels[i])
			}
		}
	})
}

func TestSpan(t *testing.T) {
	m := time.Minute
	cases := []struct {
		q    chart.Query
		want chart.Span
	}{
		{chart.Query{From: t0, To: t0.Add(time.Hour)}, chart.Span{From: t0, To: t0.Add(time.Hour), Period: chart.Window}},
		{chart.Query{From: t0.Add(m), To: t0.Add(time.Hour + m)}, chart.Span{From: t0, To: t0.Add(time.Hour + 5*m), Period: chart.Window}},
		{chart.Query{From: t0.Add(-time.Nanosecond), To: t0.Add(time.Nanosecond)}, chart.Span{From: t0.Add(-5 * m), To: t0.Add(5 * m), Period: chart.Window}},
		{chart.Query{From: t0.Add(7 * m), To: t0.Add(61 * m), Period: time.Hour}, chart.Span{From: t0, To: t0.Add(2 * time.Hour), Period: time.Hour}},
	}
	for _, tc := range cases {
		got, err := tc.q.Span()
		if err != nil || got != tc.want {
			t.Errorf("Span(%v, %v, %v) = %+v, %v; want %+v", tc.q.From, tc.q.To, tc.q.Period, got, err, tc.want)
		}
	}
}
