package bot

import (
	"context"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
)

const (
	// roomWindow is ChatWork's per-room posting window (10 posts per 10 s).
	// Its start is unknown, so a full window is waited out.
	roomWindow = 10 * time.Second
	// postAllowance is the time a retried post needs after the wait; without
	// it before the deadline, waiting would only burn the invocation.
	postAllowance = 2 * time.Second
	// historyTimeout keeps a slow log query from delaying the answer: past it
	// the answer goes out without the history lines.
	historyTimeout = 5 * time.Second
	// recordTimeout bounds each record write. Records are written with a
	// context detached from the request, so a hung-up delivery loses none.
	recordTimeout = 5 * time.Second
	// monitorSlack absorbs schedule jitter and log delivery delay before a
	// monitor sample counts as late.
	monitorSlack = time.Minute
)

// run carries out a recognised command. It spends at most one reading and
// one post (plus one re-post after the per-room limit), and records the
// rate-limit headers of every response.
func (b *Bot) run(ctx context.Context, cmd command, to replyTo) {
	switch cmd.kind {
	case cmdHelp:
		b.post(ctx, to.Room, renderHelp(b.text, to, b.threshold()))
	case cmdUnknown:
		b.post(ctx, to.Room, renderUnknown(b.text, to, cmd.arg))
	case cmdQuota:
		b.answerQuota(ctx, to)
	}
}

func (b *Bot) threshold() threshold {
	return threshold{Value: b.cfg.Threshold, Percent: b.cfg.ThresholdPercent}
}

type historyResult struct {
	recs []sample.Record
	err  error
}

func (b *Bot) answerQuota(ctx context.Context, to replyTo) {
	// The history query does not depend on the reading: run both at once so
	// the answer waits for the slower, not the sum.
	start := b.cfg.Now()
	hctx, cancel := context.WithTimeout(ctx, historyTimeout)
	defer cancel()
	histc := make(chan historyResult, 1) // buffered: an abandoned query never blocks
	go func() {
		recs, err := b.hist.Samples(hctx, b.cfg.TokenLabel, start.Add(-24*time.Hour), start)
		histc <- historyResult{recs, err}
	}()

	// Recorded inside readQuota, before the answer, while the history query
	// is still running: free in time, and in order with the post's own record.
	q, at, err := b.readQuota(ctx, b.own())
	if self := b.self.Load(); self != 0 && self == to.Account {
		// Its account was unknown when the message arrived; the reading
		// (GET /me) named it just now.
		b.log.DebugContext(ctx, "own message ignored", "account_id", to.Account)
		return
	}
	if err != nil {
		switch chatwork.KindOf(err) {
		case chatwork.KindQuotaExhausted:
			// Nothing can be posted until the reset: a post would be one
			// more 429.
			b.log.WarnContext(ctx, "quota exhausted: cannot answer", quotaAttrs(chatwork.QuotaOf(err))...)
			return
		case chatwork.KindInvalidToken:
			b.log.ErrorContext(ctx, "API token rejected: cannot answer", "error", err)
			return
		}
		b.log.WarnContext(ctx, "read quota failed", "kind", chatwork.KindOf(err).String(), "error", err)
		b.post(ctx, to.Room, renderUnavailable(b.text, to))
		return
	}
	h := <-histc
	if h.err != nil {
		b.log.WarnContext(ctx, "history unavailable: answering without it", "error", h.err)
	}
	now := b.cfg.Now()
	v := quotaView{
		To: to, Label: b.cfg.TokenLabel, Now: now, Loc: b.cfg.Location,
		Quota: q, History: h.err == nil, Threshold: b.threshold(), Monitor: monitorUnknown,
	}
	if h.err == nil {
		v.Hour, v.Day, v.Monitor, v.MonitorAt = summarize(h.recs, q, at, now, b.cfg.MonitorInterval)
	}
	b.post(ctx, to.Room, renderAnswer(b.text, v))
}

// readQuota spends one call of tok on a reading and records what its
// response said. It learns the bot's own account id from the own token's
// first reading. A response without usable rate-limit headers is a
// bad_response error.
func (b *Bot) readQuota(ctx context.Context, tok Token) (chatwork.Quota, time.Time, error) {
	reading, err := tok.Reader.ReadQuota(ctx)
	r := b.recordCall(ctx, tok.Label, reading.At, reading.Quota, err)
	if err == nil && tok.Label == b.cfg.TokenLabel && b.cfg.BotAccountID == 0 && reading.AccountID > 0 && b.self.CompareAndSwap(0, reading.AccountID) {
		b.log.InfoContext(ctx, "learned the bot's account id", "account_id", reading.AccountID)
	}
	switch {
	case err != nil:
		return chatwork.Quota{}, time.Time{}, err
	case !r.HasQuota:
		return chatwork.Quota{}, r.Time, &chatwork.Error{Op: "read quota", Kind: chatwork.KindBadResponse}
	}
	return *reading.Quota, r.Time, nil
}

