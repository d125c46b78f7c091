package bot

import (
	"cmp"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/quotabot/chatwork-quota-bot/internal/alarm"
	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
)

// level is a figure the alarm compares: a count of remaining calls, or a
// percentage of the limit. It is a float because CloudWatch's are.
type level struct {
	Value   float64
	Percent bool
}

// alarmPoint is the alarm's own view: the datapoint that decided the state
// (when the event carries one) and the threshold.
type alarmPoint struct {
	Value     float64
	HasValue  bool
	Period    time.Duration // the alarm's period; 0 when the event does not say
	Threshold level         // Threshold.Percent also tells what Value is
}

// staleness says whether a message's figures were read for it, and if not,
// why.
type staleness int

const (
	staleFresh      staleness = iota // read for this message
	staleSkipped                     // not read: the quota is nearly exhausted
	staleReadFailed                  // the reading failed
)

// alertView is everything the low-quota alert shows.
type alertView struct {
	Mentions  string // first line(s), ending in "\n", or ""
	Label     string
	Now       time.Time
	Loc       *time.Location
	Figures   *chatwork.Quota // nil: only the alarm's datapoint is known
	FiguresAt time.Time       // when Figures were taken
	Stale     staleness
	Point     alarmPoint
	// Pace is the running window's newest record with a projection, when
	// that projection is at or under 0: the quota runs out before the
	// reset too, and the alert says both.
	Pace      *sample.Record
	Dashboard string
}

// paceView is everything the pace alert shows.
type paceView struct {
	Mentions string
	Label    string
	Now      time.Time
	Loc      *time.Location
	// Rec is the running window's newest record with a projection; nil:
	// only the alarm's datapoint is known.
	Rec *sample.Record
	// Threshold is the quota alarm's: Rec's remaining at or under it makes
	// the alert say both.
	Threshold threshold
	Point     alarmPoint // the pace alarm's datapoint and threshold
	Dashboard string
}

// recoveryView is everything the recovery (OK) shows: of the quota, of a
// failing token (Alarm kindErrors) or of the monitor (kindHeartbeat).
type recoveryView struct {
	Label    string
	Now      time.Time
	Loc      *time.Location
	Alarm    alarmKind
	After    string // the previous state
	Initial  bool   // the alarm's first evaluation since it was created
	From, To time.Time
	Point    alarmPoint
	// Figures are the running window's recorded figures shown by the pace
	// alarm's recovery (with the pace when they have a projection); nil:
	// none recorded.
	Figures   *sample.Record
	Dashboard string
}

// silentView is everything "the monitor has stopped reporting" shows.
type silentView struct {
	Label     string
	Now       time.Time
	Loc       *time.Location
	Since     time.Time // when the alarm went to State
	State     string    // INSUFFICIENT_DATA, or ALARM for the heartbeat alarm
	History   bool      // false: the history could not be read
	Monitor   time.Time // newest monitor sample; zero: none in alertLookback
	FailKind  string    // the newest monitor failure's kind, if newer than Monitor
	FailAt    time.Time
	Read      staleness
	Quota     chatwork.Quota // when Read is staleFresh
	Stack     string         // "" when unknown
	Dashboard string
}

// failingView is everything "token X fails" shows.
type failingView struct {
	Mentions  string
	Label     string
	Kind      string // the newest failure's kind; "" when unknown
	Since     time.Time
	Now       time.Time
	Loc       *time.Location
	Dashboard string
}

// otherAlarmView is the plain message for an alarm other than the quota's.
// Every string in it is already safe to post (see plainText).
type otherAlarmView struct {
	Name, State, Previous, Reason string
	Description                   string // the alarm's own: what broke and where to look
	At, Now                       time.Time
	Loc                           *time.Location
}

