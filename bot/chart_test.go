package bot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/png"
	"reflect"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/chart"
	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
)

// fakeCharts is a chart source that answers every query with a line per
// label (a point every 5 minutes, each token lower than the one before it
// in the list), or with err, and keeps the queries.
type fakeCharts struct {
	mu      sync.Mutex
	queries []chart.Query
	err     error
}

var _ chart.Source = (*fakeCharts)(nil)

func (f *fakeCharts) Lows(ctx context.Context, q chart.Query) ([]chart.Series, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, q)
	if f.err != nil {
		return nil, f.err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]chart.Series, len(q.Labels))
	for i, l := range q.Labels {
		out[i].Label = l
		for at, n := q.From.Truncate(chart.Window), 0; at.Before(q.To); at, n = at.Add(chart.Window), n+1 {
			out[i].Points = append(out[i].Points, chart.Point{At: at, Low: float64(280 - 10*i - n%7*3)})
		}
	}
	return out, nil
}

func (f *fakeCharts) asked() []chart.Query {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]chart.Query(nil), f.queries...)
}

// chartEnv is an env at testNow whose deployment has the own token and
// others more (bot-01, bot-02, ...), and a fake chart source.
func chartEnv(t *testing.T, lang string, others int, mod func(*Config, *Deps)) (*env, *fakeCharts) {
	t.Helper()
	src := &fakeCharts{}
	e := newEnv(t, func(c *Config, d *Deps) {
		c.Language = lang
		d.Charts = src
		var toks []Token
		for i := range others {
			toks = append(toks, Token{fmt.Sprintf("bot-%02d", i+1), newFakeChatWork()})
		}
		d.Tokens = func(context.Context) []Token { return toks }
		if mod != nil {
			mod(c, d)
		}
	})
	return e, src
}

// checkPNG decodes an uploaded chart and checks its size against what the
// renderer draws.
func checkPNG(t *testing.T, data []byte) {
	t.Helper()
	want, err := chart.Render(chart.Spec{Title: "size", From: testNow.Add(-time.Hour), To: testNow, Loc: jst,
		Series: []chart.Series{{Label: "x", Points: []chart.Point{{At: testNow.Add(-time.Hour), Low: 1}}}}})
	if err != nil {
		t.Fatal(err)
	}
	wc, err := png.DecodeConfig(bytes.NewReader(want))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("the uploaded chart is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != wc.Width || b.Dy() != wc.Height {
		t.Errorf("the chart is %dx%d, the renderer draws %dx%d", b.Dx(), b.Dy(), wc.Width, wc.Height)
	}
}

func TestParseChartArgs(t *testing.T) {
	labels := []string{"default", "Deploy", "24h-batch"}
	cases := []struct {
		words  string
		want   chartArgs
		bad    string
		wantOK bool
	}{
		{"", chartArgs{Period: "24h"}, "", true},
		{"7d", chartArgs{Period: "7d"}, "", true},
		{"3H", chartArgs{Period: "3h"}, "", true},
		{"deploy", chartArgs{Label: "Deploy", Period: "24h"}, "", true},
		{"DEPLOY 3h", chartArgs{Label: "Deploy", Period: "3h"}, "", true},
		{"7d default", chartArgs{Label: "default", Period: "7d"}, "", true},
		{"24h-batch 24h", chartArgs{Label: "24h-batch", Period: "24h"}, "", true},
		{"nosuch", chartArgs{}, "nosuch", false},
		{"2h", chartArgs{}, "2h", false},
		{"3h nosuch", chartArgs{}, "nosuch", false},
		{"3h 7d", chartArgs{}, "", false},
		{"default deploy", chartArgs{}, "", false},
		{"default 3h 7d", chartArgs{}, "", false},
		{"default 3h x", chartArgs{}, "", false},
	}
	for _, c := range cases {
		got, bad, ok := parseChartArgs(strings.Fields(c.words), labels)
		if got != c.want || bad != c.bad || ok != c.wantOK {
			t.Errorf("parseChartArgs(%q) = %+v, %q, %v; want %+v, %q, %v", c.words, got, bad, ok, c.want, c.bad, c.wantOK)
		}
	}
}