// summarize finds the lowest remaining count over the last hour and the last
// 24 hours, counting this answer's reading, and whether the monitor is
// keeping to its schedule.
func summarize(recs []sample.Record, fresh chatwork.Quota, freshAt, now time.Time, interval time.Duration) (hour, day low, mon monitorStatus, monAt time.Time) {
	hour = low{Remaining: fresh.Remaining, Limit: fresh.Limit, At: freshAt, FreshOnly: true}
	day = hour
	var latest time.Time
	hourStart, dayStart := now.Add(-time.Hour), now.Add(-24*time.Hour)
	for _, r := range recs {
		if !r.HasQuota || r.Time.Before(dayStart) {
			continue
		}
		if r.Source == sample.SourceMonitor && r.Time.After(latest) {
			latest = r.Time
		}
		l := low{Remaining: r.Remaining, Limit: r.Limit, At: r.Time}
		day = lower(day, l)
		if !r.Time.Before(hourStart) {
			hour = lower(hour, l)
		}
	}
	switch {
	case latest.IsZero():
		return hour, day, monitorMissing, time.Time{}
	case now.Sub(latest) > 2*interval+monitorSlack:
		return hour, day, monitorStale, latest
	}
	return hour, day, monitorOK, latest
}

// lower folds a recorded sample into the running low. Ties keep the later
// time, the more useful one to show.
func lower(cur, l low) low {
	switch {
	case l.Remaining < cur.Remaining, l.Remaining == cur.Remaining && l.At.After(cur.At):
		return l
	}
	cur.FreshOnly = false
	return cur
}

// post sends a reply to room. Failures are logged and recorded, never
// returned: the webhook answers 200 regardless.
func (b *Bot) post(ctx context.Context, room int64, body string) {
	posted, err := b.send(ctx, room, body)
	switch {
	case err == nil:
		b.log.InfoContext(ctx, "replied", "room_id", room, "message_id", posted.MessageID)
	case chatwork.KindOf(err) == chatwork.KindQuotaExhausted:
		b.log.WarnContext(ctx, "quota exhausted: reply dropped", append([]any{"room_id", room}, quotaAttrs(chatwork.QuotaOf(err))...)...)
	default:
		b.log.WarnContext(ctx, "reply failed", "room_id", room, "kind", chatwork.KindOf(err).String(), "error", err)
	}
}

// send posts body to room and records every response. On the per-room limit
// it waits out that window once and tries again, if the deadline allows; on
// the token's quota nothing can be posted. The error is the last attempt's.
func (b *Bot) send(ctx context.Context, room int64, body string) (chatwork.Posted, error) {
	posted, err := b.cw.Post(ctx, room, body)
	b.recordCall(ctx, b.cfg.TokenLabel, posted.At, posted.Quota, err)
	if chatwork.KindOf(err) != chatwork.KindRoomLimit {
		return posted, err
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < roomWindow+postAllowance {
		b.log.WarnContext(ctx, "per-room posting limit and no time left to wait", "room_id", room)
		return posted, err
	}
	b.log.InfoContext(ctx, "per-room posting limit: waiting once", "room_id", room, "wait", roomWindow.String())
	if serr := b.cfg.Sleep(ctx, roomWindow); serr != nil {
		b.log.WarnContext(ctx, "wait for the per-room limit cut short", "room_id", room, "error", serr)
		return posted, err
	}
	posted, err = b.cw.Post(ctx, room, body)
	b.recordCall(ctx, b.cfg.TokenLabel, posted.At, posted.Quota, err)
	return posted, err
}

// recordCall records what one call of the token labelled label said (see
// sample.FromCall): a passive sample, or a failure record.
func (b *Bot) recordCall(ctx context.Context, label string, at time.Time, q *chatwork.Quota, err error) sample.Record {
	if at.IsZero() {
		at = b.cfg.Now()
	}
	r := sample.FromCall(label, sample.SourcePassive, at, q, err, 1)
	b.record(ctx, r)
	return r
}

// record writes r; a failure is logged and never stops the reply.
func (b *Bot) record(ctx context.Context, r sample.Record) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if err := b.rec.Record(rctx, r); err != nil {
		b.log.WarnContext(ctx, "record failed", "source", string(r.Source), "record_error", r.Error, "error", err)
	}
}

func quotaAttrs(q *chatwork.Quota) []any {
	if q == nil {
		return nil
	}
	return []any{"remaining", q.Remaining, "limit", q.Limit, "reset", q.Reset.Unix()}
}
