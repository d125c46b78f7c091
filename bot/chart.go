package bot

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/alarm"
	"github.com/quotabot/chatwork-quota-bot/internal/chart"
	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
)

// Charts: /quota chart answers with one PNG of the tokens' low points over
// a period, and the low-quota and pace alerts carry a chart of their token
// over the last hours. Each is one upload, the message going with the file.

const (
	// alertPeriod is the period of the chart an alert carries, by its
	// name among chart.Periods.
	alertPeriod = "3h"
	// chartTimeout bounds the query and the drawing of an alert's chart:
	// past it the alert goes out as text.
	chartTimeout = 5 * time.Second
)

// errNoCharts: the deployment gave the bot no chart source.
var errNoCharts = errors.New("no chart source configured")

// chartPhrases are one language's wording of charts; format verbs per
// field.
type chartPhrases struct {
	every    string // the words for every token
	token    string // %s label
	title    string // %s what, %s period
	shows    string // the lowest remaining count per window, per token
	showsPct string // the same as a percent of the limit
	marks    string // %s threshold text, %s time zone; follows shows
	rest     string // %d tokens left out, %s their labels
	usage    string // %s the word not understood, %s periods, %s labels
	usageAny string // %s periods, %s labels
	periods  map[string]string
	failed   string
}

var jaChart = chartPhrases{
	every:    "すべてのトークン",
	token:    "トークン: %s",
	title:    "ChatWork API の残りのグラフ（%s、%s）",
	shows:    "5分ごとの枠の、トークンごとの残り回数の最小値です。",
	showsPct: "5分ごとの枠の、トークンごとの残り（上限に対する割合）の最小値です。",
	marks:    "破線はアラートのしきい値（%s）、赤い三角と帯は残りが 0 になった（429）枠です。時刻は %s です。",
	rest:     "グラフにないトークン（ほか %d 個）: %s",
	usage:    "「%s」はトークンでも期間でもありません。使い方: /quota chart [ラベル] [%s]（トークン: %s）",
	usageAny: "使い方: /quota chart [ラベル] [%s]（トークン: %s）",
	periods:  map[string]string{"3h": "過去3時間", "24h": "過去24時間", "7d": "過去7日間"},
	failed:   "今はグラフを作れませんでした。残りの数字は /quota で確かめられます。",
}

var enChart = chartPhrases{
	every:    "every token",
	token:    "token: %s",
	title:    "ChatWork API quota chart (%s, %s)",
	shows:    "Each line is a token's lowest remaining count in each 5-minute window.",
	showsPct: "Each line is a token's lowest remaining, as a percent of the limit, in each 5-minute window.",
	marks:    " The dashed line is the alert threshold (%s); a red triangle and band mark a window that ran out (429). Times are in %s.",
	rest:     "Not drawn (%d more): %s",
	usage:    "\"%s\" is neither a token nor a period. Usage: /quota chart [LABEL] [%s] (tokens: %s)",
	usageAny: "Usage: /quota chart [LABEL] [%s] (tokens: %s)",
	periods:  map[string]string{"3h": "the last 3 hours", "24h": "the last 24 hours", "7d": "the last 7 days"},
	failed:   "The chart could not be made just now. /quota answers with the figures.",
}

// chartArgs are what /quota chart asks for.
type chartArgs struct {
	Label  string // the token's label as the deployment spells it; "" for every token
	Period string // one of chart.Periods' names
}

// parseChartArgs reads the words after /quota chart: a token's label
// (case-insensitively) and a period, each optional, in either order.
// labels are the deployment's. When the words ask for something else, bad
// is the word not understood, or "" when no single word is to blame (a
// second label, a second period, a third word).
func parseChartArgs(words, labels []string) (a chartArgs, bad string, ok bool) {
	if len(words) > 2 {
		return chartArgs{}, "", false
	}
	for _, w := range words {
		if _, isPeriod := chart.Periods[strings.ToLower(w)]; isPeriod && a.Period == "" {
			a.Period = strings.ToLower(w)
			continue
		}
		i := slices.IndexFunc(labels, func(l string) bool { return strings.EqualFold(l, w) })
		switch {
		case i >= 0 && a.Label == "":
			a.Label = labels[i]
		case i >= 0 || chart.Periods[strings.ToLower(w)] != 0:
			return chartArgs{}, "", false
		default:
			return chartArgs{}, w, false
		}
	}
	a.Period = cmp.Or(a.Period, chart.DefaultPeriod)
	return a, "", true
}

