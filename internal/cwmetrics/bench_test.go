package cwmetrics_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/awstest"
	"github.com/quotabot/chatwork-quota-bot/internal/chart"
	"github.com/quotabot/chatwork-quota-bot/internal/cwmetrics"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
)

// pagePoints is the most data points CloudWatch puts in one
// GetMetricData answer.
const pagePoints = 100800

// cloudWatchJSON answers GetMetricData over awsJson 1.0 as CloudWatch
// does: the queries' results time slice by time slice (ScanBy
// TimestampAscending), at most pagePoints data points a page, every result
// PartialData until its last page, a NextToken to the next page.
// Timestamps are epoch seconds, values doubles. The pages are encoded
// once, up front: the server's own work is writing them out.
type cloudWatchJSON struct {
	pages    [][]byte // by page; page i answers NextToken tokens[i]
	tokens   []string // "" for the first page
	requests atomic.Int64
	bad      atomic.Pointer[string] // the first request not as expected
}

// newCloudWatchJSON pages lows[i][k], the low of query "t<i>" in the k-th
// period of span.
func newCloudWatchJSON(span chart.Span, lows [][]float64) *cloudWatchJSON {
	c := &cloudWatchJSON{}
	slots := len(lows[0])
	perPage := pagePoints / len(lows) // time slots a page holds for every query
	for from := 0; from < slots; from += perPage {
		to := min(from+perPage, slots)
		last := to == slots
		token := ""
		if from > 0 {
			token = fmt.Sprintf("AQICAHh%08d-%x", from, from*7919)
		}
		c.tokens = append(c.tokens, token)
		b := []byte(`{"Messages":[],"MetricDataResults":[`)
		for i, series := range lows {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"Id":"t`...)
			b = strconv.AppendInt(b, int64(i), 10)
			b = append(b, `","Label":"`...)
			b = append(b, sample.Metrics{}.Watched()...)
			b = append(b, `","Timestamps":[`...)
			for k := from; k < to; k++ {
				if k > from {
					b = append(b, ',')
				}
				b = strconv.AppendInt(b, span.From.Add(time.Duration(k)*span.Period).Unix(), 10)
			}
			b = append(b, `],"Values":[`...)
			for k := from; k < to; k++ {
				if k > from {
					b = append(b, ',')
				}
				b = strconv.AppendFloat(b, series[k], 'f', 1, 64)
			}
			status := "PartialData"
			if last {
				status = "Complete"
			}
			b = append(b, `],"StatusCode":"`+status+`"}`...)
		}
		b = append(b, ']')
		if !last {
			b = append(b, `,"NextToken":"`...)
			b = append(b, fmt.Sprintf("AQICAHh%08d-%x", to, to*7919)...)
			b = append(b, '"')
		}
		b = append(b, '}')
		c.pages = append(c.pages, b)
	}
	return c
}

// getMetricData is the part of a GetMetricData request the server checks.
type getMetricData struct {
	MetricDataQueries []struct {
		ID         string `json:"Id"`
		MetricStat struct {
			Period int `json:"Period"`
		} `json:"MetricStat"`
	} `json:"MetricDataQueries"`
	StartTime float64 `json:"StartTime"`
	EndTime   float64 `json:"EndTime"`
	ScanBy    string  `json:"ScanBy"`
	NextToken string  `json:"NextToken"`
}

func (c *cloudWatchJSON) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.requests.Add(1)
	fail := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		c.bad.CompareAndSwap(nil, &msg)
		http.Error(w, `{"__type":"InvalidParameterValue","message":`+strconv.Quote(msg)+`}`, http.StatusBadRequest)
	}
	if got := r.Header.Get("X-Amz-Target"); got != "GraniteServiceVersion20100801.GetMetricData" {
		fail("X-Amz-Target %q", got)
		return
	}
	if got := r.Header.Get("Content-Type"); got != "application/x-amz-json-1.0" {
		fail("Content-Type %q", got)
		return
	}
	var in getMetricData
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		fail("request body: %v", err)
		return
	}
	if in.ScanBy != "TimestampAscending" || in.EndTime <= in.StartTime {
		fail("ScanBy %q, StartTime %v, EndTime %v", in.ScanBy, in.StartTime, in.EndTime)
		return
	}
	for i, q := range in.MetricDataQueries {
		if q.ID != "t"+strconv.Itoa(i) || q.MetricStat.Period != int(chart.Window/time.Second) {
			fail("query %d: Id %q, Period %d", i, q.ID, q.MetricStat.Period)
			return
		}
	}
	for i, token := range c.tokens {
		if token == in.NextToken {
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			w.Header().Set("X-Amzn-Requestid", "6f2a8e4b-9d3c-4b1e-a7f0-2c5d8e1b3a90")
			w.Header().Set("Content-Length", strconv.Itoa(len(c.pages[i])))
			_, _ = w.Write(c.pages[i])
			return
		}
	}
	fail("NextToken %q", in.NextToken)
}

