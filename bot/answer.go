package bot

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/fanout"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
)

const (
	// roomWindow is ChatWork's per-room posting window (10 posts per 10 s).
	// Its start is unknown, so a full window is waited out.
	roomWindow = 10 * time.Second
	// postAllowance is the time a retried post needs after the wait; without
	// it before the deadline, waiting would only burn the invocation.
	postAllowance = 2 * time.Second
	// minRoomWait is the shortest wait for the per-room limit worth a
	// second post: the room's window slides, so part of it may do.
	minRoomWait = time.Second
	// historyTimeout keeps a slow log query from delaying the answer: past it
	// the answer goes out without the history lines.
	historyTimeout = 5 * time.Second
	// recordTimeout bounds each record write (recordReserve allows for the
	// last). Records are written with a context detached from the work's,
	// so a reply cut off at its deadline still leaves its record.
	recordTimeout = recordReserve
	// monitorSlack absorbs schedule jitter and log delivery delay before a
	// monitor sample counts as late.
	monitorSlack = time.Minute
	// fleetReads bounds the readings /quota has in flight at once.
	fleetReads = 20
)

// run carries out a recognised command. It spends one post (plus one
// re-post after the per-room limit) and at most one reading per token, and
// records the rate-limit headers of every response. A deployment of one
// token answers /quota as that token's detailed answer.
//
// Its ChatWork calls end recordReserve before ctx's deadline, the readings
// (and the history) postReserve before that, so that however slow ChatWork,
// the state or the log group, the delivery is answered by the deadline.
func (b *Bot) run(ctx context.Context, cmd command, to replyTo) {
	ctx, cancel := shorten(ctx, recordReserve)
	defer cancel()
	tokens := b.tokens(ctx)
	switch cmd.kind {
	case cmdMute, cmdUnmute, cmdMutes:
		b.post(ctx, to.Room, b.runMute(ctx, cmd, to, tokens))
	case cmdChart:
		b.answerChart(ctx, cmd, to, tokens)
	case cmdHelp:
		b.post(ctx, to.Room, renderHelp(b.text, to, b.threshold(), len(tokens) > 1))
	case cmdUnknown:
		labels := make([]string, len(tokens))
		for i, t := range tokens {
			if strings.EqualFold(t.Label, cmd.word) {
				b.answerQuota(ctx, to, t)
				return
			}
			labels[i] = t.Label
		}
		if len(tokens) > 1 && cmd.word != "" {
			b.post(ctx, to.Room, renderUnknownLabel(b.text, to, cmd.arg, labels))
			return
		}
		b.post(ctx, to.Room, renderUnknown(b.text, to, cmd.arg))
	case cmdQuota:
		if len(tokens) == 1 {
			b.answerQuota(ctx, to, tokens[0])
			return
		}
		b.answerFleet(ctx, to, tokens)
	}
}

func (b *Bot) threshold() threshold {
	return threshold{Value: b.cfg.Threshold, Percent: b.cfg.ThresholdPercent}
}

type historyResult struct {
	recs []sample.Record
	err  error
}

// answerQuota is the detailed answer for one token: a fresh reading, the
// lowest remaining over the last hour and day, and the monitor's health.
func (b *Bot) answerQuota(ctx context.Context, to replyTo, tok Token) {
	// The history query does not depend on the reading: run both at once so
	// the answer waits for the slower, not the sum.
	start := b.cfg.Now()
	rctx, cancel := shorten(ctx, postReserve)
	defer cancel()
	hctx, cancel := context.WithTimeout(rctx, historyTimeout)
	defer cancel()
	histc := make(chan historyResult, 1) // buffered: an abandoned query never blocks
	go func() {
		recs, err := b.hist.Samples(hctx, tok.Label, start.Add(-24*time.Hour), start)
		histc <- historyResult{recs, err}
	}()

	// Recorded inside readQuota, before the answer, while the history query
	// is still running: free in time, and in order with the post's own record.
	q, at, err := b.readQuota(rctx, tok)
	if b.ownMessage(ctx, to) || b.cannotPost(ctx, tok, err) {
		return
	}
	if err != nil {
		b.log.WarnContext(ctx, "read quota failed", "token", tok.Label, "kind", chatwork.KindOf(err).String(), "error", err)
		b.post(ctx, to.Room, renderUnavailable(b.text, to))
		return
	}
	var h historyResult
	select {
	case h = <-histc:
	case <-hctx.Done():
		h.err = hctx.Err()
	}
	if h.err != nil {
		b.log.WarnContext(ctx, "history unavailable: answering without it", "error", h.err)
	}
	now := b.cfg.Now()
	v := quotaView{
		To: to, Label: tok.Label, Now: now, Loc: b.cfg.Location,
		Quota: q, History: h.err == nil, Threshold: b.threshold(), Monitor: monitorUnknown,
	}
	if h.err == nil {
		v.Hour, v.Day, v.Monitor, v.MonitorAt = summarize(h.recs, q, at, now, b.cfg.MonitorInterval)
	}
	b.post(ctx, to.Room, renderAnswer(b.text, v))
}

// ownMessage reports whether the message answered is the bot's own: its
// account was unknown when the message arrived, and a reading (GET /me)
// named it just now.
func (b *Bot) ownMessage(ctx context.Context, to replyTo) bool {
	if self := b.self.Load(); self != 0 && self == to.Account {
		b.log.DebugContext(ctx, "own message ignored", "account_id", to.Account)
		return true
	}
	return false
}