// alertPhrases are one language's alarm wording; format verbs per field.
type alertPhrases struct {
	alertTitle     string // %s label
	recoveredTitle string // %s label
	backTitle      string // %s label
	armedTitle     string // %s label
	silentTitle    string // %s label
	failingTitle   string // %s label
	worksTitle     string // %s label
	paceTitle      string // %s label
	bothTitle      string // %s label: low, and running out at this pace
	paceDownTitle  string // %s label

	levelCount string // %s count
	levelPct   string // %s percent
	point      string // %s level
	skipped    string
	readFailed string
	fromSample string // %s time
	pointOnly  string
	noFigures  string
	dashboard  string // %s URL

	pace         string // %s calls per minute
	paceAt       string // %s calls per minute, %s time recorded
	projected    string // %s level
	runsOut      string // %s time, %s duration before the reset
	ranOut       string // %s time, %s duration before the reset
	pacePoint    string // %s level, %s period
	paceNoRecord string
	paceDown     string

	recovered string
	lasted    string // %s duration, %s from, %s to
	back      string
	gap       string // %s duration, %s from, %s to
	armed     string

	failing     string // %s label, %s kind, %s time
	kindUnknown string
	works       string // %s label
	monitorBack string

	silentSince    string // %s time, %s state
	monitorLast    string // %s time, %s age
	monitorNone    string
	monitorUnknown string
	monitorFailing string // %s kind, %s time
	readNow        string // %d remaining, %d limit, %s percent, %s reset
	readNowFailed  string
	readNowSkipped string
	checkLogs      string // %s stack name
	stackUnknown   string

	other       string // %s name, %s state, %s previous state
	otherNoPrev string // %s name, %s state
	reason      string // %s reason
	at          string // %s time
}

var jaAlert = alertPhrases{
	alertTitle:     "⚠ ChatWork API の残りが少なくなっています（トークン: %s）",
	recoveredTitle: "✅ ChatWork API の残りが回復しました（トークン: %s）",
	backTitle:      "✅ 監視が再開しました（トークン: %s）",
	armedTitle:     "✅ 残りの監視を始めました（トークン: %s）",
	silentTitle:    "⚠ 監視が止まっています（トークン: %s）",
	failingTitle:   "⚠ ChatWork API トークンの読み取りが失敗しています（トークン: %s）",
	worksTitle:     "✅ ChatWork API トークンが再び使えます（トークン: %s）",
	paceTitle:      "⚠ このペースでは ChatWork API の残りがリセット前になくなります（トークン: %s）",
	bothTitle:      "⚠ ChatWork API の残りが少なく、このペースではリセット前になくなります（トークン: %s）",
	paceDownTitle:  "✅ ChatWork API の使用ペースが下がりました（トークン: %s）",

	levelCount: "残り %s 回",
	levelPct:   "残り %s%%",
	point:      "アラームの判定値: %s（%s間の最小値）",
	skipped:    "残りがほとんどないため、今回は読み取りに API を使っていません。",
	readFailed: "今は API の残りを読み取れませんでした。",
	fromSample: "上の残りは %s の記録です。",
	pointOnly:  "上限とリセット時刻は分かりません。数値はアラームの判定値だけです。",
	noFigures:  "残りの数値は分かりません。",
	dashboard:  "ダッシュボード: %s",

	pace:         "使用ペース: 毎分 %s 回",
	paceAt:       "使用ペース: 毎分 %s 回（%s の記録）",
	projected:    "このペースでのリセット時の見込み: %s",
	runsOut:      "このペースでは %s ごろ、リセットの%s前に残りがなくなります。",
	ranOut:       "このペースでは %s ごろ、リセットの%s前に残りがなくなりました。",
	pacePoint:    "アラームの判定値: リセット時の見込み %s（%s間の最小値）",
	paceNoRecord: "実行中の枠のペースを示す記録がないため、数値はアラームの判定値だけです。",
	paceDown:     "使用ペースが下がり、このペースならリセットまで残りがもちます。",

	recovered: "残りはしきい値を上回っています。",
	lasted:    "アラートの継続時間: %s（%s〜%s）",
	back:      "監視の記録が再び届いています。残りはしきい値を上回っています。",
	gap:       "記録が途絶えていた時間: %s（%s〜%s）",
	armed:     "監視の記録が届き、アラームが動き始めました。残りはしきい値を上回っています。",

	failing:     "トークン %s の読み取りが失敗しています: %s（%s から）",
	kindUnknown: "不明なエラー",
	works:       "トークン %s の読み取りが再び成功しています。",
	monitorBack: "監視が再び一巡ごとの記録を届けています。",

	silentSince:    "%s から、アラームに監視の記録が届いていません（%s）。",
	monitorLast:    "監視の最新の記録: %s（%s前）",
	monitorNone:    "過去24時間に監視の記録がありません。",
	monitorUnknown: "記録を読めなかったため、監視の最新の記録は分かりません。",
	monitorFailing: "監視は動いていますが、最新の読み取りは失敗しています（%s、%s）。",
	readNow:        "ChatWork は応答しています（今の読み取り）: 残り %d / %d 回（%s）、リセット %s",
	readNowFailed:  "今は ChatWork から残りを読み取れませんでした。",
	readNowSkipped: "残りがほとんどない記録があるため、今回は読み取りに API を使っていません。",
	checkLogs:      "監視のログを確認してください: [code]sam logs -n MonitorFunction --stack-name %s[/code]",
	stackUnknown:   "<スタック名>",

	other:       "CloudWatch アラーム「%s」が %s になりました（前の状態: %s）。",
	otherNoPrev: "CloudWatch アラーム「%s」が %s になりました。",
	reason:      "理由: %s",
	at:          "時刻: %s",
}

