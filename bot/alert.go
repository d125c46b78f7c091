package bot

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"regexp"
	"strings"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/alarm"
	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
	"github.com/quotabot/chatwork-quota-bot/internal/state"
)

// Alarm state changes: CloudWatch's alarm owns the state; the bot only
// tells the room.

const (
	// claimPolls and claimPoll: a transition another instance has claimed
	// is polled this often, this far apart, for that instance's outcome.
	claimPolls = 10
	claimPoll  = time.Second
	// reserveCalls: at or below this many remaining calls the alert spends
	// none on a reading. The post needs one, and whoever shares the token
	// needs the rest more than the room needs a fresher figure.
	reserveCalls = 2
	// reservePercent plays reserveCalls' part for a percent datapoint when
	// no recorded sample tells the limit: 1% of the documented 300 is 3.
	reservePercent = 1.0
	// alertLookback is how far back alarm messages look for recorded
	// samples: as far as /quota, so the silent-monitor message can tell when
	// the monitor last spoke even after a long silence.
	alertLookback = 24 * time.Hour
	// maxReason caps CloudWatch's reason text in the plain message for other
	// alarms: it lists datapoints and can run long.
	maxReason = 500
	// maxAlarmName is CloudWatch's own limit on alarm names.
	maxAlarmName = 255
	// outcomeJoined settles a transition into ALARM that joined its token's
	// running episode: nothing was posted, the room heard of the episode
	// (or will, when a mute held it back).
	outcomeJoined = "joined"
)

// HandleAlarm posts one message into Config.RoomID for an EventBridge
// alarm event, once per transition (ev.Key) however often it is delivered
// and to however many instances: the transition is claimed in the state
// before posting and settled after.
//
//   - a quota alarm contributor (one token, Config.AlarmName) entering
//     ALARM: the low-quota alert naming the token, with the configured
//     mentions, fresh figures of that token where a reading is affordable
//     (see alertBody), the threshold, the reset and the dashboard; entering
//     OK: the recovery, only after an alert the room heard for that token;
//   - a pace alarm contributor (Config.PaceAlarmName) entering ALARM: "at
//     this pace the token's quota runs out before the reset", from the
//     token's recorded figures (see paceBody); entering OK: "the pace came
//     down";
//   - the quota and pace alarms of one token are one episode for the room
//     (see Episode): the second to enter ALARM joins the first's episode
//     silently, and only the last to leave posts the recovery. The
//     decisions of one token's episode are serialised across instances
//     (see lockEpisode);
//   - a token-errors contributor (Config.ErrorsAlarmName) entering ALARM:
//     "token X fails: <kind> since <time>", from the token's recorded
//     failures; entering OK: "token X works again", only after that;
//   - the heartbeat alarm (Config.HeartbeatAlarmName) entering ALARM: "the
//     monitor has stopped reporting", with the latest monitor sample, one
//     reading of the own token to tell whether ChatWork itself answers, and
//     where to look; entering OK from ALARM: "the monitor is back";
//   - the Metrics Insights alarms' own state changes: logged only, their
//     contributors' changes carry the news;
//   - a quota alarm on one metric (no query): ALARM, OK and INSUFFICIENT_DATA
//     of the own token as the alert, the recovery and the silent monitor;
//   - any other alarm: a plain message with its name, state and reason.
//
// The low-quota and pace alerts carry a chart of their token when
// Deps.Charts is set, in the same one call (see sendAlarm).
//
// The quota, pace and token-errors alarms' messages for a muted token are
// not posted, and neither is a state older than the token's last known one;
// both are logged and settled in the state. Every ChatWork response is
// recorded. When the state fails, the message is posted anyway (a
// duplicate is then possible): an alert lost is worse than one repeated.
//
// The error is non-nil only when nothing was posted and the event is
// unusable (no alarm name, an unknown state), another instance holds the
// transition (or the token's episode) without having posted it, or a
// retry can help (the API token rejected or unreadable, ChatWork
// unreachable): Lambda's asynchronous invocation then retries, so the claim is released (a post whose answer
// was lost may then appear twice: better twice than never). Other failures
// (quota exhausted, the per-room limit after one wait, a server error) are
// logged, counted in the alert_post_failures metric, and return nil: a retry
// would meet the same answer or post a second copy.
func (b *Bot) HandleAlarm(ctx context.Context, ev alarm.Event) error {
	d := ev.Detail
	attrs := []any{
		"alarm", truncate(d.AlarmName, maxAlarmName), "state", truncate(d.State.Value, 40),
		"previous", truncate(d.PreviousState.Value, 40), "event_id", truncate(ev.ID, 80),
	}
	kind := b.kindOf(ev)
	contributor := d.AlarmContributor != nil
	if contributor {
		attrs = append(attrs, "token", truncate(ev.Token(), 64))
	}
	if err := checkAlarmEvent(ev, kind); err != nil {
		b.log.ErrorContext(ctx, "alarm event rejected: nothing posted", append(attrs, "error", err)...)
		return err
	}
	if !contributor && ev.Insights() && (kind == kindQuota || kind == kindPace || kind == kindErrors) {
		b.log.InfoContext(ctx, "Metrics Insights alarm state change: its contributors' changes are posted, not this", append(attrs, "reason", truncate(d.State.Reason, maxReason))...)
		return nil
	}
	defer b.lock(ev.Key())()
	ctx, cancel := withBudget(ctx, ctx, workBudget)
	defer cancel()
	c, err := b.claim(ctx, ev.Key(), attrs)
	switch {
	case err != nil:
		return err
	case c.Status == state.Settled:
		b.log.InfoContext(ctx, "duplicate alarm event ignored", append(attrs, "outcome", c.Outcome)...)
		return nil
	}
	// The message keeps two state writes' time for after its post (see
	// afterPost): the token's last state and the settled transition.
	mctx, mcancel := shorten(ctx, 2*stateTimeout)
	defer mcancel()
	outcome, err := b.alarmMessage(mctx, ev, kind, attrs)
	c.Token = ev.Token() // kept with the outcome, for the digest
	if serr := b.state.Settle(ctx, c, outcome, b.cfg.Now()); serr != nil {
		b.log.WarnContext(ctx, "state unavailable: the transition is not settled, a redelivery may post it again", append(attrs, "outcome", outcome, "error", serr)...)
	}
	return err
}

