package chatworksim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
)

// Webhook is a webhook setting. RoomID set: a room event webhook that gets
// message_created for that room (message_updated for an edit).
// MentionAccountID set: an account event webhook that gets mention_to_me
// for messages addressed to that account, edits included (update_time set).
// Both set: both.
type Webhook struct {
	URL              string
	Token            string // base64, as ChatWork shows it
	RoomID           int64
	MentionAccountID int64
	SettingID        string // default: assigned ("1", "2", ...)
}

// Delivery is one webhook POST and its outcome.
type Delivery struct {
	URL       string // the webhook's URL, without the signature parameter
	SettingID string
	EventType string // message_created, message_updated or mention_to_me
	MessageID string
	Status    int    // the receiver's HTTP status; 0 when there was none
	Err       string // empty on success (200 with a body of at most 2,048 bytes)
	Body      []byte // the JSON payload sent
}

type hook struct {
	Webhook
	url     *url.URL
	queue   []job
	running bool // a goroutine is draining queue
}

type job struct {
	eventType string
	messageID string
	body      []byte
}

// AddWebhook registers a webhook. It fails, registering nothing, when the
// URL is not an absolute http(s) URL, the token is not base64, or the
// webhook names neither a room nor an account.
func (s *Server) AddWebhook(w Webhook) error {
	u, err := url.Parse(w.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("chatworksim: webhook URL %q is not an absolute http(s) URL", w.URL)
	}
	if _, err := chatwork.Sign(w.Token, nil); err != nil {
		return errors.New("chatworksim: webhook token is not valid base64")
	}
	if w.RoomID == 0 && w.MentionAccountID == 0 {
		return errors.New("chatworksim: webhook needs a RoomID or a MentionAccountID")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextHook++
	if w.SettingID == "" {
		w.SettingID = strconv.Itoa(s.nextHook)
	}
	s.hooks = append(s.hooks, &hook{Webhook: w, url: u})
	return nil
}

// notifyLocked queues the deliveries a landed or edited message causes. It
// runs with s.mu held, so each webhook's queue is in landing order.
func (s *Server) notifyLocked(m Message, now time.Time) {
	roomEvent := chatwork.EventMessageCreated
	if m.UpdateTime != 0 {
		roomEvent = chatwork.EventMessageUpdated
	}
	for _, h := range s.hooks {
		if h.RoomID == m.RoomID {
			s.enqueue(h, roomEvent, m.ID, now, chatwork.WebhookEvent{
				MessageID: m.ID, RoomID: m.RoomID, AccountID: m.AccountID,
				Body: m.Body, SendTime: m.SendTime, UpdateTime: m.UpdateTime,
			})
		}
		if h.MentionAccountID != 0 && mentions(m.Body, h.MentionAccountID) {
			s.enqueue(h, chatwork.EventMentionToMe, m.ID, now, chatwork.WebhookEvent{
				FromAccountID: m.AccountID, ToAccountID: h.MentionAccountID,
				RoomID: m.RoomID, MessageID: m.ID,
				Body: m.Body, SendTime: m.SendTime, UpdateTime: m.UpdateTime,
			})
		}
	}
}

// mentions reports whether body addresses id with [To:id] or [rp aid=id ...].
func mentions(body string, id int64) bool {
	for _, tag := range [...]string{"[To:", "[rp aid="} {
		for rest := body; ; {
			i := strings.Index(rest, tag)
			if i < 0 {
				break
			}
			rest = rest[i+len(tag):]
			n := 0
			for n < len(rest) && '0' <= rest[n] && rest[n] <= '9' {
				n++
			}
			if n == 0 || n == len(rest) || (rest[n] != ']' && !(tag == "[rp aid=" && rest[n] == ' ')) {
				continue
			}
			if v, err := strconv.ParseInt(rest[:n], 10, 64); err == nil && v == id {
				return true
			}
		}
	}
	return false
}

// enqueue queues one delivery of ev, in the payload ChatWork sends.
func (s *Server) enqueue(h *hook, eventType, messageID string, now time.Time, ev chatwork.WebhookEvent) {
	event, err := json.Marshal(ev)
	if err != nil {
		return // cannot happen: strings and numbers only
	}
	body, err := json.Marshal(chatwork.WebhookPayload{SettingID: h.SettingID, EventType: eventType, EventTime: now.Unix(), Event: event})
	if err != nil {
		return
	}
	s.dmu.Lock()
	defer s.dmu.Unlock()
	if s.pending == 0 {
		s.idle = make(chan struct{})
	}
	s.pending++
	h.queue = append(h.queue, job{eventType: eventType, messageID: messageID, body: body})
	if !h.running {
		h.running = true
		go s.drain(h)
	}
}

// drain delivers h's queue in order and exits when it is empty; a
// goroutine per busy webhook, none when idle.
func (s *Server) drain(h *hook) {
	for {
		s.dmu.Lock()
		if len(h.queue) == 0 {
			h.running = false
			s.dmu.Unlock()
			return
		}
		j := h.queue[0]
		h.queue[0] = job{}
		h.queue = h.queue[1:]
		s.dmu.Unlock()

		d := s.deliver(h, j)
		if d.Err != "" && s.cfg.Logf != nil {
			s.cfg.Logf("chatworksim: webhook %s %s for message %s: %s", d.SettingID, d.EventType, d.MessageID, d.Err)
		}

		s.dmu.Lock()
		s.deliveries = appendKeep(s.deliveries, d, s.cfg.DeliveryHistory)
		// Anything the receiver caused (a reply it posted before answering)
		// was queued before this point, so pending cannot touch 0 mid-chain.
		if s.pending--; s.pending == 0 {
			close(s.idle)
		}
		s.dmu.Unlock()
	}
}

// maxWebhookResponse is the largest response body ChatWork accepts.
const maxWebhookResponse = 2048

func (s *Server) deliver(h *hook, j job) Delivery {
	d := Delivery{URL: h.URL, SettingID: h.SettingID, EventType: j.eventType, MessageID: j.messageID, Body: j.body}
	sig, err := chatwork.Sign(h.Token, j.body)
	if err != nil {
		d.Err = err.Error() // AddWebhook checked the token: cannot happen
		return d
	}
	u := *h.url
	q := u.Query()
	q.Set("chatwork_webhook_signature", sig)
	u.RawQuery = q.Encode()

	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, u.String(), bytes.NewReader(j.body))
	if err != nil {
		d.Err = err.Error()
		return d
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "ChatWork-Webhook/1.0 (chatworksim)")
	req.Header.Set("X-ChatWorkWebhookSignature", sig)
	resp, err := s.cfg.WebhookClient.Do(req)
	if err != nil {
		d.Err = err.Error()
		return d
	}
	defer resp.Body.Close()
	d.Status = resp.StatusCode
	n, err := io.Copy(io.Discard, io.LimitReader(resp.Body, maxWebhookResponse+1))
	switch {
	case err != nil:
		d.Err = "reading response: " + err.Error()
	case resp.StatusCode != http.StatusOK:
		d.Err = "status " + strconv.Itoa(resp.StatusCode) + ", want 200"
	case n > maxWebhookResponse:
		d.Err = "response body longer than 2048 bytes"
	}
	return d
}

// Deliveries returns the deliveries made so far (the last
// Config.DeliveryHistory), in the order they finished.
func (s *Server) Deliveries() []Delivery {
	s.dmu.Lock()
	defer s.dmu.Unlock()
	return append([]Delivery(nil), s.deliveries...)
}

// WaitIdle returns when no delivery is queued or in flight, those of the
// replies a receiver posts before answering included, or with ctx's error.
func (s *Server) WaitIdle(ctx context.Context) error {
	for {
		s.dmu.Lock()
		idle := s.idle
		s.dmu.Unlock()
		select {
		case <-idle:
			// A message may have landed between the close and now.
			s.dmu.Lock()
			done := s.pending == 0
			s.dmu.Unlock()
			if done {
				return nil
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
