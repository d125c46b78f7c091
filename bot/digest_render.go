package bot

import (
	"fmt"
	"strings"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/alarm"
	"github.com/quotabot/chatwork-quota-bot/internal/state"
)

// figuresStatus is what became of the tokens' figures.
type figuresStatus int

const (
	figuresDrawn    figuresStatus = iota // the figures, and the chart drawn from them
	figuresNoChart                       // the figures, but no chart
	figuresNoSource                      // no chart source is configured
	figuresFailed                        // the source failed
)

// failuresStatus is whether the failing tokens are known.
type failuresStatus int

const (
	failuresKnown   failuresStatus = iota
	failuresUnnamed                // the token-errors alarm is not configured by name
	failuresUnknown                // the state could not tell
)

// digestView is everything the digest says.
type digestView struct {
	Day       time.Time // the day's start in Loc
	Loc       *time.Location
	Threshold threshold
	Figures   figuresStatus
	Tokens    []tokenDay // lowest first
	Drawn     int        // the tokens the chart draws
	Failures  failuresStatus
	Failed    []failure // by label
	// AlarmsKnown is false when the state could not list the day's alarm
	// messages.
	AlarmsKnown bool
	Alarms      []alarmDone // in the order they were
}

// digestPhrases are one language's wording of the digest; format verbs per
// field.
type digestPhrases struct {
	date      func(time.Time) string // the day, with its weekday
	title     string                 // %s date, %s time zone
	intro     string                 // %s threshold text
	row       string                 // %s label, %d windows, %d at or under, %d dry, %s lowest, %s time, %s hour from, %s hour to, %s average
	rowNone   string                 // %s label
	more      string                 // %d tokens not listed
	drawn     string                 // %d tokens drawn
	noSource  string
	failed    string
	noChart   string
	failTitle string
	failUntil string // %s label, %s kind, %s since, %s until
	failStill string // %s label, %s kind, %s since
	failNone  string
	unnamed   string
	unknown   string
	alarms    string // %d posted, %d held back
	alarmRow  string // %s time (and token), %s what, %s outcome
	alarmNone string
	alarmsOff string
	moreRows  string // %d more
	posted    string
	muted     string
	unmuted   string
	what      map[alarmKind]map[string]string // by the alarm's kind and state
	other     string                          // %s alarm name, %s state
}

var jaDigest = digestPhrases{
	date: func(t time.Time) string {
		return t.Format(time.DateOnly) + "（" + string([]rune("日月火水木金土")[t.Weekday()]) + "）"
	},
	title: "%sの ChatWork API の残りの日報（時刻は %s）",
	intro: "トークンごとに、残りの最小値の低い順です: 5分ごとの枠の数、そのうちアラートのしきい値（%s）以下だった枠と残りが 0 になった枠、" +
		"最小値とその時刻、いちばん使われた時間帯（枠ごとの最小値の平均がいちばん低かった1時間）。",
	row:       "%s: 枠 %d、しきい値以下 %d、0 になった枠 %d。最小値 %s（%s）。いちばん使われた時間帯 %s〜%s（平均 %s）",
	rowNone:   "%s: 記録された枠はありません",
	more:      "ほか %d 個のトークン",
	drawn:     "グラフには最小値の低い %d 個のトークンを描いています。",
	noSource:  "この環境はトークンごとの数字（CloudWatch のメトリクス）を読まないため、枠の数字とグラフはありません。",
	failed:    "今はトークンごとの数字を読み取れなかったため、枠の数字とグラフはありません。",
	noChart:   "グラフを作れなかったため、数字のみです。",
	failTitle: "失敗したトークン:",
	failUntil: "%s: %s（%s から %s まで）",
	failStill: "%s: %s（%s から、この日の終わりにも失敗中）",
	failNone:  "失敗したトークンはありません。",
	unnamed:   "トークンのエラーのアラームが設定されていないため、失敗したトークンはわかりません。",
	unknown:   "状態を読み取れなかったため、失敗したトークンはわかりません。",
	alarms:    "アラームのメッセージ: 投稿 %d 件、ミュートで保留 %d 件",
	alarmRow:  "%s: %s（%s）",
	alarmNone: "投稿したアラームのメッセージも、ミュートで保留したものもありません。",
	alarmsOff: "状態を読み取れなかったため、アラームのメッセージはわかりません。",
	moreRows:  "ほか %d 件",
	posted:    "投稿",
	muted:     "ミュートで保留",
	unmuted:   "ミュートの終了後に投稿",
	what: map[alarmKind]map[string]string{
		kindQuota:     {alarm.StateAlarm: "残りわずかのアラート", alarm.StateOK: "回復", alarm.StateInsufficient: "監視の停止"},
		kindPace:      {alarm.StateAlarm: "ペースのアラート", alarm.StateOK: "ペースの低下"},
		kindErrors:    {alarm.StateAlarm: "トークンの失敗", alarm.StateOK: "トークンの回復"},
		kindHeartbeat: {alarm.StateAlarm: "監視の停止", alarm.StateOK: "監視の再開"},
	},
	other: "アラーム %s が %s",
}

