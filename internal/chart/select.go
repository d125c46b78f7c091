package chart

import (
	"cmp"
	"math"
	"slices"
)

// Select keeps the n series whose lowest point is lowest (ties go to the
// smaller label; a series without points counts as highest), in label
// order, and names the others, sorted: the chart draws at most MaxLines
// lines, and the ones nearest to running dry are the ones worth seeing.
func Select(series []Series, n int) (shown []Series, rest []string) {
	type ranked struct {
		i   int
		low float64
		any bool
	}
	rs := make([]ranked, len(series))
	for i, s := range series {
		r := ranked{i: i}
		for _, p := range s.Points {
			if math.IsNaN(p.Low) {
				continue
			}
			if !r.any || p.Low < r.low {
				r.low, r.any = p.Low, true
			}
		}
		rs[i] = r
	}
	slices.SortStableFunc(rs, func(a, b ranked) int {
		switch {
		case a.any != b.any:
			if a.any {
				return -1
			}
			return 1
		case a.any && a.low != b.low:
			return cmp.Compare(a.low, b.low)
		}
		return cmp.Compare(series[a.i].Label, series[b.i].Label)
	})
	n = max(0, min(n, len(rs)))
	for _, r := range rs[:n] {
		shown = append(shown, series[r.i])
	}
	for _, r := range rs[n:] {
		rest = append(rest, series[r.i].Label)
	}
	slices.SortStableFunc(shown, func(a, b Series) int { return cmp.Compare(a.Label, b.Label) })
	slices.Sort(rest)
	return shown, rest
}
