package bot

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/alarm"
	"github.com/quotabot/chatwork-quota-bot/internal/chart"
	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/state"
)

// The morning digest: once a day, one message with one chart (a single
// upload) telling the room how a calendar day went, per token.

const (
	// digestFiguresTimeout bounds what the digest gathers (the low points,
	// the state, the failing tokens' records): past it the digest goes out
	// with what it has, and says what it lacks.
	digestFiguresTimeout = 10 * time.Second
	// digestSettleSlack: a transition of the day's last minutes is settled
	// a little after midnight; the day's failures look this far past it.
	digestSettleSlack = time.Hour
	// maxDigestRows bounds the tokens, the failing tokens and the alarm
	// messages the digest lists one by one; the rest are counted.
	maxDigestRows = 20
)

// Digest posts into Config.RoomID the digest of the calendar day (in
// Config.Location) that contains day, as one upload: a chart of every
// token's low points over the day (the chart.MaxLines lowest) with the
// message that tells, per token, the windows seen, those at or under the
// threshold and those that ran dry, the lowest point and the busiest hour;
// the tokens that failed during the day and since when; and the alarm
// messages posted and muted during the day. The message carries the date.
// Without Deps.Charts, or when the chart cannot be drawn, the message is
// posted as text, saying which figures it lacks.
//
// The day is claimed in the state ("digest|YYYY-MM-DD") before posting, so
// that a schedule firing twice, or two instances, post it once. When the
// state is unavailable it is posted anyway: the date in it makes a repeat
// visible. The error is non-nil when nothing was posted (the claim is then
// released, and Lambda's retry posts it) or another instance holds the
// day's claim without having posted it yet.
func (b *Bot) Digest(ctx context.Context, day time.Time) error {
	start, end := dayOf(day, b.cfg.Location)
	key := digestKey(start)
	attrs := []any{"digest", start.Format(time.DateOnly), "room_id", b.cfg.RoomID}
	defer b.lock(key)()
	ctx, cancel := withBudget(ctx, ctx, workBudget)
	defer cancel()
	c, err := b.take(ctx, key)
	switch {
	case err != nil:
		b.log.WarnContext(ctx, "state unavailable: posting the digest anyway, its date shows a repeat", append(attrs, "error", err)...)
		c = state.Claim{Key: key}
	case c.Status == state.Held:
		b.log.WarnContext(ctx, "another instance holds this digest and has not posted it: left to a retry", attrs...)
		return errors.New("digest not posted: another instance claimed it and has not posted it (a retry posts it once the claim expires)")
	case c.Status == state.Settled:
		b.log.InfoContext(ctx, "digest already posted", append(attrs, "outcome", c.Outcome)...)
		return nil
	}
	// The post keeps two state writes' time: the claim settled after it.
	pctx, pcancel := shorten(ctx, 2*stateTimeout)
	defer pcancel()
	err = b.postDigest(pctx, start, end, attrs)
	outcome := state.Posted
	if err != nil {
		outcome = ""
	}
	if serr := b.state.Settle(ctx, c, outcome, b.cfg.Now()); serr != nil {
		b.log.WarnContext(ctx, "state unavailable: the digest is not settled, a retry may post it again", append(attrs, "outcome", outcome, "error", serr)...)
	}
	return err
}

// DigestYesterday posts the digest of the day before today (by
// Config.Now, in Config.Location): the morning schedule's.
func (b *Bot) DigestYesterday(ctx context.Context) error {
	y, m, d := b.cfg.Now().In(b.cfg.Location).Date()
	return b.Digest(ctx, firstOf(y, m, d-1, b.cfg.Location)) // by date: a time a day back may not exist
}

// dayOf is the calendar day in loc that contains t: [start, end), from the
// first instant of its date to the first of the next; 23 or 25 hours on a
// day the clocks change.
func dayOf(t time.Time, loc *time.Location) (start, end time.Time) {
	y, m, d := t.In(loc).Date()
	return firstOf(y, m, d, loc), firstOf(y, m, d+1, loc)
}

// firstOf is the first instant of a date in loc: its midnight, or, where
// the clocks skip midnight (they move forward at 00:00 in some zones, and
// time.Date may answer an instant of the day before), the moment they
// land on the date.
func firstOf(y int, m time.Month, d int, loc *time.Location) time.Time {
	date := time.Date(y, m, d, 0, 0, 0, 0, time.UTC) // normalises d
	t := time.Date(y, m, d, 0, 0, 0, 0, loc)
	for i := 0; i < 16 && t.In(loc).Format(time.DateOnly) < date.Format(time.DateOnly); i++ {
		t = t.Add(15 * time.Minute) // zone offsets change in quarter hours
	}
	return t
}

