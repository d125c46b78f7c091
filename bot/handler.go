package bot

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
)

const (
	// answerWithin bounds the handling of one delivery, from its arrival to
	// its 200: ChatWork does not say how long it waits for the answer, and
	// disables a webhook whose deliveries fail. Every wait inside is bounded
	// to fit (see run), and the second left to the promised 10 s covers
	// Lambda's own overhead.
	answerWithin = 9 * time.Second
	// recordReserve is kept after a reply's last ChatWork call for writing
	// its record.
	recordReserve = 2 * time.Second
	// postReserve is kept after a reply's readings for its post.
	postReserve = 3 * time.Second
	// workBudget bounds an alarm's handling when the context carries no
	// deadline (the local sandbox). On Lambda the invocation's deadline is
	// used instead.
	workBudget = 30 * time.Second
	// deadlineMargin is kept free before the invocation's deadline: work cut
	// off there would leave the records unwritten.
	deadlineMargin = 2 * time.Second
	// maxEventAge: a delivery whose webhook_event_time is further than this
	// from now, either way, is refused as a replay of a captured delivery.
	maxEventAge = 10 * time.Minute
)

// Handler returns the webhook endpoint, the same on every path (a Function
// URL has no routing). It checks, in order: method, size, signature over the
// raw body. Nothing reaches ChatWork before the signature is verified, and a
// genuine delivery always gets 200, even one that cannot be parsed: ChatWork
// disables a webhook whose deliveries keep failing.
func (b *Bot) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			respond(w, http.StatusMethodNotAllowed, "method not allowed")
			return
		}
		// The work must not die with the HTTP request (ChatWork may hang up
		// before the answer is posted), yet it ends within answerWithin.
		ctx, cancel := withBudget(context.WithoutCancel(r.Context()), r.Context(), answerWithin)
		defer cancel()
		body, err := b.readBody(w, r)
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				b.log.WarnContext(r.Context(), "webhook body too large", "limit", b.cfg.MaxBody)
				respond(w, http.StatusRequestEntityTooLarge, "too large")
				return
			}
			b.log.WarnContext(r.Context(), "webhook body unreadable", "error", err)
			respond(w, http.StatusBadRequest, "bad request")
			return
		}
		if !b.signed(ctx, r, body) {
			// No detail in the log beyond this: the signature itself is
			// attacker-controlled noise, and the body may be anything.
			b.log.WarnContext(r.Context(), "webhook signature missing or wrong", "bytes", len(body))
			respond(w, http.StatusUnauthorized, "unauthorized")
			return
		}
		respond(w, http.StatusOK, b.deliver(ctx, body))
	})
}

// respond writes a short plain-text answer; ChatWork wants at most 2,048
// bytes and reads nothing from it.
func respond(w http.ResponseWriter, status int, text string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, text+"\n")
}

func (b *Bot) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > b.cfg.MaxBody {
		return nil, &http.MaxBytesError{Limit: b.cfg.MaxBody}
	}
	if r.Body == nil {
		return nil, nil
	}
	return io.ReadAll(http.MaxBytesReader(w, r.Body, b.cfg.MaxBody))
}

// signed reports whether the header or the query parameter carries body's
// signature; either suffices, as ChatWork sends both.
func (b *Bot) signed(ctx context.Context, r *http.Request, body []byte) bool {
	for _, sig := range chatwork.Signatures(r) {
		if b.verifier.Verify(ctx, body, sig) {
			return true
		}
	}
	return false
}

// withBudget bounds work on ctx to end after limit, or deadlineMargin
// before from's deadline if that comes first.
func withBudget(ctx, from context.Context, limit time.Duration) (context.Context, context.CancelFunc) {
	end := time.Now().Add(limit)
	if dl, ok := from.Deadline(); ok && dl.Add(-deadlineMargin).Before(end) {
		end = dl.Add(-deadlineMargin)
	}
	return context.WithDeadline(ctx, end)
}

// shorten ends ctx d before its deadline, if it has one.
func shorten(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if dl, ok := ctx.Deadline(); ok {
		return context.WithDeadline(ctx, dl.Add(-d))
	}
	return context.WithCancel(ctx)
}

// deliver handles one verified delivery and returns the text of the 200
// answer. What cannot be parsed is logged and ignored.
func (b *Bot) deliver(ctx context.Context, body []byte) string {
	var p chatwork.WebhookPayload
	if err := json.Unmarshal(body, &p); err != nil {
		b.log.WarnContext(ctx, "signed webhook body is not JSON: ignored", "error", err)
		return "ignored"
	}
	switch p.EventType {
	case chatwork.EventMessageCreated, chatwork.EventMentionToMe, chatwork.EventMessageUpdated:
	default:
		b.log.InfoContext(ctx, "webhook event type ignored", "event", truncate(p.EventType, 40))
		return "ignored"
	}
	var ev chatwork.WebhookEvent
	if err := json.Unmarshal(p.Event, &ev); err != nil {
		b.log.WarnContext(ctx, "signed webhook event is malformed: ignored", "event", p.EventType, "error", err)
		return "ignored"
	}
	if p.EventType == chatwork.EventMessageUpdated || ev.UpdateTime != 0 {
		// An edit must not answer a second time. mention_to_me tells an
		// edit only by its update_time; message_created should never carry
		// one, and is held to the same rule if it does.
		b.log.DebugContext(ctx, "webhook edit ignored", "event", p.EventType)
		return "ignored"
	}
	attrs := []any{"event", p.EventType, "room_id", ev.RoomID, "message_id", truncate(ev.MessageID, 40), "sender", ev.Sender()}
	if self := b.self.Load(); self != 0 && ev.Sender() == self {
		// The bot's own replies come back as events too; answering them
		// would loop.
		b.log.DebugContext(ctx, "own message ignored", attrs...)
		return "ignored"
	}
	if !b.rooms[ev.RoomID] {
		b.log.InfoContext(ctx, "message from a room that is not allowed", attrs...)
		return "ignored"
	}
	cmd := parseCommand(ev.Body)
	if cmd.kind == cmdNone {
		return "ignored"
	}
	now := b.cfg.Now()
	if at := time.Unix(p.EventTime, 0); at.Before(now.Add(-maxEventAge)) || at.After(now.Add(maxEventAge)) {
		b.log.WarnContext(ctx, "webhook_event_time is more than 10 minutes from now: refused as a replay", append(attrs, "event_time", p.EventTime)...)
		return "ignored"
	}
	if ev.MessageID == "" {
		b.log.WarnContext(ctx, "delivery without a message id: not answered", attrs...)
		return "ignored"
	}
	// A message that mentions the bot in a room with a room webhook arrives
	// twice (message_created and mention_to_me), and two instances may get
	// it at once: answer it once.
	switch first, err := b.state.Answered(ctx, ev.RoomID, truncate(ev.MessageID, 128), now); {
	case err != nil:
		b.log.WarnContext(ctx, "state unavailable: answering anyway, the answer may be repeated", append(attrs, "error", err)...)
	case !first:
		b.log.InfoContext(ctx, "duplicate delivery ignored", attrs...)
		return "ignored"
	}
	b.log.InfoContext(ctx, "command", append(attrs, "command", cmd.kind.String())...)
	to := replyTo{Account: ev.Sender(), Room: ev.RoomID, MessageID: ev.MessageID}
	b.run(ctx, cmd, to)
	return "ok"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
