package bot

import (
	"fmt"
	"strings"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
)

// Rendering is pure: each message is a function of a view struct and the
// language's phrases, pinned by golden files.

// replyTo identifies the message being answered.
type replyTo struct {
	Account   int64
	Room      int64
	MessageID string
}

// tag is ChatWork's reply notation. No name follows it: ChatWork shows the
// replied-to person itself. The message id comes from the event; anything
// but digits would break the notation, so then the reply falls back to a
// plain To.
func (r replyTo) tag() string {
	switch {
	case r.Account <= 0:
		return ""
	case isDigits(r.MessageID) && r.Room > 0:
		return fmt.Sprintf("[rp aid=%d to=%d-%s]", r.Account, r.Room, r.MessageID)
	}
	return fmt.Sprintf("[To:%d]", r.Account)
}

// prefix is the tag on a line of its own, or nothing.
func (r replyTo) prefix() string {
	if t := r.tag(); t != "" {
		return t + "\n"
	}
	return ""
}

func isDigits(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// threshold is the alarm threshold as configured.
type threshold struct {
	Value   int
	Percent bool // Value is a percentage of the limit, not a count
}

// reached reports whether q is at or below the threshold.
func (t threshold) reached(q chatwork.Quota) bool {
	if t.Percent {
		return q.Limit > 0 && q.Remaining*100 <= t.Value*q.Limit
	}
	return q.Remaining <= t.Value
}

// low is the lowest remaining count seen in a period.
type low struct {
	Remaining, Limit int
	At               time.Time
	FreshOnly        bool // no recorded sample in the period: only this answer's reading
}

// monitorStatus is what the recorded history says about the monitor.
type monitorStatus int

const (
	monitorOK      monitorStatus = iota
	monitorStale                 // latest sample older than the schedule implies
	monitorMissing               // no monitor sample in the last 24 hours
	monitorUnknown               // history could not be read
)

// quotaView is everything the /quota answer shows.
type quotaView struct {
	To        replyTo
	Label     string // token label
	Now       time.Time
	Loc       *time.Location
	Quota     chatwork.Quota
	History   bool // false when history could not be read: lows are the fresh reading only
	Hour, Day low
	Threshold threshold
	Monitor   monitorStatus
	MonitorAt time.Time // the latest monitor sample, when monitorStale
}

// fleetRow is one token in the answer for every token: a reading, or the
// kind of its failure (Kind set).
type fleetRow struct {
	Label string
	Quota chatwork.Quota
	Kind  string
}

// fleetView is everything the answer for every token shows.
type fleetView struct {
	To        replyTo
	Now       time.Time
	Loc       *time.Location
	Rows      []fleetRow // in the order shown
	Threshold threshold
}

// phrases holds one language's wording, format verbs per field. The render
// functions below assemble every message, so the two languages cannot drift
// apart in structure.
type phrases struct {
	title          string // %s token label
	remaining      string // %d remaining, %d limit, %s percent
	used           string // %d used
	reset          string // %s clock time, %s duration
	resetPassed    string // %s clock time
	lowHour        string // %s low text
	lowDay         string // %s low text
	lowAt          string // %d remaining, %s percent, %s time
	lowFresh       string // %d remaining, %s percent
	noHistory      string
	threshold      string // %s threshold value
	thresholdCount string // %d count
	thresholdPct   string // %d percent
	reached        string
	monitorStale   string // %s age, %s time
	monitorMissing string
	duration       func(time.Duration) string

	helpTitle  string
	help       string // %s threshold text
	helpFleet  string // %s threshold text: help when there are several tokens
	unknown    string // %s "/quota xyz"
	unknownAny string // when the subcommand is not safe to repeat

	fleetTitle      string // %d tokens
	fleetRow        string // %s label, %d remaining, %d limit, %s percent, %s reset time, %s duration
	fleetFailed     string // %s label, %s kind
	fleetFoot       string // %s threshold text
	unknownLabel    string // %s label, %s labels
	unknownLabelAny string // %s labels
	moreLabels      string // %d more
	unavailable     string
	answerTitle     string

	alert alertPhrases // alarm messages (render_alert.go)
	mute  mutePhrases  // mutes (mute.go)
	chart chartPhrases // charts (chart.go)
}

var languages = map[string]*phrases{"ja": &ja, "en": &en}

const (
	muteHelpJA = "/quota mute 時間 [ラベル|all] … その時間（10m から 7d まで。例: 30m、2h、1d）、アラートと回復を投稿しません。ラベルを省くとすべてのトークンです。/quota unmute [ラベル|all] で解除、/quota mutes で一覧を返信します（どれも API を1回使います）。\n"
	muteHelpEN = "/quota mute DURATION [LABEL|all]: posts no alerts or recoveries for that long (10m to 7d, such as 30m, 2h, 1d); without a label, for every token. /quota unmute [LABEL|all] ends it, /quota mutes lists them (each uses 1 API call).\n"
)

// DefaultLanguage is the language of messages when none is configured.
const DefaultLanguage = "ja"

// CheckLanguage reports whether the bot speaks lang ("ja" or "en").
func CheckLanguage(lang string) error {
	if _, ok := languages[lang]; !ok {
		return fmt.Errorf("language %q: want ja or en", lang)
	}
	return nil
}

var ja = phrases{
	title:          "ChatWork API の残り（トークン: %s）",
	remaining:      "残り: %d / %d 回（%s）",
	used:           "この枠で使用: %d 回",
	reset:          "リセット: %s（あと%s）",
	resetPassed:    "リセット: %s（まもなく新しい枠）",
	lowHour:        "過去1時間の残りの最小値: %s",
	lowDay:         "過去24時間の残りの最小値: %s",
	lowAt:          "%d 回（%s、%s）",
	lowFresh:       "%d 回（%s、今回の読み取りのみ）",
	noHistory:      "記録を読めなかったため、過去の残りの最小値は表示できません。",
	threshold:      "アラートのしきい値: %s",
	thresholdCount: "残り %d 回",
	thresholdPct:   "残り %d%%",
	reached:        "⚠ 残りがしきい値以下です。",
	monitorStale:   "⚠ 監視の最新の記録は %s前（%s）です。監視が止まっている可能性があります。",
	monitorMissing: "⚠ 過去24時間に監視の記録がありません。監視が動いているか確認してください。",
	duration:       durationJA,
	helpTitle:      "quota bot の使い方",
	help: "/quota … API の残り回数、リセットまでの時間、過去1時間と24時間の残りの最小値を返信します（API を2回使います）。\n" +
		"/quota chart [3h|24h|7d] … 残りの推移（5分ごとの枠の残りの最小値）のグラフを画像で返信します。期間を省くと過去24時間です（API を1回使います）。\n" +
		"/quota help … この説明を返信します（API を1回使います）。\n" +
		muteHelpJA +
		"先頭に To や返信を付けても、全角の「／quota」でも使えます。\n" +
		"残りがしきい値（%s）以下になると、アラートが投稿されます。",
	helpFleet: "/quota … すべてのトークンの残り回数とリセットまでの時間を、残りの少ない順に1つのメッセージで返信します（トークンごとに API を1回、返信に1回使います）。\n" +
		"/quota ラベル … そのトークンの残り回数、リセットまでの時間、過去1時間と24時間の残りの最小値を返信します（API を2回使います）。ラベルの大文字と小文字は区別しません。\n" +
		"/quota chart [ラベル] [3h|24h|7d] … 残りの推移（5分ごとの枠の残りの最小値）のグラフを画像で返信します。ラベルを省くとすべてのトークン（残りの少ない10個まで）、期間を省くと過去24時間です（API を1回使います）。\n" +
		"/quota help … この説明を返信します（API を1回使います）。\n" +
		muteHelpJA +
		"先頭に To や返信を付けても、全角の「／quota」でも使えます。\n" +
		"トークンの残りがしきい値（%s）以下になると、アラートが投稿されます。",
	unknown:         "「%s」は知らないコマンドです。使い方は /quota help で表示できます。",
	unknownAny:      "その /quota のコマンドは知りません。使い方は /quota help で表示できます。",
	fleetTitle:      "ChatWork API の残り（トークン %d 個）",
	fleetRow:        "%s: 残り %d / %d 回（%s）、リセット %s（あと%s）",
	fleetFailed:     "%s: 読み取りに失敗しました（%s）",
	fleetFoot:       "⚠ はアラートのしきい値（%s）以下のトークンです。1つのトークンの詳細は /quota ラベル で表示できます。",
	unknownLabel:    "「%s」というトークンはありません。トークン: %s",
	unknownLabelAny: "そのトークンはありません。トークン: %s",
	moreLabels:      "ほか %d 個",
	unavailable:     "今は API の残りを読み取れませんでした。しばらくしてからもう一度お試しください。",
	answerTitle:     "ChatWork API の残り",
	alert:           jaAlert,
	mute:            jaMute,
	chart:           jaChart,
}

var en = phrases{
	title:          "ChatWork API quota (token: %s)",
	remaining:      "Remaining: %d of %d (%s)",
	used:           "Used this window: %d",
	reset:          "Resets at %s (in %s)",
	resetPassed:    "Resets at %s (a new window is starting)",
	lowHour:        "Lowest in the last hour: %s",
	lowDay:         "Lowest in the last 24 hours: %s",
	lowAt:          "%d (%s, at %s)",
	lowFresh:       "%d (%s, this reading only)",
	noHistory:      "The recorded history could not be read, so the lowest figures are unavailable.",
	threshold:      "Alert threshold: %s",
	thresholdCount: "%d remaining",
	thresholdPct:   "%d%% remaining",
	reached:        "⚠ Remaining is at or below the threshold.",
	monitorStale:   "⚠ The monitor's latest sample is %s old (%s). The monitor may have stopped.",
	monitorMissing: "⚠ No monitor sample in the last 24 hours. Check that the monitor is running.",
	duration:       durationEN,
	helpTitle:      "How to use the quota bot",
	help: "/quota: replies with the API calls remaining, the time until the reset, and the lowest remaining over the last hour and 24 hours (uses 2 API calls).\n" +
		"/quota chart [3h|24h|7d]: replies with a chart of the quota over time (the lowest remaining in each 5-minute window), over the last 24 hours unless a period is given (uses 1 API call).\n" +
		"/quota help: replies with this text (uses 1 API call).\n" +
		muteHelpEN +
		"A To or reply tag in front works, and so does the full-width \"／quota\".\n" +
		"An alert is posted when the quota falls to the threshold (%s).",
	helpFleet: "/quota: replies with every token's API calls remaining and the time until its reset, lowest first, in one message (uses 1 API call per token and 1 for the reply).\n" +
		"/quota LABEL: replies with that token's calls remaining, the time until the reset, and the lowest remaining over the last hour and 24 hours (uses 2 API calls). The label's case does not matter.\n" +
		"/quota chart [LABEL] [3h|24h|7d]: replies with a chart of the quota over time (the lowest remaining in each 5-minute window), of every token (the 10 lowest) unless a label is given, over the last 24 hours unless a period is given (uses 1 API call).\n" +
		"/quota help: replies with this text (uses 1 API call).\n" +
		muteHelpEN +
		"A To or reply tag in front works, and so does the full-width \"／quota\".\n" +
		"An alert is posted when a token's quota falls to the threshold (%s).",
	unknown:         "\"%s\" is not a command I know. /quota help shows how to use me.",
	unknownAny:      "That is not a /quota command I know. /quota help shows how to use me.",
	fleetTitle:      "ChatWork API quota (%d tokens)",
	fleetRow:        "%s: %d of %d (%s), resets at %s (in %s)",
	fleetFailed:     "%s: the reading failed (%s)",
	fleetFoot:       "⚠ marks the tokens at or under the alert threshold (%s). /quota LABEL shows one token in detail.",
	unknownLabel:    "There is no token \"%s\". Tokens: %s",
	unknownLabelAny: "There is no such token. Tokens: %s",
	moreLabels:      "and %d more",
	unavailable:     "The API quota could not be read just now. Please try again in a little while.",
	answerTitle:     "ChatWork API quota",
	alert:           enAlert,
	mute:            enMute,
	chart:           enChart,
}

// renderAnswer renders the answer to /quota.
func renderAnswer(p *phrases, v quotaView) string {
	q := v.Quota
	lines := []string{
		fmt.Sprintf(p.remaining, q.Remaining, q.Limit, percent(q.Remaining, q.Limit)),
		fmt.Sprintf(p.used, q.Used()),
		resetText(p, q.Reset, v.Now, v.Loc),
	}
	if v.History {
		lines = append(lines,
			fmt.Sprintf(p.lowHour, renderLow(p, v.Hour, v.Now, v.Loc)),
			fmt.Sprintf(p.lowDay, renderLow(p, v.Day, v.Now, v.Loc)),
		)
	} else {
		lines = append(lines, p.noHistory)
	}
	lines = append(lines, fmt.Sprintf(p.threshold, thresholdValue(p, v.Threshold)))
	var warnings []string
	if v.Threshold.reached(q) {
		warnings = append(warnings, p.reached)
	}
	switch v.Monitor {
	case monitorStale:
		age := v.Now.Sub(v.MonitorAt).Truncate(time.Second)
		warnings = append(warnings, fmt.Sprintf(p.monitorStale, p.duration(age), clock(v.MonitorAt, v.Now, v.Loc)))
	case monitorMissing:
		warnings = append(warnings, p.monitorMissing)
	}
	if len(warnings) > 0 {
		lines = append(lines, "[hr]"+strings.Join(warnings, "\n"))
	}
	return info(v.To, fmt.Sprintf(p.title, v.Label), strings.Join(lines, "\n"))
}

// renderHelp renders the answer to /quota help; fleet explains /quota and
// /quota LABEL for a deployment of several tokens.
func renderHelp(p *phrases, to replyTo, t threshold, fleet bool) string {
	if fleet {
		return info(to, p.helpTitle, fmt.Sprintf(p.helpFleet, thresholdValue(p, t)))
	}
	return info(to, p.helpTitle, fmt.Sprintf(p.help, thresholdValue(p, t)))
}

// renderFleet renders the answer to /quota for every token.
func renderFleet(p *phrases, v fleetView) string {
	lines := make([]string, 0, len(v.Rows)+1)
	for _, r := range v.Rows {
		q := r.Quota
		line := fmt.Sprintf(p.fleetRow, r.Label, q.Remaining, q.Limit, percent(q.Remaining, q.Limit),
			clock(q.Reset, v.Now, v.Loc), p.duration(max(q.Reset.Sub(v.Now).Truncate(time.Second), 0)))
		switch {
		case r.Kind != "":
			line = "✖ " + fmt.Sprintf(p.fleetFailed, r.Label, strings.ReplaceAll(r.Kind, "_", " "))
		case v.Threshold.reached(q):
			line = "⚠ " + line
		}
		lines = append(lines, line)
	}
	lines = append(lines, "[hr]"+fmt.Sprintf(p.fleetFoot, thresholdValue(p, v.Threshold)))
	return info(v.To, fmt.Sprintf(p.fleetTitle, len(v.Rows)), strings.Join(lines, "\n"))
}

// maxLabels is how many labels the reply to an unknown label names.
const maxLabels = 20

// renderUnknownLabel renders the reply to /quota with a word that labels
// no token: the labels there are, at most maxLabels of them.
func renderUnknownLabel(p *phrases, to replyTo, arg string, labels []string) string {
	list := labelList(p, labels)
	if arg == "" {
		return to.prefix() + fmt.Sprintf(p.unknownLabelAny, list)
	}
	return to.prefix() + fmt.Sprintf(p.unknownLabel, arg, list)
}

// renderUnknown renders the hint for /quota with an unknown subcommand.
func renderUnknown(p *phrases, to replyTo, arg string) string {
	if arg == "" {
		return to.prefix() + p.unknownAny
	}
	return to.prefix() + fmt.Sprintf(p.unknown, "/quota "+arg)
}

// renderUnavailable renders the answer when the quota could not be read. It
// says nothing about why: internal errors stay in the logs.
func renderUnavailable(p *phrases, to replyTo) string {
	return info(to, p.answerTitle, p.unavailable)
}

func info(to replyTo, title, body string) string {
	return to.prefix() + "[info][title]" + title + "[/title]" + body + "[/info]"
}

// thresholdValue is the threshold as a phrase: "残り 30 回", "10% remaining".
func thresholdValue(p *phrases, t threshold) string {
	if t.Percent {
		return fmt.Sprintf(p.thresholdPct, t.Value)
	}
	return fmt.Sprintf(p.thresholdCount, t.Value)
}

func renderLow(p *phrases, l low, now time.Time, loc *time.Location) string {
	pct := percent(l.Remaining, l.Limit)
	if l.FreshOnly {
		return fmt.Sprintf(p.lowFresh, l.Remaining, pct)
	}
	return fmt.Sprintf(p.lowAt, l.Remaining, pct, clock(l.At, now, loc))
}

func percent(n, total int) string { return sample.Percent(n, total) }

// clock formats t in loc: the time of day with the zone, and the date too
// when t falls on another day than now.
func clock(t, now time.Time, loc *time.Location) string {
	t, now = t.In(loc), now.In(loc)
	if t.YearDay() != now.YearDay() || t.Year() != now.Year() {
		return t.Format("01-02 15:04:05 MST")
	}
	return t.Format("15:04:05 MST")
}

var (
	durationJA = durationIn("時間", "分", "秒")
	durationEN = durationIn("h", "m", "s")
)

// durationIn formats whole seconds with the given units: "1h5m", "5m",
// "5m30s", "30s".
func durationIn(hUnit, mUnit, sUnit string) func(time.Duration) string {
	return func(d time.Duration) string {
		total := int(d / time.Second)
		h, m, s := total/3600, total%3600/60, total%60
		switch {
		case h > 0:
			return fmt.Sprintf("%d%s%d%s", h, hUnit, m, mUnit)
		case m > 0 && s == 0:
			return fmt.Sprintf("%d%s", m, mUnit)
		case m > 0:
			return fmt.Sprintf("%d%s%d%s", m, mUnit, s, sUnit)
		}
		return fmt.Sprintf("%d%s", s, sUnit)
	}
}