// periodNames are chart.Periods' names, shortest first: "3h|24h|7d".
func periodNames() string {
	names := slices.SortedFunc(maps.Keys(chart.Periods), func(x, y string) int {
		return cmp.Compare(chart.Periods[x], chart.Periods[y])
	})
	return strings.Join(names, "|")
}

// Chart draws the chart /quota chart would post for args (its words after
// "chart": a label, a period, both or none), for a caller outside the room
// (the sandbox's !chart). rest names the tokens left out.
func (b *Bot) Chart(ctx context.Context, args string) (png []byte, rest []string, err error) {
	tokens := b.tokens(ctx)
	labels := labelsOf(tokens)
	a, bad, ok := parseChartArgs(strings.Fields(args), labels)
	if !ok {
		return nil, nil, fmt.Errorf("chart: want [LABEL] [%s], a label among %s (%q is neither)", periodNames(), strings.Join(labels, ", "), safeArg(bad))
	}
	if a.Label != "" {
		labels = []string{a.Label}
	}
	d, err := b.drawChart(ctx, labels, a.Label, a.Period, b.cfg.Now())
	return d.PNG, d.Rest, err
}

// answerChart answers /quota chart with one upload: the chart of the
// tokens asked for over the period ending now, its message saying what it
// shows. Words it does not understand, no chart source, or a source or
// renderer that fails get a line of text instead. No call is spent on a
// reading: the upload is the one call.
func (b *Bot) answerChart(ctx context.Context, cmd command, to replyTo, tokens []Token) {
	labels := labelsOf(tokens)
	a, bad, ok := parseChartArgs(strings.Fields(cmd.args), labels)
	if !ok {
		b.post(ctx, to.Room, renderChartUsage(b.text, to, safeArg(bad), labels))
		return
	}
	if a.Label != "" {
		labels = []string{a.Label}
	}
	now := b.cfg.Now()
	dctx, cancel := shorten(ctx, postReserve)
	d, err := b.drawChart(dctx, labels, a.Label, a.Period, now)
	cancel()
	if err != nil {
		b.log.WarnContext(ctx, "chart unavailable: answering with text", "error", err)
		b.post(ctx, to.Room, renderChartFailed(b.text, to))
		return
	}
	v := chartView{To: to, Label: a.Label, Period: a.Period, Now: now, Loc: b.cfg.Location, Threshold: b.threshold(), Rest: d.Rest}
	b.postFile(ctx, to.Room, chatwork.File{Name: "quota-" + a.Period + ".png", Data: d.PNG, Message: renderChartMessage(b.text, v)})
}

// drawn is a rendered chart: its PNG and the labels of the tokens left out
// of it, sorted.
type drawn struct {
	PNG  []byte
	Rest []string
}

// drawChart draws the low points of the tokens labelled labels over the
// period named period that ends at now: at most chart.MaxLines of them,
// the lowest, with the configured threshold, in the configured time zone.
// label is the one token asked for, "" for every token. It spends no
// ChatWork call.
func (b *Bot) drawChart(ctx context.Context, labels []string, label, period string, now time.Time) (drawn, error) {
	if b.charts == nil {
		return drawn{}, errNoCharts
	}
	d, err := chart.ParsePeriod(period)
	if err != nil {
		return drawn{}, err
	}
	d = d / chart.Window * b.cfg.Window
	png, rest, err := chart.Draw(ctx, b.charts, chart.Query{Labels: labels, From: now.Add(-d), To: now, Period: b.cfg.Window}, chart.Spec{
		Title: chart.Title(label, b.cfg.ThresholdPercent, period), Loc: b.cfg.Location,
		Threshold: float64(b.cfg.Threshold), Percent: b.cfg.ThresholdPercent,
	})
	if err != nil {
		return drawn{}, err
	}
	return drawn{PNG: png, Rest: rest}, nil
}