// lock serialises the handling of key in this process; it returns the
// unlock.
func (b *Bot) lock(key string) func() {
	m := &b.locks[maphash.String(b.seed, key)%uint64(len(b.locks))]
	m.Lock()
	return m.Unlock
}

// claim takes the transition key before its message is posted. One that
// another instance holds is being posted there, or was left by a crash:
// it is polled for the outcome, then left to Lambda's retry (the claim
// expires, so the retry posts). When the state fails, the message is
// posted unclaimed.
func (b *Bot) claim(ctx context.Context, key string, attrs []any) (state.Claim, error) {
	c, err := b.take(ctx, key)
	switch {
	case err != nil:
		b.log.WarnContext(ctx, "state unavailable: posting anyway, the message may be repeated", append(attrs, "error", err)...)
		return state.Claim{Key: key}, nil
	case c.Status == state.Held:
		b.log.WarnContext(ctx, "another instance holds this transition and has not posted it: left to a retry", attrs...)
		return c, errors.New("alarm message not posted: another instance claimed it and has not posted it (a retry posts it once the claim expires)")
	}
	return c, nil
}

// take claims key in the state, polling a claim another instance holds
// claimPolls times, claimPoll apart; a claim still held then comes back
// with Status Held.
func (b *Bot) take(ctx context.Context, key string) (state.Claim, error) {
	for i := 0; ; i++ {
		c, err := b.state.Claim(ctx, key, b.cfg.Now())
		if err != nil || c.Status != state.Held || i == claimPolls || b.cfg.Sleep(ctx, claimPoll) != nil {
			return c, err
		}
	}
}