var enDigest = digestPhrases{
	date:  func(t time.Time) string { return t.Format("Mon 2006-01-02") },
	title: "ChatWork API quota digest: %s (times in %s)",
	intro: "Per token, lowest first: the 5-minute windows seen, how many were at or under the alert threshold (%s) and how many ran dry; " +
		"the lowest point and when; the busiest hour (the hour whose windows' lowest points were lowest on average).",
	row:       "%s: %d windows, %d at or under the threshold, %d ran dry; lowest %s at %s; busiest hour %s-%s (on average %s)",
	rowNone:   "%s: no window recorded",
	more:      "and %d more tokens",
	drawn:     "The chart draws the %d lowest tokens.",
	noSource:  "This deployment reads no per-token figures (CloudWatch's metrics): no window figures and no chart.",
	failed:    "The per-token figures could not be read just now: no window figures and no chart.",
	noChart:   "The chart could not be drawn: the figures only.",
	failTitle: "Tokens that failed:",
	failUntil: "%s: %s (from %s until %s)",
	failStill: "%s: %s (since %s, still failing when the day ended)",
	failNone:  "No token failed.",
	unnamed:   "Failing tokens are not known: the token-errors alarm is not configured.",
	unknown:   "Failing tokens are not known: the state could not be read.",
	alarms:    "Alarm messages: %d posted, %d held back by a mute",
	alarmRow:  "%s: %s (%s)",
	alarmNone: "No alarm message was posted or held back by a mute.",
	alarmsOff: "The alarm messages are not known: the state could not be read.",
	moreRows:  "and %d more",
	posted:    "posted",
	muted:     "held back by a mute",
	unmuted:   "posted when a mute ended",
	what: map[alarmKind]map[string]string{
		kindQuota:     {alarm.StateAlarm: "low-quota alert", alarm.StateOK: "recovery", alarm.StateInsufficient: "monitor silent"},
		kindPace:      {alarm.StateAlarm: "pace alert", alarm.StateOK: "pace came down"},
		kindErrors:    {alarm.StateAlarm: "token failing", alarm.StateOK: "token works again"},
		kindHeartbeat: {alarm.StateAlarm: "monitor stopped", alarm.StateOK: "monitor back"},
	},
	other: "alarm %s in %s",
}

// digestLanguages holds the digest's wording beside each language's
// phrases.
var digestLanguages = map[*phrases]*digestPhrases{&ja: &jaDigest, &en: &enDigest}