// digestKey is the state key of a day's digest. It cannot be a
// transition's: those have an alarm's state after the first "|".
func digestKey(start time.Time) string { return "digest|" + start.Format(time.DateOnly) }

// postDigest gathers the day's figures and posts the digest: an upload
// when there is a chart, else the message alone. An upload ChatWork
// refuses as a request leaves the message as text.
func (b *Bot) postDigest(ctx context.Context, start, end time.Time, attrs []any) error {
	fctx, cancel := shorten(ctx, postReserve)
	v, png := b.digestView(fctx, start, end)
	cancel()
	p := b.text
	if png != nil {
		up, err := b.upload(ctx, b.cfg.RoomID, chatwork.File{Name: "quota-digest-" + start.Format(time.DateOnly) + ".png", Data: png, Message: renderDigest(p, v)})
		switch {
		case err == nil:
			b.log.InfoContext(ctx, "digest posted", append(attrs, "file_id", up.FileID)...)
			return nil
		case !textAfterUpload(err):
			b.log.ErrorContext(ctx, "digest not posted: a retry posts it", append(attrs, "kind", chatwork.KindOf(err).String(), "error", err)...)
			return fmt.Errorf("digest not posted: %w", err)
		}
		b.log.WarnContext(ctx, "digest chart not uploaded: posting the digest as text", append(attrs, "kind", chatwork.KindOf(err).String(), "error", err)...)
		v.Drawn, v.Figures = 0, figuresNoChart
	}
	posted, err := b.send(ctx, b.cfg.RoomID, renderDigest(p, v))
	if err != nil {
		b.log.ErrorContext(ctx, "digest not posted: a retry posts it", append(attrs, "kind", chatwork.KindOf(err).String(), "error", err)...)
		return fmt.Errorf("digest not posted: %w", err)
	}
	b.log.InfoContext(ctx, "digest posted", append(attrs, "message_id", posted.MessageID)...)
	return nil
}

// digestView gathers what the digest of [start, end) says and draws its
// chart (nil when there is none). Each part that cannot be had is left
// out, and the view says so.
func (b *Bot) digestView(ctx context.Context, start, end time.Time) (digestView, []byte) {
	ctx, cancel := context.WithTimeout(ctx, digestFiguresTimeout)
	defer cancel()
	v := digestView{Day: start, Loc: b.cfg.Location, Threshold: b.threshold()}
	labels := labelsOf(b.tokens(ctx))
	var png []byte
	if b.charts == nil {
		v.Figures = figuresNoSource
	} else if series, err := b.charts.Lows(ctx, chart.Query{Labels: labels, From: start, To: end, Period: b.cfg.Window, Percent: b.cfg.ThresholdPercent}); err != nil {
		b.log.WarnContext(ctx, "the tokens' low points are unavailable: digest without its figures", "error", err)
		v.Figures = figuresFailed
	} else {
		v.Tokens = tokenDays(series, start, end, b.cfg.Location, b.cfg.Threshold)
		var rest []string
		png, rest, err = chart.DrawSeries(series, chart.Spec{
			Title: chart.Title("", b.cfg.ThresholdPercent, start.Format(time.DateOnly)), From: start, To: end, Loc: b.cfg.Location,
			Threshold: float64(b.cfg.Threshold), Percent: b.cfg.ThresholdPercent,
		})
		if err != nil {
			b.log.WarnContext(ctx, "digest chart unavailable: posting the digest as text", "error", err)
			v.Figures = figuresNoChart
		} else {
			v.Drawn = len(series) - len(rest)
		}
	}
	changes, alarmsKnown := b.dayTransitions(ctx, start, end)
	v.Alarms, v.AlarmsKnown = b.alarmsDone(changes, start, end), alarmsKnown
	if b.cfg.ErrorsAlarmName == "" {
		v.Failures = failuresUnnamed
	} else if lasts, err := b.state.Lasts(ctx); err != nil || !alarmsKnown {
		if err != nil {
			b.log.WarnContext(ctx, "state unavailable: digest without the failing tokens", "error", err)
		}
		v.Failures = failuresUnknown
	} else {
		v.Failed = b.failures(ctx, changes, lasts, start, end)
	}
	return v, png
}

// tokenDay is one token's day: its windows' low points summed up.
type tokenDay struct {
	Label string
	Seen  int // 5-minute windows with a low point
	Low   int // windows whose low point was at or under the threshold
	Dry   int // windows that ran dry: low point 0
	// Lowest is the lowest point and LowestAt its window (the first, when
	// several share it).
	Lowest   float64
	LowestAt time.Time
	// Busy is the start of the busiest hour and BusyAvg its windows'
	// average low point. The busiest hour is the clock hour whose windows'
	// low points were lowest on average: the hour the token's quota was
	// spent hardest, whether in one burst or all through it (the earliest
	// such hour on a tie). Hours without a window do not count.
	Busy    time.Time
	BusyAvg float64
}