// alarmMessage posts the transition's message, unless its token is muted,
// a later state is known or the token's episode says nothing is to be
// told, and keeps the token's last state. It returns the outcome to settle
// the transition with: "" releases the claim, along with the error that
// asks for a retry.
func (b *Bot) alarmMessage(ctx context.Context, ev alarm.Event, kind alarmKind, attrs []any) (string, error) {
	d := ev.Detail
	last := state.Last{Alarm: d.AlarmName, Token: cmp.Or(ev.Token(), b.cfg.TokenLabel), State: d.State.Value, At: stateTime(ev, b.cfg.Now())}
	// The quota, pace and token-errors alarms are per token: those can be
	// muted, and their last state says whether an end is a recovery to tell.
	tracked := kind == kindQuota || kind == kindPace || kind == kindErrors
	if episodic(kind) {
		release, err := b.lockEpisode(ctx, last.Token, attrs)
		if err != nil {
			return "", err
		}
		defer release()
	}
	var prev state.Last
	var prevErr error
	if tracked {
		var known bool
		prev, known, prevErr = b.state.Last(ctx, last.Alarm, last.Token)
		switch {
		case prevErr != nil:
			b.log.WarnContext(ctx, "state unavailable: the token's last state and mutes are unknown", append(attrs, "error", prevErr)...)
		case known && prev.At.After(last.At):
			b.log.InfoContext(ctx, "a later state of this token is known: not posted", append(attrs, "later", prev.State)...)
			return state.Skipped, nil
		case b.muted(ctx, last.Token, b.cfg.Now()):
			last.Muted, last.Event = true, eventJSON(ev)
			b.setLast(ctx, last, attrs)
			b.log.InfoContext(ctx, "the token is muted: alarm message not posted", attrs...)
			return state.Muted, nil
		}
	}
	if episodic(kind) {
		if outcome, told := b.episode(ctx, ev, kind, last, prev, prevErr, attrs); !told {
			return outcome, nil
		}
	}
	body, err := b.alarmBody(ctx, ev, kind, prev, prevErr, attrs)
	if err == nil && body == "" {
		if tracked {
			b.setLast(ctx, last, attrs)
		}
		return state.Skipped, nil
	}
	if err == nil {
		var made []any
		if made, err = b.sendAlarm(ctx, ev, kind, body, attrs); err == nil {
			b.log.InfoContext(ctx, "alarm message posted", append(append(attrs, "room_id", b.cfg.RoomID), made...)...)
			if last.Posted = true; tracked {
				b.setLast(ctx, last, attrs)
			}
			return state.Posted, nil
		}
	}
	if err := b.alarmNotPosted(ctx, d.AlarmName, err, attrs); err != nil {
		return "", err
	}
	if tracked {
		b.setLast(ctx, last, attrs)
	}
	return state.Failed, nil
}

// alarmBody renders the transition's message; "" when there is none to
// post. prev is the token's last state (zero when none or unknown: prevErr).
// For the quota and pace alarms' contributors, the episode has already
// decided that this message is told (see episode).
func (b *Bot) alarmBody(ctx context.Context, ev alarm.Event, kind alarmKind, prev state.Last, prevErr error, attrs []any) (string, error) {
	d := ev.Detail
	contributor := d.AlarmContributor != nil
	switch alerting := d.State.Value == alarm.StateAlarm; {
	case kind == kindOther:
		return renderOtherAlarm(b.text, b.otherAlarmView(ev)), nil
	case alerting && kind == kindHeartbeat:
		return b.silentBody(ctx, ev)
	case alerting && kind == kindErrors:
		return b.failingBody(ctx, ev), nil
	case alerting && kind == kindPace:
		return b.paceBody(ctx, ev), nil
	case alerting:
		tok := b.own()
		if contributor {
			tok = b.lookup(ctx, ev.Token())
		}
		return b.alertBody(ctx, ev, tok)
	case kind == kindPace && contributor:
		return b.paceRecoveryBody(ctx, ev, prev.Began()), nil
	case kind == kindPace && d.State.Value == alarm.StateOK && d.PreviousState.Value == alarm.StateAlarm:
		return b.paceRecoveryBody(ctx, ev, episodeFrom(prev, d.PreviousState.Time())), nil
	case kind == kindPace:
		// A window with one reading has no projection: a single pace
		// alarm's INSUFFICIENT_DATA says nothing of the monitor (the
		// heartbeat alarm does).
		b.log.InfoContext(ctx, "the pace alarm has no projection to judge: nothing to post", attrs...)
		return "", nil
	case kind == kindQuota && !contributor && d.State.Value == alarm.StateOK:
		return renderRecovery(b.text, b.recoveryView(ctx, ev, kind, episodeFrom(prev, d.PreviousState.Time()))), nil
	case kind == kindQuota && !contributor:
		return b.silentBody(ctx, ev)
	case kind == kindQuota:
		return renderRecovery(b.text, b.recoveryView(ctx, ev, kind, prev.Began())), nil
	case kind == kindHeartbeat && d.PreviousState.Value == alarm.StateAlarm:
		return renderRecovery(b.text, b.recoveryView(ctx, ev, kind, d.PreviousState.Time())), nil
	case prevErr != nil && kind != kindHeartbeat:
		// Unknown whether its alert was posted: a recovery too many is
		// better than a room left believing a token still fails.
		return renderRecovery(b.text, b.recoveryView(ctx, ev, kind, time.Time{})), nil
	case kind == kindHeartbeat || prev.State != alarm.StateAlarm || !prev.Posted:
		b.log.InfoContext(ctx, "no alert of this was posted here: its end is not posted", attrs...)
		return "", nil
	}
	return renderRecovery(b.text, b.recoveryView(ctx, ev, kind, prev.At)), nil
}

