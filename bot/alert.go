package bot

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/alarm"
	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
)

// Alarm state changes: CloudWatch's alarm owns the state; the bot only
// tells the room.

const (
	// alarmMemory bounds the remembered transitions. The quota alarm changes
	// state a few times a day; the room would drown long before 256
	// transitions of routed alarms fit in EventBridge's redelivery window.
	alarmMemory = 256
	// alarmMemoryTTL outlasts every redelivery: EventBridge gives up after
	// MaximumEventAgeInSeconds (900 s in template.yaml, 24 h at most).
	alarmMemoryTTL = 24 * time.Hour
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
	// stackSuffix: template.yaml names the quota alarm ${AWS::StackName}-quota-low,
	// so the stack's name, for `sam logs`, follows from the alarm's.
	stackSuffix = "-quota-low"
)

// HandleAlarm posts one message into Config.RoomID for an EventBridge
// "CloudWatch Alarm State Change" event, at most once per transition
// (ev.Key) in this process:
//
//   - the quota alarm (Config.AlarmName) entering ALARM: the low-quota alert,
//     with the configured mentions, fresh figures where a reading is
//     affordable (see alertBody), the threshold, the reset and the dashboard;
//   - entering OK: the recovery, with how long the alert (or the monitor's
//     silence) lasted; no reading is spent;
//   - entering INSUFFICIENT_DATA: "the monitor has stopped reporting", with
//     the latest monitor sample, one reading to tell whether ChatWork itself
//     answers, and where to look;
//   - any other alarm: a plain message with its name, state and reason.
//
// Every ChatWork response is recorded. The error is non-nil only when
// nothing was posted and the event is unusable (no alarm name, an unknown
// state) or a retry can help (the API token rejected or unreadable, ChatWork
// unreachable): Lambda's asynchronous invocation then retries, so the
// transition is forgotten here (a post whose answer was lost may then appear
// twice: better twice than never). Other failures (quota exhausted, the
// per-room limit after one wait, a server error) are logged and return nil:
// a retry would meet the same answer or post a second copy.
func (b *Bot) HandleAlarm(ctx context.Context, ev alarm.Event) error {
	d := ev.Detail
	attrs := []any{
		"alarm", truncate(d.AlarmName, maxAlarmName), "state", truncate(d.State.Value, 40),
		"previous", truncate(d.PreviousState.Value, 40), "event_id", truncate(ev.ID, 80),
	}
	if err := checkAlarmEvent(ev); err != nil {
		b.log.ErrorContext(ctx, "alarm event rejected: nothing posted", append(attrs, "error", err)...)
		return err
	}
	key := ev.Key()
	if !b.alarms.add(key, b.cfg.Now()) {
		b.log.InfoContext(ctx, "duplicate alarm event ignored", attrs...)
		return nil
	}
	ctx, cancel := withBudget(ctx, ctx)
	defer cancel()

	var body string
	var err error
	switch {
	case !b.isQuotaAlarm(ev):
		body = renderOtherAlarm(b.text, b.otherAlarmView(ev))
	case d.State.Value == alarm.StateAlarm:
		body, err = b.alertBody(ctx, ev)
	case d.State.Value == alarm.StateOK:
		body = renderRecovery(b.text, b.recoveryView(ctx, ev))
	default:
		body, err = b.silentBody(ctx, ev)
	}
	if err == nil {
		var posted chatwork.Posted
		if posted, err = b.send(ctx, b.cfg.RoomID, body); err == nil {
			b.log.InfoContext(ctx, "alarm message posted", append(attrs, "room_id", b.cfg.RoomID, "message_id", posted.MessageID)...)
			return nil
		}
	}
	return b.alarmNotPosted(ctx, key, err, attrs)
}

