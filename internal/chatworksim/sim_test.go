package chatworksim_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/chatworksim"
)

const (
	token  = "token-bot"
	botID  = 1001
	roomID = 42
)

// t0 is on a 5-minute boundary: 2025-01-01T00:00:00Z.
var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

type result struct {
	status int
	header http.Header
	body   []byte
	err    error
}

// call makes one API request; form non-nil makes it a POST.
func call(t testing.TB, c *http.Client, method, u, tok string, form url.Values) result {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if tok != "" {
		req.Header.Set("X-ChatWorkToken", tok)
	}
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return result{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return result{status: resp.StatusCode, header: resp.Header, body: b, err: err}
}

func (r result) rate(t testing.TB) (limit, remaining int, reset int64) {
	t.Helper()
	var err error
	if limit, err = strconv.Atoi(r.header.Get("X-RateLimit-Limit")); err != nil {
		t.Fatalf("X-RateLimit-Limit: %v", err)
	}
	if remaining, err = strconv.Atoi(r.header.Get("X-RateLimit-Remaining")); err != nil {
		t.Fatalf("X-RateLimit-Remaining: %v", err)
	}
	if reset, err = strconv.ParseInt(r.header.Get("X-RateLimit-Reset"), 10, 64); err != nil {
		t.Fatalf("X-RateLimit-Reset: %v", err)
	}
	return
}

func hasRateHeaders(h http.Header) bool {
	return h.Get("X-RateLimit-Limit") != "" || h.Get("X-RateLimit-Remaining") != "" || h.Get("X-RateLimit-Reset") != ""
}

func errorsOf(t testing.TB, b []byte) []string {
	t.Helper()
	var e struct{ Errors []string }
	if err := json.Unmarshal(b, &e); err != nil || len(e.Errors) == 0 {
		t.Fatalf("body %q is not {\"errors\":[...]}", b)
	}
	return e.Errors
}

func start(t *testing.T, cfg chatworksim.Config) (*chatworksim.Server, string, *chatworksim.FakeClock) {
	t.Helper()
	clock := chatworksim.NewFakeClock(t0)
	if cfg.Clock == nil {
		cfg.Clock = clock
	}
	s, base := chatworksim.Start(t, cfg)
	s.AddAccount(token, botID, "Quota Bot")
	s.AddRoom(roomID)
	return s, base, clock
}

func TestHeadersOnEveryResponse(t *testing.T) {
	s, base, _ := start(t, chatworksim.Config{})
	s.Say(roomID, 7, "hello")
	msgs := base + "/rooms/42/messages"
	tests := []struct {
		name   string
		method string
		url    string
		form   url.Values
		status int
	}{
		{"me", "GET", base + "/me", nil, 200},
		{"post", "POST", msgs, url.Values{"body": {"hi"}, "self_unread": {"1"}}, 200},
		{"list", "GET", msgs + "?force=1", nil, 200},
		{"list nothing unread", "GET", msgs, nil, 204},
		{"empty body", "POST", msgs, url.Values{"body": {""}}, 400},
		{"no body", "POST", msgs, url.Values{}, 400},
		{"long body", "POST", msgs, url.Values{"body": {strings.Repeat("あ", 65536)}}, 400},
		{"bad self_unread", "POST", msgs, url.Values{"body": {"x"}, "self_unread": {"yes"}}, 400},
		{"bad room id", "GET", base + "/rooms/abc/messages", nil, 400},
		{"unknown room", "POST", base + "/rooms/99/messages", url.Values{"body": {"x"}}, 404},
		{"unknown route", "GET", base + "/contacts", nil, 404},
		{"wrong method", "DELETE", base + "/me", nil, 405},
	}
	want := 300
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := call(t, nil, tc.method, tc.url, token, tc.form)
			if r.err != nil {
				t.Fatal(r.err)
			}
			if r.status != tc.status {
				t.Fatalf("status %d, want %d (body %s)", r.status, tc.status, r.body)
			}
			if r.status >= 400 {
				errorsOf(t, r.body)
			}
			limit, remaining, reset := r.rate(t)
			want--
			if limit != 300 || remaining != want || reset != t0.Add(5*time.Minute).Unix() {
				t.Errorf("headers %d/%d/%d, want 300/%d/%d", limit, remaining, reset, want, t0.Add(5*time.Minute).Unix())
			}
		})
	}
	if got := s.Calls(token); got != len(tests) {
		t.Errorf("Calls = %d, want %d", got, len(tests))
	}
}

