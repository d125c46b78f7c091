package bot

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

var testTo = replyTo{Account: testSender, Room: testRoom, MessageID: testMessage}

// viewFrom builds the answer view the way answerQuota does.
func viewFrom(recs []sample.Record, q chatwork.Quota, th threshold) quotaView {
	v := quotaView{To: testTo, Label: "default", Now: testNow, Loc: jst, Quota: q, History: true, Threshold: th}
	v.Hour, v.Day, v.Monitor, v.MonitorAt = summarize(recs, q, testNow, testNow, time.Minute)
	return v
}

func TestGolden(t *testing.T) {
	q := chatwork.Quota{Limit: 300, Remaining: 120, Reset: testReset}
	count := threshold{Value: 30}
	// The monitor's last sample is 12m29s old: well past 2 × 1m + slack.
	var stale []sample.Record
	for _, r := range recentHistory() {
		if r.Time.Before(testNow.Add(-12 * time.Minute)) {
			stale = append(stale, r)
		}
	}
	noHistory := viewFrom(nil, q, count)
	historyFailed := quotaView{To: testTo, Label: "default", Now: testNow, Loc: jst, Quota: q, Threshold: count, Monitor: monitorUnknown}
	low := viewFrom(recentHistory(), chatwork.Quota{Limit: 300, Remaining: 1, Reset: testReset.Add(4 * time.Minute)}, threshold{Value: 10, Percent: true})

	fleet := fleetView{To: testTo, Now: testNow, Loc: jst, Threshold: count, Rows: []fleetRow{
		{Label: "exhausted", Quota: chatwork.Quota{Limit: 300, Remaining: 0, Reset: testReset.Add(-2 * time.Minute)}},
		{Label: "deploy", Quota: chatwork.Quota{Limit: 300, Remaining: 30, Reset: testReset.Add(time.Minute)}},
		{Label: "default", Quota: q},
		{Label: "notify.v2", Quota: chatwork.Quota{Limit: 300, Remaining: 299, Reset: testNow.Add(-time.Second)}},
		{Label: "report", Kind: "invalid_token"},
	}}
	var manyLabels []string
	for i := range 25 {
		manyLabels = append(manyLabels, fmt.Sprintf("bot-%02d", i))
	}
	messages := map[string]func(p *phrases) string{
		"answer":                   func(p *phrases) string { return renderAnswer(p, viewFrom(recentHistory(), q, count)) },
		"answer_stale_monitor":     func(p *phrases) string { return renderAnswer(p, viewFrom(stale, q, count)) },
		"answer_no_history":        func(p *phrases) string { return renderAnswer(p, noHistory) },
		"answer_history_failed":    func(p *phrases) string { return renderAnswer(p, historyFailed) },
		"answer_threshold_reached": func(p *phrases) string { return renderAnswer(p, low) },
		"help":                     func(p *phrases) string { return renderHelp(p, testTo, count, false) },
		"help_percent":             func(p *phrases) string { return renderHelp(p, testTo, threshold{Value: 10, Percent: true}, false) },
		"help_fleet":               func(p *phrases) string { return renderHelp(p, testTo, count, true) },
		"answer_fleet":             func(p *phrases) string { return renderFleet(p, fleet) },
		"unknown_label": func(p *phrases) string {
			return renderUnknownLabel(p, testTo, "deplyo", []string{"default", "deploy", "notify"})
		},
		"unknown_label_many": func(p *phrases) string { return renderUnknownLabel(p, testTo, "", manyLabels) },
		"unknown":            func(p *phrases) string { return renderUnknown(p, testTo, "xyz") },
		"unknown_unsafe_arg": func(p *phrases) string { return renderUnknown(p, testTo, "") },
		"unavailable":        func(p *phrases) string { return renderUnavailable(p, testTo) },
		"chart": func(p *phrases) string {
			return renderChartMessage(p, chartView{To: testTo, Period: "24h", Now: testNow, Loc: jst, Threshold: count})
		},
		"chart_rest": func(p *phrases) string {
			return renderChartMessage(p, chartView{To: testTo, Period: "7d", Now: testNow, Loc: tokyo(t), Threshold: count, Rest: manyLabels})
		},
		"chart_token_percent": func(p *phrases) string {
			return renderChartMessage(p, chartView{To: testTo, Label: "deploy", Period: "3h", Now: testNow, Loc: jst, Threshold: threshold{Value: 10, Percent: true}})
		},
		"chart_usage": func(p *phrases) string {
			return renderChartUsage(p, testTo, "2h", []string{"default", "deploy", "notify"})
		},
		"chart_usage_any": func(p *phrases) string { return renderChartUsage(p, testTo, "", manyLabels) },
		"chart_failed":    func(p *phrases) string { return renderChartFailed(p, testTo) },
	}
	for name, render := range messages {
		for lang, p := range languages {
			file := filepath.Join("testdata", "golden", name+"_"+lang+".txt")
			t.Run(name+"_"+lang, func(t *testing.T) {
				got := render(p)
				if *update {
					if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(file)
				if err != nil {
					t.Fatalf("%v (run go test ./bot -update to create it)", err)
				}
				if got != string(want) {
					t.Errorf("%s differs from the golden file:\n--- got ---\n%s\n--- want ---\n%s", file, got, want)
				}
				checkMessage(t, got)
			})
		}
	}
}

// checkMessage holds for everything the bot posts: a reply to the asker,
// within ChatWork's length limit, never mistaken for a command by the bot
// itself, and balanced notation.
func checkMessage(t *testing.T, msg string) {
	t.Helper()
	if !strings.HasPrefix(msg, testTo.tag()+"\n") {
		t.Errorf("message does not start with the reply tag: %q", msg)
	}
	if n := len([]rune(msg)); n > 65535 {
		t.Errorf("message is %d characters", n)
	}
	if c := parseCommand(msg); c.kind != cmdNone {
		t.Errorf("the bot's own message parses as command %v", c.kind)
	}
	for _, tag := range []string{"info", "title"} {
		if o, c := strings.Count(msg, "["+tag+"]"), strings.Count(msg, "[/"+tag+"]"); o != c {
			t.Errorf("[%s] opened %d times, closed %d times", tag, o, c)
		}
	}
}

// tokyo is the Asia/Tokyo zone from the tz database.
func tokyo(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestSummarize(t *testing.T) {
	q := chatwork.Quota{Limit: 300, Remaining: 120, Reset: testReset}
	hour, day, mon, _ := summarize(recentHistory(), q, testNow, testNow, time.Minute)
	if hour.Remaining != 95 || !hour.At.Equal(time.Date(2025, 6, 2, 14, 40, 0, 0, jst)) || hour.FreshOnly {
		t.Errorf("hour low = %+v, want 95 at 14:40", hour)
	}
	if day.Remaining != 12 || !day.At.Equal(time.Date(2025, 6, 2, 9, 15, 0, 0, jst)) {
		t.Errorf("day low = %+v, want 12 at 09:15", day)
	}
	if mon != monitorOK {
		t.Errorf("monitor = %v, want ok", mon)
	}

	// The fresh reading is lower than anything recorded: it is the low.
	q.Remaining = 3
	hour, day, _, _ = summarize(recentHistory(), q, testNow, testNow, time.Minute)
	if hour.Remaining != 3 || day.Remaining != 3 || hour.FreshOnly {
		t.Errorf("lows = %+v %+v, want the fresh 3 (not fresh-only: samples exist)", hour, day)
	}

	// Passive samples and failure records do not count as the monitor's.
	recs := []sample.Record{
		{Time: testNow.Add(-time.Minute), Source: sample.SourcePassive, HasQuota: true, Remaining: 200, Limit: 300, Reset: 1},
		{Time: testNow.Add(-time.Minute), Source: sample.SourceMonitor, Error: "network"},
		{Time: testNow.Add(-25 * time.Hour), Source: sample.SourceMonitor, HasQuota: true, Remaining: 1, Limit: 300, Reset: 1},
	}
	hour, day, mon, _ = summarize(recs, q, testNow, testNow, time.Minute)
	if mon != monitorMissing {
		t.Errorf("monitor = %v, want missing", mon)
	}
	if day.Remaining != 3 {
		t.Errorf("a sample older than 24h counted: day low %+v", day)
	}

	// Staleness is relative to the interval.
	recs = []sample.Record{{Time: testNow.Add(-4 * time.Minute), Source: sample.SourceMonitor, HasQuota: true, Remaining: 200, Limit: 300, Reset: 1}}
	if _, _, mon, _ := summarize(recs, q, testNow, testNow, time.Minute); mon != monitorStale {
		t.Errorf("4m-old sample with a 1m schedule: monitor = %v, want stale", mon)
	}
	if _, _, mon, _ := summarize(recs, q, testNow, testNow, 5*time.Minute); mon != monitorOK {
		t.Errorf("4m-old sample with a 5m schedule: monitor = %v, want ok", mon)
	}
}

func TestPercent(t *testing.T) {
	cases := []struct {
		n, total int
		want     string
	}{
		{120, 300, "40%"}, {1, 300, "0.3%"}, {299, 300, "99.6%"}, {0, 300, "0%"}, {300, 300, "100%"}, {5, 0, "-"},
	}
	for _, c := range cases {
		if got := percent(c.n, c.total); got != c.want {
			t.Errorf("percent(%d, %d) = %q, want %q", c.n, c.total, got, c.want)
		}
	}
}

func TestDurations(t *testing.T) {
	cases := []struct {
		d      time.Duration
		ja, en string
	}{
		{151 * time.Second, "2分31秒", "2m31s"},
		{9 * time.Second, "9秒", "9s"},
		{time.Hour + 5*time.Minute + 3*time.Second, "1時間5分", "1h5m"},
	}
	for _, c := range cases {
		if got := durationJA(c.d); got != c.ja {
			t.Errorf("durationJA(%v) = %q, want %q", c.d, got, c.ja)
		}
		if got := durationEN(c.d); got != c.en {
			t.Errorf("durationEN(%v) = %q, want %q", c.d, got, c.en)
		}
	}
}

func TestReplyTag(t *testing.T) {
	cases := []struct {
		to   replyTo
		want string
	}{
		{testTo, "[rp aid=1484814 to=36818150-984676321621704704]"},
		{replyTo{Account: 1, Room: 2, MessageID: "3]x[toall"}, "[To:1]"},
		{replyTo{Account: 1, Room: 2}, "[To:1]"},
		{replyTo{Room: 2, MessageID: "3"}, ""},
	}
	for _, c := range cases {
		if got := c.to.tag(); got != c.want {
			t.Errorf("%+v.tag() = %q, want %q", c.to, got, c.want)
		}
	}
}

func TestResetPassed(t *testing.T) {
	v := viewFrom(nil, chatwork.Quota{Limit: 300, Remaining: 300, Reset: testNow.Add(-time.Second)}, threshold{Value: 30})
	if got := renderAnswer(&en, v); !strings.Contains(got, "a new window is starting") {
		t.Errorf("a reset in the past should say so:\n%s", got)
	}
}
