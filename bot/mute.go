package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/alarm"
	"github.com/quotabot/chatwork-quota-bot/internal/state"
)

// Mutes: the room silences the quota, pace and token-errors alarms of a token it
// already knows about, or of every token, for 10 minutes to 7 days. The
// transitions held back are recorded as muted; when a mute ends while its
// token is still in ALARM, housekeeping tells the room once.

const (
	minMute = 10 * time.Minute
	maxMute = 7 * 24 * time.Hour
	// allTokens is the word for every token in /quota mute and unmute.
	allTokens = "all"
)

// mutePhrases are one language's wording of mutes; format verbs per field.
type mutePhrases struct {
	every    string // the word for every token
	muted    string // %s what, %s until, %s duration as typed, %s the unmute command
	unmuted  string // %s what
	notMuted string // %s what
	stillAll string // %s until: every token stays muted
	title    string
	row      string // %s what, %s until, %s time left, %s who
	none     string
	usage    string
	unknown  string // %s label, %s labels
	unsafe   string // %s labels
	refused  string // %s who
	failed   string
	resumed  string // first line of an alert held back by a mute that ended
}

var jaMute = mutePhrases{
	every:    "すべてのトークン",
	muted:    "🔇 %s のアラートと回復の投稿を %s まで（%s）止めます。解除するには %s。",
	unmuted:  "🔔 %s のミュートを解除しました。ミュート中に始まったアラートが続いていれば、5分以内に投稿されます。",
	notMuted: "%s はミュートされていません。",
	stillAll: "すべてのトークンのミュートは %s まで続きます（/quota unmute all で解除）。",
	title:    "ミュート",
	row:      "%s: %s まで（あと%s）、設定: %s",
	none:     "ミュートはありません。",
	usage:    "使い方: /quota mute 時間 [ラベル|all]（時間は 10m から 7d まで。例: 30m、2h、1d）、/quota unmute [ラベル|all]、/quota mutes",
	unknown:  "「%s」というトークンはありません。ラベル（%s）か all を指定してください。",
	unsafe:   "そのトークンはありません。ラベル（%s）か all を指定してください。",
	refused:  "ミュートと解除ができるのは次のアカウントだけです: %s",
	failed:   "今はミュートを読み書きできませんでした。しばらくしてからもう一度お試しください。",
	resumed:  "🔔 ミュートが終わりました。ミュート中に始まった次のアラートが続いています。",
}

var enMute = mutePhrases{
	every:    "every token",
	muted:    "🔇 Alerts and recoveries of %s are not posted until %s (%s). To end it: %s.",
	unmuted:  "🔔 Unmuted %s. An alert that began while muted and still holds is posted within 5 minutes.",
	notMuted: "%s is not muted.",
	stillAll: " Every token stays muted until %s (/quota unmute all ends it).",
	title:    "Mutes",
	row:      "%s: until %s (%s left), by %s",
	none:     "Nothing is muted.",
	usage:    "Usage: /quota mute DURATION [LABEL|all] (DURATION from 10m to 7d, such as 30m, 2h, 1d), /quota unmute [LABEL|all], /quota mutes",
	unknown:  "There is no token \"%s\". Give a label (%s) or all.",
	unsafe:   "There is no such token. Give a label (%s) or all.",
	refused:  "Only these accounts may mute and unmute: %s",
	failed:   "Mutes could not be read or saved just now. Please try again in a little while.",
	resumed:  "🔔 A mute has ended, and this alert, which began while it lasted, still holds.",
}

var durationRE = regexp.MustCompile(`^(?:[0-9]{1,4}[mhd]){1,3}$`)
var durationPart = regexp.MustCompile(`([0-9]+)([mhd])`)

// parseMuteDuration reads 30m, 2h, 1d or a sum such as 1h30m, from 10
// minutes to 7 days.
func parseMuteDuration(s string) (time.Duration, bool) {
	s = strings.ToLower(s)
	if !durationRE.MatchString(s) {
		return 0, false
	}
	var d time.Duration
	for _, m := range durationPart.FindAllStringSubmatch(s, -1) {
		n, _ := strconv.Atoi(m[1])
		d += time.Duration(n) * map[string]time.Duration{"m": time.Minute, "h": time.Hour, "d": 24 * time.Hour}[m[2]]
		if d > maxMute {
			return 0, false // checked as it grows: a long sum must not wrap round
		}
	}
	return d, d >= minMute && d <= maxMute
}