// episodeFrom is when the episode a single alarm's recovery ends began:
// from, the alarm's own ALARM (its event's previous state), or earlier
// when its last state says another alarm of the token began the episode.
func episodeFrom(prev state.Last, from time.Time) time.Time {
	if prev.State == alarm.StateAlarm && !prev.Since.IsZero() && prev.Since.Before(from) {
		return prev.Since
	}
	return from
}

// setLast records the token's last state; a failure is logged.
func (b *Bot) setLast(ctx context.Context, l state.Last, attrs []any) {
	if err := b.state.SetLast(ctx, l, b.cfg.Now()); err != nil {
		b.log.WarnContext(ctx, "state unavailable: the token's last state is not recorded", append(attrs, "error", err)...)
	}
}

func eventJSON(ev alarm.Event) string {
	raw, _ := json.Marshal(ev)
	return string(raw)
}

// alarmNotPosted logs why nothing was posted and decides HandleAlarm's
// error (see there). Giving up is counted in the alert_post_failures metric.
func (b *Bot) alarmNotPosted(ctx context.Context, alarmName string, err error, attrs []any) error {
	attrs = append(attrs, "room_id", b.cfg.RoomID)
	switch kind := chatwork.KindOf(err); kind {
	case chatwork.KindInvalidToken:
		b.log.ErrorContext(ctx, "API token rejected: alarm message not posted", append(attrs, "error", err)...)
		return fmt.Errorf("alarm message not posted: %w", err)
	case chatwork.KindNetwork, chatwork.KindToken:
		// ChatWork, or the token in SSM, could not be reached: Lambda retries.
		b.log.ErrorContext(ctx, "ChatWork unreachable: alarm message not posted, will be retried", append(attrs, "error", err)...)
		return fmt.Errorf("alarm message not posted: %w", err)
	case chatwork.KindQuotaExhausted:
		b.log.WarnContext(ctx, "quota exhausted: alarm message not posted", append(attrs, quotaAttrs(chatwork.QuotaOf(err))...)...)
	default:
		b.log.ErrorContext(ctx, "alarm message not posted", append(attrs, "kind", kind.String(), "error", err)...)
	}
	_, _ = b.metrics.Write(append(sample.AlertPostFailure(b.cfg.Now(), alarmName, chatwork.KindOf(err).String()), '\n'))
	return nil
}

// checkAlarmEvent rejects what alarm.Parse would, for events that reach
// HandleAlarm by another path (a test, the sandbox, a future caller), and a
// contributor of the bot's alarms that names no usable token.
func checkAlarmEvent(ev alarm.Event, kind alarmKind) error {
	c := ev.Detail.AlarmContributor
	switch v := ev.Detail.State.Value; {
	case ev.Detail.AlarmName == "":
		return errors.New("unusable alarm state change event: no alarm name")
	case v != alarm.StateAlarm && v != alarm.StateOK && (v != alarm.StateInsufficient || c != nil):
		return fmt.Errorf("unusable alarm state change event: alarm %q: unknown state %q", truncate(ev.Detail.AlarmName, maxAlarmName), truncate(v, 40))
	case c != nil && kind != kindOther && sample.CheckLabel(ev.Token()) != nil:
		return fmt.Errorf("unusable alarm state change event: alarm %q: a contributor without a usable %s attribute", truncate(ev.Detail.AlarmName, maxAlarmName), sample.Dimension)
	}
	return nil
}

// alarmKind tells the bot's alarms from others routed to the function.
type alarmKind int

const (
	kindOther alarmKind = iota
	kindQuota
	kindErrors
	kindHeartbeat
	kindPace
)

