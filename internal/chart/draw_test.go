package chart

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/png"
	"slices"
	"testing"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/sample"
)

// fakeSource answers every label with one point, lower for later labels,
// and remembers the query.
type fakeSource struct {
	q   Query
	err error
}

func (f *fakeSource) Lows(_ context.Context, q Query) ([]Series, error) {
	f.q = q
	if f.err != nil {
		return nil, f.err
	}
	out := make([]Series, len(q.Labels))
	for i, l := range q.Labels {
		out[i] = Series{Label: l, Points: []Point{{At: q.From, Low: float64(300 - i)}}}
	}
	return out, nil
}

func TestDraw(t *testing.T) {
	to := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	var labels []string
	for i := range 12 {
		labels = append(labels, fmt.Sprintf("t%02d", i))
	}
	src := &fakeSource{}
	q := Query{Labels: labels, From: to.Add(-3 * time.Hour), To: to}
	img, rest, err := Draw(context.Background(), src, q, Spec{Title: "x", Percent: true, Threshold: 20})
	if err != nil {
		t.Fatal(err)
	}
	if !src.q.Percent || !src.q.To.Equal(to) || len(src.q.Labels) != 12 {
		t.Errorf("the source was asked %+v, want every label, the range and the percent kind", src.q)
	}
	// t00 and t01 have the highest low points: they are left out.
	if !slices.Equal(rest, []string{"t00", "t01"}) {
		t.Errorf("rest = %v, want the two highest", rest)
	}
	if _, err := png.Decode(bytes.NewReader(img)); err != nil {
		t.Errorf("not a PNG: %v", err)
	}
	// The same as rendering the selection by hand: one renderer.
	series, _ := src.Lows(context.Background(), src.q)
	shown, _ := Select(series, MaxLines)
	want, err := Render(Spec{Title: "x", Percent: true, Threshold: 20, From: q.From, To: q.To, Series: shown})
	if err != nil || !bytes.Equal(img, want) {
		t.Errorf("Draw differs from Select and Render (%v)", err)
	}
	src.err = errors.New("no data")
	if _, _, err := Draw(context.Background(), src, q, Spec{}); err == nil || !errors.Is(err, src.err) {
		t.Errorf("a source error: %v", err)
	}
}

func TestTitle(t *testing.T) {
	for _, c := range []struct {
		label   string
		percent bool
		span    string
		want    string
	}{
		{"", false, "24h", "ChatWork API quota - lowest per 5 min - 24h"},
		{"deploy", true, "3h", "ChatWork API quota - deploy - lowest % of limit per 5 min - 3h"},
		{"", false, "2026-12-01", "ChatWork API quota - lowest per 5 min - 2026-12-01"},
	} {
		if got := Title(c.label, c.percent, c.span); got != c.want {
			t.Errorf("Title(%q, %v, %q) = %q, want %q", c.label, c.percent, c.span, got, c.want)
		}
	}
}

// Every period /quota chart takes is a reserved label: a token labelled
// "24h" could not be charted alone.
func TestPeriodsAreReservedLabels(t *testing.T) {
	for p := range Periods {
		if !slices.Contains(sample.ReservedLabels, p) || sample.CheckLabel(p) == nil {
			t.Errorf("period %q is not a reserved label", p)
		}
	}
}