// tokenDays sums up each series over [start, end) in loc against the
// threshold (a count, or a percent when the series are percents), lowest
// first: by lowest point, tokens without a window last, then by label.
func tokenDays(series []chart.Series, start, end time.Time, loc *time.Location, threshold int) []tokenDay {
	out := make([]tokenDay, 0, len(series))
	for _, s := range series {
		d := tokenDay{Label: s.Label}
		type hour struct {
			sum float64
			n   int
		}
		hours := map[time.Time]*hour{}
		for _, p := range s.Points {
			if math.IsNaN(p.Low) || p.At.Before(start) || !p.At.Before(end) {
				continue
			}
			d.Seen++
			if p.Low <= float64(threshold) {
				d.Low++
			}
			if p.Low <= 0 {
				d.Dry++
			}
			if d.Seen == 1 || p.Low < d.Lowest || p.Low == d.Lowest && p.At.Before(d.LowestAt) {
				d.Lowest, d.LowestAt = p.Low, p.At
			}
			t := p.At.In(loc)
			h := time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), 0, 0, 0, loc)
			if hours[h] == nil {
				hours[h] = &hour{}
			}
			hours[h].sum += p.Low
			hours[h].n++
		}
		for h, sum := range hours {
			avg := sum.sum / float64(sum.n)
			if d.Busy.IsZero() || avg < d.BusyAvg || avg == d.BusyAvg && h.Before(d.Busy) {
				d.Busy, d.BusyAvg = h, avg
			}
		}
		out = append(out, d)
	}
	slices.SortStableFunc(out, func(a, b tokenDay) int {
		switch {
		case (a.Seen > 0) != (b.Seen > 0):
			if a.Seen > 0 {
				return -1
			}
			return 1
		case a.Seen > 0 && a.Lowest != b.Lowest:
			return cmp.Compare(a.Lowest, b.Lowest)
		}
		return strings.Compare(a.Label, b.Label)
	})
	return out
}

// change is one settled alarm transition, read back from its key: which
// alarm entered which state when (the alarm's timestamp), about which
// token, and what the bot did with it when.
type change struct {
	Alarm, State string
	Token        string // "" when the transition names none
	At           time.Time
	Unmuted      bool // told when a mute ended: no change of state
	Outcome      string
	Settled      time.Time
	// Contributor: the transition was a contributor's (its key ends in
	// the contributor's id), so an empty Token is a token not recorded
	// (settled before transitions kept theirs), not the own token.
	Contributor bool
}

// dayTransitions reads the transitions settled from the oldest kept
// (state.TransitionTTL) until digestSettleSlack past end, as changes; ok
// is false when the state cannot list them.
func (b *Bot) dayTransitions(ctx context.Context, start, end time.Time) ([]change, bool) {
	ts, err := b.state.Transitions(ctx, start.Add(-state.TransitionTTL), end.Add(digestSettleSlack))
	if err != nil {
		b.log.WarnContext(ctx, "state unavailable: digest without the alarm messages and the failing tokens", "error", err)
		return nil, false
	}
	var out []change
	for _, t := range ts {
		if c, ok := parseTransition(t); ok {
			out = append(out, c)
		}
	}
	return out, true
}

// parseTransition reads a transition's key: [unmuted|]alarm|state|timestamp,
// then |contributor-id for a contributor's. Other claims' keys (a digest's)
// are not transitions.
func parseTransition(t state.Transition) (change, bool) {
	parts := strings.Split(t.Key, "|")
	c := change{Token: t.Token, Outcome: t.Outcome, Settled: t.At}
	if len(parts) > 0 && parts[0] == "unmuted" {
		c.Unmuted, parts = true, parts[1:]
	}
	// The alarm's name may hold a "|": the state and time are read from the
	// end, with or without a contributor's id after them.
	for _, tail := range []int{2, 3} {
		n := len(parts) - tail
		if n < 1 {
			continue
		}
		st, at := parts[n], alarm.State{Timestamp: parts[n+1]}.Time()
		name := strings.Join(parts[:n], "|")
		if (st == alarm.StateAlarm || st == alarm.StateOK || st == alarm.StateInsufficient) && !at.IsZero() && name != "" {
			c.Alarm, c.State, c.At, c.Contributor = name, st, at, tail == 3
			return c, true
		}
	}
	return change{}, false
}