// kindOf tells which of the bot's alarms ev is: by its configured name, or,
// when that name is not configured, by the metric it watches.
func (b *Bot) kindOf(ev alarm.Event) alarmKind {
	names := [...]string{kindQuota: b.cfg.AlarmName, kindErrors: b.cfg.ErrorsAlarmName, kindHeartbeat: b.cfg.HeartbeatAlarmName, kindPace: b.cfg.PaceAlarmName}
	for k, name := range names {
		if name != "" && name == ev.Detail.AlarmName {
			return alarmKind(k)
		}
	}
	metric, token := ev.Watched()
	k := map[string]alarmKind{
		sample.MetricRemaining: kindQuota, sample.MetricRemainingPercent: kindQuota,
		sample.MetricErrors: kindErrors, sample.MetricHeartbeat: kindHeartbeat,
		sample.MetricProjected: kindPace, sample.MetricProjectedPercent: kindPace,
	}[metric]
	if names[k] != "" || token != "" && token != b.cfg.TokenLabel {
		return kindOther
	}
	return k
}

// lookup finds the token labelled label; one that is no longer listed
// comes without a Reader.
func (b *Bot) lookup(ctx context.Context, label string) Token {
	for _, t := range b.tokens(ctx) {
		if t.Label == label {
			return t
		}
	}
	return Token{Label: label}
}

// pointOf reads the alarm's own figures from the event: the datapoint that
// decided the state and the threshold it was compared with. The event's
// metric says whether they are counts or percents; the configured threshold
// (the pace alarm's is alarm.PaceThreshold) stands in when the event carries no
// reason data.
func (b *Bot) pointOf(ctx context.Context, ev alarm.Event, kind alarmKind) alarmPoint {
	configured := float64(b.cfg.Threshold)
	if kind == kindPace {
		configured = alarm.PaceThreshold
	}
	p := alarmPoint{Threshold: level{Value: configured, Percent: b.cfg.ThresholdPercent}}
	if metric, _ := ev.Watched(); metric != "" {
		p.Threshold.Percent = metric == sample.MetricRemainingPercent || metric == sample.MetricProjectedPercent
		for _, m := range ev.Detail.Configuration.Metrics {
			p.Period = time.Duration(cmp.Or(m.MetricStat.Period, m.Period)) * time.Second
		}
	}
	d, ok := ev.Detail.State.Data()
	if !ok {
		return p
	}
	p.Value, p.HasValue = d.LastValue()
	if p.Threshold.Value != d.Threshold || p.Threshold.Percent != b.cfg.ThresholdPercent {
		// The alarm decides; the configuration only describes it. A
		// mismatch means QUOTA_ALARM_THRESHOLD(_KIND) and the alarm drifted.
		b.log.WarnContext(ctx, "the alarm's threshold differs from the configured one: showing the alarm's",
			"alarm_threshold", d.Threshold, "alarm_percent", p.Threshold.Percent,
			"configured_threshold", configured, "configured_percent", b.cfg.ThresholdPercent)
	}
	p.Threshold.Value = d.Threshold
	return p
}

// recorded is what the recorded history says, as far as alarm messages care.
type recorded struct {
	OK          bool          // the history could be read
	Latest      sample.Record // newest record with figures, from any source (HasQuota false: none)
	Projection  sample.Record // newest record with a projection (HasProjection false: none)
	Exhausted   bool          // the newest record is a 429 for the token's quota, in a window not yet reset
	Monitor     sample.Record // newest monitor sample with figures (HasQuota false: none)
	MonitorFail sample.Record // newest monitor failure, when newer than Monitor (Error empty: none)
}

// current reports whether the latest figures belong to the window still
// running at now: those of a window that has reset say nothing of it.
func (r recorded) current(now time.Time) bool {
	return r.Latest.HasQuota && r.Latest.ResetTime().After(now)
}

// pace is the newest record with a projection in the window running at
// now, if any: the pace of use seen in it and where that pace leads.
func (r recorded) pace(now time.Time) (sample.Record, bool) {
	p := r.Projection
	return p, p.HasProjection && p.ResetTime().After(now)
}

// history reads the token's recorded samples, bounded by historyTimeout; a
// failure only leaves the message without what it would have added.
func (b *Bot) history(ctx context.Context, label string, now time.Time) ([]sample.Record, bool) {
	hctx, cancel := context.WithTimeout(ctx, historyTimeout)
	defer cancel()
	recs, err := b.hist.Samples(hctx, label, now.Add(-alertLookback), now)
	if err != nil {
		b.log.WarnContext(ctx, "history unavailable: alarm message without it", "token", label, "error", err)
		return nil, false
	}
	return recs, true
}

