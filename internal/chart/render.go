package chart

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"slices"
	"strconv"
	"time"

	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Spec is one chart: the low points of at most MaxLines tokens over
// [From, To).
type Spec struct {
	Title     string         // ASCII; any other rune is drawn as '?'
	From, To  time.Time      // the time axis
	Loc       *time.Location // the time axis' zone; nil: UTC
	Threshold float64        // the alert threshold, a dashed line; 0: none
	Percent   bool           // the values are percents of the limit
	Limit     float64        // the y axis' top; 0: 300, or 100 with Percent; raised to the highest point, then to a tick
	Series    []Series       // drawn and listed in this order; labels are ASCII
}

// MaxLines is the most lines a chart draws: more are a tangle nobody
// reads, so Select picks the ones worth drawing.
const MaxLines = 10

// The picture is sized for ChatWork's timeline, which shows an upload
// scaled down to its column: 7×13 text stays legible there.
const (
	width, height = 900, 420
	titleBaseline = 22
	plotTop       = 44
	plotBottom    = height - 38
	labelMaxRunes = 20 // a legend label's runes before it is cut
)

// The colours, by their palette index: every pixel is one of them, so the
// PNG is paletted (small, quick to encode).
const (
	cWhite uint8 = iota
	cText
	cAxis
	cGrid
	cMuted
	cThreshold
	cDry
	cDryBand
	cSeries // the first of MaxLines series colours
)

var palette = color.Palette{
	cWhite:     color.RGBA{0xff, 0xff, 0xff, 0xff},
	cText:      color.RGBA{0x22, 0x22, 0x22, 0xff},
	cAxis:      color.RGBA{0x55, 0x55, 0x55, 0xff},
	cGrid:      color.RGBA{0xe4, 0xe4, 0xe4, 0xff},
	cMuted:     color.RGBA{0x88, 0x88, 0x88, 0xff},
	cThreshold: color.RGBA{0x33, 0x33, 0x33, 0xff},
	cDry:       color.RGBA{0xe4, 0x1a, 0x1c, 0xff},
	cDryBand:   color.RGBA{0xfc, 0xdc, 0xdc, 0xff},
	// Okabe and Ito's colour-blind safe set without its yellow and black
	// (faint on white; black is the threshold's), then three of Paul Tol's
	// muted scheme.
	cSeries + 0: color.RGBA{0x00, 0x72, 0xb2, 0xff}, // blue
	cSeries + 1: color.RGBA{0xe6, 0x9f, 0x00, 0xff}, // orange
	cSeries + 2: color.RGBA{0x00, 0x9e, 0x73, 0xff}, // bluish green
	cSeries + 3: color.RGBA{0xcc, 0x79, 0xa7, 0xff}, // reddish purple
	cSeries + 4: color.RGBA{0x56, 0xb4, 0xe9, 0xff}, // sky blue
	cSeries + 5: color.RGBA{0xd5, 0x5e, 0x00, 0xff}, // vermillion
	cSeries + 6: color.RGBA{0x33, 0x22, 0x88, 0xff}, // indigo
	cSeries + 7: color.RGBA{0x99, 0x99, 0x33, 0xff}, // olive
	cSeries + 8: color.RGBA{0x88, 0x22, 0x55, 0xff}, // wine
	cSeries + 9: color.RGBA{0x44, 0xaa, 0x99, 0xff}, // teal
}

// Render draws s as a PNG: the same Spec gives the same bytes. A period
// that does not end after it starts, more than MaxLines series, or a
// negative or non-finite figure is an error.
func Render(s Spec) ([]byte, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if s.Loc == nil {
		s.Loc = time.UTC
	}
	c := canvas{image.NewPaletted(image.Rect(0, 0, width, height), palette)}
	step := pointStep(s.Series)
	lines := make([]line, len(s.Series))
	for i, sr := range s.Series {
		lines[i] = line{label: asciiLabel(sr.Label), points: inPeriod(sr.Points, s.From, s.To, step)}
	}
	l := newLayout(s, lines, step)

	c.title(s, l)
	c.dryBands(l, lines)
	c.grid(s, l)
	if s.Threshold > 0 {
		c.thresholdLine(l, s.Threshold)
	}
	drawn := false
	for i, ln := range lines {
		c.series(l, ln.points, cSeries+uint8(i))
		drawn = drawn || len(ln.points) > 0
	}
	dry := c.dryMarks(l, lines)
	if !drawn {
		msg := "no data in this period"
		c.text((l.left+l.right-textWidth(msg))/2, (plotTop+plotBottom)/2, msg, cMuted)
	}
	if s.Threshold > 0 {
		c.thresholdLabel(l, s.Threshold, s.Percent)
	}
	c.legend(l, lines, dry)

	var b bytes.Buffer
	// BestCompression took six times as long for files a tenth smaller.
	enc := png.Encoder{CompressionLevel: png.DefaultCompression}
	if err := enc.Encode(&b, c.img); err != nil {
		return nil, fmt.Errorf("chart: encode the PNG: %w", err)
	}
	return b.Bytes(), nil
}

