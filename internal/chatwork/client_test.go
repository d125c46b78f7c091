package chatwork

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testToken looks like a real ChatWork token so that a leak is easy to find.
const testToken = "f0e1d2c3b4a5968778695a4b3c2d1e0f"

var testReset = time.Date(2026, 5, 1, 12, 5, 0, 0, time.UTC)

// server is a minimal ChatWork stand-in: it checks the token, counts the
// requests it sees and hands each one to handle.
type server struct {
	*httptest.Server
	requests atomic.Int64
}

func newServer(t *testing.T, handle http.HandlerFunc) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		if r.Header.Get("X-ChatWorkToken") != testToken {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"errors":["Invalid API token"]}`)
			return
		}
		handle(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

// okMe answers GET /me like ChatWork, with a full quota.
func okMe(w http.ResponseWriter, r *http.Request) {
	setQuota(w.Header(), 300, 299, testReset.Unix())
	io.WriteString(w, `{"account_id":12345,"name":"quota bot"}`)
}

func setQuota(h http.Header, limit, remaining int, reset int64) {
	h.Set("X-RateLimit-Limit", strconv.Itoa(limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(reset, 10))
}

func newClient(t *testing.T, url string, edit ...func(*Config)) *Client {
	t.Helper()
	// The clock stands a few minutes before testReset, so that the servers'
	// fixed reset is a sane one.
	now := func() time.Time { return testReset.Add(-4 * time.Minute) }
	cfg := Config{BaseURL: url + "/v2", Token: StaticToken(testToken), Backoff: time.Millisecond, Now: now}
	for _, e := range edit {
		e(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func noRetries(cfg *Config) { cfg.Retries = -1 }

// wantErr checks err's kind and that its text is safe to log: no token,
// no dumped body.
func wantErr(t *testing.T, err error, kind Kind) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v (%T), want *Error of kind %v", err, err, kind)
	}
	if e.Kind != kind {
		t.Errorf("kind = %v, want %v (err: %v)", e.Kind, kind, err)
	}
	if msg := err.Error(); strings.Contains(msg, testToken) {
		t.Errorf("error text holds the token: %q", msg)
	} else if len(msg) > maxErrorText+200 {
		t.Errorf("error text is %d bytes long: %.200q...", len(msg), msg)
	}
	return e
}

func TestReadQuota(t *testing.T) {
	var got *http.Request
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		got = r.Clone(context.Background())
		okMe(w, r)
	})
	at := time.Date(2026, 5, 1, 12, 1, 2, 0, time.UTC)
	c := newClient(t, srv.URL, func(cfg *Config) { cfg.Now = func() time.Time { return at } })

	r, err := c.ReadQuota(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := Quota{Limit: 300, Remaining: 299, Reset: testReset}
	if r.Quota == nil || *r.Quota != want {
		t.Errorf("Quota = %+v, want %+v", r.Quota, want)
	}
	if r.AccountID != 12345 || !r.At.Equal(at) {
		t.Errorf("AccountID, At = %d, %v; want 12345, %v", r.AccountID, r.At, at)
	}
	if got.Method != http.MethodGet || got.RequestURI != "/v2/me" {
		t.Errorf("request = %s %s, want GET /v2/me", got.Method, got.RequestURI)
	}
	if ua := got.Header.Get("User-Agent"); ua != UserAgent {
		t.Errorf("User-Agent = %q, want %q", ua, UserAgent)
	}
}

// go-chatwork's RateLimit() spends a request on /me when nothing
// was called before. The quota must come from the call's own response.
func TestEachCallCostsOneRequest(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		setQuota(w.Header(), 300, 10, testReset.Unix())
		if r.Method == http.MethodPost {
			io.WriteString(w, `{"message_id":"1"}`)
			return
		}
		io.WriteString(w, `{"account_id":1}`)
	})
	c := newClient(t, srv.URL)
	if r, err := c.ReadQuota(context.Background()); err != nil || r.Quota == nil || r.Quota.Remaining != 10 {
		t.Fatalf("ReadQuota = %+v, %v", r, err)
	}
	if n, calls := srv.requests.Load(), c.Calls(); n != 1 || calls != 1 {
		t.Fatalf("after ReadQuota: server saw %d requests, Calls() = %d; want 1, 1", n, calls)
	}
	if p, err := c.Post(context.Background(), 42, "hi"); err != nil || p.Quota == nil || p.Quota.Remaining != 10 {
		t.Fatalf("Post = %+v, %v", p, err)
	}
	if n, calls := srv.requests.Load(), c.Calls(); n != 2 || calls != 2 {
		t.Fatalf("after Post: server saw %d requests, Calls() = %d; want 2, 2", n, calls)
	}
}

// go-chatwork builds query strings by hand, unescaped. Only
// endpoints without parameters are used, the "?" it appends to every GET is
// dropped, and the POST body is form-encoded by net/url.
func TestRequestsAreClean(t *testing.T) {
	const body = "a&b=c+d ?#%25 日本語\n[info]x[/info]"
	var uris []string
	var form string
	var mu sync.Mutex
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		uris = append(uris, r.Method+" "+r.RequestURI)
		if r.Method == http.MethodPost {
			if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
				t.Errorf("Content-Type = %q", ct)
			}
			form = r.PostFormValue("body")
			io.WriteString(w, `{"message_id":"7"}`)
			return
		}
		okMe(w, r)
	})
	c := newClient(t, srv.URL+"/", func(cfg *Config) { cfg.BaseURL = srv.URL + "/v2/" })
	if _, err := c.ReadQuota(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Post(context.Background(), 9876543210, body); err != nil {
		t.Fatal(err)
	}
	want := []string{"GET /v2/me", "POST /v2/rooms/9876543210/messages"}
	if fmt.Sprint(uris) != fmt.Sprint(want) {
		t.Errorf("requests = %q, want %q", uris, want)
	}
	if form != body {
		t.Errorf("posted body = %q, want %q", form, body)
	}
}

func TestExchangeRefusesQueryStrings(t *testing.T) {
	var sent []string
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		sent = append(sent, r.URL.String())
		return &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody}, nil
	})
	var calls atomic.Int64
	for _, tc := range []struct {
		url     string
		refused bool
		sent    string
	}{
		{"http://h/v2/me?", false, "http://h/v2/me"},
		{"http://h/v2/me?a=1&&b", true, ""},
	} {
		sent = nil
		ex := &exchange{ctx: context.Background(), base: base, calls: &calls}
		req, _ := http.NewRequest(http.MethodGet, tc.url, nil)
		resp, err := ex.RoundTrip(req)
		if err != nil || resp == nil {
			t.Fatalf("%s: RoundTrip = %v, %v; want a response and no error", tc.url, resp, err)
		}
		if (ex.refused != nil) != tc.refused {
			t.Errorf("%s: refused = %v, want %v", tc.url, ex.refused, tc.refused)
		}
		if tc.refused && len(sent) != 0 || !tc.refused && fmt.Sprint(sent) != "["+tc.sent+"]" {
			t.Errorf("%s: sent %q, want %q", tc.url, sent, tc.sent)
		}
	}
	if calls.Load() != 1 {
		t.Errorf("calls = %d, want 1", calls.Load())
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// go-chatwork reads resp.Header before checking the error, so a
// failed request panics. Every way of getting no response must come back
// as a KindNetwork error.
func TestNetworkFailures(t *testing.T) {
	refused := func(t *testing.T) string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		return "http://" + addr
	}
	// hijack answers every request by writing raw bytes and closing.
	hijack := func(raw string) func(t *testing.T) string {
		return func(t *testing.T) string {
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				conn, buf, err := http.NewResponseController(w).Hijack()
				if err != nil {
					t.Error(err)
					return
				}
				buf.WriteString(raw)
				buf.Flush()
				conn.Close()
			})
			return srv.URL
		}
	}
	cases := []struct {
		name   string
		url    func(*testing.T) string
		status int
	}{
		{"connection refused", refused, 0},
		{"connection dropped", hijack(""), 0},
		{"garbage response", hijack("NOT HTTP\r\n\r\n"), 0},
		{"body cut short", hijack("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"account_id\""), 200},
		// net/http quotes a malformed line in its error.
		{"malformed header echoes the token", hijack("HTTP/1.1 200 OK\r\nX-ChatWorkToken " + testToken + strings.Repeat("a", 5000) + "\r\n\r\n"), 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t, tc.url(t), noRetries)
			_, err := c.ReadQuota(context.Background())
			e := wantErr(t, err, KindNetwork)
			// recover() would hide a panic behind the right kind; the
			// exchange must keep go-chatwork from panicking at all.
			if pe := (*panicError)(nil); errors.As(err, &pe) {
				t.Errorf("go-chatwork panicked: %v", err)
			}
			if e.Status != tc.status || e.Quota != nil {
				t.Errorf("Status, Quota = %d, %v; want %d, nil", e.Status, e.Quota, tc.status)
			}
			_, err = c.Post(context.Background(), 1, "hi")
			wantErr(t, err, KindNetwork)
			if pe := (*panicError)(nil); errors.As(err, &pe) {
				t.Errorf("go-chatwork panicked: %v", err)
			}
			if c.Calls() != 2 {
				t.Errorf("Calls() = %d, want 2", c.Calls())
			}
		})
	}
}

// A panic's message may quote what the server sent: it is cleaned too.
func TestPanicMessageIsCleaned(t *testing.T) {
	c := newClient(t, "http://127.0.0.1:1")
	for _, status := range []int{200, 202, 503} {
		pe := &panicError{msg: "body: " + testToken + strings.Repeat("x", 300_000)}
		err := c.check("read quota", testToken, &exchange{sent: true, status: status}, pe)
		wantErr(t, err, KindOf(err))
		if !strings.Contains(err.Error(), "go-chatwork panicked: body: [token]") || !errors.As(err, &pe) {
			t.Errorf("%d: err = %.300q, want the cleaned panic in its text and its chain", status, err)
		}
	}
}

// Defence in depth behind the exchange: any panic in go-chatwork is an error.
func TestSafelyRecovers(t *testing.T) {
	err := safely(func() error {
		var resp *http.Response
		_ = resp.Header // what go-chatwork does after a failed request
		return nil
	})
	var pe *panicError
	if !errors.As(err, &pe) {
		t.Fatalf("safely = %v, want a *panicError", err)
	}
	want := errors.New("x")
	if err := safely(func() error { return want }); err != want {
		t.Fatalf("safely = %v, want %v", err, want)
	}
}

// go-chatwork's Client shares its last rate limit and its lazily
// created http.Client between calls. Run with -race.
func TestConcurrentCallsGetTheirOwnQuota(t *testing.T) {
	const limit = 1000
	var n atomic.Int64
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		i := n.Add(1)
		setQuota(w.Header(), limit, int(limit-i), testReset.Unix())
		if r.Method == http.MethodPost {
			fmt.Fprintf(w, `{"message_id":"%d"}`, i)
			return
		}
		fmt.Fprintf(w, `{"account_id":%d}`, i)
	})
	c := newClient(t, srv.URL)

	const workers = 16
	seen := make(chan int64, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			var i int64
			var q *Quota
			if w%2 == 0 {
				r, err := c.ReadQuota(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				i, q = r.AccountID, r.Quota
			} else {
				p, err := c.Post(context.Background(), int64(w), "hi")
				if err != nil {
					t.Error(err)
					return
				}
				i, _ = strconv.ParseInt(p.MessageID, 10, 64)
				q = p.Quota
			}
			if q == nil || q.Remaining != int(limit-i) {
				t.Errorf("response %d: quota %+v, want Remaining %d", i, q, limit-i)
			}
			seen <- i
		})
	}
	wg.Wait()
	close(seen)
	distinct := map[int64]bool{}
	for i := range seen {
		distinct[i] = true
	}
	if len(distinct) != workers || c.Calls() != workers {
		t.Errorf("%d distinct responses, Calls() = %d; want %d, %d", len(distinct), c.Calls(), workers, workers)
	}
}

// go-chatwork turns missing headers into 0/0/0, a false
// "0 remaining". Unknown must stay unknown.
func TestQuotaHeaders(t *testing.T) {
	reset := strconv.FormatInt(testReset.Unix(), 10)
	full := &Quota{Limit: 300, Remaining: 12, Reset: testReset}
	cases := []struct {
		name   string
		header map[string]string
		want   *Quota
	}{
		{"all present", map[string]string{"X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "12", "X-RateLimit-Reset": reset}, full},
		{"lower case on the wire", map[string]string{"x-ratelimit-limit": "300", "x-ratelimit-remaining": "12", "x-ratelimit-reset": reset}, full},
		{"padded", map[string]string{"X-RateLimit-Limit": " 300", "X-RateLimit-Remaining": "12 ", "X-RateLimit-Reset": reset}, full},
		{"remaining zero", map[string]string{"X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset},
			&Quota{Limit: 300, Remaining: 0, Reset: testReset}},
		{"none", nil, nil},
		{"no remaining", map[string]string{"X-RateLimit-Limit": "300", "X-RateLimit-Reset": reset}, nil},
		{"no reset", map[string]string{"X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "12"}, nil},
		{"no limit", map[string]string{"X-RateLimit-Remaining": "12", "X-RateLimit-Reset": reset}, nil},
		{"empty values", map[string]string{"X-RateLimit-Limit": "", "X-RateLimit-Remaining": "", "X-RateLimit-Reset": ""}, nil},
		{"not numbers", map[string]string{"X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "many", "X-RateLimit-Reset": reset}, nil},
		{"fraction", map[string]string{"X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "1.5", "X-RateLimit-Reset": reset}, nil},
		{"negative", map[string]string{"X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "-1", "X-RateLimit-Reset": reset}, nil},
		{"limit zero", map[string]string{"X-RateLimit-Limit": "0", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "0"}, nil},
		{"reset in milliseconds is not a date we invent", map[string]string{"X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "12", "X-RateLimit-Reset": "x" + reset}, nil},
		// Figures out of range: 0 <= remaining <= limit <= 1,000,000 and a
		// reset within a day of the response (the client's clock is 4
		// minutes before testReset).
		{"remaining above limit", quotaHeader("300", "500", reset), nil},
		{"remaining max int64", quotaHeader("300", "9223372036854775807", reset), nil},
		{"both max int64", quotaHeader("9223372036854775807", "9223372036854775807", reset), nil},
		{"limit 2,000,000", quotaHeader("2000000", "12", reset), nil},
		{"limit 1,000,000", quotaHeader("1000000", "1000000", reset), &Quota{Limit: 1_000_000, Remaining: 1_000_000, Reset: testReset}},
		{"reset max int64", quotaHeader("300", "12", "9223372036854775807"), nil},
		{"reset min int64", quotaHeader("300", "12", "-9223372036854775808"), nil},
		{"reset in milliseconds", quotaHeader("300", "12", strconv.FormatInt(testReset.UnixMilli(), 10)), nil},
		{"reset 2 days away", quotaHeader("300", "12", unix(testReset.Add(48*time.Hour))), nil},
		{"reset 2 days ago", quotaHeader("300", "12", unix(testReset.Add(-48*time.Hour))), nil},
		{"reset 23 hours away", quotaHeader("300", "12", unix(testReset.Add(23*time.Hour))),
			&Quota{Limit: 300, Remaining: 12, Reset: testReset.Add(23 * time.Hour)}},
		{"reset a minute ago", quotaHeader("300", "12", unix(testReset.Add(-5*time.Minute))),
			&Quota{Limit: 300, Remaining: 12, Reset: testReset.Add(-5 * time.Minute)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.header {
					w.Header()[k] = []string{v} // as written, not canonicalised
				}
				io.WriteString(w, `{"account_id":1}`)
			})
			r, err := newClient(t, srv.URL).ReadQuota(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if (r.Quota == nil) != (tc.want == nil) || r.Quota != nil && *r.Quota != *tc.want {
				t.Errorf("Quota = %+v, want %+v", r.Quota, tc.want)
			}
		})
	}
}

func quotaHeader(limit, remaining, reset string) map[string]string {
	return map[string]string{"X-RateLimit-Limit": limit, "X-RateLimit-Remaining": remaining, "X-RateLimit-Reset": reset}
}

func unix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

// go-chatwork's errors drop the status, so 401 and 429 look alike.
func TestErrorKinds(t *testing.T) {
	long := strings.Repeat("x", 5000)
	reset := testReset.Unix()
	exhausted := &Quota{Limit: 300, Remaining: 0, Reset: testReset}
	cases := []struct {
		name     string
		status   int
		body     string
		quota    bool // the response carries rate-limit headers
		kind     Kind
		wantText string
	}{
		{"invalid token", 401, `{"errors":["Invalid API token"]}`, false, KindInvalidToken, "Invalid API token"},
		{"quota exhausted", 429, `{"errors":["Rate limit exceeded"]}`, true, KindQuotaExhausted, "Rate limit exceeded"},
		{"quota exhausted, no headers", 429, ``, false, KindQuotaExhausted, ""},
		{"room limit", 429, `{"errors":["` + roomLimitMessage + `"]}`, false, KindRoomLimit, roomLimitMessage},
		{"room limit with headers", 429, `{"errors":["` + roomLimitMessage + `"]}`, true, KindRoomLimit, ""},
		{"server error", 500, `<html>oops</html>`, true, KindServer, ""},
		{"bad gateway", 502, ``, false, KindServer, ""},
		{"bad request", 400, `{"errors":["Invalid parameter"]}`, true, KindBadRequest, "Invalid parameter"},
		{"forbidden", 403, `{"errors":["no"]}`, false, KindBadRequest, ""},
		{"not found", 404, `not found`, false, KindBadRequest, ""},
		{"redirect", 302, ``, false, KindBadResponse, ""},
		{"body not JSON", 200, `<html>`, true, KindBadResponse, ""},
		{"no account id", 200, `{"name":"x"}`, true, KindBadResponse, ""},
		{"echoes the token", 400, `{"errors":["bad token ` + testToken + `"]}`, false, KindBadRequest, "[token]"},
		{"huge error", 400, `{"errors":["` + long + `","` + long + `","b","c","d"]}`, false, KindBadRequest, "more"},
		{"huge HTML", 503, strings.Repeat("<p>"+testToken+"</p>", 10000), false, KindServer, ""},
		// go-chatwork puts the body of any status but 200 and 204 into its
		// error, as a format string.
		{"202 echoes the request", 202, "GET /v2/me HTTP/1.1\r\nX-ChatWorkToken: " + testToken + "\r\n%s%d", true, KindBadResponse, "unexpected HTTP status 202"},
		{"202 echoes ChatWork errors", 202, `{"errors":["X-ChatWorkToken: ` + testToken + `"]}`, false, KindBadResponse, "unexpected HTTP status 202"},
		{"300 KB 202", 202, strings.Repeat("<p>"+testToken+"</p>", 8000), false, KindBadResponse, ""},
		{"300 KB error list", 400, `{"errors":["` + strings.Repeat(testToken+" ", 8000) + `"]}`, false, KindBadRequest, "[token]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				if tc.quota {
					setQuota(w.Header(), 300, 0, reset)
				}
				if tc.status == 302 {
					w.Header().Set("Location", "/elsewhere")
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			})
			c := newClient(t, srv.URL, noRetries)
			r, err := c.ReadQuota(context.Background())
			if err == nil {
				t.Fatalf("ReadQuota = %+v, want an error", r)
			}
			e := wantErr(t, err, tc.kind)
			if e.Status != tc.status {
				t.Errorf("Status = %d, want %d", e.Status, tc.status)
			}
			if e.Op != "read quota" {
				t.Errorf("Op = %q", e.Op)
			}
			if tc.quota != (e.Quota != nil) || e.Quota != nil && *e.Quota != *exhausted {
				t.Errorf("Quota = %+v, want present=%v", e.Quota, tc.quota)
			}
			if q := QuotaOf(err); q != e.Quota {
				t.Errorf("QuotaOf = %v, want %v", q, e.Quota)
			}
			if !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("error %q does not mention %q", err, tc.wantText)
			}
			if c.Calls() != 1 {
				t.Errorf("Calls() = %d, want 1", c.Calls())
			}
		})
	}
}

func TestPostErrorKinds(t *testing.T) {
	cases := []struct {
		status int
		body   string
		kind   Kind
	}{
		{429, `{"errors":["` + roomLimitMessage + `"]}`, KindRoomLimit},
		{429, `{"errors":["Rate limit exceeded"]}`, KindQuotaExhausted},
		{401, `{"errors":["Invalid API token"]}`, KindInvalidToken},
		{404, `{"errors":["Room not found"]}`, KindBadRequest},
		{503, ``, KindServer},
	}
	for _, tc := range cases {
		srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(tc.status)
			io.WriteString(w, tc.body)
		})
		c := newClient(t, srv.URL)
		_, err := c.Post(context.Background(), 5, "hello")
		e := wantErr(t, err, tc.kind)
		if e.Status != tc.status || e.Op != "post message" {
			t.Errorf("%d: Status, Op = %d, %q", tc.status, e.Status, e.Op)
		}
		// A retried POST may post twice: Post never retries by itself.
		if n := srv.requests.Load(); n != 1 || c.Calls() != 1 {
			t.Errorf("%d: server saw %d requests, Calls() = %d; want 1, 1", tc.status, n, c.Calls())
		}
	}
}

type tokenFunc func(context.Context) (string, error)

func (f tokenFunc) Token(ctx context.Context) (string, error) { return f(ctx) }

func TestTokenSourceFailures(t *testing.T) {
	srv := newServer(t, okMe)
	cases := []struct {
		name string
		src  TokenSource
	}{
		{"error", tokenFunc(func(context.Context) (string, error) { return "", errors.New("ssm: access denied") })},
		{"empty", StaticToken("")},
		{"blank", StaticToken(" \n")},
		{"not a header value", StaticToken("abc\x00def")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t, srv.URL, func(cfg *Config) { cfg.Token = tc.src })
			_, err := c.ReadQuota(context.Background())
			wantErr(t, err, KindToken)
			_, err = c.Post(context.Background(), 1, "x")
			wantErr(t, err, KindToken)
			if c.Calls() != 0 {
				t.Errorf("Calls() = %d, want 0", c.Calls())
			}
		})
	}
	// An SSM value with a trailing newline still works.
	c := newClient(t, srv.URL, func(cfg *Config) { cfg.Token = StaticToken(testToken + "\n") })
	if _, err := c.ReadQuota(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// rotatingToken is a caching token source whose cache may be stale.
type rotatingToken struct {
	mu          sync.Mutex
	tokens      []string // what Token returns before and after each Invalidate
	invalidated int
	failAfter   bool
}

func (s *rotatingToken) Token(context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failAfter && s.invalidated > 0 {
		return "", errors.New("parameter store unreachable")
	}
	return s.tokens[min(s.invalidated, len(s.tokens)-1)], nil
}

func (s *rotatingToken) Invalidate() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.invalidated++
}

func TestInvalidTokenRefresh(t *testing.T) {
	cases := []struct {
		name        string
		src         TokenSource
		kind        Kind // 0 for success
		calls       int64
		invalidated int
	}{
		{"rotated", &rotatingToken{tokens: []string{"stale-token-0000", testToken}}, 0, 2, 1},
		{"same token again", &rotatingToken{tokens: []string{"revoked-token-000"}}, KindInvalidToken, 1, 1},
		{"source fails on refresh", &rotatingToken{tokens: []string{"stale-token-0000"}, failAfter: true}, KindToken, 1, 1},
		{"no invalidator", StaticToken("revoked-token-000"), KindInvalidToken, 1, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPost {
					io.WriteString(w, `{"message_id":"1"}`)
					return
				}
				okMe(w, r)
			})
			for _, call := range []func(c *Client) error{
				func(c *Client) error { _, err := c.ReadQuota(context.Background()); return err },
				func(c *Client) error { _, err := c.Post(context.Background(), 1, "x"); return err },
			} {
				if rt, ok := tc.src.(*rotatingToken); ok {
					rt.invalidated = 0
				}
				c := newClient(t, srv.URL, func(cfg *Config) { cfg.Token = tc.src })
				err := call(c)
				if tc.kind == 0 && err != nil {
					t.Fatalf("err = %v, want success after a refresh", err)
				}
				if tc.kind != 0 {
					// A refresh that fails after a 401 says a request was answered.
					if e := wantErr(t, err, tc.kind); tc.kind == KindToken && e.Status != http.StatusUnauthorized {
						t.Errorf("Status = %d, want 401", e.Status)
					}
				}
				if c.Calls() != tc.calls {
					t.Errorf("Calls() = %d, want %d", c.Calls(), tc.calls)
				}
				if rt, ok := tc.src.(*rotatingToken); ok && rt.invalidated != tc.invalidated {
					t.Errorf("invalidated %d times, want %d", rt.invalidated, tc.invalidated)
				}
			}
		})
	}
}

func TestReadQuotaRetries(t *testing.T) {
	cases := []struct {
		name     string
		statuses []int // answers in order; the last one repeats
		retries  int
		kind     Kind // 0 for success
		calls    int64
	}{
		{"recovers", []int{503, 500, 200}, 0, 0, 3},
		{"gives up", []int{503}, 0, KindServer, 3},
		{"more retries", []int{503, 503, 503, 200}, 3, 0, 4},
		{"no retries", []int{500}, -1, KindServer, 1},
		{"bad request is final", []int{400}, 0, KindBadRequest, 1},
		{"quota exhausted is final", []int{429}, 0, KindQuotaExhausted, 1},
		{"invalid token is final", []int{401}, 0, KindInvalidToken, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int64
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				i := int(n.Add(1)) - 1
				if st := tc.statuses[min(i, len(tc.statuses)-1)]; st != 200 {
					w.WriteHeader(st)
					return
				}
				okMe(w, r)
			})
			c := newClient(t, srv.URL, func(cfg *Config) { cfg.Retries = tc.retries })
			_, err := c.ReadQuota(context.Background())
			if tc.kind == 0 && err != nil {
				t.Fatal(err)
			}
			if tc.kind != 0 {
				wantErr(t, err, tc.kind)
			}
			if c.Calls() != tc.calls || srv.requests.Load() != tc.calls {
				t.Errorf("Calls() = %d, server saw %d; want %d", c.Calls(), srv.requests.Load(), tc.calls)
			}
		})
	}
}

func TestReadQuotaRetriesNetworkErrors(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	l.Close()
	c := newClient(t, url)
	_, err = c.ReadQuota(context.Background())
	wantErr(t, err, KindNetwork)
	if c.Calls() != 1+DefaultRetries {
		t.Errorf("Calls() = %d, want %d", c.Calls(), 1+DefaultRetries)
	}
}

func TestRetryNeverSleepsPastDeadline(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) })
	c := newClient(t, srv.URL, func(cfg *Config) { cfg.Backoff = time.Hour })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	_, err := c.ReadQuota(ctx)
	wantErr(t, err, KindServer)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("ReadQuota took %v", d)
	}
	if c.Calls() != 1 {
		t.Errorf("Calls() = %d, want 1", c.Calls())
	}
}

// hanging returns a server that never answers until the test ends.
func hanging(t *testing.T) *server {
	release := make(chan struct{})
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		case <-time.After(10 * time.Second): // fail, rather than hang, without a timeout
		}
	})
	t.Cleanup(func() { close(release) }) // runs before srv.Close
	return srv
}

// go-chatwork has no context and no timeout.
func TestTimeouts(t *testing.T) {
	t.Run("ctx deadline", func(t *testing.T) {
		c := newClient(t, hanging(t).URL)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := c.ReadQuota(ctx)
		wantErr(t, err, KindNetwork)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want it to wrap context.DeadlineExceeded", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("ReadQuota returned after %v, deadline was 200ms", d)
		}
		if c.Calls() != 1 {
			t.Errorf("Calls() = %d, want 1 (no retry after the deadline)", c.Calls())
		}
	})
	t.Run("per attempt", func(t *testing.T) {
		c := newClient(t, hanging(t).URL, func(cfg *Config) { cfg.Timeout = 100 * time.Millisecond })
		start := time.Now()
		_, err := c.ReadQuota(context.Background())
		wantErr(t, err, KindNetwork)
		if !strings.Contains(err.Error(), "no response within 100ms") {
			t.Errorf("err = %v, want it to name the timeout", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("ReadQuota returned after %v", d)
		}
		if c.Calls() != 1+DefaultRetries {
			t.Errorf("Calls() = %d, want %d: a timed-out attempt is retried", c.Calls(), 1+DefaultRetries)
		}
	})
	t.Run("post", func(t *testing.T) {
		c := newClient(t, hanging(t).URL)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err := c.Post(ctx, 1, "x")
		wantErr(t, err, KindNetwork)
	})
	t.Run("canceled before", func(t *testing.T) {
		srv := newServer(t, okMe)
		c := newClient(t, srv.URL)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := c.ReadQuota(ctx)
		wantErr(t, err, KindNetwork)
		if !errors.Is(err, context.Canceled) || c.Calls() != 0 {
			t.Errorf("err = %v, Calls() = %d; want context.Canceled and 0 calls", err, c.Calls())
		}
	})
}

// go-chatwork panics when http.NewRequest fails, so New
// refuses every base URL that could make it fail.
func TestNewValidatesConfig(t *testing.T) {
	bad := []struct {
		name string
		cfg  Config
	}{
		{"no token", Config{}},
		{"ftp", Config{BaseURL: "ftp://api.chatwork.com/v2"}},
		{"no scheme", Config{BaseURL: "api.chatwork.com/v2"}},
		{"no host", Config{BaseURL: "https:///v2"}},
		{"opaque", Config{BaseURL: "https:api.chatwork.com"}},
		{"query", Config{BaseURL: "https://api.chatwork.com/v2?x=1"}},
		{"empty query", Config{BaseURL: "https://api.chatwork.com/v2?"}},
		{"fragment", Config{BaseURL: "https://api.chatwork.com/v2#top"}},
		{"credentials", Config{BaseURL: "https://user:hunter2@api.chatwork.com/v2"}},
		{"control character", Config{BaseURL: "https://api.chatwork.com/v2\n"}},
		{"bad host", Config{BaseURL: "http://[::1/v2"}},
		{"negative timeout", Config{Timeout: -time.Second}},
		{"negative backoff", Config{Backoff: -time.Second}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name != "no token" {
				tc.cfg.Token = StaticToken(testToken)
			}
			c, err := New(tc.cfg)
			if err == nil {
				t.Fatalf("New = %v, want an error", c)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q holds the URL's password", err)
			}
		})
	}

	c, err := New(Config{Token: StaticToken(testToken)})
	if err != nil {
		t.Fatal(err)
	}
	if c.base != DefaultBaseURL || c.timeout != DefaultTimeout || c.retries != DefaultRetries || c.backoff != DefaultBackoff {
		t.Errorf("defaults: %q %v %d %v", c.base, c.timeout, c.retries, c.backoff)
	}
	c, err = New(Config{Token: StaticToken(testToken), BaseURL: "http://localhost:8080/v2/", Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	if c.base != "http://localhost:8080/v2" || c.retries != 0 {
		t.Errorf("base, retries = %q, %d", c.base, c.retries)
	}
}

func TestNewUsesHTTPClientTransport(t *testing.T) {
	srv := newServer(t, okMe)
	var used atomic.Int64
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		used.Add(1)
		return http.DefaultTransport.RoundTrip(r)
	})}
	c := newClient(t, srv.URL, func(cfg *Config) { cfg.HTTPClient = hc })
	if _, err := c.ReadQuota(context.Background()); err != nil {
		t.Fatal(err)
	}
	if used.Load() != 1 {
		t.Errorf("the HTTPClient's transport carried %d requests, want 1", used.Load())
	}
}

// The token travels in a header that net/http does not strip on redirects
// to another host, so redirects are never followed.
func TestRedirectIsNotFollowed(t *testing.T) {
	var leaked atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked.Add(1)
	}))
	defer other.Close()
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/v2/me", http.StatusTemporaryRedirect)
	})
	c := newClient(t, srv.URL)
	_, err := c.ReadQuota(context.Background())
	if e := wantErr(t, err, KindBadResponse); e.Status != http.StatusTemporaryRedirect {
		t.Errorf("Status = %d", e.Status)
	}
	if leaked.Load() != 0 || c.Calls() != 1 {
		t.Errorf("other host saw %d requests, Calls() = %d; want 0, 1", leaked.Load(), c.Calls())
	}
}

func TestHugeBodyIsBadResponse(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"account_id":1,"x":"`+strings.Repeat("a", maxBody)+`"}`)
	})
	_, err := newClient(t, srv.URL).ReadQuota(context.Background())
	wantErr(t, err, KindBadResponse)
}