// runMute carries out /quota mute, unmute and mutes and returns the reply.
func (b *Bot) runMute(ctx context.Context, cmd command, to replyTo, tokens []Token) string {
	p, now := &b.text.mute, b.cfg.Now()
	if cmd.kind != cmdMutes && len(b.cfg.AdminAccountIDs) > 0 && !slices.Contains(b.cfg.AdminAccountIDs, to.Account) {
		b.log.InfoContext(ctx, "mute refused: not an admin", "account_id", to.Account)
		var who strings.Builder
		for _, id := range b.cfg.AdminAccountIDs {
			fmt.Fprintf(&who, "[piconname:%d]", id)
		}
		return to.prefix() + fmt.Sprintf(p.refused, who.String())
	}
	args := strings.Fields(cmd.args)
	var d time.Duration
	if cmd.kind == cmdMute {
		var ok bool
		if len(args) == 0 {
			return to.prefix() + p.usage
		}
		if d, ok = parseMuteDuration(args[0]); !ok {
			return to.prefix() + p.usage
		}
		args = args[1:]
	}
	if len(args) > 1 {
		return to.prefix() + p.usage
	}
	mutes, err := b.state.Mutes(ctx)
	if err != nil {
		b.log.WarnContext(ctx, "state unavailable: mutes unreadable", "error", err)
		return to.prefix() + p.failed
	}
	var running []state.Mute
	for _, m := range mutes {
		if now.Before(m.Until) {
			running = append(running, m)
		}
	}
	if cmd.kind == cmdMutes {
		return b.renderMutes(to, running, now)
	}
	label, ok := "", true
	if len(args) == 1 && !strings.EqualFold(args[0], allTokens) {
		label, ok = b.labelFor(args[0], tokens, running)
	}
	if !ok {
		labels := labelsOf(tokens)
		if arg := safeArg(args[0]); arg != "" {
			return to.prefix() + fmt.Sprintf(p.unknown, arg, labelList(b.text, labels))
		}
		return to.prefix() + fmt.Sprintf(p.unsafe, labelList(b.text, labels))
	}
	what := label
	if label == "" {
		what = p.every
	}
	if cmd.kind == cmdMute {
		m := state.Mute{Label: label, Until: now.Add(d), By: to.Account, At: now}
		if err := b.state.SetMute(ctx, m, now); err != nil {
			b.log.WarnContext(ctx, "state unavailable: mute not saved", "error", err)
			return to.prefix() + p.failed
		}
		b.log.InfoContext(ctx, "muted", "token", label, "until", m.Until, "by", to.Account)
		unmute := "/quota unmute " + allTokens
		if label != "" {
			unmute = "/quota unmute " + label
		}
		return to.prefix() + fmt.Sprintf(p.muted, what, clock(m.Until, now, b.cfg.Location), strings.ToLower(strings.Fields(cmd.args)[0]), unmute)
	}
	return b.unmute(ctx, to, label, what, running, now)
}

// labelFor finds the token labelled word (case-insensitively): one of the
// deployment's, or one muted that has left it since.
func (b *Bot) labelFor(word string, tokens []Token, running []state.Mute) (string, bool) {
	for _, t := range tokens {
		if strings.EqualFold(t.Label, word) {
			return t.Label, true
		}
	}
	for _, m := range running {
		if m.Label != "" && strings.EqualFold(m.Label, word) {
			return m.Label, true
		}
	}
	return "", false
}

// unmute ends the label's running mute ("": every running mute) by
// setting its end to now; housekeeping then tells the room what it held
// back.
func (b *Bot) unmute(ctx context.Context, to replyTo, label, what string, running []state.Mute, now time.Time) string {
	p := &b.text.mute
	var ended int
	for _, m := range running {
		if label != "" && m.Label != label {
			continue
		}
		m.Until = now
		if err := b.state.SetMute(ctx, m, now); err != nil {
			b.log.WarnContext(ctx, "state unavailable: mute not ended", "error", err)
			return to.prefix() + p.failed
		}
		ended++
	}
	b.log.InfoContext(ctx, "unmuted", "token", label, "mutes", ended, "by", to.Account)
	text := to.prefix() + fmt.Sprintf(p.notMuted, what)
	if ended > 0 {
		text = to.prefix() + fmt.Sprintf(p.unmuted, what)
	}
	// Unmuting one token leaves a mute of every token running: say so, or
	// the room believes it will hear that token again.
	for _, m := range running {
		if label != "" && m.Label == "" {
			text += fmt.Sprintf(p.stillAll, clock(m.Until, now, b.cfg.Location))
		}
	}
	return text
}

// renderMutes lists the running mutes: who muted what, until when.
func (b *Bot) renderMutes(to replyTo, running []state.Mute, now time.Time) string {
	p := &b.text.mute
	if len(running) == 0 {
		return to.prefix() + p.none
	}
	lines := make([]string, len(running))
	for i, m := range running {
		what := m.Label
		if what == "" {
			what = p.every
		}
		left := m.Until.Sub(now).Truncate(time.Second)
		lines[i] = fmt.Sprintf(p.row, what, clock(m.Until, now, b.cfg.Location), b.text.duration(left), fmt.Sprintf("[piconname:%d]", m.By))
	}
	return info(to, p.title, strings.Join(lines, "\n"))
}

// muted reports whether label is muted at now. A state that fails mutes
// nothing: the alert is posted.
func (b *Bot) muted(ctx context.Context, label string, now time.Time) bool {
	mutes, err := b.state.Mutes(ctx)
	if err != nil {
		b.log.WarnContext(ctx, "state unavailable: mutes unknown, posting", "token", label, "error", err)
	}
	return slices.ContainsFunc(mutes, func(m state.Mute) bool { return m.Covers(label, now) })
}