var enAlert = alertPhrases{
	alertTitle:     "⚠ ChatWork API quota is running low (token: %s)",
	recoveredTitle: "✅ ChatWork API quota has recovered (token: %s)",
	backTitle:      "✅ The monitor is reporting again (token: %s)",
	armedTitle:     "✅ The quota alarm is watching (token: %s)",
	silentTitle:    "⚠ The monitor has stopped reporting (token: %s)",
	failingTitle:   "⚠ A ChatWork API token fails (token: %s)",
	worksTitle:     "✅ A ChatWork API token works again (token: %s)",
	paceTitle:      "⚠ At this pace ChatWork API quota runs out before the reset (token: %s)",
	bothTitle:      "⚠ ChatWork API quota is running low and, at this pace, runs out before the reset (token: %s)",
	paceDownTitle:  "✅ The pace of ChatWork API use has come down (token: %s)",

	levelCount: "%s remaining",
	levelPct:   "%s%% remaining",
	point:      "The alarm's datapoint: %s (the lowest in %s)",
	skipped:    "The quota is nearly exhausted, so no call was spent on a fresh reading.",
	readFailed: "The quota could not be read just now.",
	fromSample: "The figures above were recorded at %s.",
	pointOnly:  "The limit and the reset time are unknown: the only figure is the alarm's datapoint.",
	noFigures:  "No figures are available.",
	dashboard:  "Dashboard: %s",

	pace:         "Pace of use: %s calls per minute",
	paceAt:       "Pace of use: %s calls per minute (recorded at %s)",
	projected:    "Expected at the reset at this pace: %s",
	runsOut:      "At this pace it runs out at about %s, %s before the reset.",
	ranOut:       "At this pace it ran out at about %s, %s before the reset.",
	pacePoint:    "The alarm's datapoint: %s expected at the reset (the lowest in %s)",
	paceNoRecord: "No record of the running window shows the pace: the only figure is the alarm's datapoint.",
	paceDown:     "The pace of use has come down: at this pace the quota lasts until the reset.",

	recovered: "Remaining is above the threshold again.",
	lasted:    "The alert lasted %s (%s to %s).",
	back:      "The monitor's samples are arriving again, and remaining is above the threshold.",
	gap:       "Samples were missing for %s (%s to %s).",
	armed:     "The monitor's samples have arrived and the alarm is watching them. Remaining is above the threshold.",

	failing:     "Token %s fails: %s (since %s).",
	kindUnknown: "unknown error",
	works:       "Token %s works again.",
	monitorBack: "The monitor is completing its rounds again.",

	silentSince:    "Since %s the alarm has had no samples from the monitor (%s).",
	monitorLast:    "Latest monitor sample: %s (%s ago)",
	monitorNone:    "No monitor sample in the last 24 hours.",
	monitorUnknown: "The recorded history could not be read, so the latest monitor sample is unknown.",
	monitorFailing: "The monitor is running, but its latest reading failed (%s, at %s).",
	readNow:        "ChatWork answers (read just now): %d of %d remaining (%s), resets at %s",
	readNowFailed:  "ChatWork could not be read just now.",
	readNowSkipped: "A recent record shows the quota nearly exhausted, so no call was spent on a reading.",
	checkLogs:      "Check the monitor's logs: [code]sam logs -n MonitorFunction --stack-name %s[/code]",
	stackUnknown:   "<stack-name>",

	other:       "CloudWatch alarm \"%s\" is now %s (was %s).",
	otherNoPrev: "CloudWatch alarm \"%s\" is now %s.",
	reason:      "Reason: %s",
	at:          "Time: %s",
}

