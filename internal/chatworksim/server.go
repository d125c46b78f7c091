package chatworksim

import (
	"cmp"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

// WindowMode says where a token's rate-limit windows start.
type WindowMode int

const (
	// WindowFixed windows are aligned to multiples of Window since the Unix epoch.
	WindowFixed WindowMode = iota
	// WindowFirstCall windows start at the first call after the previous reset.
	WindowFirstCall
)

var modeNames = [...]string{"fixed", "first-call"}

func (m WindowMode) String() string {
	if m >= 0 && int(m) < len(modeNames) {
		return modeNames[m]
	}
	return "WindowMode(" + strconv.Itoa(int(m)) + ")"
}

// Config configures a Server. The zero value is ChatWork's documented
// behaviour on the real clock.
type Config struct {
	Limit  int           // requests per window per token; default 300
	Window time.Duration // default 5m
	Mode   WindowMode
	Clock  Clock // nil: real time

	RoomPostLimit  int           // posts per RoomPostWindow per room; default 10
	RoomPostWindow time.Duration // default 10s
	// RoomLimitNoHeaders drops the X-RateLimit headers from the per-room 429.
	// ChatWork's behaviour is unconfirmed; by default they are sent.
	RoomLimitNoHeaders bool

	// Latency is real time added before every response.
	Latency time.Duration
	// Logf, when set, gets one line per request and per failed delivery.
	// Tokens are never logged.
	Logf func(format string, args ...any)

	// WindowHistory is how many past windows Windows keeps per token;
	// default 1<<17 (about 15 months of 5-minute windows).
	WindowHistory int
	// MessageHistory is how many messages each room keeps; default 10000.
	MessageHistory int
	// FileHistory is how many uploaded files each room keeps; default 100
	// (files are up to 5 MB each).
	FileHistory int
	// DeliveryHistory is how many deliveries Deliveries keeps; default 10000.
	DeliveryHistory int
	// WebhookClient delivers webhooks; default a client with WebhookTimeout.
	WebhookClient *http.Client
	// WebhookTimeout bounds one delivery (ChatWork's is unconfirmed); default 10s.
	WebhookTimeout time.Duration
}

func (c Config) withDefaults() Config {
	orPositive(&c.Limit, 300)
	orPositive(&c.Window, 5*time.Minute)
	orPositive(&c.RoomPostLimit, 10)
	orPositive(&c.RoomPostWindow, 10*time.Second)
	orPositive(&c.WindowHistory, 1<<17)
	orPositive(&c.MessageHistory, 10000)
	orPositive(&c.FileHistory, 100)
	orPositive(&c.DeliveryHistory, 10000)
	orPositive(&c.WebhookTimeout, 10*time.Second)
	if c.Clock == nil {
		c.Clock = realClock{}
	}
	if c.WebhookClient == nil {
		c.WebhookClient = &http.Client{Timeout: c.WebhookTimeout}
	}
	return c
}

// orPositive sets *v to def unless it is positive.
func orPositive[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// appendKeep appends v to s, keeping at least the last keep elements. It
// trims only when s reaches twice that, so the cost of the copy is spread
// over as many appends.
func appendKeep[T any](s []T, v T, keep int) []T {
	s = append(s, v)
	if len(s) >= 2*keep {
		n := copy(s, s[len(s)-keep:])
		clear(s[n:]) // let what was dropped be collected
		s = s[:n]
	}
	return s
}

// Server is the simulated ChatWork API. It is safe for concurrent use.
type Server struct {
	cfg   Config
	clock Clock

	// mu guards the API state. Deliveries are queued while it is held so
	// that each webhook sees messages in the order they landed.
	mu       sync.Mutex
	accounts map[string]*account // by token
	byID     map[int64]*account
	unknown  map[string]int // calls with tokens nobody registered
	rooms    map[int64]*room
	lastMsg  int64
	lastFile int64
	faults   []*Fault
	hooks    []*hook
	nextHook int

	// dmu guards delivery bookkeeping. Lock order: mu, then dmu.
	dmu        sync.Mutex
	pending    int           // deliveries queued or in flight
	idle       chan struct{} // closed while pending == 0
	deliveries []Delivery

	ctx       context.Context // canceled by Close: stops deliveries, releases hangs
	cancel    context.CancelFunc
	closeOnce sync.Once
}

// New returns a Server with no accounts and no rooms.
func New(cfg Config) *Server {
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	idle := make(chan struct{})
	close(idle)
	return &Server{
		cfg:      cfg,
		clock:    cfg.Clock,
		accounts: make(map[string]*account),
		byID:     make(map[int64]*account),
		unknown:  make(map[string]int),
		rooms:    make(map[int64]*room),
		// Message ids exceed 53 bits, like ChatWork's, so a client that
		// parses them as numbers (float64 in JSON) breaks in tests.
		lastMsg: 1_000_000_000_000_000_000,
		// File ids have ten digits, like ChatWork's.
		lastFile: 1_000_000_000,
		idle:     idle,
		ctx:      ctx,
		cancel:   cancel,
	}
}

// Close releases hanging requests and cancels webhook deliveries. The
// Server still answers requests afterwards (hang faults answer at once).
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.cancel()
		s.cfg.WebhookClient.CloseIdleConnections()
	})
}