func TestLongBodyAccepted(t *testing.T) {
	s, base, _ := start(t, chatworksim.Config{})
	body := strings.Repeat("あ", 65535) // characters, not bytes
	r := call(t, nil, "POST", base+"/rooms/42/messages", token, url.Values{"body": {body}})
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var got struct {
		MessageID string `json:"message_id"`
	}
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	id, err := strconv.ParseUint(got.MessageID, 10, 64)
	if err != nil || id <= 1<<53 {
		t.Errorf("message_id %q: want a decimal string above 2^53", got.MessageID)
	}
	m := s.Messages(roomID)
	if len(m) != 1 || m[0].ID != got.MessageID || m[0].Body != body || m[0].AccountID != botID || m[0].SendTime != t0.Unix() {
		t.Errorf("Messages = %+v", m)
	}
}

func TestMe(t *testing.T) {
	_, base, _ := start(t, chatworksim.Config{})
	r := call(t, nil, "GET", base+"/me", token, nil)
	var me struct {
		AccountID  int64  `json:"account_id"`
		RoomID     int64  `json:"room_id"`
		Name       string `json:"name"`
		ChatworkID string `json:"chatwork_id"`
	}
	if err := json.Unmarshal(r.body, &me); err != nil {
		t.Fatal(err)
	}
	if me.AccountID != botID || me.Name != "Quota Bot" || me.RoomID == 0 || me.ChatworkID == "" {
		t.Errorf("/me = %+v", me)
	}
	// The My Chat room /me names exists.
	r = call(t, nil, "POST", base+"/rooms/"+strconv.FormatInt(me.RoomID, 10)+"/messages", token, url.Values{"body": {"note"}})
	if r.status != 200 {
		t.Errorf("post to my chat: %d %s", r.status, r.body)
	}
}

func TestUnknownToken(t *testing.T) {
	s, base, _ := start(t, chatworksim.Config{})
	for _, tok := range []string{"", "nope"} {
		r := call(t, nil, "GET", base+"/me", tok, nil)
		if r.status != 401 {
			t.Fatalf("token %q: status %d", tok, r.status)
		}
		if e := errorsOf(t, r.body); e[0] != "Invalid API token" {
			t.Errorf("errors %q", e)
		}
		if hasRateHeaders(r.header) {
			t.Errorf("401 carries rate-limit headers: %v", r.header)
		}
	}
	if s.Calls("nope") != 1 || s.Calls("") != 1 || s.Calls(token) != 0 {
		t.Errorf("Calls: nope %d, empty %d, bot %d", s.Calls("nope"), s.Calls(""), s.Calls(token))
	}
	if n := s.Spend("nope", 3); n != 0 {
		t.Errorf("Spend unknown = %d", n)
	}
}