// renderAlert renders the low-quota alert: mentions first, then one info
// block. With a pace running out before the reset, it says that too.
func renderAlert(p *phrases, v alertView) string {
	a := &p.alert
	title := a.alertTitle
	var lines []string
	if q := v.Figures; q != nil {
		lines = append(lines,
			fmt.Sprintf(p.remaining, q.Remaining, q.Limit, percent(q.Remaining, q.Limit)),
			fmt.Sprintf(p.used, q.Used()),
			resetText(p, q.Reset, v.Now, v.Loc),
		)
	}
	if v.Pace != nil {
		title = a.bothTitle
		lines = append(lines, paceLines(p, *v.Pace, true, v.Now, v.Loc)...)
	}
	lines = append(lines, pointLines(p, v.Point)...)
	if v.Stale != staleFresh {
		why := a.skipped
		if v.Stale == staleReadFailed {
			why = a.readFailed
		}
		source := a.noFigures
		switch {
		case v.Figures != nil:
			source = fmt.Sprintf(a.fromSample, clock(v.FiguresAt, v.Now, v.Loc))
		case v.Point.HasValue:
			source = a.pointOnly
		}
		lines = append(lines, why, source)
	}
	lines = appendDashboard(p, lines, v.Dashboard)
	return v.Mentions + info(replyTo{}, fmt.Sprintf(title, v.Label), strings.Join(lines, "\n"))
}

// renderPace renders the pace alert: mentions first, then one info block
// with the recorded figures, or the alarm's datapoint alone.
func renderPace(p *phrases, v paceView) string {
	a := &p.alert
	title := a.paceTitle
	var lines []string
	switch r := v.Rec; {
	case r != nil:
		q := quotaOf(*r)
		lines = append(lines, fmt.Sprintf(p.remaining, q.Remaining, q.Limit, percent(q.Remaining, q.Limit)), resetText(p, q.Reset, v.Now, v.Loc))
		lines = append(lines, paceLines(p, *r, false, v.Now, v.Loc)...)
		if v.Threshold.reached(q) {
			title = a.bothTitle
			lines = append(lines, p.reached, fmt.Sprintf(p.threshold, thresholdValue(p, v.Threshold)))
		}
		lines = append(lines, fmt.Sprintf(a.fromSample, clock(r.Time, v.Now, v.Loc)))
	case v.Point.HasValue:
		lines = append(lines, pacePointLine(p, v.Point), a.paceNoRecord)
	default:
		lines = append(lines, a.noFigures)
	}
	lines = appendDashboard(p, lines, v.Dashboard)
	return v.Mentions + info(replyTo{}, fmt.Sprintf(title, v.Label), strings.Join(lines, "\n"))
}

// paceLines are what r's projection says: the pace of use (with when r was
// recorded, if at), the remaining expected at the reset, and about when the
// quota runs out when that is before the reset.
func paceLines(p *phrases, r sample.Record, at bool, now time.Time, loc *time.Location) []string {
	a := &p.alert
	pace := strconv.FormatFloat(r.Pace, 'f', -1, 64)
	line := fmt.Sprintf(a.pace, pace)
	if at {
		line = fmt.Sprintf(a.paceAt, pace, clock(r.Time, now, loc))
	}
	lines := []string{line, fmt.Sprintf(a.projected, levelText(p, level{Value: float64(r.Projected)}))}
	// A run-out within the reset's last second is the reset: the expected
	// 0 at the reset above says it.
	if out, ok := r.RunsOut(); ok && r.ResetTime().Sub(out) >= time.Second {
		format := a.runsOut
		if out.Before(now) {
			format = a.ranOut
		}
		lines = append(lines, fmt.Sprintf(format, clock(out, now, loc), p.duration(r.ResetTime().Sub(out).Truncate(time.Second))))
	}
	return lines
}