// Serve serves the API on ln until ctx is done, then shuts down, giving
// in-flight requests two seconds before their connections are closed.
// It does not Close the Server.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		// Hung requests: closing their connections cancels their contexts.
		hs.Close()
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// TB is the part of testing.TB that Start needs; it is an interface here so
// that this package does not link package testing into the sandbox binary.
type TB interface {
	Helper()
	Cleanup(func())
}

// Start serves a new Server on a loopback httptest server for the life of
// the test and returns it with the API base URL (ending in /v2).
func Start(t TB, cfg Config) (*Server, string) {
	t.Helper()
	s := New(cfg)
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		s.Close() // first, so that hung requests let ts.Close return
		ts.Close()
	})
	return s, ts.URL + "/v2"
}

// Canonical header keys, precomputed: the hot path assigns the map directly.
const (
	hdrToken     = "X-Chatworktoken"
	hdrLimit     = "X-Ratelimit-Limit"
	hdrRemaining = "X-Ratelimit-Remaining"
	hdrReset     = "X-Ratelimit-Reset"
)

var jsonContentType = []string{"application/json; charset=utf-8"}

// reply is a response the route handlers computed, before faults and
// headers are applied.
type reply struct {
	status    int
	body      []byte // nil: no body (204)
	noHeaders bool   // omit the rate-limit headers
}

func errorReply(status int, msg string) reply {
	return reply{status: status, body: errorBody(msg)}
}

func errorBody(msg string) []byte {
	b := make([]byte, 0, len(msg)+16)
	b = append(b, `{"errors":[`...)
	b = strconv.AppendQuote(b, msg)
	return append(b, "]}"...)
}

var (
	replyInvalidToken = errorReply(http.StatusUnauthorized, "Invalid API token")
	replyExhausted    = errorReply(http.StatusTooManyRequests, "You have exceeded the API rate limit. Please try again after the reset.")
	replyRoomLimit    = errorReply(http.StatusTooManyRequests, "Rate limit for message posting per room exceeded.")
	replyNotFound     = errorReply(http.StatusNotFound, "Resource not found")
	replyBadMethod    = errorReply(http.StatusMethodNotAllowed, "Method not allowed")
)