func TestExhaustAndReset(t *testing.T) {
	s, base, clock := start(t, chatworksim.Config{Limit: 3})
	for i := 2; i >= 0; i-- {
		r := call(t, nil, "GET", base+"/me", token, nil)
		if _, rem, _ := r.rate(t); r.status != 200 || rem != i {
			t.Fatalf("status %d remaining %d, want 200 %d", r.status, rem, i)
		}
	}
	r := call(t, nil, "GET", base+"/me", token, nil)
	limit, rem, reset := r.rate(t)
	if r.status != 429 || limit != 3 || rem != 0 || reset != t0.Add(5*time.Minute).Unix() {
		t.Fatalf("over the limit: %d %d/%d/%d", r.status, limit, rem, reset)
	}
	errorsOf(t, r.body)
	if l, rem, rs := s.Quota(token); l != 3 || rem != 0 || !rs.Equal(t0.Add(5*time.Minute)) {
		t.Errorf("Quota = %d %d %v", l, rem, rs)
	}

	clock.Advance(5*time.Minute - time.Nanosecond)
	if r := call(t, nil, "GET", base+"/me", token, nil); r.status != 429 {
		t.Fatalf("1ns before reset: %d", r.status)
	}
	clock.Advance(time.Nanosecond)
	if _, rem, rs := s.Quota(token); rem != 3 || !rs.Equal(t0.Add(10*time.Minute)) {
		t.Errorf("Quota after reset = %d %v", rem, rs)
	}
	r = call(t, nil, "GET", base+"/me", token, nil)
	if _, rem, reset := r.rate(t); r.status != 200 || rem != 2 || reset != t0.Add(10*time.Minute).Unix() {
		t.Fatalf("after reset: %d %d %d", r.status, rem, reset)
	}
	if got := s.Calls(token); got != 6 {
		t.Errorf("Calls = %d, want 6 (429s count)", got)
	}
}

func TestWindowModes(t *testing.T) {
	tests := []struct {
		name      string
		mode      chatworksim.WindowMode
		first     time.Duration // first call, after t0
		wantStart time.Duration
	}{
		{"fixed aligns to the grid", chatworksim.WindowFixed, 7*time.Minute + 30*time.Second, 5 * time.Minute},
		{"fixed on a boundary", chatworksim.WindowFixed, 10 * time.Minute, 10 * time.Minute},
		{"first call starts the window", chatworksim.WindowFirstCall, 7*time.Minute + 30*time.Second, 7*time.Minute + 30*time.Second},
		{"first call truncated to the second", chatworksim.WindowFirstCall, 7*time.Minute + 1500*time.Millisecond, 7*time.Minute + time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, base, clock := start(t, chatworksim.Config{Mode: tc.mode})
			clock.Advance(tc.first)
			r := call(t, nil, "GET", base+"/me", token, nil)
			wantReset := t0.Add(tc.wantStart + 5*time.Minute)
			if _, _, reset := r.rate(t); reset != wantReset.Unix() {
				t.Errorf("reset %v, want %v", time.Unix(reset, 0).UTC(), wantReset)
			}
			// A call just before the reset stays in the window; one at the
			// reset opens the next, which follows the same rule.
			clock.Set(wantReset.Add(-time.Second))
			s.Spend(token, 1)
			clock.Set(wantReset.Add(90 * time.Second))
			s.Spend(token, 1)
			next := wantReset
			if tc.mode == chatworksim.WindowFirstCall {
				next = wantReset.Add(90 * time.Second)
			}
			w := s.Windows(token)
			if len(w) != 2 || !w[0].Start.Equal(t0.Add(tc.wantStart)) || !w[0].Reset.Equal(wantReset) || w[0].Calls != 2 ||
				!w[1].Start.Equal(next) || !w[1].Reset.Equal(next.Add(5*time.Minute)) || w[1].Calls != 1 {
				t.Errorf("Windows = %+v", w)
			}
		})
	}
}

// A phase shifts one token's fixed windows and no other's.
func TestSetPhase(t *testing.T) {
	s, _, clock := start(t, chatworksim.Config{})
	s.AddAccount("other-token", botID+1, "Other Bot")
	s.SetPhase("other-token", 2*time.Minute)
	clock.Advance(time.Minute)
	if _, _, reset := s.Quota("other-token"); !reset.Equal(t0.Add(2 * time.Minute)) {
		t.Errorf("phased reset %v, want %v", reset, t0.Add(2*time.Minute))
	}
	clock.Advance(90 * time.Second)
	s.Spend("other-token", 1)
	s.Spend(token, 1)
	if w := s.Windows("other-token"); len(w) != 1 || !w[0].Start.Equal(t0.Add(2*time.Minute)) || !w[0].Reset.Equal(t0.Add(7*time.Minute)) {
		t.Errorf("phased windows %+v", w)
	}
	if w := s.Windows(token); len(w) != 1 || !w[0].Start.Equal(t0) {
		t.Errorf("unphased windows %+v", w)
	}
}