// alarmNotPosted logs why nothing was posted and decides HandleAlarm's
// error (see there).
func (b *Bot) alarmNotPosted(ctx context.Context, key string, err error, attrs []any) error {
	attrs = append(attrs, "room_id", b.cfg.RoomID)
	switch chatwork.KindOf(err) {
	case chatwork.KindInvalidToken:
		b.log.ErrorContext(ctx, "API token rejected: alarm message not posted", append(attrs, "error", err)...)
		b.alarms.forget(key)
		return fmt.Errorf("alarm message not posted: %w", err)
	case chatwork.KindQuotaExhausted:
		b.log.WarnContext(ctx, "quota exhausted: alarm message not posted", append(attrs, quotaAttrs(chatwork.QuotaOf(err))...)...)
	case chatwork.KindNetwork, chatwork.KindToken:
		// ChatWork, or the token in SSM, could not be reached: Lambda retries.
		b.log.ErrorContext(ctx, "ChatWork unreachable: alarm message not posted, will be retried", append(attrs, "error", err)...)
		b.alarms.forget(key)
		return fmt.Errorf("alarm message not posted: %w", err)
	default:
		b.log.ErrorContext(ctx, "alarm message not posted", append(attrs, "kind", chatwork.KindOf(err).String(), "error", err)...)
	}
	return nil
}

// checkAlarmEvent rejects what alarm.Parse would, for events that reach
// HandleAlarm by another path (a test, the sandbox, a future caller).
func checkAlarmEvent(ev alarm.Event) error {
	switch v := ev.Detail.State.Value; {
	case ev.Detail.AlarmName == "":
		return errors.New("unusable alarm state change event: no alarm name")
	case v != alarm.StateAlarm && v != alarm.StateOK && v != alarm.StateInsufficient:
		return fmt.Errorf("unusable alarm state change event: alarm %q: unknown state %q", truncate(ev.Detail.AlarmName, maxAlarmName), truncate(v, 40))
	}
	return nil
}

// isQuotaAlarm tells the quota alarm from others routed to the function.
func (b *Bot) isQuotaAlarm(ev alarm.Event) bool {
	if b.cfg.AlarmName != "" {
		return ev.Detail.AlarmName == b.cfg.AlarmName
	}
	for _, m := range ev.Detail.Configuration.Metrics {
		mm := m.MetricStat.Metric
		if tok, ok := mm.Dimensions[sample.Dimension]; mm.Namespace == sample.Namespace && (!ok || tok == b.cfg.TokenLabel) {
			return true
		}
	}
	return false
}

// pointOf reads the alarm's own figures from the event: the datapoint that
// decided the state and the threshold it was compared with. The event's
// metric says whether they are counts or percents; the configured threshold
// stands in when the event carries no reason data.
func (b *Bot) pointOf(ctx context.Context, ev alarm.Event) alarmPoint {
	p := alarmPoint{Threshold: level{Value: float64(b.cfg.Threshold), Percent: b.cfg.ThresholdPercent}}
	for _, m := range ev.Detail.Configuration.Metrics {
		if m.MetricStat.Metric.Namespace == sample.Namespace {
			p.Threshold.Percent = m.MetricStat.Metric.Name == sample.MetricRemainingPercent
			p.Period = time.Duration(m.MetricStat.Period) * time.Second
			break
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
			"configured_threshold", b.cfg.Threshold, "configured_percent", b.cfg.ThresholdPercent)
	}
	p.Threshold.Value = d.Threshold
	return p
}

// recorded is what the recorded history says, as far as alarm messages care.
type recorded struct {
	OK          bool          // the history could be read
	Latest      sample.Record // newest record with figures, from any source (HasQuota false: none)
	Exhausted   bool          // the newest record is a 429 for the token's quota, in a window not yet reset
	Monitor     sample.Record // newest monitor sample with figures (HasQuota false: none)
	MonitorFail sample.Record // newest monitor failure, when newer than Monitor (Error empty: none)
}

// current reports whether the latest figures belong to the window still
// running at now: those of a window that has reset say nothing of it.
func (r recorded) current(now time.Time) bool {
	return r.Latest.HasQuota && r.Latest.ResetTime().After(now)
}