// /quota chart through the handler: one upload (the only call), the chart
// of every token's lows over the default period ending now, the 10 lowest
// drawn and the others named in the message, the upload's response
// recorded like a post's.
func TestChartReply(t *testing.T) {
	for _, lang := range []string{"ja", "en"} {
		t.Run(lang, func(t *testing.T) {
			e, src := chartEnv(t, lang, 11, nil)
			if w := e.serve(t, signedRequest(t, message("[To:7777]bot\n／ｑｕｏｔａ　ＣＨＡＲＴ"))); w.Code != 200 {
				t.Fatalf("status %d", w.Code)
			}
			if len(e.cw.uploads) != 1 || e.cw.calls() != 1 {
				t.Fatalf("%d uploads, %d calls: want one upload and nothing else", len(e.cw.uploads), e.cw.calls())
			}
			if e.cw.posts[0].Room != testRoom {
				t.Errorf("uploaded into room %d, want the asking room", e.cw.posts[0].Room)
			}
			up := e.cw.uploads[0]
			if up.Name != "quota-24h.png" {
				t.Errorf("file name %q", up.Name)
			}
			checkPNG(t, up.Data)
			labels := []string{"default"}
			for i := 1; i <= 11; i++ {
				labels = append(labels, fmt.Sprintf("bot-%02d", i))
			}
			want := []chart.Query{{Labels: labels, From: testNow.Add(-24 * time.Hour), To: testNow, Period: chart.Window}}
			if got := src.asked(); !reflect.DeepEqual(got, want) {
				t.Errorf("queries %+v, want %+v", got, want)
			}
			// The fake's lines fall with their place in the list: default and
			// bot-01 are the highest, left out.
			v := chartView{To: testTo, Period: "24h", Now: testNow, Loc: jst, Threshold: threshold{Value: 30}, Rest: []string{"bot-01", "default"}}
			if wantMsg := renderChartMessage(languages[lang], v); up.Message != wantMsg {
				t.Errorf("message:\n%s\nwant:\n%s", up.Message, wantMsg)
			}
			if !strings.Contains(up.Message, "bot-01, default") || !strings.Contains(up.Message, "JST") {
				t.Errorf("the message does not name the tokens left out and the zone:\n%s", up.Message)
			}
			checkMessage(t, up.Message)
			recs := e.rec.All()
			if len(recs) != 1 || recs[0].Source != sample.SourcePassive || recs[0].Token != "default" || !recs[0].HasQuota || recs[0].Remaining != 119 {
				t.Errorf("records %+v, want the upload's passive sample", recs)
			}
		})
	}
}

// A shorter rate-limit window (the sandbox's) shortens the periods in
// proportion: 3h of 1-minute windows is 36 minutes, one point a minute.
func TestChartShortWindow(t *testing.T) {
	e, src := chartEnv(t, "en", 1, func(c *Config, _ *Deps) { c.Window = time.Minute })
	e.serve(t, signedRequest(t, message("/quota chart 3h")))
	if len(e.cw.uploads) != 1 {
		t.Fatalf("%d uploads", len(e.cw.uploads))
	}
	got := src.asked()
	if len(got) != 1 || !got[0].From.Equal(testNow.Add(-36*time.Minute)) || got[0].Period != time.Minute {
		t.Errorf("queries %+v, want 36 minutes of 1-minute periods", got)
	}
}

// One token and a period, in either order and any case; a percent
// threshold charts percents.
func TestChartReplyOneToken(t *testing.T) {
	e, src := chartEnv(t, "en", 3, func(c *Config, _ *Deps) { c.Threshold, c.ThresholdPercent = 10, true })
	e.serve(t, signedRequest(t, message("/quota chart 3h BOT-02")))
	if len(e.cw.uploads) != 1 || e.cw.calls() != 1 {
		t.Fatalf("%d uploads, %d calls", len(e.cw.uploads), e.cw.calls())
	}
	want := []chart.Query{{Labels: []string{"bot-02"}, From: testNow.Add(-3 * time.Hour), To: testNow, Period: chart.Window, Percent: true}}
	if got := src.asked(); !reflect.DeepEqual(got, want) {
		t.Errorf("queries %+v, want %+v", got, want)
	}
	up := e.cw.uploads[0]
	checkPNG(t, up.Data)
	if up.Name != "quota-3h.png" || !strings.Contains(up.Message, "(token: bot-02, the last 3 hours)") || !strings.Contains(up.Message, "percent of the limit") || !strings.Contains(up.Message, "(10% remaining)") {
		t.Errorf("upload %q:\n%s", up.Name, up.Message)
	}
	if strings.Contains(up.Message, "more)") {
		t.Errorf("one token asked for, yet others named as left out:\n%s", up.Message)
	}
}

