package chart

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the daylight saving test's zone, whatever the machine has
)

var update = flag.Bool("update", false, "rewrite testdata/render.sha256 and the PNGs in testdata/")

var (
	jst = time.FixedZone("Asia/Tokyo", 9*60*60)
	// testTo is a Tuesday, 09:00 in Tokyo.
	testTo = time.Date(2025, 6, 3, 9, 0, 0, 0, jst)
)

// noise is a small linear congruential generator: the same figures on
// every machine and Go version.
type noise uint32

func (n *noise) next(k int) int {
	*n = *n*1664525 + 1013904223
	return int(uint32(*n)>>8) % k
}

// workday is a token's use in the window starting at t: busier in Tokyo's
// working hours, peak after lunch.
func workday(t time.Time, busy int) int {
	h := t.In(jst).Hour()
	if wd := t.In(jst).Weekday(); wd == time.Saturday || wd == time.Sunday {
		return busy / 10
	}
	switch {
	case h >= 13 && h < 16:
		return busy
	case h >= 9 && h < 19:
		return busy * 2 / 3
	case h >= 7 && h < 23:
		return busy / 4
	}
	return busy / 10
}

// token makes the low points of a token over [from, to): 300 a window
// minus a day's use pattern and noise; dry lists windows (by index) that
// ran dry and gaps windows without a point.
func token(label string, from, to time.Time, seed noise, busy int, dry, gaps []int) Series {
	s := Series{Label: label}
	for i, t := 0, from; t.Before(to); i, t = i+1, t.Add(Window) {
		use := workday(t, busy) + seed.next(busy/5+5)
		low := float64(max(1, 300-use))
		if slices.Contains(gaps, i) {
			continue
		}
		if slices.Contains(dry, i) {
			low = 0
		}
		s.Points = append(s.Points, Point{At: t, Low: low})
	}
	return s
}

// windowOf is the index of the window of [from, …) holding clock time
// hh:mm in Tokyo on the day of to.
func windowOf(from time.Time, day time.Time, hh, mm int) int {
	t := time.Date(day.Year(), day.Month(), day.Day(), hh, mm, 0, 0, jst)
	return int(t.Sub(from) / Window)
}

func oneToken3h() Spec {
	from := testTo.Add(-3 * time.Hour)
	return Spec{
		Title: "default: lowest remaining per 5-minute window, last 3 h", From: from, To: testTo, Loc: jst, Threshold: 30,
		Series: []Series{token("default", from, testTo, 7, 200, nil, []int{20, 21})},
	}
}

func severalTokens24h() Spec {
	from := testTo.Add(-24 * time.Hour)
	day := from
	return Spec{
		Title: "5 tokens: lowest remaining per 5-minute window, last 24 h", From: from, To: testTo, Loc: jst, Threshold: 60,
		Series: []Series{
			token("alerts", from, testTo, 1, 60, nil, nil),
			token("default", from, testTo, 2, 180, nil, nil),
			token("deploy", from, testTo, 3, 250, []int{windowOf(from, day, 14, 0), windowOf(from, day, 14, 5), windowOf(from, day, 14, 10)}, nil),
			token("notify.v2", from, testTo, 4, 120, nil, []int{windowOf(from, day, 20, 0), windowOf(from, day, 20, 5)}),
			{Label: "report"}, // no point in the period
		},
	}
}

func tenTokens7d() Spec {
	from := testTo.Add(-7 * 24 * time.Hour)
	s := Spec{Title: "10 tokens: lowest remaining per 5-minute window, last 7 days", From: from, To: testTo, Loc: jst, Threshold: 30}
	for i := range MaxLines {
		var dry []int
		if i == 3 {
			dry = []int{windowOf(from, from.Add(48*time.Hour), 14, 30)}
		}
		s.Series = append(s.Series, token(fmt.Sprintf("bot-%02d", i), from, testTo, noise(10+i), 40+i*25, dry, nil))
	}
	return s
}

func percent24h() Spec {
	s := severalTokens24h()
	s.Title = "3 tokens: lowest remaining in % of the limit, last 24 h"
	s.Percent, s.Threshold = true, 10
	s.Series = s.Series[1:4]
	for i, sr := range s.Series {
		pts := slices.Clone(sr.Points)
		for j := range pts {
			pts[j].Low = math.Round(pts[j].Low/300*1000) / 10
		}
		s.Series[i].Points = pts
	}
	return s
}