func TestSubSecondWindow(t *testing.T) {
	// Windows that do not end on a second round the header up, so a client
	// that waits for the header's time is past the real reset.
	s, base, clock := start(t, chatworksim.Config{Window: 1500 * time.Millisecond, Mode: chatworksim.WindowFirstCall})
	clock.Advance(200 * time.Millisecond)
	r := call(t, nil, "GET", base+"/me", token, nil)
	if _, _, reset := r.rate(t); reset != t0.Unix()+2 {
		t.Errorf("reset %d, want %d", reset, t0.Unix()+2)
	}
	if w := s.Windows(token); !w[0].Start.Equal(t0.Add(200 * time.Millisecond)) {
		t.Errorf("start %v", w[0].Start)
	}
}

func TestWindowsGroundTruth(t *testing.T) {
	s, base, clock := start(t, chatworksim.Config{Limit: 10})
	// Window 1: 4 of ours + 3 others. Window 2: none (does not exist).
	// Window 3: 12 others, 2 over the limit, then 1 of ours refused.
	for range 4 {
		call(t, nil, "GET", base+"/me", token, nil)
	}
	if n := s.Spend(token, 3); n != 3 {
		t.Errorf("Spend = %d", n)
	}
	clock.Advance(10 * time.Minute)
	if n := s.Spend(token, 12); n != 10 {
		t.Errorf("Spend over the limit = %d, want 10", n)
	}
	if n := s.Spend(token, 5); n != 0 {
		t.Errorf("Spend when exhausted = %d, want 0", n)
	}
	if r := call(t, nil, "GET", base+"/me", token, nil); r.status != 429 {
		t.Errorf("status %d", r.status)
	}
	want := []chatworksim.WindowStat{
		{Start: t0, Reset: t0.Add(5 * time.Minute), Low: 3, Calls: 7, Other: 3},
		{Start: t0.Add(10 * time.Minute), Reset: t0.Add(15 * time.Minute), Low: 0, Calls: 18, Other: 17},
	}
	got := s.Windows(token)
	if len(got) != len(want) {
		t.Fatalf("Windows = %+v", got)
	}
	for i := range want {
		if !got[i].Start.Equal(want[i].Start) || !got[i].Reset.Equal(want[i].Reset) || got[i].Low != want[i].Low ||
			got[i].Calls != want[i].Calls || got[i].Other != want[i].Other {
			t.Errorf("window %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if c, o := s.Calls(token), s.OtherCalls(token); c != 25 || o != 20 {
		t.Errorf("Calls %d OtherCalls %d, want 25 20", c, o)
	}
}

func TestWindowHistoryBounded(t *testing.T) {
	s, _, clock := start(t, chatworksim.Config{WindowHistory: 5})
	for range 23 {
		s.Spend(token, 1)
		clock.Advance(5 * time.Minute)
	}
	w := s.Windows(token)
	if len(w) != 6 { // 5 past + the current one
		t.Fatalf("%d windows", len(w))
	}
	if !w[5].Start.Equal(t0.Add(22 * 5 * time.Minute)) {
		t.Errorf("last window starts %v", w[5].Start)
	}
	for i := 1; i < len(w); i++ {
		if w[i].Start.Sub(w[i-1].Start) != 5*time.Minute {
			t.Errorf("windows not consecutive: %+v", w)
		}
	}
}

func TestRoomPostLimit(t *testing.T) {
	for _, noHeaders := range []bool{false, true} {
		t.Run("RoomLimitNoHeaders="+strconv.FormatBool(noHeaders), func(t *testing.T) {
			s, base, clock := start(t, chatworksim.Config{RoomLimitNoHeaders: noHeaders})
			s.AddAccount("token-other", 2002, "Other Bot")
			s.AddRoom(43)
			post := func(tok string, room int) result {
				return call(t, nil, "POST", base+"/rooms/"+strconv.Itoa(room)+"/messages", tok, url.Values{"body": {"x"}})
			}
			// Ten posts in ten seconds from two tokens share the room's budget.
			for i := range 10 {
				tok := token
				if i%2 == 1 {
					tok = "token-other"
				}
				if r := post(tok, roomID); r.status != 200 {
					t.Fatalf("post %d: %d %s", i, r.status, r.body)
				}
				s.Say(roomID, 7, "people do not count")
				clock.Advance(time.Second)
			}
			// t0+10s: the first post (at t0) has left the sliding window.
			if r := post(token, roomID); r.status != 200 {
				t.Fatalf("after the first left the window: %d", r.status)
			}
			r := post(token, roomID) // t0+10s: 10 posts in (t0, t0+10s]
			if r.status != 429 {
				t.Fatalf("11th post: %d", r.status)
			}
			if e := errorsOf(t, r.body); e[0] != "Rate limit for message posting per room exceeded." {
				t.Errorf("errors %q", e)
			}
			if hasRateHeaders(r.header) == noHeaders {
				t.Errorf("headers %v with RoomLimitNoHeaders=%v", r.header, noHeaders)
			}
			if r := post(token, 43); r.status != 200 {
				t.Errorf("other room: %d", r.status)
			}
			// The refused post spent quota: 6 accepted + 1 refused + 1 in room 43.
			if _, rem, _ := s.Quota(token); rem != 300-8 {
				t.Errorf("remaining %d, want %d", rem, 300-8)
			}
			if n := len(s.Messages(roomID)); n != 21 {
				t.Errorf("%d messages, want 21", n)
			}
			clock.Advance(time.Second)
			if r := post(token, roomID); r.status != 200 {
				t.Errorf("a second later: %d", r.status)
			}
		})
	}
}

func TestGetMessages(t *testing.T) {
	s, base, _ := start(t, chatworksim.Config{})
	s.AddAccount("token-alice", 7, "Alice")
	list := func(q string) []struct {
		MessageID string `json:"message_id"`
		Account   struct {
			AccountID int64  `json:"account_id"`
			Name      string `json:"name"`
		} `json:"account"`
		Body string `json:"body"`
	} {
		r := call(t, nil, "GET", base+"/rooms/42/messages"+q, token, nil)
		if r.status == 204 {
			if len(r.body) != 0 {
				t.Errorf("204 with body %q", r.body)
			}
			return nil
		}
		var out []struct {
			MessageID string `json:"message_id"`
			Account   struct {
				AccountID int64  `json:"account_id"`
				Name      string `json:"name"`
			} `json:"account"`
			Body string `json:"body"`
		}
		if err := json.Unmarshal(r.body, &out); err != nil {
			t.Fatalf("%d %s: %v", r.status, r.body, err)
		}
		return out
	}
	if got := list(""); got != nil {
		t.Errorf("empty room: %+v", got)
	}
	id := s.Say(roomID, 7, "one")
	s.Say(roomID, 8, "two")
	got := list("")
	if len(got) != 2 || got[0].MessageID != id || got[0].Account.Name != "Alice" || got[0].Body != "one" || got[1].Account.AccountID != 8 {
		t.Errorf("unread: %+v", got)
	}
	if got := list(""); got != nil {
		t.Errorf("nothing new: %+v", got)
	}
	if got := list("?force=1"); len(got) != 2 {
		t.Errorf("force: %+v", got)
	}
	for i := range 150 {
		s.Say(roomID, 7, strconv.Itoa(i))
	}
	if got := list(""); len(got) != 100 || got[99].Body != "149" {
		t.Errorf("unread capped at 100: %d", len(got))
	}
	if r := call(t, nil, "GET", base+"/rooms/42/messages?force=2", token, nil); r.status != 400 {
		t.Errorf("force=2: %d", r.status)
	}
}

func TestMessageHistoryBounded(t *testing.T) {
	s, base, _ := start(t, chatworksim.Config{MessageHistory: 10})
	call(t, nil, "GET", base+"/rooms/42/messages", token, nil) // read cursor at 0
	for i := range 35 {
		s.Say(roomID, 7, strconv.Itoa(i))
	}
	m := s.Messages(roomID)
	if len(m) < 10 || len(m) >= 20 || m[len(m)-1].Body != "34" {
		t.Fatalf("kept %d messages, last %+v", len(m), m[len(m)-1])
	}
	r := call(t, nil, "GET", base+"/rooms/42/messages", token, nil)
	var out []struct{ Body string }
	if err := json.Unmarshal(r.body, &out); err != nil || len(out) != len(m) || out[0].Body != m[0].Body {
		t.Errorf("unread after trimming: %d %v", len(out), err)
	}
}

func TestConcurrent(t *testing.T) {
	s, base, clock := start(t, chatworksim.Config{Limit: 1000})
	s.AddAccount("token-2", 2, "Two")
	const workers, each = 16, 40
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			tok := token
			if w%2 == 1 {
				tok = "token-2"
			}
			for i := range each {
				switch i % 5 {
				case 0:
					call(t, nil, "POST", base+"/rooms/42/messages", tok, url.Values{"body": {"x"}})
				case 1:
					s.Spend(tok, 1)
				case 2:
					s.Say(roomID, 7, "hi")
					s.Quota(tok)
					s.Windows(tok)
				case 3:
					call(t, nil, "GET", base+"/rooms/42/messages", tok, nil)
				default:
					call(t, nil, "GET", base+"/me", tok, nil)
				}
				if w == 0 && i%10 == 0 {
					clock.Advance(time.Minute)
				}
			}
		})
	}
	wg.Wait()
	const perToken = workers / 2 * each * 4 / 5 // every case but Say/Quota spends one
	for _, tok := range []string{token, "token-2"} {
		total := 0
		for _, w := range s.Windows(tok) {
			total += w.Calls
		}
		if c := s.Calls(tok); c != perToken || total != perToken {
			t.Errorf("%s: Calls %d, sum of windows %d, want %d", tok, c, total, perToken)
		}
		if o := s.OtherCalls(tok); o != workers/2*each/5 {
			t.Errorf("%s: OtherCalls %d", tok, o)
		}
	}
}

// TestServe runs the simulator the way the sandbox does.
func TestServe(t *testing.T) {
	s := chatworksim.New(chatworksim.Config{})
	s.AddAccount(token, botID, "Bot")
	ln, err := listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	r := call(t, nil, "GET", "http://"+ln.Addr().String()+"/v2/me", token, nil)
	if r.status != 200 {
		t.Errorf("status %d", r.status)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
}

func TestLatencyAndLogf(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	_, base, _ := start(t, chatworksim.Config{
		Latency: 30 * time.Millisecond,
		Logf: func(format string, args ...any) {
			mu.Lock()
			defer mu.Unlock()
			lines = append(lines, format)
			for _, a := range args {
				if s, ok := a.(string); ok && strings.Contains(s, token) {
					t.Errorf("log line carries the token: %v", args)
				}
			}
		},
	})
	began := time.Now()
	call(t, nil, "GET", base+"/me", token, nil)
	if d := time.Since(began); d < 30*time.Millisecond {
		t.Errorf("answered in %v", d)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(lines) != 1 {
		t.Errorf("%d log lines", len(lines))
	}
}