// ServeHTTP counts the request against its token, applies any matching
// fault, and answers.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var token string
	if v := r.Header[hdrToken]; len(v) > 0 {
		token = v[0]
	}
	now := s.clock.Now()

	s.mu.Lock()
	a := s.accounts[token]
	var q rateState
	if a != nil {
		q = s.countLocked(a, now, 1, false)
	} else {
		s.countUnknownLocked(token, 1)
	}
	var fault Fault
	faulted := len(s.faults) > 0 && s.matchFaultLocked(r.URL.Path, &fault)
	s.mu.Unlock()

	var rep reply
	headers := headersNormal
	switch {
	case faulted && fault.Kind == FaultHang:
		s.hang(r.Context())
		s.logf(r, a, -1, "hang")
		return
	case faulted && fault.Kind == FaultDrop:
		s.logf(r, a, -1, "drop")
		drop(w)
		return
	case faulted && fault.Kind == FaultStatus:
		rep = faultReply(fault.Status)
	case faulted && fault.Kind == FaultRoomLimit:
		rep = replyRoomLimit
	case a == nil:
		rep = replyInvalidToken
	case q.exhausted:
		rep = replyExhausted
	default:
		rep = s.route(r, a, now)
	}
	if faulted {
		switch fault.Kind {
		case FaultNoHeaders:
			headers = headersNone
		case FaultGarbageHeaders:
			headers = headersGarbage
		}
	}
	if a == nil || rep.noHeaders {
		headers = headersNone
	}

	if !s.sleep(r.Context(), s.cfg.Latency) {
		return // the client has gone
	}
	h := w.Header()
	switch headers {
	case headersNormal:
		h[hdrLimit] = []string{strconv.Itoa(q.limit)}
		h[hdrRemaining] = []string{strconv.Itoa(q.remaining)}
		h[hdrReset] = []string{strconv.FormatInt(q.resetHeader, 10)}
	case headersGarbage:
		h[hdrLimit] = []string{"three hundred"}
		h[hdrRemaining] = []string{"n/a"}
		h[hdrReset] = []string{"soon"}
	}
	if rep.body != nil {
		h["Content-Type"] = jsonContentType
	}
	w.WriteHeader(rep.status)
	if rep.body != nil {
		w.Write(rep.body)
	}
	s.logf(r, a, rep.status, "")
}

type headerMode int

const (
	headersNormal headerMode = iota
	headersNone
	headersGarbage
)

// route dispatches a request from a known token that is within its quota.
func (s *Server) route(r *http.Request, a *account, now time.Time) reply {
	rest, ok := strings.CutPrefix(r.URL.Path, "/v2/")
	if !ok {
		return replyNotFound
	}
	if rest == "me" {
		if r.Method != http.MethodGet {
			return replyBadMethod
		}
		return reply{status: http.StatusOK, body: a.me}
	}
	rest, ok = strings.CutPrefix(rest, "rooms/")
	if !ok {
		return replyNotFound
	}
	idText, sub, _ := strings.Cut(rest, "/")
	if sub != "messages" && sub != "files" {
		return replyNotFound
	}
	roomID, err := strconv.ParseInt(idText, 10, 64)
	if err != nil || roomID <= 0 {
		return errorReply(http.StatusBadRequest, "Invalid room_id")
	}
	switch {
	case sub == "files" && r.Method == http.MethodPost:
		return s.uploadFile(r, a, roomID, now)
	case sub == "files": // listing files is not modelled
	case r.Method == http.MethodPost:
		return s.postMessage(r, a, roomID, now)
	case r.Method == http.MethodGet:
		return s.getMessages(r, a, roomID)
	}
	return replyBadMethod
}

// sleep waits d of real time; false if the request or the Server ended first.
func (s *Server) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-s.ctx.Done():
	}
	return false
}

func (s *Server) logf(r *http.Request, a *account, status int, what string) {
	if s.cfg.Logf == nil {
		return
	}
	who := "unknown token"
	if a != nil {
		who = "account " + strconv.FormatInt(a.id, 10)
	}
	s.cfg.Logf("chatworksim: %s %s (%s): %s", r.Method, r.URL.Path, who, cmp.Or(what, strconv.Itoa(status)))
}