// renderDigest renders the digest's message: one info block titled with
// the date, the tokens' figures, the failing tokens and the alarm messages.
func renderDigest(p *phrases, v digestView) string {
	d := digestLanguages[p]
	hm := func(t time.Time) string { return dayClock(t, v.Day, v.Loc) }
	var lines []string
	switch v.Figures {
	case figuresNoSource:
		lines = append(lines, d.noSource)
	case figuresFailed:
		lines = append(lines, d.failed)
	default:
		lines = append(lines, fmt.Sprintf(d.intro, thresholdValue(p, v.Threshold)))
		for _, t := range v.Tokens[:min(len(v.Tokens), maxDigestRows)] {
			if t.Seen == 0 {
				lines = append(lines, fmt.Sprintf(d.rowNone, t.Label))
				continue
			}
			lines = append(lines, fmt.Sprintf(d.row, t.Label, t.Seen, t.Low, t.Dry,
				levelText(p, level{t.Lowest, v.Threshold.Percent}), hm(t.LowestAt),
				hm(t.Busy), fmt.Sprintf("%02d:00", t.Busy.In(v.Loc).Hour()+1), levelText(p, level{t.BusyAvg, v.Threshold.Percent})))
		}
		if n := len(v.Tokens) - maxDigestRows; n > 0 {
			lines = append(lines, fmt.Sprintf(d.more, n))
		}
		switch {
		case v.Figures == figuresNoChart:
			lines = append(lines, d.noChart)
		case v.Drawn < len(v.Tokens):
			lines = append(lines, fmt.Sprintf(d.drawn, v.Drawn))
		}
	}

	fails := []string{d.failTitle}
	switch {
	case v.Failures == failuresUnnamed:
		fails = []string{d.unnamed}
	case v.Failures == failuresUnknown:
		fails = []string{d.unknown}
	case len(v.Failed) == 0:
		fails = []string{d.failNone}
	}
	for _, f := range v.Failed[:min(len(v.Failed), maxDigestRows)] {
		kind := p.alert.kindUnknown
		if f.Kind != "" {
			kind = strings.ReplaceAll(f.Kind, "_", " ")
		}
		if f.Until.IsZero() {
			fails = append(fails, fmt.Sprintf(d.failStill, f.Label, kind, hm(f.Since)))
		} else {
			fails = append(fails, fmt.Sprintf(d.failUntil, f.Label, kind, hm(f.Since), hm(f.Until)))
		}
	}
	if n := len(v.Failed) - maxDigestRows; n > 0 {
		fails = append(fails, fmt.Sprintf(d.moreRows, n))
	}
	lines = append(lines, "[hr]"+strings.Join(fails, "\n"))

	var alarms []string
	switch {
	case !v.AlarmsKnown:
		alarms = []string{d.alarmsOff}
	case len(v.Alarms) == 0:
		alarms = []string{d.alarmNone}
	default:
		var posted, muted int
		for _, a := range v.Alarms {
			if a.Outcome == state.Muted {
				muted++
			} else {
				posted++
			}
		}
		alarms = []string{fmt.Sprintf(d.alarms, posted, muted)}
		for _, a := range v.Alarms[:min(len(v.Alarms), maxDigestRows)] {
			alarms = append(alarms, renderAlarmDone(d, a, hm(a.At)))
		}
		if n := len(v.Alarms) - maxDigestRows; n > 0 {
			alarms = append(alarms, fmt.Sprintf(d.moreRows, n))
		}
	}
	lines = append(lines, "[hr]"+strings.Join(alarms, "\n"))
	return info(replyTo{}, fmt.Sprintf(d.title, d.date(v.Day), zoneName(v.Loc, v.Day)), strings.Join(lines, "\n"))
}

// renderAlarmDone renders one alarm message of the day: when, the token,
// what it told and what became of it.
func renderAlarmDone(d *digestPhrases, a alarmDone, at string) string {
	what := d.what[a.Kind][a.State]
	if what == "" {
		what = fmt.Sprintf(d.other, plainText(a.Alarm, maxAlarmName), a.State)
	}
	outcome := d.posted
	switch {
	case a.Outcome == state.Muted:
		outcome = d.muted
	case a.Unmuted:
		outcome = d.unmuted
	}
	if a.Label != "" {
		at += " " + a.Label
	}
	return fmt.Sprintf(d.alarmRow, at, what, outcome)
}

// dayClock is t's time of day in loc ("14:05"), with the date when t
// falls on another day than the one starting at day ("11-23 22:10").
func dayClock(t, day time.Time, loc *time.Location) string {
	t = t.In(loc)
	if s, _ := dayOf(day, loc); t.Before(s) || !t.Before(s.AddDate(0, 0, 1)) {
		return t.Format("01-02 15:04")
	}
	return t.Format("15:04")
}