// Words /quota chart does not understand get one line saying what it
// accepts; nothing is queried or uploaded.
func TestChartRefused(t *testing.T) {
	cases := []struct {
		text string
		want []string
	}{
		{"/quota chart nosuch", []string{"\"nosuch\" is neither a token nor a period", "[3h|24h|7d]", "default, bot-01, bot-02"}},
		{"/quota chart 2h", []string{"\"2h\" is neither", "[3h|24h|7d]"}},
		{"/quota chart 3h [toall]", []string{"Usage: /quota chart [LABEL] [3h|24h|7d] (tokens: default, bot-01, bot-02)"}},
		{"/quota chart 3h 7d", []string{"Usage: /quota chart"}},
		{"/quota chart default bot-01", []string{"Usage: /quota chart"}},
		{"/quota chart default 3h more", []string{"Usage: /quota chart"}},
	}
	for _, c := range cases {
		t.Run(c.text, func(t *testing.T) {
			e, src := chartEnv(t, "en", 2, nil)
			e.serve(t, signedRequest(t, message(c.text)))
			if len(e.cw.uploads) != 0 || len(e.cw.posts) != 1 || len(src.asked()) != 0 {
				t.Fatalf("%d uploads, %d posts, %d queries: want one post", len(e.cw.uploads), len(e.cw.posts), len(src.asked()))
			}
			body := e.cw.posts[0].Body
			for _, w := range c.want {
				if !strings.Contains(body, w) {
					t.Errorf("reply lacks %q:\n%s", w, body)
				}
			}
			if strings.Count(body, "\n") != 1 || strings.Contains(body, "[toall]") {
				t.Errorf("want the reply tag and one line:\n%s", body)
			}
			checkMessage(t, body)
		})
	}
}

// Without a chart source, or when it fails, the reply is text saying the
// chart is not available; why is logged, never told.
func TestChartUnavailable(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*Config, *Deps)
		log  string
	}{
		{"no chart source", func(_ *Config, d *Deps) { d.Charts = nil }, "no chart source configured"},
		{"the source fails", func(_ *Config, d *Deps) {
			d.Charts = &fakeCharts{err: errors.New(leakyCause)}
		}, leakyCause},
		{"the source never answers", func(_ *Config, d *Deps) { d.Charts = hangingStore{} }, "deadline exceeded"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// In a bubble: the source that never answers is waited for on
			// virtual time, as far as the reply's deadline allows.
			synctest.Test(t, func(t *testing.T) {
				e, _ := chartEnv(t, "ja", 2, c.mod)
				e.serve(t, signedRequest(t, message("/quota chart 7d")))
				if len(e.cw.uploads) != 0 || len(e.cw.posts) != 1 {
					t.Fatalf("%d uploads, %d posts: want one post", len(e.cw.uploads), len(e.cw.posts))
				}
				if body := e.cw.posts[0].Body; body != renderChartFailed(&ja, testTo) {
					t.Errorf("reply:\n%s", body)
				}
				if logs := e.logs.String(); !strings.Contains(logs, "chart unavailable") || !strings.Contains(logs, c.log) {
					t.Errorf("the reason is not logged:\n%s", logs)
				}
			})
		})
	}
}

// The upload counts toward the room's posting limit: on the per-room 429
// it waits once and uploads again.
func TestChartRoomLimit(t *testing.T) {
	e, _ := chartEnv(t, "en", 0, nil)
	e.cw.postErrs = []error{apiErr(chatwork.KindRoomLimit, 429, nil)}
	e.serve(t, signedRequest(t, message("/quota chart")))
	if len(e.cw.uploads) != 2 || len(e.sleeps) != 1 || e.cw.calls() != 2 {
		t.Fatalf("%d uploads, %d waits, %d calls: want one wait and one retry", len(e.cw.uploads), len(e.sleeps), e.cw.calls())
	}
	if n := len(e.rec.All()); n != 2 {
		t.Errorf("%d records for 2 calls", n)
	}
}

// The low-quota and pace alerts carry a 3-hour chart of their token in
// their one call: an upload whose message is the alert as it is posted
// without charts (the same golden text). Recoveries stay text.
func TestAlertCharts(t *testing.T) {
	for _, sc := range alarmScenarios() {
		alert := strings.HasPrefix(sc.name, "alert_") || strings.HasPrefix(sc.name, "pace_alert")
		for _, lang := range []string{"ja", "en"} {
			t.Run(sc.name+"_"+lang, func(t *testing.T) {
				src := &fakeCharts{}
				e := alarmEnv(t, sc.now, func(c *Config, d *Deps) {
					c.Language = lang
					d.Charts = src
					if sc.mod != nil {
						sc.mod(c, d)
					}
				})
				if sc.setup != nil {
					sc.setup(e)
				}
				if err := e.bot.HandleAlarm(context.Background(), sc.event(t)); err != nil {
					t.Fatalf("HandleAlarm: %v", err)
				}
				if e.cw.reads != sc.reads || len(e.cw.posts) != 1 {
					t.Fatalf("reads %d posts %d, want %d and 1", e.cw.reads, len(e.cw.posts), sc.reads)
				}
				checkGolden(t, "alarm_"+sc.name+"_"+lang+".txt", e.cw.posts[0].Body)
				if !alert {
					if len(e.cw.uploads) != 0 || len(src.asked()) != 0 {
						t.Errorf("%d uploads, %d queries: want the text only", len(e.cw.uploads), len(src.asked()))
					}
					return
				}
				if len(e.cw.uploads) != 1 {
					t.Fatalf("%d uploads, want the alert's", len(e.cw.uploads))
				}
				up := e.cw.uploads[0]
				if up.Name != "quota-default-3h.png" || up.Message != e.cw.posts[0].Body {
					t.Errorf("upload %q with message:\n%s", up.Name, up.Message)
				}
				checkPNG(t, up.Data)
				want := []chart.Query{{Labels: []string{"default"}, From: sc.now.Add(-3 * time.Hour), To: sc.now, Period: chart.Window, Percent: e.bot.cfg.ThresholdPercent}}
				if got := src.asked(); !reflect.DeepEqual(got, want) {
					t.Errorf("queries %+v, want %+v", got, want)
				}
				if recs := e.rec.All(); len(recs) != e.cw.calls() {
					t.Errorf("%d records for %d calls", len(recs), e.cw.calls())
				}
				if !strings.Contains(e.logs.String(), `"file_id":7001`) {
					t.Errorf("the upload is not logged:\n%s", e.logs)
				}
			})
		}
	}
}