func (s Spec) check() error {
	var errs []error
	if !s.To.After(s.From) {
		errs = append(errs, fmt.Errorf("chart: the period ends at %s, not after its start %s", s.To.Format(time.RFC3339), s.From.Format(time.RFC3339)))
	}
	if len(s.Series) > MaxLines {
		errs = append(errs, fmt.Errorf("chart: %d series, at most %d lines (Select picks them)", len(s.Series), MaxLines))
	}
	if !finite(s.Limit) || s.Limit < 0 {
		errs = append(errs, fmt.Errorf("chart: limit %v: want 0 or more", s.Limit))
	}
	if !finite(s.Threshold) || s.Threshold < 0 {
		errs = append(errs, fmt.Errorf("chart: threshold %v: want 0 or more", s.Threshold))
	}
	for _, sr := range s.Series {
		for _, p := range sr.Points {
			if !finite(p.Low) || p.Low < 0 {
				errs = append(errs, fmt.Errorf("chart: series %q at %s: low point %v: want a count of 0 or more", asciiLabel(sr.Label), p.At.Format(time.RFC3339), p.Low))
				break
			}
		}
	}
	return errors.Join(errs...)
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// line is a series as drawn: its label made printable, its points whose
// windows overlap the period, oldest first.
type line struct {
	label  string
	points []Point
}

func inPeriod(ps []Point, from, to time.Time, step time.Duration) []Point {
	var out []Point
	for _, p := range ps {
		if p.At.Add(step).After(from) && p.At.Before(to) {
			out = append(out, p)
		}
	}
	slices.SortStableFunc(out, func(a, b Point) int { return a.At.Compare(b.At) })
	return out
}

// layout maps times and values to pixels.
type layout struct {
	from, to    time.Time
	loc         *time.Location
	step        time.Duration // the points' period: neighbours further apart leave a gap
	left, right int           // the x of from and of to
	top         float64       // the value at plotTop; 0 is at plotBottom
	yTick       float64
	legendX     int
}

func newLayout(s Spec, lines []line, step time.Duration) layout {
	l := layout{from: s.From, to: s.To, loc: s.Loc, step: step}

	top := s.Limit
	if top == 0 {
		top = 300
		if s.Percent {
			top = 100
		}
	}
	top = max(top, s.Threshold)
	for _, ln := range lines {
		for _, p := range ln.points {
			top = max(top, p.Low)
		}
	}
	l.yTick = niceStep(top / 6)
	l.top = math.Ceil(top/l.yTick-1e-9) * l.yTick

	yLabels := 0
	for v := 0.0; v <= l.top+l.yTick/2; v += l.yTick {
		yLabels = max(yLabels, textWidth(valueText(v, s.Percent)))
	}
	l.left = 14 + yLabels + 8

	legend := textWidth(dryText)
	for _, ln := range lines {
		if len(ln.points) == 0 {
			legend = max(legend, textWidth(ln.label+noDataText))
		}
		legend = max(legend, textWidth(ln.label))
	}
	legend += legendSwatch + 8
	l.legendX = width - 12 - legend
	l.right = l.legendX - 18
	return l
}

// pointStep is the shortest time between two neighbouring points of any
// series: the period the source asked for (Window unless it said
// otherwise; the sandbox's windows are seconds long).
func pointStep(series []Series) time.Duration {
	var step time.Duration
	for _, sr := range series {
		for i := 1; i < len(sr.Points); i++ {
			if d := sr.Points[i].At.Sub(sr.Points[i-1].At); d > 0 && (step == 0 || d < step) {
				step = d
			}
		}
	}
	if step == 0 {
		return Window
	}
	return step
}

// niceStep is the smallest of 1, 2, 2.5 and 5 times a power of ten not
// under raw.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	mag := 1.0 // a power of ten, by products alone: the same on every CPU
	for mag*10 <= raw {
		mag *= 10
	}
	for mag > raw {
		mag /= 10
	}
	for _, m := range []float64{1, 2, 2.5, 5} {
		if m*mag >= raw*(1-1e-9) {
			return m * mag
		}
	}
	return 10 * mag
}

