package chatworksim

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"
)

// Message is a message as it landed in a room.
type Message struct {
	ID         string
	RoomID     int64
	AccountID  int64
	Body       string
	SendTime   int64 // Unix seconds
	UpdateTime int64 // 0 until edited (see Edit)
}

type room struct {
	id   int64
	msgs []Message // oldest first
	// dropped counts messages trimmed from the front, so a message's
	// sequence number (1-based, never reused) is dropped+index+1.
	dropped int64
	// read is each account's last read sequence number, for GET
	// .../messages without force.
	read map[int64]int64
	// posts is a ring of the times (Unix ns) of the last RoomPostLimit
	// accepted API posts; next is the slot of the oldest once full.
	posts []int64
	next  int
	files []File // oldest first; see appendKeep
}

// AddRoom creates a room; adding an existing room does nothing.
func (s *Server) AddRoom(roomID int64) {
	s.mu.Lock()
	s.roomLocked(roomID)
	s.mu.Unlock()
}

func (s *Server) roomLocked(id int64) *room {
	r := s.rooms[id]
	if r == nil {
		r = &room{id: id, read: make(map[int64]int64)}
		s.rooms[id] = r
	}
	return r
}

// allowPost applies the sliding per-room posting window and, if the post
// is allowed, records it.
func (s *Server) allowPost(r *room, now int64) bool {
	if len(r.posts) < s.cfg.RoomPostLimit {
		r.posts = append(r.posts, now)
		return true
	}
	if now-r.posts[r.next] < int64(s.cfg.RoomPostWindow) {
		return false
	}
	r.posts[r.next] = now
	r.next = (r.next + 1) % len(r.posts)
	return true
}

// Say is a person typing body into the room as accountID: the message lands
// (creating the room if needed) and webhooks fire, but no API quota or
// posting limit is involved. It returns the message id.
func (s *Server) Say(roomID, accountID int64, body string) string {
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.landLocked(s.roomLocked(roomID), accountID, body, now).ID
}

// Edit is the author changing a message's text: it keeps its id, gets an
// update time, and webhooks fire as ChatWork's do for an edit. It reports
// whether the room still keeps the message.
func (s *Server) Edit(roomID int64, messageID, body string) bool {
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.rooms[roomID]; r != nil {
		for i := range r.msgs {
			if m := &r.msgs[i]; m.ID == messageID {
				m.Body, m.UpdateTime = body, now.Unix()
				s.notifyLocked(*m, now)
				return true
			}
		}
	}
	return false
}

// Messages returns the messages the room keeps (the last
// Config.MessageHistory), oldest first; nil for an unknown room.
func (s *Server) Messages(roomID int64) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rooms[roomID]
	if r == nil {
		return nil
	}
	return append([]Message(nil), r.msgs...)
}

// landLocked stores a message and queues its webhook deliveries.
func (s *Server) landLocked(r *room, accountID int64, body string, now time.Time) Message {
	s.lastMsg++
	m := Message{
		ID:        strconv.FormatInt(s.lastMsg, 10),
		RoomID:    r.id,
		AccountID: accountID,
		Body:      body,
		SendTime:  now.Unix(),
	}
	before := len(r.msgs) + 1
	r.msgs = appendKeep(r.msgs, m, s.cfg.MessageHistory)
	r.dropped += int64(before - len(r.msgs))
	s.notifyLocked(m, now)
	return m
}

const maxBodyChars = 65535

func (s *Server) postMessage(req *http.Request, a *account, roomID int64, now time.Time) reply {
	// 65,535 characters of up to 4 UTF-8 bytes, form-encoded (×3), with room
	// for other fields.
	req.Body = http.MaxBytesReader(nil, req.Body, 1<<20)
	var bad string
	if err := req.ParseForm(); err != nil {
		bad = "Invalid request body"
	} else if body, ok := req.PostForm["body"]; !ok || len(body[0]) == 0 {
		bad = "Parameter body is required"
	} else if utf8.RuneCountInString(body[0]) > maxBodyChars {
		bad = "Parameter body is too long (max 65535 characters)"
	} else if su, ok := req.PostForm["self_unread"]; ok && su[0] != "0" && su[0] != "1" {
		bad = "Parameter self_unread must be 0 or 1"
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rooms[roomID]
	switch {
	case r == nil:
		return replyNotFound
	case bad != "":
		return errorReply(http.StatusBadRequest, bad)
	case !s.allowPost(r, now.UnixNano()):
		rep := replyRoomLimit
		rep.noHeaders = s.cfg.RoomLimitNoHeaders
		return rep
	}
	m := s.landLocked(r, a.id, req.PostForm["body"][0], now)
	b := make([]byte, 0, 48)
	b = append(b, `{"message_id":`...)
	b = strconv.AppendQuote(b, m.ID)
	return reply{status: http.StatusOK, body: append(b, '}')}
}

// messageJSON is one element of GET /rooms/{id}/messages.
type messageJSON struct {
	MessageID  string      `json:"message_id"`
	Account    accountJSON `json:"account"`
	Body       string      `json:"body"`
	SendTime   int64       `json:"send_time"`
	UpdateTime int64       `json:"update_time"`
}

type accountJSON struct {
	AccountID      int64  `json:"account_id"`
	Name           string `json:"name"`
	AvatarImageURL string `json:"avatar_image_url"`
}

// maxListed is how many messages one GET returns, as on ChatWork.
const maxListed = 100

func (s *Server) getMessages(req *http.Request, a *account, roomID int64) reply {
	force := false
	switch req.URL.Query().Get("force") {
	case "", "0":
	case "1":
		force = true
	default:
		return errorReply(http.StatusBadRequest, "Parameter force must be 0 or 1")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rooms[roomID]
	if r == nil {
		return replyNotFound
	}
	msgs := r.msgs
	if !force {
		// Only what this account has not fetched yet.
		skip := max(r.read[a.id]-r.dropped, 0)
		msgs = msgs[min(skip, int64(len(msgs))):]
	}
	r.read[a.id] = r.dropped + int64(len(r.msgs))
	if len(msgs) > maxListed {
		msgs = msgs[len(msgs)-maxListed:]
	}
	if len(msgs) == 0 {
		return reply{status: http.StatusNoContent}
	}
	out := make([]messageJSON, len(msgs))
	for i, m := range msgs {
		name := "User " + strconv.FormatInt(m.AccountID, 10)
		if p := s.byID[m.AccountID]; p != nil {
			name = p.name
		}
		out[i] = messageJSON{
			MessageID:  m.ID,
			Account:    accountJSON{AccountID: m.AccountID, Name: name, AvatarImageURL: avatarURL},
			Body:       m.Body,
			SendTime:   m.SendTime,
			UpdateTime: m.UpdateTime,
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return errorReply(http.StatusInternalServerError, "Internal error")
	}
	return reply{status: http.StatusOK, body: b}
}