// sendAlarm posts an alarm's message into the alert room. The alert of a
// token's episode (the quota or the pace alarm entering ALARM) carries a
// chart of that token over alertPeriod when charts are configured
// and it can be drawn: one upload whose message is body, unchanged. A
// chart that cannot be drawn, or an upload that textAfterUpload gives up
// on, leaves the alert as text. It returns what ChatWork made of the
// message, for the log.
func (b *Bot) sendAlarm(ctx context.Context, ev alarm.Event, kind alarmKind, body string, attrs []any) ([]any, error) {
	if ev.Detail.State.Value == alarm.StateAlarm && episodic(kind) && b.charts != nil {
		label := cmp.Or(ev.Token(), b.cfg.TokenLabel)
		cctx, cancel := context.WithTimeout(ctx, chartTimeout)
		d, err := b.drawChart(cctx, []string{label}, label, alertPeriod, b.cfg.Now())
		cancel()
		if err == nil {
			up, err := b.upload(ctx, b.cfg.RoomID, chatwork.File{Name: "quota-" + label + "-" + alertPeriod + ".png", Data: d.PNG, Message: body})
			if err == nil || !textAfterUpload(err) {
				return []any{"file_id", up.FileID}, err
			}
			b.log.WarnContext(ctx, "alert chart not uploaded: posting the alert as text", append(attrs, "kind", chatwork.KindOf(err).String(), "error", err)...)
		} else {
			b.log.WarnContext(ctx, "alert chart unavailable: posting the alert as text", append(attrs, "error", err)...)
		}
	}
	posted, err := b.send(ctx, b.cfg.RoomID, body)
	return []any{"message_id", posted.MessageID}, err
}

// textAfterUpload reports whether a message whose upload failed with err
// goes out as text instead: ChatWork refused the upload (a 4xx other than
// the token's and the room's limits) or failed on its side (a 5xx), which
// a plain post may well survive. A 5xx from a gateway may come after
// ChatWork took the file, and the room then sees the alert twice: better
// than not at all. A token rejected, a quota used up or the room's limit
// (after its wait) would meet the post too; a network failure, or an
// answer that could not be read, may well come after the upload landed,
// and a post would repeat it: those stay the upload's error.
func textAfterUpload(err error) bool {
	k := chatwork.KindOf(err)
	return k == chatwork.KindBadRequest || k == chatwork.KindServer
}

// chartView is everything the message of a chart says.
type chartView struct {
	To        replyTo
	Label     string // the one token drawn; "" for every token
	Period    string // the period's name
	Now       time.Time
	Loc       *time.Location
	Threshold threshold
	Rest      []string // the tokens left out
}

// renderChartMessage renders the message that goes with a chart: what it
// shows, over which period, in which time zone, and the tokens left out.
func renderChartMessage(p *phrases, v chartView) string {
	c := &p.chart
	what := c.every
	if v.Label != "" {
		what = fmt.Sprintf(c.token, v.Label)
	}
	shows := c.shows
	if v.Threshold.Percent {
		shows = c.showsPct
	}
	lines := []string{shows + fmt.Sprintf(c.marks, thresholdValue(p, v.Threshold), zoneName(v.Loc, v.Now))}
	if len(v.Rest) > 0 {
		lines = append(lines, fmt.Sprintf(c.rest, len(v.Rest), labelList(p, v.Rest)))
	}
	return info(v.To, fmt.Sprintf(c.title, what, c.periods[v.Period]), strings.Join(lines, "\n"))
}

// renderChartUsage renders the reply to /quota chart with words it does
// not understand: what it accepts. arg is the word to blame, when it is
// safe to repeat.
func renderChartUsage(p *phrases, to replyTo, arg string, labels []string) string {
	if arg == "" {
		return to.prefix() + fmt.Sprintf(p.chart.usageAny, periodNames(), labelList(p, labels))
	}
	return to.prefix() + fmt.Sprintf(p.chart.usage, arg, periodNames(), labelList(p, labels))
}

// renderChartFailed renders the reply when no chart can be made. It says
// nothing about why: internal errors stay in the logs.
func renderChartFailed(p *phrases, to replyTo) string { return to.prefix() + p.chart.failed }

// zoneName names loc as the room reads its times: the abbreviation at now,
// with the zone's name when that says more ("JST (Asia/Tokyo)").
func zoneName(loc *time.Location, now time.Time) string {
	abbr := now.In(loc).Format("MST")
	if name := loc.String(); name != abbr && name != "" {
		return abbr + " (" + name + ")"
	}
	return abbr
}