// recordedOf is what the token's recorded history says.
func (b *Bot) recordedOf(ctx context.Context, label string, now time.Time) recorded {
	if recs, ok := b.history(ctx, label, now); ok {
		return scanRecords(recs, now)
	}
	return recorded{}
}

func scanRecords(recs []sample.Record, now time.Time) recorded {
	r := recorded{OK: true}
	var newest sample.Record
	for _, rec := range recs {
		if rec.Time.After(now) {
			continue
		}
		if rec.Time.After(newest.Time) {
			newest = rec
		}
		if rec.HasQuota && rec.Time.After(r.Latest.Time) {
			r.Latest = rec
		}
		if rec.HasProjection && rec.Time.After(r.Projection.Time) {
			r.Projection = rec
		}
		if rec.Source != sample.SourceMonitor {
			continue
		}
		switch {
		case rec.HasQuota && rec.Time.After(r.Monitor.Time):
			r.Monitor = rec
		case rec.Error != "" && rec.Time.After(r.MonitorFail.Time):
			r.MonitorFail = rec
		}
	}
	if !r.MonitorFail.Time.After(r.Monitor.Time) {
		r.MonitorFail = sample.Record{}
	}
	// A 429 usually carries figures (Remaining 0) and is judged by them; one
	// without is trusted for one alarm period.
	if newest.Error == chatwork.KindQuotaExhausted.String() {
		r.Exhausted = newest.HasQuota && newest.ResetTime().After(now) ||
			!newest.HasQuota && now.Sub(newest.Time) < alarm.Period
	}
	return r
}

// nearlyExhausted reports whether a reading would spend one of the token's
// last calls: the alarm's own datapoint or the latest recorded figures
// (while their window runs) are at or under reserveCalls, or a 429 is known.
func nearlyExhausted(p alarmPoint, r recorded, now time.Time) bool {
	switch {
	case r.Exhausted:
		return true
	case r.current(now) && r.Latest.Remaining <= reserveCalls:
		return true
	case !p.HasValue:
		return false
	case !p.Threshold.Percent:
		return p.Value <= reserveCalls
	case r.Latest.HasQuota:
		return p.Value*float64(r.Latest.Limit)/100 <= reserveCalls
	}
	return p.Value <= reservePercent
}

// alertBody renders the low-quota alert. The alarm's datapoint is a
// 5-minute minimum that reaches the bot minutes later, so the alert spends
// one reading to be current (2 calls with the post), unless the datapoint or
// the latest record shows the quota (nearly) exhausted: then only the post.
// Without a reading, or when it fails, the figures come from the running
// window's latest recorded sample and the alarm's datapoint, and the message
// says so. An error means posting is futile (token rejected, quota exhausted).
func (b *Bot) alertBody(ctx context.Context, ev alarm.Event, tok Token) (string, error) {
	v := alertView{
		Mentions: b.mentions(), Label: tok.Label, Loc: b.cfg.Location,
		Point: b.pointOf(ctx, ev, kindQuota), Dashboard: b.cfg.DashboardURL,
	}
	rec := b.recordedOf(ctx, tok.Label, b.cfg.Now())
	switch {
	case tok.Reader == nil:
		b.log.WarnContext(ctx, "the token is not among the deployment's: alert with the recorded figures", "token", tok.Label)
		v.Stale = staleReadFailed
	case nearlyExhausted(v.Point, rec, b.cfg.Now()):
		b.log.InfoContext(ctx, "quota nearly exhausted: alert without a fresh reading", "token", tok.Label)
		v.Stale = staleSkipped
	default:
		q, at, err := b.readQuota(ctx, tok)
		switch kind := chatwork.KindOf(err); {
		case err == nil:
			v.Figures, v.FiguresAt = &q, at
		case tok.Label == b.cfg.TokenLabel && (kind == chatwork.KindInvalidToken || kind == chatwork.KindQuotaExhausted):
			return "", err
		case kind == chatwork.KindQuotaExhausted && chatwork.QuotaOf(err) != nil:
			q := *chatwork.QuotaOf(err) // another token's 429 is a reading of 0
			q.Remaining, v.Figures, v.FiguresAt = 0, &q, b.cfg.Now()
		default:
			b.log.WarnContext(ctx, "read quota failed: alert with the recorded figures", "token", tok.Label, "kind", kind.String(), "error", err)
			v.Stale = staleReadFailed
		}
	}
	v.Now = b.cfg.Now()
	if v.Stale != staleFresh && rec.current(v.Now) {
		q := quotaOf(rec.Latest)
		v.Figures, v.FiguresAt = &q, rec.Latest.Time
	}
	if p, ok := rec.pace(v.Now); ok && p.Projected <= alarm.PaceThreshold {
		v.Pace = &p // running out before the reset too: the one alert says both
	}
	return renderAlert(b.text, v), nil
}

