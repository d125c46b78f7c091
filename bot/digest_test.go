package bot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/alarm"
	"github.com/quotabot/chatwork-quota-bot/internal/chart"
	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
	"github.com/quotabot/chatwork-quota-bot/internal/state"
)

// digestDay is the digest's day: the day before testNow, in JST.
var digestDay = time.Date(2025, 6, 1, 0, 0, 0, 0, jst)

// dayAt is h:m on digestDay (hours past 24 or before 0 leave it).
func dayAt(h, m int) time.Time {
	return digestDay.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
}

const (
	digestErrorsAlarm    = "quotabot-token-errors"
	digestPaceAlarm      = "quotabot-quota-pace"
	digestHeartbeatAlarm = "quotabot-monitor-heartbeat"
)

// fakeLows is a chart source with fixed series; it keeps the queries.
type fakeLows struct {
	mu      sync.Mutex
	series  map[string][]chart.Point
	err     error
	queries []chart.Query
}

func (f *fakeLows) Lows(_ context.Context, q chart.Query) ([]chart.Series, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, q)
	if f.err != nil {
		return nil, f.err
	}
	out := make([]chart.Series, len(q.Labels))
	for i, l := range q.Labels {
		out[i] = chart.Series{Label: l, Points: f.series[l]}
	}
	return out, nil
}

// windows are low points every 5 minutes over [from, to), each low(t).
func windows(from, to time.Time, low func(time.Time) float64) []chart.Point {
	var out []chart.Point
	for t := from; t.Before(to); t = t.Add(chart.Window) {
		out = append(out, chart.Point{At: t, Low: low(t)})
	}
	return out
}

// digestLows is a day whose answer is known:
//   - deploy ran dry: 200 all day but 14:00-15:00, where its windows' lows
//     are 20, 0, 0, 10 and eight of 30 (12 at or under 30, 2 dry, lowest 0
//     at 14:05, busiest hour 14:00-15:00 at 270/12 = 22.5 on average); a
//     0 in the evening before does not count;
//   - default (the own token) is never low: 150, and 100 from 09:00 to
//     10:00 (lowest 100 at 09:00, busiest hour 09:00-10:00);
//   - quiet has twelve windows at 280, from 03:00;
//   - report, failing all day, has none.
func digestLows() *fakeLows {
	hour14 := []float64{20, 0, 0, 10, 30, 30, 30, 30, 30, 30, 30, 30}
	deploy := windows(digestDay, digestDay.Add(24*time.Hour), func(t time.Time) float64 {
		if t.Hour() == 14 {
			return hour14[t.Minute()/5]
		}
		return 200
	})
	deploy = append([]chart.Point{{At: digestDay.Add(-5 * time.Minute), Low: 0}}, deploy...)
	return &fakeLows{series: map[string][]chart.Point{
		"deploy": deploy,
		"default": windows(digestDay, digestDay.Add(24*time.Hour), func(t time.Time) float64 {
			if t.Hour() == 9 {
				return 100
			}
			return 150
		}),
		"quiet": windows(dayAt(3, 0), dayAt(4, 0), func(time.Time) float64 { return 280 }),
	}}
}

// key is an alarm transition's state key at the JST time at.
func key(alarmName, st string, at time.Time, contributor string) string {
	k := alarmName + "|" + st + "|" + at.UTC().Format("2006-01-02T15:04:05.000-0700")
	if contributor != "" {
		k += "|" + contributor
	}
	return k
}

// settled puts a settled transition into st.
func settled(t *testing.T, st *state.Memory, k, token, outcome string, at time.Time) {
	t.Helper()
	ctx := context.Background()
	c, err := st.Claim(ctx, k, at)
	if err != nil || c.Status != state.Claimed {
		t.Fatalf("claim %s: %+v, %v", k, c, err)
	}
	c.Token = token
	if err := st.Settle(ctx, c, outcome, at); err != nil {
		t.Fatal(err)
	}
}

