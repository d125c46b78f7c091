package chatworksim

import (
	"encoding/json"
	"strconv"
	"time"
)

// WindowStat is one rate-limit window of a token, as it really was.
type WindowStat struct {
	Start, Reset time.Time
	// Low is the least X-RateLimit-Remaining any response in the window
	// showed (or would have shown): max(0, Limit-Calls).
	Low int
	// Calls is every request counted in the window; Other is the part of
	// it that came through Spend.
	Calls, Other int
}

// window is a WindowStat in compact form: benchmarks keep ~10^5 per token.
type window struct {
	start, reset int64 // Unix nanoseconds
	calls, other int
}

type account struct {
	id    int64
	name  string
	me    []byte // the /me body, built once
	calls int    // every request with this token
	other int    // the part of calls made through Spend
	phase int64  // WindowFixed: windows start this far past a multiple of Window

	cur     window
	hasCur  bool
	history []window // past windows, oldest first; see appendKeep
}

// rateState is what one counted request sees.
type rateState struct {
	limit, remaining int
	resetHeader      int64 // X-RateLimit-Reset, Unix seconds
	exhausted        bool  // the request is over the limit
}

// maxUnknownTokens bounds the calls-by-unknown-token table, which a stray
// client of a long-running sandbox could otherwise grow without end.
const maxUnknownTokens = 1024

// meJSON is ChatWork's GET /me body.
type meJSON struct {
	AccountID        int64  `json:"account_id"`
	RoomID           int64  `json:"room_id"`
	Name             string `json:"name"`
	ChatworkID       string `json:"chatwork_id"`
	OrganizationID   int64  `json:"organization_id"`
	OrganizationName string `json:"organization_name"`
	Department       string `json:"department"`
	Title            string `json:"title"`
	URL              string `json:"url"`
	Introduction     string `json:"introduction"`
	Mail             string `json:"mail"`
	TelOrganization  string `json:"tel_organization"`
	TelExtension     string `json:"tel_extension"`
	TelMobile        string `json:"tel_mobile"`
	Skype            string `json:"skype"`
	Facebook         string `json:"facebook"`
	Twitter          string `json:"twitter"`
	AvatarImageURL   string `json:"avatar_image_url"`
	LoginMail        string `json:"login_mail"`
}

const avatarURL = "https://appdata.chatwork.com/avatar/ico_default_blue.png"

// myChatRoomID is the account's own "My Chat" room, which /me reports and
// AddAccount creates.
func myChatRoomID(accountID int64) int64 { return 900_000_000 + accountID }

