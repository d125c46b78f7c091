package sample

import (
	"math"
	"math/big"
	"time"
)

// MinPaceSpan is the shortest time between two readings that a pace is
// taken over: closer readings see too few calls to tell a pace from a
// burst. The monitor's readings are a tick apart (a minute on Lambda, a
// few seconds in the sandbox's shortened windows), so it rarely decides.
const MinPaceSpan = 5 * time.Second

// Project sets r's projection from earlier, an earlier reading of the same
// window: the pace of use between the two (calls per minute) and the
// remaining count at the reset if that pace goes on, rounded down. It
// reports whether it did; it does nothing when either reading has no
// figures, they belong to different windows (another reset or limit, or
// remaining grew), earlier is less than MinPaceSpan older, or r was taken
// at or after its reset.
func (r *Record) Project(earlier Record) bool {
	span := r.Time.Sub(earlier.Time)
	left := r.ResetTime().Sub(r.Time)
	switch {
	case !r.HasQuota || !earlier.HasQuota,
		earlier.Reset != r.Reset, earlier.Limit != r.Limit,
		earlier.Remaining < r.Remaining,
		span < MinPaceSpan, left <= 0:
		return false
	}
	used := earlier.Remaining - r.Remaining
	r.HasProjection = true
	r.Pace = math.Round(float64(used)/span.Minutes()*10) / 10
	// remaining - used*left/span, rounded down: in integers (nanoseconds),
	// as a float product can land a hair under a whole number and lose a
	// call.
	spent := new(big.Int).Mul(big.NewInt(int64(used)), big.NewInt(int64(left)))
	spent, rest := spent.QuoRem(spent, big.NewInt(int64(span)), new(big.Int))
	if rest.Sign() > 0 {
		spent.Add(spent, big.NewInt(1))
	}
	r.Projected = r.Remaining - int(spent.Int64())
	return true
}

// ProjectedPercent is Projected as a percentage of the limit (negative
// when the projection is), 0 when there is no projection.
func (r Record) ProjectedPercent() float64 {
	if !r.HasProjection || r.Limit <= 0 {
		return 0
	}
	return float64(r.Projected) * 100 / float64(r.Limit)
}

// RunsOut is when r's remaining count reaches 0 if the pace of its
// projection goes on: by the projection itself (no rounding of the pace),
// at or before the reset; r's own time when it is 0 already. ok is false
// without a projection, or with one that lasts past the reset.
func (r Record) RunsOut() (at time.Time, ok bool) {
	switch {
	case !r.HasProjection || r.Projected > 0:
		return time.Time{}, false
	case r.Remaining <= 0:
		return r.Time, true
	}
	// Until the reset the pace spends Remaining - Projected (> 0) calls:
	// the Remaining of them take that share of the time left.
	left := r.ResetTime().Sub(r.Time)
	return r.Time.Add(time.Duration(float64(left) * float64(r.Remaining) / float64(r.Remaining-r.Projected))), true
}