// Housekeeping handles the scheduled payload {"action":"housekeeping"}
// (every 5 minutes): for each mute that has ended, a token it held back
// that is still in ALARM (and no running mute holds) is told to the room,
// once (a token's episode of the quota and pace alarms once), as its alert
// with a first line saying why it comes now; then the ended mutes are
// dropped. A post that fails keeps the mutes for the next
// run, which tries again.
func (b *Bot) Housekeeping(ctx context.Context) error {
	ctx, cancel := withBudget(ctx, ctx, workBudget)
	defer cancel()
	now := b.cfg.Now()
	mutes, err := b.state.Mutes(ctx)
	if err != nil {
		return fmt.Errorf("housekeeping: %w", err)
	}
	var ended, running []state.Mute
	for _, m := range mutes {
		if now.Before(m.Until) {
			running = append(running, m)
		} else {
			ended = append(ended, m)
		}
	}
	if len(ended) == 0 {
		return nil
	}
	lasts, err := b.state.Lasts(ctx)
	if err != nil {
		return fmt.Errorf("housekeeping: %w", err)
	}
	var errs []error
	for _, l := range lasts {
		held := slices.ContainsFunc(ended, func(m state.Mute) bool { return m.Of(l.Token) })
		holds := slices.ContainsFunc(running, func(m state.Mute) bool { return m.Covers(l.Token, now) })
		if l.State == alarm.StateAlarm && l.Muted && !l.Posted && held && !holds {
			errs = append(errs, b.unmuted(ctx, l))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("housekeeping: %w", err)
	}
	for _, m := range ended {
		if err := b.state.DropMute(ctx, m); err != nil {
			b.log.WarnContext(ctx, "state unavailable: ended mute not dropped", "token", m.Label, "error", err)
		}
	}
	return nil
}

// unmuted tells the room of an alarm a mute held back, once (claimed as
// the transition's own "unmuted" key). Of a token's episode (the quota and
// pace alarms) the room hears once: an alarm whose other one the room has
// heard of since joins that episode silently, and the one told makes the
// other, held back too, told.
func (b *Bot) unmuted(ctx context.Context, l state.Last) error {
	var ev alarm.Event
	if err := json.Unmarshal([]byte(l.Event), &ev); err != nil || ev.Detail.AlarmName == "" {
		b.log.ErrorContext(ctx, "muted alarm event unreadable: not posted", "alarm", truncate(l.Alarm, maxAlarmName), "token", l.Token)
		return nil
	}
	kind := b.kindOf(ev)
	attrs := []any{"alarm", truncate(l.Alarm, maxAlarmName), "state", l.State, "token", l.Token, "unmuted", true}
	key := "unmuted|" + ev.Key()
	defer b.lock(key)()
	c, err := b.claim(ctx, key, attrs)
	switch {
	case err != nil:
		return err
	case c.Status == state.Settled:
		return nil
	}
	c.Token = l.Token // kept with the outcome, for the digest
	var other state.Last
	if episodic(kind) {
		release, err := b.lockEpisode(ctx, l.Token, attrs)
		if err != nil {
			b.settle(ctx, c, "", attrs)
			return err
		}
		defer release()
		if other = b.otherSide(ctx, kind, l.Token, attrs); other.State == alarm.StateAlarm && other.Posted {
			b.log.InfoContext(ctx, "alarm held back by a mute joins its token's episode, which the room heard of: not posted", attrs...)
			l.Posted, l.Muted = true, false
			b.setLast(ctx, l, attrs)
			b.settle(ctx, c, outcomeJoined, attrs)
			return nil
		}
	}
	body, err := b.alarmBody(ctx, ev, kind, state.Last{}, nil, attrs)
	outcome := state.Posted
	if err == nil {
		_, err = b.sendAlarm(ctx, ev, kind, b.text.mute.resumed+"\n"+body, attrs)
	}
	if err != nil {
		b.log.WarnContext(ctx, "alarm held back by a mute not posted: the next housekeeping tries again", append(attrs, "error", err)...)
		outcome = ""
	} else {
		b.log.InfoContext(ctx, "alarm held back by a mute posted", attrs...)
		l.Posted, l.Muted = true, false
		b.setLast(ctx, l, attrs)
		if other.State == alarm.StateAlarm && !other.Posted {
			other.Posted, other.Muted = true, false
			b.setLast(ctx, other, attrs)
		}
	}
	b.settle(ctx, c, outcome, attrs)
	return err
}

// settle records the outcome of a claim that unmuted holds; a failure is
// logged.
func (b *Bot) settle(ctx context.Context, c state.Claim, outcome string, attrs []any) {
	if serr := b.state.Settle(ctx, c, outcome, b.cfg.Now()); serr != nil {
		b.log.WarnContext(ctx, "state unavailable: the transition is not settled", append(attrs, "error", serr)...)
	}
}

// labelList names at most maxLabels labels.
func labelList(p *phrases, labels []string) string {
	list := strings.Join(labels[:min(len(labels), maxLabels)], ", ")
	if n := len(labels) - maxLabels; n > 0 {
		list += " " + fmt.Sprintf(p.moreLabels, n)
	}
	return list
}