// pacePointLine is the pace alarm's datapoint: the projected remaining.
func pacePointLine(p *phrases, pt alarmPoint) string {
	return fmt.Sprintf(p.alert.pacePoint, levelText(p, level{pt.Value, pt.Threshold.Percent}), p.duration(cmp.Or(pt.Period, alarm.PaceShape.Period)))
}

// renderRecovery renders the OK message. How long the previous state lasted
// is shown when both of its ends are known.
func renderRecovery(p *phrases, v recoveryView) string {
	a := &p.alert
	span := func(format string) []string {
		if v.From.IsZero() || !v.To.After(v.From) {
			return nil
		}
		d := v.To.Sub(v.From).Truncate(time.Second)
		return []string{fmt.Sprintf(format, p.duration(d), clock(v.From, v.Now, v.Loc), clock(v.To, v.Now, v.Loc))}
	}
	title, lines := a.recoveredTitle, []string{a.recovered}
	switch {
	case v.Alarm == kindPace:
		title, lines = a.paceDownTitle, append([]string{a.paceDown}, span(a.lasted)...)
		lines = append(lines, paceFigures(p, v)...)
	case v.Alarm == kindErrors:
		title, lines = a.worksTitle, append([]string{fmt.Sprintf(a.works, v.Label)}, span(a.lasted)...)
	case v.Alarm == kindHeartbeat:
		title, lines = a.backTitle, append([]string{a.monitorBack}, span(a.gap)...)
	case v.After == alarm.StateAlarm:
		lines = append(lines, span(a.lasted)...)
	case v.After == alarm.StateInsufficient && v.Initial:
		title, lines = a.armedTitle, []string{a.armed}
	case v.After == alarm.StateInsufficient:
		title, lines = a.backTitle, append([]string{a.back}, span(a.gap)...)
	}
	if v.Alarm == kindQuota {
		lines = append(lines, pointLines(p, v.Point)...)
	}
	lines = appendDashboard(p, lines, v.Dashboard)
	return info(replyTo{}, fmt.Sprintf(title, v.Label), strings.Join(lines, "\n"))
}

// paceFigures are the pace recovery's figures: the recorded ones, else
// the alarm's datapoint.
func paceFigures(p *phrases, v recoveryView) []string {
	r := v.Figures
	if r == nil {
		if v.Point.HasValue {
			return []string{pacePointLine(p, v.Point)}
		}
		return nil
	}
	q := quotaOf(*r)
	lines := []string{fmt.Sprintf(p.remaining, q.Remaining, q.Limit, percent(q.Remaining, q.Limit)), resetText(p, q.Reset, v.Now, v.Loc)}
	if r.HasProjection {
		lines = append(lines, paceLines(p, *r, false, v.Now, v.Loc)...)
	}
	return append(lines, fmt.Sprintf(p.alert.fromSample, clock(r.Time, v.Now, v.Loc)))
}

// renderFailing renders "token X fails: <kind> since <time>": mentions
// first, then one info block.
func renderFailing(p *phrases, v failingView) string {
	a := &p.alert
	kind := a.kindUnknown
	if v.Kind != "" {
		kind = strings.ReplaceAll(v.Kind, "_", " ")
	}
	lines := appendDashboard(p, []string{fmt.Sprintf(a.failing, v.Label, kind, clock(v.Since, v.Now, v.Loc))}, v.Dashboard)
	return v.Mentions + info(replyTo{}, fmt.Sprintf(a.failingTitle, v.Label), strings.Join(lines, "\n"))
}