// quotaOf is a record's figures as a reading's.
func quotaOf(r sample.Record) chatwork.Quota {
	return chatwork.Quota{Limit: r.Limit, Remaining: r.Remaining, Reset: r.ResetTime()}
}

// paceBody renders the pace alert: "at this pace the token's quota runs
// out before the reset". Its figures are the newest record with a
// projection in the running window (the monitor took it; no call is spent
// on a reading, only the post): the pace, about when the quota runs out
// and how long before the reset, remaining of the limit and the reset.
// When they show remaining at or under the quota alarm's threshold too,
// the one message says both. Without such a record, the alarm's datapoint
// (the projected remaining) is the only figure, and the message says so.
func (b *Bot) paceBody(ctx context.Context, ev alarm.Event) string {
	label := cmp.Or(ev.Token(), b.cfg.TokenLabel)
	now := b.cfg.Now()
	v := paceView{
		Mentions: b.mentions(), Label: label, Now: now, Loc: b.cfg.Location,
		Threshold: b.threshold(), Point: b.pointOf(ctx, ev, kindPace), Dashboard: b.cfg.DashboardURL,
	}
	if p, ok := b.recordedOf(ctx, label, now).pace(now); ok {
		v.Rec = &p
	}
	return renderPace(b.text, v)
}

// paceRecoveryBody renders "the pace came down", the end of an episode
// whose last alarm to leave is the pace alarm's (in ALARM since from), with
// the running window's recorded figures when there are some.
func (b *Bot) paceRecoveryBody(ctx context.Context, ev alarm.Event, from time.Time) string {
	v := b.recoveryView(ctx, ev, kindPace, from)
	rec := b.recordedOf(ctx, v.Label, v.Now)
	if p, ok := rec.pace(v.Now); ok {
		v.Figures = &p
	} else if rec.current(v.Now) {
		v.Figures = &rec.Latest
	}
	return renderRecovery(b.text, v)
}

// recoveryView describes the end of an alert that began at from. It spends
// no reading: OK means the quota is above the threshold (or the token or
// the monitor works), which is what the room needs to hear, and the post's
// own response is recorded as a sample anyway.
func (b *Bot) recoveryView(ctx context.Context, ev alarm.Event, kind alarmKind, from time.Time) recoveryView {
	d := ev.Detail
	v := recoveryView{
		Label: cmp.Or(ev.Token(), b.cfg.TokenLabel), Now: b.cfg.Now(), Loc: b.cfg.Location, Alarm: kind,
		After: cmp.Or(d.PreviousState.Value, alarm.StateAlarm),
		// A new alarm starts in INSUFFICIENT_DATA with this reason: its
		// first OK is the start of monitoring, not a comeback.
		Initial: strings.HasPrefix(d.PreviousState.Reason, "Unchecked"),
		From:    from, To: d.State.Time(), Dashboard: b.cfg.DashboardURL,
	}
	if episodic(kind) {
		v.Point = b.pointOf(ctx, ev, kind)
	}
	return v
}

// failingBody renders "token X fails: <kind> since <time>" from the token's
// newest failure records; it spends no call but the post.
func (b *Bot) failingBody(ctx context.Context, ev alarm.Event) string {
	now := b.cfg.Now()
	v := failingView{
		Mentions: b.mentions(), Label: cmp.Or(ev.Token(), b.cfg.TokenLabel), Since: stateTime(ev, now),
		Now: now, Loc: b.cfg.Location, Dashboard: b.cfg.DashboardURL,
	}
	recs, _ := b.history(ctx, v.Label, now)
	if kind, since := failureRun(recs, now); kind != "" {
		v.Kind, v.Since = safeKind(kind), since
	}
	return renderFailing(b.text, v)
}