// x is t's column, kept within the plot: a window that began before the
// period is drawn at its start.
func (l layout) x(t time.Time) int {
	f := float64(t.Sub(l.from)) / float64(l.to.Sub(l.from))
	return min(max(l.left+int(math.Round(f*float64(l.right-l.left))), l.left), l.right)
}

func (l layout) y(v float64) int {
	return plotBottom - int(math.Round(v/l.top*float64(plotBottom-plotTop)))
}

// mid is the x of the middle of the window starting at t.
func (l layout) mid(t time.Time) int { return l.x(t.Add(l.step / 2)) }

// num writes a value with at most two decimals and none when whole.
func num(v float64) string {
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
}

func valueText(v float64, percent bool) string {
	if percent {
		return num(v) + "%"
	}
	return num(v)
}

func (c canvas) title(s Spec, l layout) {
	const period = "Mon 02 Jan 15:04"
	when := s.From.In(l.loc).Format(period) + " - " + s.To.In(l.loc).Format(period) + " " + asciiText(l.loc.String())
	wx := width - 12 - textWidth(when)
	c.text(wx, titleBaseline, when, cAxis)
	title := asciiText(s.Title)
	if room := (wx - 24 - 12) / 7; len(title) > room {
		title = title[:max(0, room-2)] + ".."
	}
	c.text(12, titleBaseline, title, cText)
	c.text(13, titleBaseline, title, cText) // bold
}

func (c canvas) grid(s Spec, l layout) {
	for v := 0.0; v <= l.top+l.yTick/2; v += l.yTick {
		y := l.y(v)
		c.fill(image.Rect(l.left, y, l.right+1, y+1), cGrid)
		t := valueText(v, s.Percent)
		c.text(l.left-8-textWidth(t), y+4, t, cAxis)
	}
	major, minor := timeTicks(l.from, l.to, l.loc)
	for _, t := range minor {
		x := l.x(t)
		c.fill(image.Rect(x, plotBottom, x+1, plotBottom+3), cAxis)
	}
	labelEnd := math.MinInt
	for _, tk := range major {
		x := l.x(tk.at)
		c.fill(image.Rect(x, plotTop, x+1, plotBottom), cGrid)
		c.fill(image.Rect(x, plotBottom, x+1, plotBottom+6), cAxis)
		lx := x - textWidth(tk.label)/2
		if lx > labelEnd+8 && lx >= 0 && lx+textWidth(tk.label) <= width {
			c.text(lx, plotBottom+19, tk.label, cAxis)
			labelEnd = lx + textWidth(tk.label)
		}
	}
	c.fill(image.Rect(l.left, plotTop, l.left+1, plotBottom+1), cAxis)
	c.fill(image.Rect(l.left, plotBottom, l.right+1, plotBottom+1), cAxis)
}

func (c canvas) thresholdLine(l layout, v float64) {
	y := l.y(v)
	for x := l.left + 1; x <= l.right; x += 10 {
		c.fill(image.Rect(x, y-1, min(x+6, l.right+1), y+1), cThreshold)
	}
}

func (c canvas) thresholdLabel(l layout, v float64, percent bool) {
	t := "threshold " + valueText(v, percent)
	x := l.right - 6 - textWidth(t)
	base := l.y(v) - 6
	if base-11 < plotTop {
		base = l.y(v) + 16
	}
	c.fill(image.Rect(x-3, base-12, x+textWidth(t)+3, base+4), cWhite)
	c.text(x, base, t, cThreshold)
}

