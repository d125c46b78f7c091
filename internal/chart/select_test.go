package chart

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestSelect(t *testing.T) {
	at := testTo
	s := func(label string, lows ...float64) Series {
		sr := Series{Label: label}
		for i, v := range lows {
			sr.Points = append(sr.Points, Point{At: at.Add(time.Duration(i) * Window), Low: v})
		}
		return sr
	}
	all := []Series{
		s("e", 200, 150, 180),
		s("a", 90),
		s("d"), // no points: counts as highest
		s("c", 300, 40),
		s("b", 40, 60), // ties with c: b comes first
		s("f", 0, 300),
	}
	labels := func(ss []Series) []string {
		var out []string
		for _, sr := range ss {
			out = append(out, sr.Label)
		}
		return out
	}
	for _, c := range []struct {
		n           int
		shown, rest []string
	}{
		{0, nil, []string{"a", "b", "c", "d", "e", "f"}},
		{1, []string{"f"}, []string{"a", "b", "c", "d", "e"}},
		{2, []string{"b", "f"}, []string{"a", "c", "d", "e"}},
		{3, []string{"b", "c", "f"}, []string{"a", "d", "e"}},
		{5, []string{"a", "b", "c", "e", "f"}, []string{"d"}},
		{6, []string{"a", "b", "c", "d", "e", "f"}, nil},
		{10, []string{"a", "b", "c", "d", "e", "f"}, nil},
		{-1, nil, []string{"a", "b", "c", "d", "e", "f"}},
	} {
		t.Run(fmt.Sprint(c.n), func(t *testing.T) {
			shown, rest := Select(all, c.n)
			if got := labels(shown); !slices.Equal(got, c.shown) {
				t.Errorf("shown %q, want %q", got, c.shown)
			}
			if !slices.Equal(rest, c.rest) {
				t.Errorf("rest %q, want %q", rest, c.rest)
			}
			for _, sr := range shown {
				i := slices.IndexFunc(all, func(a Series) bool { return a.Label == sr.Label })
				if !slices.Equal(sr.Points, all[i].Points) {
					t.Errorf("%s: points %v, want its own %v", sr.Label, sr.Points, all[i].Points)
				}
			}
		})
	}
	if got := labels(all); !slices.Equal(got, []string{"e", "a", "d", "c", "b", "f"}) {
		t.Errorf("Select reordered its argument: %q", got)
	}
}

func TestSelectNoPointsByLabel(t *testing.T) {
	shown, rest := Select([]Series{{Label: "z"}, {Label: "m"}, {Label: "y", Points: []Point{{At: testTo, Low: 299}}}, {Label: "a"}}, 2)
	if len(shown) != 2 || shown[0].Label != "a" || shown[1].Label != "y" {
		t.Errorf("shown %v, want a (first label without points) and y (the only one with)", shown)
	}
	if !slices.Equal(rest, []string{"m", "z"}) {
		t.Errorf("rest %q, want m, z", rest)
	}
}

// fleet7d is 100 tokens over 7 days, a point every 5 minutes each.
func fleet7d() Spec {
	from := testTo.Add(-7 * 24 * time.Hour)
	s := Spec{Title: "100 tokens, last 7 days", From: from, To: testTo, Loc: jst, Threshold: 30}
	for i := range 100 {
		s.Series = append(s.Series, token(fmt.Sprintf("token-%03d", i), from, testTo, noise(i), 20+i*2, nil, nil))
	}
	return s
}

func TestRenderFleet(t *testing.T) {
	s := fleet7d()
	if n := len(s.Series[0].Points); n != 2016 {
		t.Fatalf("%d points a token, want 2016", n)
	}
	shown, rest := Select(s.Series, MaxLines)
	if len(shown) != MaxLines || len(rest) != 100-MaxLines {
		t.Fatalf("Select: %d shown, %d rest", len(shown), len(rest))
	}
	if _, err := Render(s); err == nil {
		t.Error("Render drew 100 lines; want an error asking for Select")
	}
	s.Series = shown
	picture(t, s)
}

// BenchmarkRender7d100 draws what the bot draws for a week of 100 tokens:
// Select's 10, then Render.
func BenchmarkRender7d100(b *testing.B) {
	s := fleet7d()
	all := s.Series
	b.ResetTimer()
	for b.Loop() {
		s.Series, _ = Select(all, MaxLines)
		if _, err := Render(s); err != nil {
			b.Fatal(err)
		}
	}
}