// renderSilent renders "the monitor has stopped reporting".
func renderSilent(p *phrases, v silentView) string {
	a := &p.alert
	lines := []string{fmt.Sprintf(a.silentSince, clock(v.Since, v.Now, v.Loc), v.State)}
	switch {
	case !v.History:
		lines = append(lines, a.monitorUnknown)
	case v.Monitor.IsZero():
		lines = append(lines, a.monitorNone)
	default:
		age := v.Now.Sub(v.Monitor).Truncate(time.Second)
		lines = append(lines, fmt.Sprintf(a.monitorLast, clock(v.Monitor, v.Now, v.Loc), p.duration(age)))
	}
	if v.FailKind != "" {
		lines = append(lines, fmt.Sprintf(a.monitorFailing, v.FailKind, clock(v.FailAt, v.Now, v.Loc)))
	}
	switch v.Read {
	case staleFresh:
		q := v.Quota
		lines = append(lines, fmt.Sprintf(a.readNow, q.Remaining, q.Limit, percent(q.Remaining, q.Limit), clock(q.Reset, v.Now, v.Loc)))
	case staleSkipped:
		lines = append(lines, a.readNowSkipped)
	default:
		lines = append(lines, a.readNowFailed)
	}
	lines = append(lines, fmt.Sprintf(a.checkLogs, cmp.Or(v.Stack, a.stackUnknown)))
	lines = appendDashboard(p, lines, v.Dashboard)
	return info(replyTo{}, fmt.Sprintf(a.silentTitle, v.Label), strings.Join(lines, "\n"))
}

// renderOtherAlarm renders the plain message for another alarm: no info
// block and no mentions, since the bot knows nothing of its urgency.
func renderOtherAlarm(p *phrases, v otherAlarmView) string {
	a := &p.alert
	first := fmt.Sprintf(a.other, v.Name, v.State, v.Previous)
	if v.Previous == "" {
		first = fmt.Sprintf(a.otherNoPrev, v.Name, v.State)
	}
	lines := []string{first}
	if v.Description != "" {
		lines = append(lines, v.Description)
	}
	if v.Reason != "" {
		lines = append(lines, fmt.Sprintf(a.reason, v.Reason))
	}
	lines = append(lines, fmt.Sprintf(a.at, clock(v.At, v.Now, v.Loc)))
	return strings.Join(lines, "\n")
}

// pointLines are the alarm's datapoint, when known, and its threshold.
func pointLines(p *phrases, pt alarmPoint) []string {
	var lines []string
	if pt.HasValue {
		period := pt.Period
		if period <= 0 {
			period = alarm.QuotaShape.Period // the event named none: the template's
		}
		lines = append(lines, fmt.Sprintf(p.alert.point, levelText(p, level{pt.Value, pt.Threshold.Percent}), p.duration(period)))
	}
	return append(lines, fmt.Sprintf(p.threshold, levelText(p, pt.Threshold)))
}

func appendDashboard(p *phrases, lines []string, url string) []string {
	if url == "" {
		return lines
	}
	return append(lines, "[hr]"+fmt.Sprintf(p.alert.dashboard, url))
}

// resetText is the reset time and how long until it.
func resetText(p *phrases, reset, now time.Time, loc *time.Location) string {
	at := clock(reset, now, loc)
	if until := reset.Sub(now).Truncate(time.Second); until > 0 {
		return fmt.Sprintf(p.reset, at, p.duration(until))
	}
	return fmt.Sprintf(p.resetPassed, at)
}

// levelText is a count or a percentage as a phrase: "残り 60 回", "20% remaining".
func levelText(p *phrases, l level) string {
	n := strconv.FormatFloat(math.Round(l.Value*10)/10, 'f', -1, 64)
	if l.Percent {
		return fmt.Sprintf(p.alert.levelPct, n)
	}
	return fmt.Sprintf(p.alert.levelCount, n)
}

// plainText makes text from outside (another alarm's name or CloudWatch's
// reason) safe to post: square brackets become their full-width forms, so
// nothing in it reads as ChatWork notation ([toall], [To:1], a stray
// [/info]); control characters become spaces, so it stays on its line;
// and it is cut to limit characters.
func plainText(s string, limit int) string {
	s = strings.ToValidUTF8(s, string(utf8.RuneError))
	var sb strings.Builder
	n := 0
	for _, r := range s {
		if n == limit {
			sb.WriteString("…")
			break
		}
		switch {
		case r == '[':
			r = '［'
		case r == ']':
			r = '］'
		case unicode.IsControl(r), r == '\u2028', r == '\u2029':
			r = ' '
		}
		sb.WriteRune(r)
		n++
	}
	return strings.TrimSpace(sb.String())
}