// series draws one line through the points, broken where a window has
// none; a point with no neighbour is a dot. Where windows are narrower
// than a pixel (a week is 2016 of them), a column shows the lowest of its
// points: the chart is about how low a token went.
func (c canvas) series(l layout, ps []Point, ci uint8) {
	type column struct {
		x           int
		low         float64
		first, last time.Time
	}
	var cols []column
	for _, p := range ps {
		x := l.mid(p.At)
		if n := len(cols); n > 0 && cols[n-1].x == x {
			cols[n-1].low = min(cols[n-1].low, p.Low)
			cols[n-1].last = p.At
			continue
		}
		cols = append(cols, column{x: x, low: p.Low, first: p.At, last: p.At})
	}
	joined := func(i, j int) bool {
		return i >= 0 && j < len(cols) && cols[j].first.Sub(cols[i].last) <= l.step+l.step/2
	}
	for i, col := range cols {
		y := l.y(col.low)
		switch {
		case joined(i-1, i):
			c.line(cols[i-1].x, l.y(cols[i-1].low), col.x, y, ci)
		case !joined(i, i+1):
			c.fill(image.Rect(col.x-2, y-2, col.x+3, y+3), ci)
		}
	}
}

// dryBands shades the windows in which a token ran dry, under everything.
func (c canvas) dryBands(l layout, lines []line) {
	for _, ln := range lines {
		for _, p := range ln.points {
			if p.Low == 0 {
				x0 := l.x(p.At)
				c.fill(image.Rect(x0, plotTop, max(l.x(p.At.Add(l.step)), x0+1), plotBottom), cDryBand)
			}
		}
	}
}

// dryMarks puts a red triangle on the time axis under each window in which
// a token ran dry, over the lines; it tells whether there was one.
func (c canvas) dryMarks(l layout, lines []line) bool {
	any := false
	for _, ln := range lines {
		for _, p := range ln.points {
			if p.Low == 0 {
				c.triangle(l.mid(p.At), plotBottom, cDry)
				any = true
			}
		}
	}
	return any
}

const (
	legendSwatch = 22 // the sample line's width before a legend label
	legendRow    = 18
	dryText      = "ran dry: 0 left"
	noDataText   = " (no data)"
)

func (c canvas) legend(l layout, lines []line, dry bool) {
	y := plotTop + 6
	for i, ln := range lines {
		if len(ln.points) == 0 {
			c.text(l.legendX+legendSwatch+4, y+4, ln.label+noDataText, cMuted) // named, not drawn
		} else {
			c.fill(image.Rect(l.legendX, y-2, l.legendX+legendSwatch-4, y+2), cSeries+uint8(i))
			c.text(l.legendX+legendSwatch+4, y+4, ln.label, cText)
		}
		y += legendRow
	}
	if dry {
		y += legendRow / 2
		c.fill(image.Rect(l.legendX, y-8, l.legendX+legendSwatch-4, y+6), cDryBand)
		c.triangle(l.legendX+(legendSwatch-4)/2, y+5, cDry)
		c.text(l.legendX+legendSwatch+4, y+4, dryText, cText)
	}
}

type tick struct {
	at    time.Time
	label string
}

// timeTicks gives the time axis' labelled ticks and the small ones between
// them, on round times of the zone's clock: every 30 minutes over 3 hours,
// every 3 hours over a day, every day over a week.
func timeTicks(from, to time.Time, loc *time.Location) (major []tick, minor []time.Time) {
	span := to.Sub(from)
	steps := []struct{ major, minor time.Duration }{
		{10 * time.Second, 5 * time.Second},
		{30 * time.Second, 10 * time.Second},
		{time.Minute, 10 * time.Second},
		{2 * time.Minute, 30 * time.Second},
		{5 * time.Minute, time.Minute},
		{10 * time.Minute, 5 * time.Minute},
		{15 * time.Minute, 5 * time.Minute},
		{30 * time.Minute, 10 * time.Minute},
		{time.Hour, 15 * time.Minute},
		{3 * time.Hour, time.Hour},
		{6 * time.Hour, time.Hour},
		{12 * time.Hour, 3 * time.Hour},
		{24 * time.Hour, 6 * time.Hour},
	}
	const most = 9
	for _, st := range steps {
		if span <= most*st.major {
			for _, t := range clockTimes(from, to, loc, st.major, 1) {
				label := t.Format("15:04")
				if st.major < time.Minute {
					label = t.Format("15:04:05")
				}
				if t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 {
					label = t.Format("Mon 02")
				}
				major = append(major, tick{t, label})
			}
			return major, clockTimes(from, to, loc, st.minor, 1)
		}
	}
	days := int((span + most*24*time.Hour - 1) / (most * 24 * time.Hour))
	layout := "Mon 02"
	if days >= 7 {
		layout = "Jan 02"
	}
	for _, t := range clockTimes(from, to, loc, 24*time.Hour, days) {
		major = append(major, tick{t, t.Format(layout)})
	}
	return major, clockTimes(from, to, loc, 24*time.Hour, 1)
}

