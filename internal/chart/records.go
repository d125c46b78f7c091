package chart

import (
	"context"
	"fmt"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/fanout"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
)

// Span is a query's range widened to whole periods: every period that
// overlaps [From, To), so that each point is the low of a whole period, as
// CloudWatch gives it.
type Span struct {
	From, To time.Time     // From truncated to Period, To rounded up to it; UTC
	Period   time.Duration // the query's, Window by default
}

// Span returns q's range widened to whole clock-aligned periods. The
// period must be positive (the sandbox's windows are seconds long) and To
// must come after From.
func (q Query) Span() (Span, error) {
	p := q.Period
	if p == 0 {
		p = Window
	}
	if p < 0 {
		return Span{}, fmt.Errorf("chart period %v: want a positive period", p)
	}
	if !q.To.After(q.From) {
		return Span{}, fmt.Errorf("chart range %v to %v: the end must come after the start", q.From, q.To)
	}
	from := q.From.UTC().Truncate(p)
	to := q.To.UTC().Truncate(p)
	if to.Before(q.To) {
		to = to.Add(p)
	}
	return Span{From: from, To: to, Period: p}, nil
}

// recordReads bounds how many tokens' records are read at once: a History
// on CloudWatch Logs makes a request per token.
const recordReads = 10

// FromRecords returns a Source that computes the low points from recorded
// readings, for the sandbox and the operator's command line: per period of
// the query's Span, the minimum of the remaining count (or of the percent
// of the limit) over the readings that have figures, the same figure the
// record declares as a metric; a 429 with figures reads 0. A period
// without such a reading has no point.
func FromRecords(h sample.History) Source { return recordSource{h} }

type recordSource struct{ h sample.History }

func (s recordSource) Lows(ctx context.Context, q Query) ([]Series, error) {
	span, err := q.Span()
	if err != nil {
		return nil, err
	}
	out := make([]Series, len(q.Labels))
	errs := make([]error, len(q.Labels))
	fanout.Each(len(q.Labels), recordReads, func(i int) {
		recs, err := s.h.Samples(ctx, q.Labels[i], span.From, span.To)
		if err != nil {
			errs[i] = fmt.Errorf("read the records of %q: %w", q.Labels[i], err)
			return
		}
		out[i] = Series{Label: q.Labels[i], Points: lows(recs, span, q.Percent)}
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// lows folds records, oldest first, into one point per period that has a
// reading with figures.
func lows(recs []sample.Record, span Span, percent bool) []Point {
	var pts []Point
	for _, r := range recs {
		if !r.HasQuota || !sample.InRange(r.Time, span.From, span.To) {
			continue
		}
		v := float64(r.Remaining)
		if percent {
			v = r.RemainingPercent()
		}
		at := r.Time.UTC().Truncate(span.Period)
		if n := len(pts); n > 0 && pts[n-1].At.Equal(at) {
			pts[n-1].Low = min(pts[n-1].Low, v)
			continue
		}
		pts = append(pts, Point{At: at, Low: v})
	}
	return pts
}