// digestState is the day's memory:
//   - deploy's token failed from 22:00 the evening before until 08:00;
//     report's since 03:10, still at the end of the day;
//   - deploy's low-quota alert (14:06) and recovery (15:10) posted;
//     default's pace alert held back by a mute (11:00) and posted when the
//     mute ended (12:00); the monitor stopped (20:00, no token); and
//     another alarm's message posted (21:00);
//   - what does not count: the evening before's alert, a transition that
//     joined an episode, the next day's alert, yesterday's digest.
func digestState(t *testing.T) *state.Memory {
	st := &state.Memory{}
	set := func(k, token, outcome string, at time.Time) { settled(t, st, k, token, outcome, at) }
	set(key(digestErrorsAlarm, alarm.StateAlarm, dayAt(-2, 0), "c-deploy"), "deploy", state.Posted, dayAt(-2, 0).Add(5*time.Second))
	set(key(digestErrorsAlarm, alarm.StateOK, dayAt(8, 0), "c-deploy"), "deploy", state.Posted, dayAt(8, 0).Add(5*time.Second))
	set(key(digestErrorsAlarm, alarm.StateAlarm, dayAt(3, 10), "c-report"), "report", state.Posted, dayAt(3, 10).Add(5*time.Second))
	set(key(fixtureAlarm, alarm.StateAlarm, dayAt(14, 5), "c-deploy"), "deploy", state.Posted, dayAt(14, 6))
	set(key(digestPaceAlarm, alarm.StateAlarm, dayAt(14, 4), "p-deploy"), "deploy", outcomeJoined, dayAt(14, 6))
	set(key(fixtureAlarm, alarm.StateOK, dayAt(15, 9), "c-deploy"), "deploy", state.Posted, dayAt(15, 10))
	set(key(digestPaceAlarm, alarm.StateAlarm, dayAt(11, 0), "p-default"), "default", state.Muted, dayAt(11, 0))
	set("unmuted|"+key(digestPaceAlarm, alarm.StateAlarm, dayAt(11, 0), "p-default"), "default", state.Posted, dayAt(12, 0))
	set(key(digestHeartbeatAlarm, alarm.StateAlarm, dayAt(19, 59), ""), "", state.Posted, dayAt(20, 0))
	set(key("quotabot-webhook-errors", alarm.StateAlarm, dayAt(20, 59), ""), "", state.Posted, dayAt(21, 0))
	set(key(fixtureAlarm, alarm.StateAlarm, dayAt(-1, 0), "c-deploy"), "deploy", state.Posted, dayAt(-1, 0))
	set(key(fixtureAlarm, alarm.StateAlarm, dayAt(24, 1), "c-quiet"), "quiet", state.Posted, dayAt(24, 1))
	set(digestKey(digestDay.AddDate(0, 0, -1)), "", state.Posted, dayAt(-15, 0))
	for _, l := range []state.Last{
		{Alarm: digestErrorsAlarm, Token: "deploy", State: alarm.StateOK, At: dayAt(8, 0), Posted: true},
		{Alarm: digestErrorsAlarm, Token: "report", State: alarm.StateAlarm, At: dayAt(3, 10), Posted: true},
		{Alarm: fixtureAlarm, Token: "deploy", State: alarm.StateOK, At: dayAt(15, 9), Posted: true},
	} {
		if err := st.SetLast(context.Background(), l, l.At); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// digestRecords: report's readings fail (invalid_token) all day, deploy's
// failed (network) until 08:00.
func digestRecords() []sample.Record {
	var recs []sample.Record
	for at := digestDay; at.Before(digestDay.Add(24 * time.Hour)); at = at.Add(10 * time.Minute) {
		recs = append(recs, sample.Record{Time: at, Token: "report", Source: sample.SourceMonitor, Error: "invalid_token"})
		r := sample.Record{Time: at, Token: "deploy", Source: sample.SourceMonitor, Error: "network"}
		if !at.Before(dayAt(8, 0)) {
			r = sample.Record{Time: at, Token: "deploy", Source: sample.SourceMonitor, HasQuota: true, Remaining: 200, Limit: 300, Reset: at.Add(time.Minute).Unix()}
		}
		recs = append(recs, r)
	}
	return recs
}

// digestEnv is a bot of four tokens (default, deploy, report, quiet) with
// the day's figures, state and records.
func digestEnv(t *testing.T, mod func(*Config, *Deps)) (*env, *fakeLows) {
	t.Helper()
	lows := digestLows()
	st := digestState(t)
	e := newEnv(t, func(c *Config, d *Deps) {
		c.AlarmName, c.PaceAlarmName, c.ErrorsAlarmName, c.HeartbeatAlarmName = fixtureAlarm, digestPaceAlarm, digestErrorsAlarm, digestHeartbeatAlarm
		c.Language = "en"
		d.Charts, d.State = lows, st
		others := map[string]*fakeChatWork{"deploy": newFakeChatWork(), "report": newFakeChatWork(), "quiet": newFakeChatWork()}
		d.Tokens = func(context.Context) []Token {
			return []Token{{"deploy", others["deploy"]}, {"report", others["report"]}, {"quiet", others["quiet"]}}
		}
		if mod != nil {
			mod(c, d)
		}
	})
	e.setHistory(digestRecords()...)
	return e, lows
}

// The digest's figures against a day whose answer is known.
func TestDigestFigures(t *testing.T) {
	e, lows := digestEnv(t, nil)
	start, end := dayOf(testNow.AddDate(0, 0, -1), jst)
	if !start.Equal(digestDay) || !end.Equal(digestDay.Add(24*time.Hour)) {
		t.Fatalf("the day before testNow is [%v, %v)", start, end)
	}
	v, pic := e.bot.digestView(context.Background(), start, end)
	if q := lows.queries; len(q) != 1 || !slices.Equal(q[0].Labels, []string{"default", "deploy", "report", "quiet"}) ||
		!q[0].From.Equal(start) || !q[0].To.Equal(end) || q[0].Period != chart.Window || q[0].Percent {
		t.Fatalf("queries %+v: want one for every token over the day, per window, in counts", q)
	}
	want := []tokenDay{
		{Label: "deploy", Seen: 288, Low: 12, Dry: 2, Lowest: 0, LowestAt: dayAt(14, 5), Busy: dayAt(14, 0), BusyAvg: 22.5},
		{Label: "default", Seen: 288, Lowest: 100, LowestAt: dayAt(9, 0), Busy: dayAt(9, 0), BusyAvg: 100},
		{Label: "quiet", Seen: 12, Lowest: 280, LowestAt: dayAt(3, 0), Busy: dayAt(3, 0), BusyAvg: 280},
		{Label: "report"},
	}
	if !slices.EqualFunc(v.Tokens, want, func(a, b tokenDay) bool {
		return a.Label == b.Label && a.Seen == b.Seen && a.Low == b.Low && a.Dry == b.Dry && a.Lowest == b.Lowest &&
			a.LowestAt.Equal(b.LowestAt) && a.Busy.Equal(b.Busy) && a.BusyAvg == b.BusyAvg
	}) {
		t.Errorf("tokens:\n%+v\nwant\n%+v", v.Tokens, want)
	}
	if v.Figures != figuresDrawn || v.Drawn != 4 || pic == nil {
		t.Errorf("figures %v, drawn %d, chart %d bytes: want all four drawn", v.Figures, v.Drawn, len(pic))
	}
	wantFailed := []failure{
		{Label: "deploy", Kind: "network", Since: dayAt(-2, 0), Until: dayAt(8, 0)},
		{Label: "report", Kind: "invalid_token", Since: dayAt(3, 10)},
	}
	if v.Failures != failuresKnown || !slices.EqualFunc(v.Failed, wantFailed, func(a, b failure) bool {
		return a.Label == b.Label && a.Kind == b.Kind && a.Since.Equal(b.Since) && a.Until.Equal(b.Until)
	}) {
		t.Errorf("failures %v:\n%+v\nwant\n%+v", v.Failures, v.Failed, wantFailed)
	}
	wantAlarms := []alarmDone{
		{At: dayAt(3, 10).Add(5 * time.Second), Kind: kindErrors, State: alarm.StateAlarm, Label: "report", Outcome: state.Posted},
		{At: dayAt(8, 0).Add(5 * time.Second), Kind: kindErrors, State: alarm.StateOK, Label: "deploy", Outcome: state.Posted},
		{At: dayAt(11, 0), Kind: kindPace, State: alarm.StateAlarm, Label: "default", Outcome: state.Muted},
		{At: dayAt(12, 0), Kind: kindPace, State: alarm.StateAlarm, Label: "default", Outcome: state.Posted, Unmuted: true},
		{At: dayAt(14, 6), Kind: kindQuota, State: alarm.StateAlarm, Label: "deploy", Outcome: state.Posted},
		{At: dayAt(15, 10), Kind: kindQuota, State: alarm.StateOK, Label: "deploy", Outcome: state.Posted},
		{At: dayAt(20, 0), Kind: kindHeartbeat, State: alarm.StateAlarm, Outcome: state.Posted},
		{At: dayAt(21, 0), Kind: kindOther, Alarm: "quotabot-webhook-errors", State: alarm.StateAlarm, Outcome: state.Posted},
	}
	if !v.AlarmsKnown || !slices.EqualFunc(v.Alarms, wantAlarms, func(a, b alarmDone) bool {
		return a.At.Equal(b.At) && a.Kind == b.Kind && a.State == b.State && a.Label == b.Label && a.Outcome == b.Outcome &&
			a.Unmuted == b.Unmuted && (a.Kind != kindOther || a.Alarm == b.Alarm)
	}) {
		t.Errorf("alarms (known %v):\n%+v\nwant\n%+v", v.AlarmsKnown, v.Alarms, wantAlarms)
	}
}

// The busiest hour is the hour whose windows' lows were lowest on average,
// not the one with the single lowest window; the earliest on a tie. A
// point that is no number is no window.
func TestBusiestHour(t *testing.T) {
	lows := map[int][]float64{
		1: {0, 290, 290, 290},  // one burst to 0: average 217.5
		2: {50, 50, 50, 50},    // spent all through: average 50
		3: {100, 0, 100, 0},    // average 50 too, later
		4: {300, 300, 300, 10}, // average 227.5
	}
	var ps []chart.Point
	for h := 1; h <= 4; h++ {
		for i, v := range lows[h] {
			ps = append(ps, chart.Point{At: dayAt(h, 5*i), Low: v})
		}
	}
	ps = append(ps, chart.Point{At: dayAt(5, 0), Low: math.NaN()})
	d := tokenDays([]chart.Series{{Label: "x", Points: ps}}, digestDay, digestDay.Add(24*time.Hour), jst, 30)[0]
	if !d.Busy.Equal(dayAt(2, 0)) || d.BusyAvg != 50 || d.Lowest != 0 || !d.LowestAt.Equal(dayAt(1, 0)) || d.Dry != 3 || d.Low != 4 || d.Seen != 16 {
		t.Errorf("%+v: want 16 windows, busiest 02:00 at 50, lowest 0 at 01:00, 3 dry, 4 at or under 30", d)
	}
}

// failedIn against the token-errors alarm's timelines around a day.
func TestFailedIn(t *testing.T) {
	ch := func(st string, h int) change { return change{State: st, At: dayAt(h, 0)} }
	start, end := digestDay, digestDay.Add(24*time.Hour)
	for _, c := range []struct {
		name         string
		cs           []change
		failed       bool
		since, until time.Time
	}{
		{"none", nil, false, time.Time{}, time.Time{}},
		{"before the day only", []change{ch(alarm.StateAlarm, -5), ch(alarm.StateOK, -1)}, false, time.Time{}, time.Time{}},
		{"after the day only", []change{ch(alarm.StateAlarm, 25)}, false, time.Time{}, time.Time{}},
		{"all day", []change{ch(alarm.StateAlarm, -5)}, true, dayAt(-5, 0), time.Time{}},
		{"into the day", []change{ch(alarm.StateAlarm, -5), ch(alarm.StateOK, 3)}, true, dayAt(-5, 0), dayAt(3, 0)},
		// The last run of the day: a token that worked from 03:00 to 05:00
		// (or 23:00) did not fail since 02:00.
		{"twice", []change{ch(alarm.StateAlarm, 2), ch(alarm.StateOK, 3), ch(alarm.StateAlarm, 5), ch(alarm.StateOK, 6)}, true, dayAt(5, 0), dayAt(6, 0)},
		{"into the night", []change{ch(alarm.StateAlarm, 2), ch(alarm.StateOK, 3), ch(alarm.StateAlarm, 23), ch(alarm.StateOK, 25)}, true, dayAt(23, 0), time.Time{}},
		{"the same change twice", []change{ch(alarm.StateAlarm, 2), ch(alarm.StateAlarm, 2)}, true, dayAt(2, 0), time.Time{}},
	} {
		f, failed := failedIn(c.cs, start, end)
		if failed != c.failed || !f.Since.Equal(c.since) || !f.Until.Equal(c.until) {
			t.Errorf("%s: %v %+v, want %v since %v until %v", c.name, failed, f, c.failed, c.since, c.until)
		}
	}
}

func TestParseTransition(t *testing.T) {
	at := time.Date(2025, 6, 1, 3, 10, 0, 0, time.UTC)
	for _, c := range []struct {
		key, alarm, state string
		unmuted, ok       bool
	}{
		{"q-low|ALARM|2025-06-01T03:10:00.000+0000|6d44", "q-low", alarm.StateAlarm, false, true},
		{"q-heartbeat|OK|2025-06-01T03:10:00.000+0000", "q-heartbeat", alarm.StateOK, false, true},
		{"unmuted|q-low|ALARM|2025-06-01T03:10:00.000+0000|6d44", "q-low", alarm.StateAlarm, true, true},
		{"a|b|INSUFFICIENT_DATA|2025-06-01T03:10:00.000+0000", "a|b", alarm.StateInsufficient, false, true},
		{"digest|2025-05-31", "", "", false, false},
		{"episode|deploy", "", "", false, false},
		{"q-low|ALARM|yesterday|6d44", "", "", false, false},
		{"|ALARM|2025-06-01T03:10:00.000+0000", "", "", false, false},
	} {
		got, ok := parseTransition(state.Transition{Key: c.key, Token: "t", Outcome: state.Posted})
		if ok != c.ok || ok && (got.Alarm != c.alarm || got.State != c.state || got.Unmuted != c.unmuted || !got.At.Equal(at) || got.Token != "t") {
			t.Errorf("%q: %+v %v", c.key, got, ok)
		}
	}
}

// A contributor's transition settled without its token (before
// transitions kept theirs) is no token's, not the own token's; a single
// alarm's is the own token's.
func TestLabelOfTokenlessTransitions(t *testing.T) {
	b := &Bot{cfg: Config{TokenLabel: "default"}}
	contributor, _ := parseTransition(state.Transition{Key: "q-errors|ALARM|2025-06-01T03:10:00.000+0000|c0ffee", Outcome: state.Posted})
	single, _ := parseTransition(state.Transition{Key: "q-errors|ALARM|2025-06-01T03:10:00.000+0000", Outcome: state.Posted})
	if got := b.labelOf(contributor, kindErrors); got != "" {
		t.Errorf("a tokenless contributor transition is labelled %q, want none", got)
	}
	if got := b.labelOf(single, kindErrors); got != "default" {
		t.Errorf("a single alarm's transition is labelled %q, want the own token", got)
	}
}

// The digest is one upload into the alert room: the chart decodes, the
// message is the rendered digest and names the date; a second run, or a
// second bot sharing the state, posts nothing.
func TestDigestUploadsOnce(t *testing.T) {
	e, _ := digestEnv(t, nil)
	ctx := context.Background()
	if err := e.bot.Digest(ctx, testNow.AddDate(0, 0, -1)); err != nil {
		t.Fatal(err)
	}
	if len(e.cw.uploads) != 1 || len(e.cw.posts) != 1 || e.cw.posts[0].Room != testRoom {
		t.Fatalf("%d uploads, %d posts: want the one upload into the room", len(e.cw.uploads), len(e.cw.posts))
	}
	f := e.cw.uploads[0]
	img, err := png.Decode(bytes.NewReader(f.Data))
	if err != nil {
		t.Fatalf("the chart does not decode: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 400 || b.Dy() < 200 {
		t.Errorf("chart %v", b)
	}
	if f.Name != "quota-digest-2025-06-01.png" || !strings.Contains(f.Message, "Sun 2025-06-01") || !strings.Contains(f.Message, "deploy: 288 windows, 12 at or under the threshold, 2 ran dry") {
		t.Errorf("file %q, message:\n%s", f.Name, f.Message)
	}
	if len(e.rec.All()) != 1 {
		t.Errorf("%d records: want the upload's response recorded", len(e.rec.All()))
	}
	// Twice: once posted, it is not posted again, on any day's time.
	if err := e.bot.Digest(ctx, dayAt(23, 59)); err != nil {
		t.Fatal(err)
	}
	other, err := New(e.bot.cfg, Deps{ChatWork: e.cw, Recorder: e.rec, History: e.hist, Verifier: e.bot.verifier, State: e.bot.state.(timedState).State, Charts: e.bot.charts})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Digest(ctx, dayAt(9, 0)); err != nil {
		t.Fatal(err)
	}
	if len(e.cw.uploads) != 1 || len(e.cw.posts) != 1 {
		t.Fatalf("%d uploads, %d posts after three runs: want one", len(e.cw.uploads), len(e.cw.posts))
	}
	// The next day is another digest.
	if err := e.bot.Digest(ctx, testNow); err != nil || len(e.cw.uploads) != 2 || !strings.Contains(e.cw.uploads[1].Message, "Mon 2025-06-02") {
		t.Fatalf("the next day: %v, %d uploads", err, len(e.cw.uploads))
	}
}

// Two bots sharing the state, run at once and retried, post one digest.
func TestDigestConcurrent(t *testing.T) {
	e, _ := digestEnv(t, nil)
	other, err := New(e.bot.cfg, Deps{ChatWork: e.cw, Recorder: e.rec, History: e.hist, Verifier: e.bot.verifier, State: e.bot.state.(timedState).State, Charts: e.bot.charts})
	if err != nil {
		t.Fatal(err)
	}
	bots := []*Bot{e.bot, other, e.bot, other}
	var wg sync.WaitGroup
	for _, b := range bots {
		wg.Go(func() {
			// The test's sleeps return at once, so a run may find the
			// claim still held after its polls: then it posts nothing and
			// asks for a retry.
			if err := b.Digest(context.Background(), digestDay); err != nil && !strings.Contains(err.Error(), "another instance claimed it") {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for _, b := range bots { // the retries
		if err := b.Digest(context.Background(), digestDay); err != nil {
			t.Error(err)
		}
	}
	if n := len(e.cw.uploads); n != 1 {
		t.Fatalf("%d uploads, want 1", n)
	}
}

// With the state down the digest is posted anyway, each time, its date
// making the repeat visible; it says what it cannot know.
func TestDigestStateDown(t *testing.T) {
	e, _ := digestEnv(t, func(_ *Config, d *Deps) { d.State = brokenState{} })
	for range 2 {
		if err := e.bot.Digest(context.Background(), digestDay); err != nil {
			t.Fatal(err)
		}
	}
	if len(e.cw.uploads) != 2 {
		t.Fatalf("%d uploads, want 2", len(e.cw.uploads))
	}
	msg := e.cw.uploads[1].Message
	for _, want := range []string{"Sun 2025-06-01", "deploy: 288 windows", "Failing tokens are not known: the state could not be read.", "The alarm messages are not known: the state could not be read."} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	if !strings.Contains(e.logs.String(), "posting the digest anyway") {
		t.Errorf("log:\n%s", e.logs)
	}
}

// Without a chart source, or when it fails, the digest is one text post
// with the date, the failures and the alarms, saying the figures are
// missing.
func TestDigestWithoutCharts(t *testing.T) {
	for name, c := range map[string]struct {
		mod  func(*Config, *Deps)
		says string
	}{
		"no source":     {func(_ *Config, d *Deps) { d.Charts = nil }, "This deployment reads no per-token figures"},
		"source failed": {func(_ *Config, d *Deps) { d.Charts = &fakeLows{err: errors.New("GetMetricData: throttled")} }, "could not be read just now"},
	} {
		t.Run(name, func(t *testing.T) {
			e, _ := digestEnv(t, c.mod)
			if err := e.bot.Digest(context.Background(), digestDay); err != nil {
				t.Fatal(err)
			}
			if len(e.cw.uploads) != 0 || len(e.cw.posts) != 1 {
				t.Fatalf("%d uploads, %d posts: want one post", len(e.cw.uploads), len(e.cw.posts))
			}
			msg := e.cw.posts[0].Body
			for _, want := range []string{"Sun 2025-06-01", c.says, "report: invalid token (since 03:10", "Alarm messages: 7 posted, 1 held back by a mute"} {
				if !strings.Contains(msg, want) {
					t.Errorf("message lacks %q:\n%s", want, msg)
				}
			}
			if strings.Contains(msg, "windows,") {
				t.Errorf("figures without a source:\n%s", msg)
			}
		})
	}
}

// A digest that could not be posted is an error, and its claim is
// released: the retry posts it. A claim another instance holds is an
// error too, without a post.
func TestDigestRetry(t *testing.T) {
	e, _ := digestEnv(t, nil)
	e.cw.postErrs = []error{&chatwork.Error{Op: "upload file", Kind: chatwork.KindNetwork, Err: errors.New("connection reset")}}
	if err := e.bot.Digest(context.Background(), digestDay); err == nil {
		t.Fatal("a digest not posted is not an error")
	}
	if err := e.bot.Digest(context.Background(), digestDay); err != nil {
		t.Fatal(err)
	}
	if len(e.cw.uploads) != 2 {
		t.Fatalf("%d uploads, want the failed one and the retry", len(e.cw.uploads))
	}

	held, _ := digestEnv(t, nil)
	if _, err := held.bot.state.Claim(context.Background(), digestKey(digestDay), testNow); err != nil {
		t.Fatal(err)
	}
	if err := held.bot.Digest(context.Background(), digestDay); err == nil || len(held.cw.posts) != 0 {
		t.Fatalf("a held digest: %v, %d posts", err, len(held.cw.posts))
	}
	if len(held.sleeps) != claimPolls {
		t.Errorf("polled %d times, want %d", len(held.sleeps), claimPolls)
	}
}

// An upload refused as a request (the chart) leaves the digest as text.
func TestDigestChartRefused(t *testing.T) {
	e, _ := digestEnv(t, nil)
	e.cw.postErrs = []error{&chatwork.Error{Op: "upload file", Kind: chatwork.KindBadRequest, Err: errors.New("file too large")}}
	if err := e.bot.Digest(context.Background(), digestDay); err != nil {
		t.Fatal(err)
	}
	if len(e.cw.posts) != 2 || !strings.Contains(e.cw.posts[1].Body, "The chart could not be drawn: the figures only.") {
		t.Fatalf("posts %q", e.cw.postBodies())
	}
}

// The digest's messages, per language.
func TestDigestGolden(t *testing.T) {
	e, _ := digestEnv(t, nil)
	full, _ := e.bot.digestView(context.Background(), digestDay, digestDay.Add(24*time.Hour))
	many := full
	many.Tokens, many.Alarms, many.Failed = nil, nil, nil
	many.Drawn = chart.MaxLines
	for i := range maxDigestRows + 5 {
		many.Tokens = append(many.Tokens, tokenDay{Label: fmt.Sprintf("bot-%02d", i), Seen: 288, Low: 1, Lowest: float64(i + 1), LowestAt: dayAt(i%24, 0), Busy: dayAt(i%24, 0), BusyAvg: 100})
		many.Failed = append(many.Failed, failure{Label: fmt.Sprintf("bot-%02d", i), Since: dayAt(-1, 0)})
		many.Alarms = append(many.Alarms, alarmDone{At: dayAt(i%24, 30), Kind: kindQuota, State: alarm.StateAlarm, Label: fmt.Sprintf("bot-%02d", i), Outcome: state.Posted})
	}
	pct := full
	pct.Threshold = threshold{Value: 10, Percent: true}
	pct.Tokens = []tokenDay{{Label: "deploy", Seen: 288, Low: 3, Dry: 1, Lowest: 0, LowestAt: dayAt(14, 5), Busy: dayAt(23, 0), BusyAvg: 12.345}}
	noSource := full
	noSource.Figures, noSource.Tokens, noSource.Drawn = figuresNoSource, nil, 0
	noSource.Failures, noSource.Failed = failuresUnnamed, nil
	stateDown := full
	stateDown.Failures, stateDown.Failed, stateDown.AlarmsKnown, stateDown.Alarms = failuresUnknown, nil, false, nil
	quiet := full
	quiet.Failed, quiet.Alarms = nil, nil
	views := map[string]digestView{
		"digest": full, "digest_many": many, "digest_percent": pct, "digest_no_source": noSource,
		"digest_state_down": stateDown, "digest_quiet": quiet,
	}
	for name, v := range views {
		for lang, p := range languages {
			file := filepath.Join("testdata", "golden", name+"_"+lang+".txt")
			t.Run(name+"_"+lang, func(t *testing.T) {
				got := renderDigest(p, v)
				if *update {
					if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(file)
				if err != nil {
					t.Fatalf("%v (run go test ./bot -run TestDigestGolden -update)", err)
				}
				if got != string(want) {
					t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", file, got, want)
				}
				if n := len([]rune(got)); n > chatwork.MaxMessageRunes {
					t.Errorf("%d runes: over ChatWork's limit", n)
				}
			})
		}
	}
}

// Each settled transition keeps the token it was about, for the digest:
// an alert posted, one held back by a mute, and the same told when the
// mute ended.
func TestTransitionsKeepTheToken(t *testing.T) {
	clock := alarmAt
	st := &state.Memory{}
	e, _ := fleetEnv(t, &clock, func(_ *Config, d *Deps) { d.State = st })
	ctx := context.Background()
	failAt := time.Date(2026, 11, 24, 12, 10, 10, 0, jst)
	if err := st.SetMute(ctx, state.Mute{Label: "report", Until: failAt.Add(10 * time.Minute), By: testSender, At: alarmAt}, alarmAt); err != nil {
		t.Fatal(err)
	}
	if err := e.bot.HandleAlarm(ctx, loadEvent(t, "contributor-quota-alarm.json")); err != nil {
		t.Fatal(err)
	}
	clock = failAt
	if err := e.bot.HandleAlarm(ctx, loadEvent(t, "contributor-errors-alarm.json")); err != nil {
		t.Fatal(err)
	}
	clock = failAt.Add(20 * time.Minute)
	if err := e.bot.Housekeeping(ctx); err != nil {
		t.Fatal(err)
	}
	ts, err := st.Transitions(ctx, alarmAt.Add(-time.Hour), clock.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tr := range ts {
		c, ok := parseTransition(tr)
		got = append(got, fmt.Sprintf("%s %s %s %s unmuted=%v ok=%v", c.Alarm, c.State, tr.Token, tr.Outcome, c.Unmuted, ok))
	}
	want := []string{
		"quotabot-quota-low ALARM deploy posted unmuted=false ok=true",
		"quotabot-token-errors ALARM report muted unmuted=false ok=true",
		"quotabot-token-errors ALARM report posted unmuted=true ok=true",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("transitions:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// The schedule's digest is yesterday's in the configured zone, also just
// after midnight following a day of 23 hours.
func TestDigestYesterday(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		now  time.Time
		loc  *time.Location
		want string
	}{
		{testNow, jst, "Sun 2025-06-01"},
		{time.Date(2025, 6, 2, 0, 0, 1, 0, jst), jst, "Sun 2025-06-01"},
		{time.Date(2025, 3, 10, 0, 30, 0, 0, ny), ny, "Sun 2025-03-09"}, // clocks went forward on the 9th
		{time.Date(2025, 11, 3, 0, 30, 0, 0, ny), ny, "Sun 2025-11-02"}, // and back on Nov 2
	} {
		e, lows := digestEnv(t, func(cfg *Config, _ *Deps) { cfg.Now = func() time.Time { return c.now }; cfg.Location = c.loc })
		if err := e.bot.DigestYesterday(context.Background()); err != nil {
			t.Fatal(err)
		}
		start, end := lows.queries[0].From, lows.queries[0].To
		if len(e.cw.uploads) != 1 || !strings.Contains(e.cw.uploads[0].Message, c.want) || start.In(c.loc).Format("Mon 2006-01-02 15:04") != c.want+" 00:00" || !end.Equal(start.AddDate(0, 0, 1)) {
			t.Errorf("at %v: the day [%v, %v), uploads %d", c.now, start, end, len(e.cw.uploads))
		}
	}
}

// A day whose midnight the clocks skip (Santiago, 8 September 2024: 00:00
// became 01:00) starts when they land on it, and keeps its own date; the
// day before it ends there. Beirut skipped midnight too (31 March 2024
// started at 01:00), where time.Date lands after the gap.
func TestDayOfMidnightSkipped(t *testing.T) {
	for _, c := range []struct {
		zone, date string
		hours      float64
	}{
		{"America/Santiago", "2024-09-07", 24},
		{"America/Santiago", "2024-09-08", 23},
		{"America/Santiago", "2024-09-09", 24},
		{"Asia/Beirut", "2024-03-30", 24},
		{"Asia/Beirut", "2024-03-31", 23},
		{"America/New_York", "2024-11-03", 25},
	} {
		loc, err := time.LoadLocation(c.zone)
		if err != nil {
			t.Fatal(err)
		}
		day, _ := time.ParseInLocation(time.DateOnly, c.date, loc)
		start, end := dayOf(day.Add(12*time.Hour), loc)
		if got := start.In(loc).Format(time.DateOnly); got != c.date || digestKey(start) != "digest|"+c.date {
			t.Errorf("%s %s: starts on %s (key %s)", c.zone, c.date, got, digestKey(start))
		}
		if prev := start.Add(-time.Nanosecond).In(loc).Format(time.DateOnly); prev >= c.date {
			t.Errorf("%s %s: the instant before its start is on %s", c.zone, c.date, prev)
		}
		if got := end.In(loc).Format(time.DateOnly); got <= c.date {
			t.Errorf("%s %s: ends on %s", c.zone, c.date, got)
		}
		if h := end.Sub(start).Hours(); h != c.hours {
			t.Errorf("%s %s: %v hours, want %v", c.zone, c.date, h, c.hours)
		}
	}
}