// BenchmarkChart7d100 is what the webhook spends on /quota chart 7d for
// 100 tokens, in process: the GetMetricData requests through the SDK
// client (2 pages of 100,800 points from a local server: loopback, no
// network latency), their decoding, then chart.Draw's Select and Render.
// Besides time and allocations it reports, over 3 more draws after the
// timed ones, the heap's in-use spans at their highest (peak-heap-B), the
// most a collection found live (peak-live-B), what the heap held before
// them (base-heap-B: the fixture, its encoded pages included) and the
// memory the Go runtime had from the system at the end (sys-B).
func BenchmarkChart7d100(b *testing.B) {
	const tokens = 100
	to := t0
	q := chart.Query{From: to.Add(-7 * 24 * time.Hour), To: to, Period: chart.Window}
	span, err := q.Span()
	if err != nil {
		b.Fatal(err)
	}
	slots := int(span.To.Sub(span.From) / span.Period)
	if slots != 2016 {
		b.Fatalf("%d periods in 7 days, want 2016", slots)
	}
	rnd := rand.New(rand.NewPCG(14, 7))
	lows := make([][]float64, tokens)
	for i := range lows {
		q.Labels = append(q.Labels, fmt.Sprintf("token-%03d", i))
		busy := 20 + 2*i
		lows[i] = make([]float64, slots)
		for k := range lows[i] {
			use := busy + rnd.IntN(busy/2+10)
			if h := span.From.Add(time.Duration(k) * span.Period).Hour(); h < 9 {
				use *= 2 // the working day in Tokyo
			}
			lows[i][k] = float64(max(0, 300-use))
		}
	}
	srv := newCloudWatchJSON(span, lows)
	if len(srv.pages) != 2 {
		b.Fatalf("%d pages, want 2", len(srv.pages))
	}
	ts := httptest.NewServer(srv)
	b.Cleanup(ts.Close)
	src := cwmetrics.New(cwmetrics.NewClient(awstest.Config(b, ts.URL)))
	spec := chart.Spec{Title: chart.Title("", false, "7d"), Loc: time.FixedZone("JST", 9*3600), Threshold: 30}
	draw := func() {
		png, rest, err := chart.Draw(b.Context(), src, q, spec)
		if err != nil {
			b.Fatal(err)
		}
		if len(png) == 0 || len(rest) != tokens-chart.MaxLines {
			b.Fatalf("a chart of %d bytes leaving out %d tokens; want a PNG leaving out %d", len(png), len(rest), tokens-chart.MaxLines)
		}
	}

	// The pages come back whole: every token's 2016 points, in order.
	got, err := src.Lows(b.Context(), q)
	if err != nil {
		b.Fatal(err)
	}
	for i, s := range got {
		if len(s.Points) != slots {
			b.Fatalf("%s: %d points, want %d", s.Label, len(s.Points), slots)
		}
		for k, p := range s.Points {
			if want := span.From.Add(time.Duration(k) * span.Period); !p.At.Equal(want) || p.Low != lows[i][k] {
				b.Fatalf("%s: point %d is %v at %v, want %v at %v", s.Label, k, p.Low, p.At, lows[i][k], want)
			}
		}
	}
	if n := srv.requests.Load(); n != 2 {
		b.Fatalf("%d requests, want 2 (the pages)", n)
	}
	draw()

	for b.Loop() {
		draw()
	}
	if bad := srv.bad.Load(); bad != nil {
		b.Fatalf("unexpected request: %s", *bad)
	}
	if n := srv.requests.Load(); n%2 != 0 {
		b.Fatalf("%d requests, want 2 a chart", n)
	}

	h := peakHeap(func() {
		for range 3 {
			draw()
		}
	})
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(h.peak), "peak-heap-B")
	b.ReportMetric(float64(h.live), "peak-live-B")
	b.ReportMetric(float64(h.base), "base-heap-B")
	b.ReportMetric(float64(ms.Sys), "sys-B")
}

// heapInUse is the heap's in-use spans (objects, dead ones not yet swept
// included, and the free space in their spans, as MemStats.HeapInuse),
// read without stopping the world; heapLive is what the last collection
// found live.
var (
	heapInUse = []string{"/memory/classes/heap/objects:bytes", "/memory/classes/heap/unused:bytes"}
	heapLive  = "/gc/heap/live:bytes"
)

// heapPeak is what peakHeap saw of the heap.
type heapPeak struct {
	base uint64 // heapInUse before op, after a collection
	peak uint64 // the highest heapInUse during op
	live uint64 // the highest heapLive during op
}

// peakHeap runs op while another goroutine, on a processor of its own,
// watches the heap.
func peakHeap(op func()) heapPeak {
	newSamples := func() []metrics.Sample {
		s := make([]metrics.Sample, len(heapInUse)+1)
		for i, name := range heapInUse {
			s[i].Name = name
		}
		s[len(heapInUse)].Name = heapLive
		return s
	}
	read := func(s []metrics.Sample) (inUse, live uint64) {
		metrics.Read(s)
		for _, v := range s[:len(heapInUse)] {
			inUse += v.Value.Uint64()
		}
		return inUse, s[len(heapInUse)].Value.Uint64()
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(runtime.GOMAXPROCS(0), 2)))
	runtime.GC()
	var h heapPeak
	h.base, _ = read(newSamples())
	var stop atomic.Bool
	done := make(chan heapPeak)
	go func() {
		s, p := newSamples(), h
		for !stop.Load() {
			inUse, live := read(s)
			p.peak, p.live = max(p.peak, inUse), max(p.live, live)
		}
		done <- p
	}()
	op()
	stop.Store(true)
	return <-done
}
