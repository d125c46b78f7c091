package chart

import (
	"context"
	"fmt"
)

// Draw is a chart of a deployment's tokens, the one way the bot, the
// digest, the sandbox and the command line make one: the low points of
// q.Labels over [q.From, q.To) from src, the MaxLines lowest of them
// (Select) rendered with s's title, zone, threshold and kind (s's range
// and series are q's). rest names the tokens left out.
func Draw(ctx context.Context, src Source, q Query, s Spec) (png []byte, rest []string, err error) {
	q.Percent = s.Percent
	series, err := src.Lows(ctx, q)
	if err != nil {
		return nil, nil, fmt.Errorf("read the tokens' low points: %w", err)
	}
	s.From, s.To = q.From, q.To
	return DrawSeries(series, s)
}

// DrawSeries is Draw for series already read: the MaxLines lowest of them
// rendered over s's range.
func DrawSeries(series []Series, s Spec) (png []byte, rest []string, err error) {
	s.Series, rest = Select(series, MaxLines)
	if png, err = Render(s); err != nil {
		return nil, nil, fmt.Errorf("render the chart: %w", err)
	}
	return png, rest, nil
}

// Title is a chart's title: ASCII, as the renderer's font is. label is the
// one token drawn ("" for a deployment's), span names the range ("24h",
// a date).
func Title(label string, percent bool, span string) string {
	of, pct := "", ""
	if label != "" {
		of = " - " + label
	}
	if percent {
		pct = "% of limit "
	}
	return fmt.Sprintf("ChatWork API quota%s - lowest %sper 5 min - %s", of, pct, span)
}