// history reads the recorded samples, bounded by historyTimeout; a failure
// only leaves the message without what it would have added.
func (b *Bot) history(ctx context.Context, now time.Time) recorded {
	hctx, cancel := context.WithTimeout(ctx, historyTimeout)
	defer cancel()
	recs, err := b.hist.Samples(hctx, b.cfg.TokenLabel, now.Add(-alertLookback), now)
	if err != nil {
		b.log.WarnContext(ctx, "history unavailable: alarm message without it", "error", err)
		return recorded{}
	}
	return scanRecords(recs, now)
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
func (b *Bot) alertBody(ctx context.Context, ev alarm.Event) (string, error) {
	v := alertView{
		Mentions: b.mentions(), Label: b.cfg.TokenLabel, Loc: b.cfg.Location,
		Point: b.pointOf(ctx, ev), Dashboard: b.cfg.DashboardURL,
	}
	rec := b.history(ctx, b.cfg.Now())
	if nearlyExhausted(v.Point, rec, b.cfg.Now()) {
		b.log.InfoContext(ctx, "quota nearly exhausted: alert without a fresh reading")
		v.Stale = staleSkipped
	} else {
		q, at, err := b.readQuota(ctx)
		switch kind := chatwork.KindOf(err); {
		case err == nil:
			v.Figures, v.FiguresAt = &q, at
		case kind == chatwork.KindInvalidToken, kind == chatwork.KindQuotaExhausted:
			return "", err
		default:
			b.log.WarnContext(ctx, "read quota failed: alert with the recorded figures", "kind", kind.String(), "error", err)
			v.Stale = staleReadFailed
		}
	}
	v.Now = b.cfg.Now()
	if v.Stale != staleFresh && rec.current(v.Now) {
		q := chatwork.Quota{Limit: rec.Latest.Limit, Remaining: rec.Latest.Remaining, Reset: rec.Latest.ResetTime()}
		v.Figures, v.FiguresAt = &q, rec.Latest.Time
	}
	return renderAlert(b.text, v), nil
}

// recoveryView describes the recovery. It spends no reading: OK means the
// quota is above the threshold, which is what the room needs to hear, and
// the post's own response is recorded as a sample anyway.
func (b *Bot) recoveryView(ctx context.Context, ev alarm.Event) recoveryView {
	d := ev.Detail
	return recoveryView{
		Label: b.cfg.TokenLabel, Now: b.cfg.Now(), Loc: b.cfg.Location,
		After: d.PreviousState.Value,
		// A new alarm starts in INSUFFICIENT_DATA with this reason: its
		// first OK is the start of monitoring, not a comeback.
		Initial: strings.HasPrefix(d.PreviousState.Reason, "Unchecked"),
		From:    d.PreviousState.Time(), To: d.State.Time(),
		Point: b.pointOf(ctx, ev), Dashboard: b.cfg.DashboardURL,
	}
}

// silentBody renders "the monitor has stopped reporting". It spends one
// reading (2 calls with the post) because that answers the room's first
// question: is ChatWork (and the token) still answering, so that only the
// monitor needs looking at? The reading is skipped when the latest record
// shows the quota nearly exhausted.
func (b *Bot) silentBody(ctx context.Context, ev alarm.Event) (string, error) {
	now := b.cfg.Now()
	rec := b.history(ctx, now)
	v := silentView{
		Label: b.cfg.TokenLabel, Loc: b.cfg.Location, Since: stateTime(ev, now),
		History: rec.OK, Monitor: rec.Monitor.Time, Dashboard: b.cfg.DashboardURL,
		Stack: stackName(cmp.Or(b.cfg.AlarmName, ev.Detail.AlarmName)),
	}
	if rec.MonitorFail.Error != "" {
		v.FailKind, v.FailAt = safeKind(rec.MonitorFail.Error), rec.MonitorFail.Time
	}
	if nearlyExhausted(alarmPoint{}, rec, now) {
		v.Read = staleSkipped
	} else {
		q, _, err := b.readQuota(ctx)
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
		At:       stateTime(ev, now), Now: now, Loc: b.cfg.Location,
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

// stackName recovers the stack's name from the quota alarm's, or "" when
// the alarm was not named by template.yaml.
func stackName(alarmName string) string {
	s, ok := strings.CutSuffix(alarmName, stackSuffix)
	if !ok || !stackRE.MatchString(s) {
		return ""
	}
	return s
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