// cannotPost reports, and logs, whether the reading of tok failed in a way
// that leaves the bot unable to post: its own token rejected, or its quota
// exhausted until the reset (a post would be one more 429).
func (b *Bot) cannotPost(ctx context.Context, tok Token, err error) bool {
	if tok.Label != b.cfg.TokenLabel {
		return false
	}
	switch chatwork.KindOf(err) {
	case chatwork.KindQuotaExhausted:
		b.log.WarnContext(ctx, "quota exhausted: cannot answer", quotaAttrs(chatwork.QuotaOf(err))...)
		return true
	case chatwork.KindInvalidToken:
		b.log.ErrorContext(ctx, "API token rejected: cannot answer", "error", err)
		return true
	}
	return false
}

// answerFleet answers /quota with every token in one message, lowest
// remaining first, failing tokens last: one fresh reading per token (each
// on its own budget), fleetReads at a time.
func (b *Bot) answerFleet(ctx context.Context, to replyTo, tokens []Token) {
	rctx, cancel := shorten(ctx, postReserve)
	defer cancel()
	rows := make([]fleetRow, len(tokens))
	errs := make([]error, len(tokens))
	fanout.Each(len(tokens), fleetReads, func(i int) {
		tok := tokens[i]
		rows[i].Label = tok.Label
		rows[i].Quota, _, errs[i] = b.readQuota(rctx, tok)
		switch q := chatwork.QuotaOf(errs[i]); {
		case errs[i] == nil:
		case chatwork.KindOf(errs[i]) == chatwork.KindQuotaExhausted && q != nil:
			rows[i].Quota, rows[i].Quota.Remaining = *q, 0 // a 429 is a reading of 0
		default:
			rows[i].Kind = chatwork.KindOf(errs[i]).String()
			b.log.WarnContext(ctx, "read quota failed", "token", tok.Label, "kind", rows[i].Kind, "error", errs[i])
		}
	})
	if b.ownMessage(ctx, to) || b.cannotPost(ctx, tokens[0], errs[0]) {
		return
	}
	slices.SortFunc(rows, func(x, y fleetRow) int {
		failed := func(r fleetRow) int { return min(len(r.Kind), 1) }
		return cmp.Or(cmp.Compare(failed(x), failed(y)), cmp.Compare(x.Quota.Remaining, y.Quota.Remaining), strings.Compare(x.Label, y.Label))
	})
	b.post(ctx, to.Room, renderFleet(b.text, fleetView{To: to, Now: b.cfg.Now(), Loc: b.cfg.Location, Rows: rows, Threshold: b.threshold()}))
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
	b.replied(ctx, room, err, "message_id", posted.MessageID)
}

// postFile uploads a reply (a chart) into room, like post.
func (b *Bot) postFile(ctx context.Context, room int64, f chatwork.File) {
	up, err := b.upload(ctx, room, f)
	b.replied(ctx, room, err, "file_id", up.FileID)
}

// replied logs how a reply into room went; id names what ChatWork made of
// it.
func (b *Bot) replied(ctx context.Context, room int64, err error, id ...any) {
	switch {
	case err == nil:
		b.log.InfoContext(ctx, "replied", append([]any{"room_id", room}, id...)...)
	case chatwork.KindOf(err) == chatwork.KindQuotaExhausted:
		b.log.WarnContext(ctx, "quota exhausted: reply dropped", append([]any{"room_id", room}, quotaAttrs(chatwork.QuotaOf(err))...)...)
	default:
		b.log.WarnContext(ctx, "reply failed", "room_id", room, "kind", chatwork.KindOf(err).String(), "error", err)
	}
}

// send posts body to room (see inRoom).
func (b *Bot) send(ctx context.Context, room int64, body string) (chatwork.Posted, error) {
	var posted chatwork.Posted
	err := b.inRoom(ctx, room, func() (time.Time, *chatwork.Quota, error) {
		var err error
		posted, err = b.cw.Post(ctx, room, body)
		return posted.At, posted.Quota, err
	})
	return posted, err
}

// upload posts the file f, with its message, into room in one call that
// counts toward the room's posting limit like a post (see inRoom).
func (b *Bot) upload(ctx context.Context, room int64, f chatwork.File) (chatwork.Uploaded, error) {
	var up chatwork.Uploaded
	err := b.inRoom(ctx, room, func() (time.Time, *chatwork.Quota, error) {
		var err error
		up, err = b.cw.Upload(ctx, room, f)
		return up.At, up.Quota, err
	})
	return up, err
}

// inRoom makes call, which posts into room (a message or a file), and
// records every response. On the per-room limit it waits once, for the
// room's window or as much of it as the deadline allows, and calls again;
// on the token's quota nothing can be posted. The error is the last
// attempt's.
func (b *Bot) inRoom(ctx context.Context, room int64, call func() (time.Time, *chatwork.Quota, error)) error {
	at, q, err := call()
	b.recordCall(ctx, b.cfg.TokenLabel, at, q, err)
	if chatwork.KindOf(err) != chatwork.KindRoomLimit {
		return err
	}
	wait := roomWindow
	if dl, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(dl)-postAllowance).Truncate(time.Second)
	}
	if wait < minRoomWait {
		b.log.WarnContext(ctx, "per-room posting limit and no time left to wait", "room_id", room)
		return err
	}
	b.log.InfoContext(ctx, "per-room posting limit: waiting once", "room_id", room, "wait", wait.String())
	if serr := b.cfg.Sleep(ctx, wait); serr != nil {
		b.log.WarnContext(ctx, "wait for the per-room limit cut short", "room_id", room, "error", serr)
		return err
	}
	at, q, err = call()
	b.recordCall(ctx, b.cfg.TokenLabel, at, q, err)
	return err
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
	end := time.Now().Add(recordTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Add(recordReserve).Before(end) {
		end = dl.Add(recordReserve) // never more than recordReserve past the work's deadline
	}
	rctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), end)
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