// A chart that fails never costs the alert: it is posted as text, and an
// upload ChatWork refuses as a request, or fails with a 5xx, is posted
// again as text.
func TestAlertChartFails(t *testing.T) {
	alarmReset := time.Date(2026, 11, 24, 12, 7, 30, 0, jst)
	cases := []struct {
		name     string
		charts   *fakeCharts
		postErrs []error
		uploads  int
		log      string
	}{
		{"the source fails", &fakeCharts{err: errors.New(leakyCause)}, nil, 0, "alert chart unavailable: posting the alert as text"},
		{"the upload is refused", &fakeCharts{}, []error{apiErr(chatwork.KindBadRequest, 413, nil)}, 1, "alert chart not uploaded: posting the alert as text"},
		{"the files endpoint fails", &fakeCharts{}, []error{apiErr(chatwork.KindServer, 503, nil)}, 1, "alert chart not uploaded: posting the alert as text"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := alarmEnv(t, alarmAt, func(_ *Config, d *Deps) { d.Charts = c.charts })
			setWindow(e, alarmAt, 38, alarmReset)
			e.setHistory(monitorHistory(alarmAt.Add(-22*time.Second), alarmReset, 80, 60, 42)...)
			e.cw.postErrs = c.postErrs
			if err := e.bot.HandleAlarm(context.Background(), loadEvent(t, "alarm-state-alarm.json")); err != nil {
				t.Fatal(err)
			}
			if len(e.cw.uploads) != c.uploads || len(e.cw.posts) != c.uploads+1 {
				t.Fatalf("%d uploads, %d posts", len(e.cw.uploads), len(e.cw.posts))
			}
			checkGolden(t, "alarm_alert_count_ja.txt", e.cw.posts[len(e.cw.posts)-1].Body)
			if logs := e.logs.String(); !strings.Contains(logs, c.log) || !strings.Contains(logs, "alarm message posted") {
				t.Errorf("logs:\n%s", logs)
			}
			if l, ok, _ := e.bot.state.Last(context.Background(), fixtureAlarm, "default"); !ok || !l.Posted {
				t.Errorf("last state %+v: the alert counts as posted", l)
			}
		})
	}
}

// An alert held back by a mute, told when the mute ends, carries its chart
// too.
func TestHeldBackAlertChart(t *testing.T) {
	src := &fakeCharts{}
	r := newRoom(t, alarmAt, func(c *Config, d *Deps) { c.Language = "en"; d.Charts = src })
	setWindow(&env{cw: r.others["deploy"]}, alarmAt, 38, alarmAt.Add(time.Minute))
	r.say("/quota mute 30m deploy")
	r.alarm(contributorOf(t, "contributor-quota-alarm.json", "deploy", ""))
	if len(r.cw.uploads) != 0 || len(src.asked()) != 0 {
		t.Fatalf("a muted alert was charted")
	}
	r.now = alarmAt.Add(31 * time.Minute)
	r.housekeeping()
	if len(r.cw.uploads) != 1 {
		t.Fatalf("%d uploads after the mute ended", len(r.cw.uploads))
	}
	up := r.cw.uploads[0]
	if up.Name != "quota-deploy-3h.png" || !strings.HasPrefix(up.Message, enMute.resumed+"\n") || !strings.Contains(up.Message, "(token: deploy)") {
		t.Errorf("upload %q:\n%s", up.Name, up.Message)
	}
	if q := src.asked(); len(q) != 1 || !reflect.DeepEqual(q[0].Labels, []string{"deploy"}) || !q[0].To.Equal(r.now) {
		t.Errorf("queries %+v", q)
	}
}