// go-chatwork's PostRoomMessage returns the raw body.
func TestPostMessageID(t *testing.T) {
	cases := []struct {
		body string
		want string // "" for KindBadResponse
	}{
		{`{"message_id":"1234567890123456789"}`, "1234567890123456789"},
		{`{"message_id":1234567890123456789}`, "1234567890123456789"}, // no float rounding
		{`{"message_id":"5","extra":[1,2]}`, "5"},
		{`{"message_id":""}`, ""},
		{`{"message_id":null}`, ""},
		{`{"message_id":true}`, ""},
		{`{"message_id":{}}`, ""},
		{`{}`, ""},
		{`[]`, ""},
		{``, ""},
		{`not json`, ""},
	}
	for _, tc := range cases {
		srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			setQuota(w.Header(), 300, 5, testReset.Unix())
			io.WriteString(w, tc.body)
		})
		p, err := newClient(t, srv.URL).Post(context.Background(), 1, "hi")
		if tc.want == "" {
			e := wantErr(t, err, KindBadResponse)
			if e.Status != 200 || e.Quota == nil {
				t.Errorf("%s: Status, Quota = %d, %v; want 200 and the quota", tc.body, e.Status, e.Quota)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.body, err)
			continue
		}
		if p.MessageID != tc.want || p.Quota == nil || p.Quota.Remaining != 5 {
			t.Errorf("%s: Posted = %+v, want MessageID %q and Remaining 5", tc.body, p, tc.want)
		}
	}
}

func TestPostValidatesBeforeSending(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"message_id":"1"}`)
	})
	c := newClient(t, srv.URL)
	cases := []struct {
		name string
		room int64
		body string
		ok   bool
	}{
		{"zero room", 0, "hi", false},
		{"negative room", -5, "hi", false},
		{"empty body", 1, "", false},
		{"too long", 1, strings.Repeat("あ", MaxMessageRunes+1), false},
		{"invalid UTF-8", 1, "a\xffb", false},
		{"longest", 1, strings.Repeat("あ", MaxMessageRunes), true},
		{"one character", 1, "x", true},
	}
	var sent int64
	for _, tc := range cases {
		_, err := c.Post(context.Background(), tc.room, tc.body)
		if tc.ok {
			sent++
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
		} else {
			wantErr(t, err, KindBadRequest)
		}
		if c.Calls() != sent || srv.requests.Load() != sent {
			t.Errorf("%s: Calls() = %d, server saw %d; want %d", tc.name, c.Calls(), srv.requests.Load(), sent)
		}
	}
}

func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"abc", 3, "abc"},
		{"abcd", 3, "abc…"},
		{"日本語です", 2, "日本…"},
		{"", 2, ""},
	} {
		if got := truncate(tc.in, tc.n); got != tc.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}
