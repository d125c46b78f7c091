// Package chart draws the quota of a deployment's tokens over a period as
// one PNG: each rate-limit window's low point per token, the alert
// threshold, and the windows that ran dry. The figures come from a Source:
// CloudWatch's metrics on AWS, the records file in the sandbox and the
// operator's command line.
package chart

import (
	"context"
	"fmt"
	"time"
)

// Point is the lowest remaining count (or percent of the limit) a token
// showed in one 5-minute period: one rate-limit window's low point.
type Point struct {
	At  time.Time // the period's start
	Low float64
}

// Series is one token's low points over a period, oldest first.
type Series struct {
	Label  string
	Points []Point
}

// Query asks for the low points of the tokens labelled Labels in
// [From, To), per Period.
type Query struct {
	Labels   []string
	From, To time.Time
	Period   time.Duration // default Window
	Percent  bool          // the percent of the limit instead of the count
}

// Window is ChatWork's rate-limit window, the period of a low point.
const Window = 5 * time.Minute

// Source gives the low points of tokens over a period. A token without a
// point in the period still gets its Series (no points), in Labels order.
type Source interface {
	Lows(ctx context.Context, q Query) ([]Series, error)
}

// Periods are the chart periods the room can ask for, by their names.
var Periods = map[string]time.Duration{"3h": 3 * time.Hour, "24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour}

// DefaultPeriod is the period of a chart asked for without one.
const DefaultPeriod = "24h"

// ParsePeriod reads one of Periods' names.
func ParsePeriod(s string) (time.Duration, error) {
	if d, ok := Periods[s]; ok {
		return d, nil
	}
	return 0, fmt.Errorf("period %q: want 3h, 24h or 7d", s)
}