// clockTimes lists the times in [from, to] that the zone's clock shows as
// a multiple of step (which divides a day) after midnight, on every
// everyDays-th day from the first: wall-clock times, so the ticks stay on
// the hour across a daylight saving change.
func clockTimes(from, to time.Time, loc *time.Location, step time.Duration, everyDays int) []time.Time {
	var out []time.Time
	f := from.In(loc)
	y, m, d := f.Year(), f.Month(), f.Day()
	for n := 0; ; n++ {
		midnight := time.Date(y, m, d+n, 0, 0, 0, 0, loc)
		if midnight.After(to) && n > 0 {
			return out
		}
		off := time.Duration(0)
		if n == 0 { // from the step before from's clock time
			clock := time.Duration(f.Hour())*time.Hour + time.Duration(f.Minute())*time.Minute + time.Duration(f.Second())*time.Second
			off = max(0, clock.Truncate(step)-step)
		}
		for ; off < 24*time.Hour; off += step {
			t := time.Date(y, m, d+n, 0, 0, int(off/time.Second), 0, loc)
			if t.After(to) {
				return out
			}
			if t.Before(from) || (len(out) > 0 && !t.After(out[len(out)-1])) {
				continue
			}
			if everyDays > 1 && (len(out) > 0 && int(math.Round(t.Sub(out[0]).Hours()/24))%everyDays != 0) {
				continue
			}
			out = append(out, t)
		}
	}
}

// asciiText keeps printable ASCII and draws anything else as '?': the
// font has nothing more.
func asciiText(s string) string {
	b := []byte{}
	for _, r := range s {
		if r < ' ' || r > '~' {
			r = '?'
		}
		b = append(b, byte(r))
	}
	return string(b)
}

func asciiLabel(s string) string {
	s = asciiText(s)
	if len(s) > labelMaxRunes {
		s = s[:labelMaxRunes-2] + ".."
	}
	return s
}

// canvas draws on a paletted image by palette index; drawing outside it
// is cut.
type canvas struct{ img *image.Paletted }

func (c canvas) fill(r image.Rectangle, ci uint8) {
	r = r.Intersect(c.img.Rect)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		row := c.img.Pix[y*c.img.Stride:]
		for x := r.Min.X; x < r.Max.X; x++ {
			row[x] = ci
		}
	}
}

// line draws a 2-pixel line from (x0, y0) to (x1, y1) (Bresenham's, with
// a 2×2 brush on each point).
func (c canvas) line(x0, y0, x1, y1 int, ci uint8) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	e := dx + dy
	for {
		c.fill(image.Rect(x0-1, y0-1, x0+1, y0+1), ci)
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

// triangle draws a filled triangle, 13 pixels wide and 7 high, standing
// on row y with its tip over x.
func (c canvas) triangle(x, y int, ci uint8) {
	for k := range 7 {
		c.fill(image.Rect(x-6+k, y-k, x+7-k, y-k+1), ci)
	}
}

func (c canvas) text(x, baseline int, s string, ci uint8) {
	face := basicfont.Face7x13
	for _, r := range s {
		dr, mask, mp, adv, ok := face.Glyph(fixed.P(x, baseline), r)
		if ok {
			for py := dr.Min.Y; py < dr.Max.Y; py++ {
				for px := dr.Min.X; px < dr.Max.X; px++ {
					if _, _, _, a := mask.At(mp.X+px-dr.Min.X, mp.Y+py-dr.Min.Y).RGBA(); a >= 0x8000 {
						c.fill(image.Rect(px, py, px+1, py+1), ci)
					}
				}
			}
		}
		x += adv.Round()
	}
}

// textWidth is the width of s in the 7×13 font, which has a fixed advance.
func textWidth(s string) int { return 7 * len(s) }

func abs(v int) int { return max(v, -v) }

func sign(v int) int {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}