// AddAccount registers an API token for the account. Registering a token
// again renames the account but keeps its counters. It also creates the
// account's "My Chat" room, whose id /me reports.
func (s *Server) AddAccount(token string, accountID int64, name string) {
	me, _ := json.Marshal(meJSON{ // cannot fail: only strings and numbers
		AccountID:        accountID,
		RoomID:           myChatRoomID(accountID),
		Name:             name,
		ChatworkID:       "user" + strconv.FormatInt(accountID, 10),
		OrganizationName: "Quotabot Sandbox",
		AvatarImageURL:   avatarURL,
		LoginMail:        "user" + strconv.FormatInt(accountID, 10) + "@example.com",
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[token]
	if a == nil {
		a = &account{}
		s.accounts[token] = a
	}
	a.id, a.name, a.me = accountID, name, me
	s.byID[accountID] = a
	s.roomLocked(myChatRoomID(accountID))
}

// windowStart is where the window containing now starts if a call at now
// opens one.
func (s *Server) windowStart(a *account, now int64) int64 {
	w := int64(s.cfg.Window)
	if s.cfg.Mode == WindowFirstCall {
		if w%int64(time.Second) == 0 {
			return floorTo(now, int64(time.Second))
		}
		return now
	}
	return floorTo(now-a.phase, w) + a.phase
}

// SetPhase makes token's fixed windows (WindowFixed) start phase past a
// multiple of Window, as tokens first used at different times have their
// windows at different times; the window under way keeps its reset.
func (s *Server) SetPhase(token string, phase time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.accounts[token]; a != nil {
		a.phase = int64(phase)
	}
}

// floorTo rounds n down to a multiple of m, also for negative n.
func floorTo(n, m int64) int64 {
	r := n % m
	if r < 0 {
		r += m
	}
	return n - r
}

// ceilSeconds is Unix nanoseconds as whole Unix seconds, rounded up.
func ceilSeconds(ns int64) int64 {
	return -floorTo(-ns, int64(time.Second)) / int64(time.Second)
}

// rollLocked makes a.cur the window that holds now, archiving the old one.
func (s *Server) rollLocked(a *account, now int64) {
	if a.hasCur && now < a.cur.reset {
		return
	}
	if a.hasCur {
		a.history = appendKeep(a.history, a.cur, s.cfg.WindowHistory)
	}
	start := s.windowStart(a, now)
	a.cur = window{start: start, reset: start + int64(s.cfg.Window)}
	a.hasCur = true
}

// countLocked counts n requests from a at now and returns what the last of
// them sees.
func (s *Server) countLocked(a *account, now time.Time, n int, other bool) rateState {
	a.calls += n
	if other {
		a.other += n
	}
	s.rollLocked(a, now.UnixNano())
	a.cur.calls += n
	if other {
		a.cur.other += n
	}
	limit := s.cfg.Limit
	return rateState{
		limit:       limit,
		remaining:   max(limit-a.cur.calls, 0),
		resetHeader: ceilSeconds(a.cur.reset),
		exhausted:   a.cur.calls > limit,
	}
}

func (s *Server) countUnknownLocked(token string, n int) {
	if _, ok := s.unknown[token]; ok || len(s.unknown) < maxUnknownTokens {
		s.unknown[token] += n
	}
}

// Calls is the number of requests seen with token, whatever their outcome
// (401, 429, faulted), including those made through Spend.
func (s *Server) Calls(token string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.accounts[token]; a != nil {
		return a.calls
	}
	return s.unknown[token]
}

// OtherCalls is the part of Calls(token) made through Spend, so
// Calls-OtherCalls is what the code under test spent.
func (s *Server) OtherCalls(token string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.accounts[token]; a != nil {
		return a.other
	}
	return 0
}

// Quota is the token's state as a request made now would find it, before
// that request is counted: after a reset, the full limit and the reset the
// next window would have. It spends nothing. Unknown tokens give zeros.
func (s *Server) Quota(token string) (limit, remaining int, reset time.Time) {
	now := s.clock.Now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[token]
	if a == nil {
		return 0, 0, time.Time{}
	}
	limit = s.cfg.Limit
	if a.hasCur && now < a.cur.reset {
		return limit, max(limit-a.cur.calls, 0), time.Unix(0, a.cur.reset).UTC()
	}
	return limit, limit, time.Unix(0, s.windowStart(a, now)+int64(s.cfg.Window)).UTC()
}

// Spend makes n requests with token now, for another program sharing it,
// and returns how many were not refused with 429. They count in Calls and
// OtherCalls; an unknown token spends nothing and gets 0.
func (s *Server) Spend(token string, n int) int {
	if n <= 0 {
		return 0
	}
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[token]
	if a == nil {
		s.countUnknownLocked(token, n)
		return 0
	}
	before := a.cur.calls
	if !a.hasCur || now.UnixNano() >= a.cur.reset {
		before = 0 // these calls open a new window
	}
	s.countLocked(a, now, n, true)
	return min(n, max(s.cfg.Limit-before, 0))
}

// Windows lists the token's windows that had a call, oldest first and the
// current one last, up to Config.WindowHistory past ones.
func (s *Server) Windows(token string) []WindowStat {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[token]
	if a == nil {
		return nil
	}
	hist := a.history
	if keep := s.cfg.WindowHistory; len(hist) > keep {
		hist = hist[len(hist)-keep:]
	}
	out := make([]WindowStat, 0, len(hist)+1)
	for _, w := range hist {
		out = append(out, s.stat(w))
	}
	if a.hasCur {
		out = append(out, s.stat(a.cur))
	}
	return out
}

func (s *Server) stat(w window) WindowStat {
	return WindowStat{
		Start: time.Unix(0, w.start).UTC(),
		Reset: time.Unix(0, w.reset).UTC(),
		Low:   max(s.cfg.Limit-w.calls, 0),
		Calls: w.calls,
		Other: w.other,
	}
}