// failureRun finds the newest failed reading in recs (oldest first) and
// when the run of failures of its kind that it ends began.
func failureRun(recs []sample.Record, now time.Time) (kind string, since time.Time) {
	for i := len(recs) - 1; i >= 0; i-- {
		switch r := recs[i]; {
		case r.Time.After(now), kind == "" && !r.Failed():
		case r.Failed() && (kind == "" || r.Error == kind):
			kind, since = r.Error, r.Time
		default:
			return kind, since
		}
	}
	return kind, since
}

// silentBody renders "the monitor has stopped reporting". It spends one
// reading (2 calls with the post) because that answers the room's first
// question: is ChatWork (and the token) still answering, so that only the
// monitor needs looking at? The reading is skipped when the latest record
// shows the quota nearly exhausted.
func (b *Bot) silentBody(ctx context.Context, ev alarm.Event) (string, error) {
	now := b.cfg.Now()
	rec := b.recordedOf(ctx, b.cfg.TokenLabel, now)
	v := silentView{
		Label: b.cfg.TokenLabel, Loc: b.cfg.Location, Since: stateTime(ev, now), State: ev.Detail.State.Value,
		History: rec.OK, Monitor: rec.Monitor.Time, Dashboard: b.cfg.DashboardURL,
		Stack: stackName(cmp.Or(b.cfg.AlarmName, ev.Detail.AlarmName)),
	}
	if rec.MonitorFail.Error != "" {
		v.FailKind, v.FailAt = safeKind(rec.MonitorFail.Error), rec.MonitorFail.Time
	}
	if nearlyExhausted(alarmPoint{}, rec, now) {
		v.Read = staleSkipped
	} else {
		q, _, err := b.readQuota(ctx, b.own())
		switch kind := chatwork.KindOf(err); {
		case err == nil:
			v.Quota = q
		case kind == chatwork.KindInvalidToken, kind == chatwork.KindQuotaExhausted:
			return "", err
		default:
			b.log.WarnContext(ctx, "read quota failed: the silent-monitor message says so", "kind", kind.String(), "error", err)
			v.Read = staleReadFailed
		}
	}
	v.Now = b.cfg.Now()
	return renderSilent(b.text, v), nil
}

func (b *Bot) otherAlarmView(ev alarm.Event) otherAlarmView {
	now := b.cfg.Now()
	return otherAlarmView{
		Name:     plainText(ev.Detail.AlarmName, maxAlarmName),
		State:    ev.Detail.State.Value, // checked: one of the three
		Previous: plainText(ev.Detail.PreviousState.Value, 40),
		Reason:   plainText(ev.Detail.State.Reason, maxReason),
		// The template's ops alarms describe what broke and where to look.
		Description: plainText(ev.Detail.Configuration.Description, maxReason),
		At:          stateTime(ev, now), Now: now, Loc: b.cfg.Location,
	}
}

// mentions is the alert's first line: [toall], or one [To:id] per account.
func (b *Bot) mentions() string {
	if b.cfg.MentionAll {
		return "[toall]\n"
	}
	var sb strings.Builder
	for _, id := range b.cfg.MentionAccountIDs {
		fmt.Fprintf(&sb, "[To:%d]", id)
	}
	if sb.Len() > 0 {
		sb.WriteString("\n")
	}
	return sb.String()
}

// stateTime is when the alarm entered its state: the state's timestamp,
// else the event's time, else now.
func stateTime(ev alarm.Event, now time.Time) time.Time {
	if t := ev.Detail.State.Time(); !t.IsZero() {
		return t
	}
	if !ev.Time.IsZero() {
		return ev.Time
	}
	return now
}

var stackRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,127}$`)

// stackName recovers the stack's name from the quota or heartbeat alarm's
// (template.yaml names them ${AWS::StackName}-quota-low and
// -monitor-heartbeat), or "" when the alarm was not named by template.yaml.
func stackName(alarmName string) string {
	for _, suffix := range []string{"-quota-low", "-monitor-heartbeat"} {
		if s, ok := strings.CutSuffix(alarmName, suffix); ok && stackRE.MatchString(s) {
			return s
		}
	}
	return ""
}

var kindRE = regexp.MustCompile(`^[a-z_]{1,32}$`)

// safeKind passes a recorded error kind ("invalid_token", "network") into a
// message only when it looks like one: records come from the log group,
// which the message must not trust.
func safeKind(s string) string {
	if kindRE.MatchString(s) {
		return s
	}
	return chatwork.KindOther.String()
}