// example24h is README's picture: three tokens over a day, one dipping
// under the threshold after lunch, one running dry for a window.
func example24h() Spec {
	from := testTo.Add(-24 * time.Hour)
	return Spec{
		Title: Title("", false, "24h"), From: from, To: testTo, Loc: jst, Threshold: 60,
		Series: []Series{
			token("default", from, testTo, 21, 90, nil, nil),
			token("deploy", from, testTo, 22, 150, []int{windowOf(from, from, 15, 10)}, nil),
			token("notify", from, testTo, 23, 215, nil, nil),
		},
	}
}

var goldens = []struct {
	name string
	spec func() Spec
}{
	{"one-3h", oneToken3h},
	{"several-24h", severalTokens24h},
	{"ten-7d", tenTokens7d},
	{"percent-24h", percent24h},
	{"example-24h", example24h},
}

const sumsFile = "testdata/render.sha256"

// TestRenderGolden compares each golden Spec's PNG, by its SHA-256, with
// testdata/render.sha256 (the PNGs beside it are those pictures, to look
// at). -update rewrites both. A new Go version may compress differently:
// look at the new pictures, then update.
func TestRenderGolden(t *testing.T) {
	want := readSums(t)
	got := map[string]string{}
	for _, g := range goldens {
		b, err := Render(g.spec())
		if err != nil {
			t.Fatalf("%s: %v", g.name, err)
		}
		sum := sha256.Sum256(b)
		got[g.name] = hex.EncodeToString(sum[:])
		path := filepath.Join("testdata", g.name+".png")
		if *update {
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if got[g.name] != want[g.name] {
			t.Errorf("%s: the PNG's SHA-256 is %s, want %s (look at it with -update, then commit)", g.name, got[g.name], want[g.name])
		}
		file, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(file, b) {
			t.Errorf("%s is not the picture rendered now: run with -update", path)
		}
		if len(b) > 60<<10 {
			t.Errorf("%s: %d bytes, want a few tens of KB", g.name, len(b))
		}
	}
	if *update {
		var out strings.Builder
		for _, g := range goldens {
			fmt.Fprintf(&out, "%s  %s.png\n", got[g.name], g.name)
		}
		if err := os.WriteFile(sumsFile, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func readSums(t *testing.T) map[string]string {
	t.Helper()
	sums := map[string]string{}
	f, err := os.Open(sumsFile)
	if os.IsNotExist(err) && *update {
		return sums
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("%s: line %q: want a sum, two spaces and a name", sumsFile, sc.Text())
		}
		sums[strings.TrimSuffix(name, ".png")] = sum
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return sums
}

// picture renders s and decodes the PNG.
func picture(t *testing.T, s Spec) image.Image {
	t.Helper()
	b, err := Render(s)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if got := img.Bounds(); got != image.Rect(0, 0, 900, 420) {
		t.Fatalf("size %v, want 900×420", got.Size())
	}
	return img
}

func same(a, b color.Color) bool {
	r1, g1, b1, a1 := a.RGBA()
	r2, g2, b2, a2 := b.RGBA()
	return r1 == r2 && g1 == g2 && b1 == b2 && a1 == a2
}

// valueRow is the row of value v on a y axis from 0 to top, computed
// from the plot's bounds rather than by the renderer's own mapping.
func valueRow(v, top float64) int {
	return plotBottom - int(math.Round(v/top*float64(plotBottom-plotTop)))
}

// columnOf is the column of time t in a plot spanning [left, right].
func columnOf(t, from, to time.Time, left, right int) int {
	return left + int(math.Round(float64(t.Sub(from))/float64(to.Sub(from))*float64(right-left)))
}

// plotSpan finds the plot's left and right edges: the x axis, the longest
// run of axis colour on the bottom row.
func plotSpan(t *testing.T, img image.Image) (left, right int) {
	t.Helper()
	best := 0
	for x := 0; x < 900; {
		if !same(img.At(x, plotBottom), palette[cAxis]) {
			x++
			continue
		}
		end := x
		for end < 900 && !same(img.At(end, plotBottom), palette[cWhite]) {
			end++
		}
		if end-x > best {
			best, left, right = end-x, x, end-1
		}
		x = end
	}
	if best < 500 {
		t.Fatalf("no x axis on row %d (longest run %d px)", plotBottom, best)
	}
	return left, right
}

func TestRenderThresholdDashed(t *testing.T) {
	for _, c := range []struct {
		name string
		spec Spec
		top  float64
	}{
		{"count", severalTokens24h(), 300},
		{"percent", percent24h(), 100},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := picture(t, c.spec)
			left, right := plotSpan(t, img)
			y := valueRow(c.spec.Threshold, c.top)
			dashes, gaps, inDash := 0, 0, false
			for x := left + 1; x < right; x++ {
				on := same(img.At(x, y), palette[cThreshold])
				switch {
				case on && !inDash:
					dashes++
				case !on && inDash:
					gaps++
				}
				inDash = on
			}
			if dashes < 30 || gaps < 30 {
				t.Errorf("row %d (the threshold %v): %d dashes and %d gaps of the threshold's colour, want a dashed line across the plot", y, c.spec.Threshold, dashes, gaps)
			}
			for _, off := range []int{-12, 12} {
				n := 0
				for x := left + 1; x < right; x++ {
					if same(img.At(x, y+off), palette[cThreshold]) {
						n++
					}
				}
				if n > 100 {
					t.Errorf("row %d, %d px from the threshold's: %d px of its colour, want the line on its own row", y+off, off, n)
				}
			}
		})
	}
}

func TestRenderDryWindow(t *testing.T) {
	s := example24h()
	var dry Point
	for _, p := range s.Series[1].Points {
		if p.Low == 0 {
			dry = p
		}
	}
	if dry.At.IsZero() {
		t.Fatal("the example has no dry window")
	}
	img := picture(t, s)
	left, right := plotSpan(t, img)
	x := columnOf(dry.At.Add(Window/2), s.From, s.To, left, right)
	red := 0
	for dx := -3; dx <= 3; dx++ {
		for y := plotBottom - 4; y <= plotBottom; y++ {
			if same(img.At(x+dx, y), palette[cDry]) {
				red++
			}
		}
	}
	if red < 20 {
		t.Errorf("around (%d, %d), the dry window's foot: %d red pixels, want a filled mark", x, plotBottom, red)
	}
	if !same(img.At(x, plotTop+3), palette[cDryBand]) {
		t.Errorf("(%d, %d), the dry window's top: %v, want its shading", x, plotTop+3, img.At(x, plotTop+3))
	}
	// An hour earlier nothing ran dry.
	xOK := columnOf(dry.At.Add(-time.Hour), s.From, s.To, left, right)
	for y := plotBottom - 4; y <= plotBottom; y++ {
		if same(img.At(xOK, y), palette[cDry]) {
			t.Errorf("(%d, %d): red an hour before the dry window", xOK, y)
		}
	}
}

// TestRenderLegend finds each line's swatch in the legend, in order, with
// its label's text beside it.
func TestRenderLegend(t *testing.T) {
	s := tenTokens7d()
	img := picture(t, s)
	_, right := plotSpan(t, img)
	prevY := 0
	for i, sr := range s.Series {
		col := palette[cSeries+uint8(i)]
		sx, sy := -1, -1
		for y := 0; y < 420 && sx < 0; y++ {
			for x := right + 2; x < 900; x++ {
				if same(img.At(x, y), col) {
					sx, sy = x, y
					break
				}
			}
		}
		if sx < 0 {
			t.Fatalf("%s: no swatch of its colour right of the plot", sr.Label)
		}
		if sy <= prevY {
			t.Errorf("%s: swatch at row %d, not under the previous one's (%d)", sr.Label, sy, prevY)
		}
		prevY = sy
		ink := 0
		for y := sy - 8; y < sy+10; y++ {
			for x := sx + 20; x < sx+30+7*len(sr.Label); x++ {
				if same(img.At(x, y), palette[cText]) {
					ink++
				}
			}
		}
		if ink < 15*len(sr.Label)/2 {
			t.Errorf("%s: %d pixels of text beside its swatch, want its label", sr.Label, ink)
		}
	}
}

// TestRenderLines checks every token's colour is drawn in the plot, and a
// window without a point leaves a gap.
func TestRenderLines(t *testing.T) {
	t.Run("ten", func(t *testing.T) {
		s := tenTokens7d()
		img := picture(t, s)
		left, right := plotSpan(t, img)
		for i, sr := range s.Series {
			n := 0
			for y := plotTop; y < plotBottom; y++ {
				for x := left + 1; x < right; x++ {
					if same(img.At(x, y), palette[cSeries+uint8(i)]) {
						n++
					}
				}
			}
			if n < 1000 {
				t.Errorf("%s: %d pixels of its colour in the plot, want a week's line", sr.Label, n)
			}
		}
	})
	t.Run("gap", func(t *testing.T) {
		s := oneToken3h()
		img := picture(t, s)
		left, right := plotSpan(t, img)
		line := palette[cSeries]
		count := func(x int) int {
			n := 0
			for y := plotTop; y < plotBottom; y++ {
				if same(img.At(x, y), line) {
					n++
				}
			}
			return n
		}
		// Windows 20 and 21 have no point: nothing between the middles of
		// windows 19 and 22 but the line's 2-pixel ends.
		gapFrom := columnOf(s.From.Add(19*Window+Window/2), s.From, s.To, left, right) + 2
		gapTo := columnOf(s.From.Add(22*Window+Window/2), s.From, s.To, left, right) - 2
		for x := gapFrom; x < gapTo; x++ {
			if n := count(x); n > 0 {
				t.Errorf("column %d, in the windows without points: %d pixels of the line", x, n)
			}
		}
		for _, w := range []int{10, 25} {
			if x := columnOf(s.From.Add(time.Duration(w)*Window+Window/2), s.From, s.To, left, right); count(x) == 0 {
				t.Errorf("column %d, window %d: no line", x, w)
			}
		}
	})
}

func TestRenderSame(t *testing.T) {
	s := severalTokens24h()
	a, err := Render(s)
	if err != nil {
		t.Fatal(err)
	}
	s.Loc = nil
	s.From, s.To = s.From.UTC(), s.To.UTC()
	utc, err := Render(s)
	if err != nil {
		t.Fatal(err)
	}
	s.Loc = time.UTC
	b, err := Render(s)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(utc, b) {
		t.Error("a nil zone draws differently from UTC")
	}
	if bytes.Equal(a, b) {
		t.Error("Tokyo's time axis draws like UTC's")
	}
	again, err := Render(severalTokens24h())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, again) {
		t.Error("the same Spec drew different bytes")
	}
}

func TestRenderNoData(t *testing.T) {
	s := oneToken3h()
	s.Series[0].Points = nil
	img := picture(t, s)
	left, right := plotSpan(t, img)
	muted := 0
	for y := plotTop; y < plotBottom; y++ {
		for x := left + 1; x < right; x++ {
			if same(img.At(x, y), palette[cMuted]) {
				muted++
			}
		}
	}
	if muted < 50 {
		t.Errorf("%d pixels of muted text in an empty plot, want a note that there is no data", muted)
	}
}

func TestRenderErrors(t *testing.T) {
	ok := oneToken3h()
	eleven := tenTokens7d()
	eleven.Series = append(eleven.Series, Series{Label: "bot-10"})
	for _, c := range []struct {
		name string
		edit func(s *Spec)
		want string
	}{
		{"empty period", func(s *Spec) { s.To = s.From }, "not after its start"},
		{"reversed period", func(s *Spec) { s.From, s.To = s.To, s.From }, "not after its start"},
		{"eleven lines", func(s *Spec) { s.Series = eleven.Series }, "11 series, at most 10"},
		{"NaN", func(s *Spec) { s.Series = []Series{{Label: "x", Points: []Point{{At: s.From, Low: math.NaN()}}}} }, `series "x"`},
		{"negative", func(s *Spec) { s.Series = []Series{{Label: "x", Points: []Point{{At: s.From, Low: -1}}}} }, "low point -1"},
		{"infinite limit", func(s *Spec) { s.Limit = math.Inf(1) }, "limit +Inf"},
		{"negative threshold", func(s *Spec) { s.Threshold = -5 }, "threshold -5"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := ok
			s.Series = slices.Clone(ok.Series)
			c.edit(&s)
			b, err := Render(s)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Render: %d bytes, error %v; want an error saying %q", len(b), err, c.want)
			}
		})
	}
}