// alarmDone is an alarm message posted, or held back by a mute, during the
// day.
type alarmDone struct {
	At      time.Time // when it was posted or held back
	Kind    alarmKind
	Alarm   string // the alarm's name, for other alarms
	State   string
	Label   string // the token, "" when none
	Outcome string // state.Posted or state.Muted
	Unmuted bool   // posted when a mute ended
}

// alarmsDone are the changes posted or muted in [start, end), in the
// order they were.
func (b *Bot) alarmsDone(changes []change, start, end time.Time) []alarmDone {
	var out []alarmDone
	for _, c := range changes {
		if c.Settled.Before(start) || !c.Settled.Before(end) || (c.Outcome != state.Posted && c.Outcome != state.Muted) {
			continue
		}
		kind := b.kindByName(c.Alarm)
		out = append(out, alarmDone{
			At: c.Settled, Kind: kind, Alarm: c.Alarm, State: c.State, Label: b.labelOf(c, kind),
			Outcome: c.Outcome, Unmuted: c.Unmuted,
		})
	}
	return out
}

// kindByName tells which of the bot's alarms is named name; kindOther
// when none is configured by that name.
func (b *Bot) kindByName(name string) alarmKind {
	for k, n := range map[alarmKind]string{kindQuota: b.cfg.AlarmName, kindPace: b.cfg.PaceAlarmName, kindErrors: b.cfg.ErrorsAlarmName, kindHeartbeat: b.cfg.HeartbeatAlarmName} {
		if n != "" && n == name {
			return k
		}
	}
	return kindOther
}

// labelOf is the token a change is about: the one its claimant named, or
// for a per-token alarm on one metric (no contributor), the own token.
func (b *Bot) labelOf(c change, kind alarmKind) string {
	if c.Token != "" || c.Contributor || kind == kindHeartbeat || kind == kindOther {
		return c.Token
	}
	return b.cfg.TokenLabel
}

// failure is a token the token-errors alarm held in ALARM during the day.
type failure struct {
	Label string
	Kind  string    // the failure's kind from the token's records; "" unknown
	Since time.Time // when the alarm entered ALARM (perhaps before the day)
	Until time.Time // when it left ALARM the last time in the day; zero: not before the day ended
}

// failures are the tokens whose token-errors alarm was in ALARM at some
// time in [start, end), from its transitions and its last states, with
// the kind of failure their records show, by label.
func (b *Bot) failures(ctx context.Context, changes []change, lasts []state.Last, start, end time.Time) []failure {
	byToken := map[string][]change{}
	for _, c := range changes {
		if c.Unmuted || b.kindByName(c.Alarm) != kindErrors {
			continue
		}
		if label := b.labelOf(c, kindErrors); label != "" {
			byToken[label] = append(byToken[label], c)
		}
	}
	for _, l := range lasts {
		if l.Alarm == b.cfg.ErrorsAlarmName && l.Token != "" {
			byToken[l.Token] = append(byToken[l.Token], change{State: l.State, At: l.At})
		}
	}
	var out []failure
	for label, cs := range byToken {
		slices.SortStableFunc(cs, func(a, b change) int { return a.At.Compare(b.At) })
		f, failed := failedIn(cs, start, end)
		if failed {
			f.Label = label
			out = append(out, f)
		}
	}
	slices.SortFunc(out, func(a, b failure) int { return strings.Compare(a.Label, b.Label) })
	for i := range out[:min(len(out), maxDigestRows)] {
		hctx, cancel := context.WithTimeout(ctx, historyTimeout)
		recs, err := b.hist.Samples(hctx, out[i].Label, start, end)
		cancel()
		if err != nil {
			b.log.WarnContext(ctx, "history unavailable: the failure's kind is not told", "token", out[i].Label, "error", err)
			continue
		}
		if kind, _ := failureRun(recs, end); kind != "" {
			out[i].Kind = safeKind(kind)
		}
	}
	return out
}

// failedIn walks one token's token-errors alarm states (oldest first) and
// reports whether the alarm was in ALARM at some time in [start, end), and
// its last such run: since when (its entry into ALARM, perhaps before the
// day) and until when (its exit, zero when it was still in ALARM at the
// end). Changes after end are ignored.
func failedIn(cs []change, start, end time.Time) (f failure, failed bool) {
	in := false // in ALARM at the time walked to
	var since time.Time
	for _, c := range cs {
		if !c.At.Before(end) {
			break
		}
		switch {
		case c.State == alarm.StateAlarm && !in:
			in, since = true, c.At
		case c.State != alarm.StateAlarm && in:
			in = false
			if !c.At.Before(start) {
				failed, f.Since, f.Until = true, since, c.At
			}
		}
	}
	if in {
		failed, f.Since, f.Until = true, since, time.Time{}
	}
	return f, failed
}