func TestYAxis(t *testing.T) {
	for _, c := range []struct {
		limit, threshold, high float64
		percent                bool
		top, tick              float64
	}{
		{0, 30, 250, false, 300, 50},
		{0, 10, 80, true, 100, 20},
		{0, 30, 420, false, 500, 100}, // the data's max, higher, rounded up to a tick
		{1000, 100, 999, false, 1000, 200},
		{12, 2, 5, false, 12, 2},
	} {
		s := Spec{Limit: c.limit, Threshold: c.threshold, Percent: c.percent, From: testTo.Add(-time.Hour), To: testTo}
		lines := []line{{points: []Point{{At: s.From, Low: c.high}}}}
		l := newLayout(s, lines, Window)
		if l.top != c.top || l.yTick != c.tick {
			t.Errorf("limit %v, threshold %v, highest %v, percent %v: axis to %v by %v, want to %v by %v",
				c.limit, c.threshold, c.high, c.percent, l.top, l.yTick, c.top, c.tick)
		}
	}
}

func TestTimeTicks(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	labels := func(ts []tick) []string {
		var out []string
		for _, tk := range ts {
			out = append(out, tk.label)
		}
		return out
	}
	for _, c := range []struct {
		name     string
		from, to time.Time
		loc      *time.Location
		want     []string
		minors   int
	}{
		{"3h every 30 minutes", testTo.Add(-3*time.Hour - 10*time.Minute), testTo.Add(-10 * time.Minute), jst,
			[]string{"06:00", "06:30", "07:00", "07:30", "08:00", "08:30"}, 19},
		{"24h every 3 hours, the day at midnight", testTo.Add(-24 * time.Hour), testTo, jst,
			[]string{"09:00", "12:00", "15:00", "18:00", "21:00", "Tue 03", "03:00", "06:00", "09:00"}, 25},
		{"7d every day", testTo.Add(-7 * 24 * time.Hour), testTo, jst,
			[]string{"Wed 28", "Thu 29", "Fri 30", "Sat 31", "Sun 01", "Mon 02", "Tue 03"}, 28},
		{"24h in UTC", testTo.Add(-24 * time.Hour), testTo, time.UTC,
			[]string{"Mon 02", "03:00", "06:00", "09:00", "12:00", "15:00", "18:00", "21:00", "Tue 03"}, 25},
		{"24h over daylight saving's start", time.Date(2025, 3, 9, 0, 0, 0, 0, ny), time.Date(2025, 3, 9, 0, 0, 0, 0, ny).Add(24 * time.Hour), ny,
			[]string{"Sun 09", "03:00", "06:00", "09:00", "12:00", "15:00", "18:00", "21:00", "Mon 10"}, 25}, // no 02:00; to is 01:00 EDT
		{"90 seconds", testTo.Add(-90 * time.Second), testTo, jst,
			[]string{"08:58:30", "08:58:40", "08:58:50", "08:59:00", "08:59:10", "08:59:20", "08:59:30", "08:59:40", "08:59:50", "09:00:00"}, 19},
		{"30 days every 4 days", testTo.Add(-30 * 24 * time.Hour), testTo, jst,
			[]string{"Mon 05", "Fri 09", "Tue 13", "Sat 17", "Wed 21", "Sun 25", "Thu 29", "Mon 02"}, 30},
	} {
		t.Run(c.name, func(t *testing.T) {
			major, minor := timeTicks(c.from, c.to, c.loc)
			if got := labels(major); !slices.Equal(got, c.want) {
				t.Errorf("ticks %q, want %q", got, c.want)
			}
			if len(minor) != c.minors {
				t.Errorf("%d small ticks, want %d", len(minor), c.minors)
			}
			for _, tk := range major {
				if tk.at.Before(c.from) || tk.at.After(c.to) {
					t.Errorf("tick %s outside the period", tk.at)
				}
			}
		})
	}
}

func TestAsciiLabel(t *testing.T) {
	for in, want := range map[string]string{
		"notify.v2":                 "notify.v2",
		"日本":                        "??",
		"a\tb":                      "a?b",
		"a-very-long-token-label-1": "a-very-long-token-..",
	} {
		if got := asciiLabel(in); got != want {
			t.Errorf("asciiLabel(%q) = %q, want %q", in, got, want)
		}
	}
}
