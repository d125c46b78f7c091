package chatwork

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	gochatwork "github.com/griffin-stewie/go-chatwork"

	"github.com/quotabot/chatwork-quota-bot/internal/wait"
)

// DefaultBaseURL is ChatWork's API v2 endpoint.
const DefaultBaseURL = "https://api.chatwork.com/v2"

// UserAgent identifies the bot in every request, so ChatWork (and anyone
// reading a proxy log) can tell its calls from other clients of the token.
const UserAgent = "chatwork-quota-bot (+https://github.com/quotabot/chatwork-quota-bot)"

// MaxMessageRunes is the longest message body ChatWork accepts.
const MaxMessageRunes = 65535

// Defaults for the zero values of Config.
const (
	DefaultTimeout = 10 * time.Second
	DefaultRetries = 2
	DefaultBackoff = 300 * time.Millisecond
)

const (
	// maxBody caps how much of a response is read: /me and a post reply
	// are a few hundred bytes, so anything near this is not ChatWork.
	maxBody = 1 << 20
	// maxErrorText caps, in characters, the server's text in our errors,
	// so a misbehaving server cannot flood logs through them.
	maxErrorText = 200
	maxErrorList = 3
	// maxLimit is the largest X-RateLimit-Limit believed; ChatWork's is 300.
	maxLimit = 1_000_000

	// roomLimitMessage is the body of the per-room posting 429, the only
	// way to tell it from the token's 5-minute quota.
	roomLimitMessage = "Rate limit for message posting per room exceeded."
)

// Config configures a Client. Only Token is required.
type Config struct {
	BaseURL    string        // default DefaultBaseURL; validated (http/https, host) by New
	Token      TokenSource   // required
	HTTPClient *http.Client  // optional; its Transport is used (default http.DefaultTransport clone)
	Timeout    time.Duration // per attempt, default 10s; the ctx deadline always wins
	Retries    int           // extra attempts for ReadQuota after 5xx/network errors, default 2; -1 = none
	Backoff    time.Duration // first backoff, doubled each retry, default 300ms; never past ctx deadline
	Now        func() time.Time
}

// Client calls the ChatWork API through go-chatwork. It is safe for
// concurrent use: go-chatwork's Client keeps state in shared fields and
// panics when a request fails, so every attempt builds a fresh one whose
// transport is an exchange around the one shared http.RoundTripper.
type Client struct {
	base      string
	tokens    TokenSource
	transport http.RoundTripper
	timeout   time.Duration
	retries   int
	backoff   time.Duration
	now       func() time.Time
	calls     atomic.Int64
}

// New validates cfg and returns a Client. It sends no request.
func New(cfg Config) (*Client, error) {
	if cfg.Token == nil {
		return nil, errors.New("chatwork: new client: Config.Token is required")
	}
	base, err := BaseURL(cfg.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("chatwork: new client: %w", err)
	}
	if cfg.Timeout < 0 || cfg.Backoff < 0 {
		return nil, errors.New("chatwork: new client: Timeout and Backoff must not be negative")
	}
	c := &Client{
		base:    base,
		tokens:  cfg.Token,
		timeout: cmp.Or(cfg.Timeout, DefaultTimeout),
		retries: cfg.Retries,
		backoff: cmp.Or(cfg.Backoff, DefaultBackoff),
		now:     cfg.Now,
	}
	switch {
	case cfg.Retries == 0:
		c.retries = DefaultRetries
	case cfg.Retries < 0:
		c.retries = 0
	}
	if c.now == nil {
		c.now = time.Now
	}
	switch {
	case cfg.HTTPClient != nil && cfg.HTTPClient.Transport != nil:
		c.transport = cfg.HTTPClient.Transport
	case cfg.HTTPClient != nil:
		c.transport = http.DefaultTransport // what that client would have used
	default:
		c.transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	return c, nil
}

// BaseURL returns raw, or DefaultBaseURL when raw is empty, without a
// trailing slash, checked: it makes sure go-chatwork's http.NewRequest cannot fail (it
// panics when it does) and that nothing in the URL leaks into errors or
// breaks the paths go-chatwork appends.
func BaseURL(raw string) (string, error) {
	raw = cmp.Or(raw, DefaultBaseURL)
	u, err := url.Parse(raw)
	if err != nil {
		return "", errors.New("base URL does not parse")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("base URL %q: scheme must be http or https", u.Redacted())
	case u.Host == "" || u.Opaque != "":
		return "", fmt.Errorf("base URL %q: no host", u.Redacted())
	case u.User != nil:
		return "", errors.New("base URL: must not hold credentials")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "", fmt.Errorf("base URL %q: must not have a query or fragment", u.Redacted())
	}
	base := strings.TrimRight(raw, "/")
	for _, path := range []string{"/me", "/rooms/1/messages"} {
		if _, err := http.NewRequest(http.MethodPost, base+path, nil); err != nil {
			return "", fmt.Errorf("base URL %q: unusable", u.Redacted())
		}
	}
	return base, nil
}

// Calls is the number of HTTP requests actually sent, every attempt and
// retry included: each one spent a unit of the token's quota.
func (c *Client) Calls() int64 { return c.calls.Load() }

// ReadQuota reads the token's quota from the headers of GET /me, the
// cheapest call ChatWork has: one request, plus retries after 5xx and
// network errors. The token owner's account id comes from the body.
func (c *Client) ReadQuota(ctx context.Context) (Reading, error) {
	const op = "read quota"
	delay := c.backoff
	for attempt := 0; ; attempt++ {
		r, err := c.readQuotaOnce(ctx, op)
		if err == nil || attempt >= c.retries || !retryable(err) || ctx.Err() != nil {
			return r, err
		}
		if !sleep(ctx, delay) {
			return r, err
		}
		delay *= 2
	}
}

func (c *Client) readQuotaOnce(ctx context.Context, op string) (Reading, error) {
	var accountID int
	ex, err := c.send(ctx, op, func(gc *gochatwork.Client) error {
		me, err := gc.Me()
		accountID = me.AccountID
		return err
	})
	if err != nil {
		return Reading{}, err
	}
	q := quotaFrom(ex.header, ex.at)
	if accountID <= 0 {
		return Reading{}, &Error{Op: op, Kind: KindBadResponse, Status: ex.status, Quota: q,
			Err: errors.New("response has no account_id")}
	}
	return Reading{At: ex.at, Quota: q, AccountID: int64(accountID)}, nil
}

// Post posts body to the room. It sends one request and never retries: a
// retried POST whose first attempt did arrive posts the message twice, so
// only the caller can decide whether that risk is worth it.
func (c *Client) Post(ctx context.Context, roomID int64, body string) (Posted, error) {
	const op = "post message"
	if roomID <= 0 {
		return Posted{}, &Error{Op: op, Kind: KindBadRequest, Err: fmt.Errorf("invalid room id %d", roomID)}
	}
	if !utf8.ValidString(body) {
		return Posted{}, &Error{Op: op, Kind: KindBadRequest, Err: errors.New("body is not valid UTF-8")}
	}
	if n := utf8.RuneCountInString(body); n < 1 || n > MaxMessageRunes {
		return Posted{}, &Error{Op: op, Kind: KindBadRequest,
			Err: fmt.Errorf("body has %d characters, want 1 to %d", n, MaxMessageRunes)}
	}
	room := strconv.FormatInt(roomID, 10)
	var raw []byte
	ex, err := c.send(ctx, op, func(gc *gochatwork.Client) error {
		var err error
		raw, err = gc.PostRoomMessage(room, body)
		return err
	})
	if err != nil {
		return Posted{}, err
	}
	q := quotaFrom(ex.header, ex.at)
	id, err := messageID(raw)
	if err != nil {
		return Posted{}, &Error{Op: op, Kind: KindBadResponse, Status: ex.status, Quota: q, Err: err}
	}
	return Posted{At: ex.at, MessageID: id, Quota: q}, nil
}

// messageID reads {"message_id":"..."}: a string, as ChatWork sends (ids
// exceed 32 bits), or a number, kept digit for digit.
func messageID(raw []byte) (string, error) {
	var v struct {
		MessageID json.RawMessage `json:"message_id"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", fmt.Errorf("decode message id: %w", err)
	}
	var id string
	switch {
	case len(v.MessageID) > 0 && v.MessageID[0] == '"':
		if err := json.Unmarshal(v.MessageID, &id); err != nil {
			return "", fmt.Errorf("decode message id: %w", err)
		}
	case len(v.MessageID) > 0:
		var n json.Number
		if err := json.Unmarshal(v.MessageID, &n); err != nil {
			return "", errors.New("decode message id: neither a string nor a number")
		}
		id = n.String()
	}
	if id == "" {
		return "", errors.New("response has no message_id")
	}
	return id, nil
}

// send makes one logical call: it runs call with the token, and once more
// if the answer was 401 and the token source then gives another (rotated)
// token. A nil error means a 2xx response and a nil error from call.
func (c *Client) send(ctx context.Context, op string, call func(*gochatwork.Client) error) (*exchange, error) {
	// A request on a dead context would still count as sent.
	if err := ctx.Err(); err != nil {
		return nil, &Error{Op: op, Kind: KindNetwork, Err: err}
	}
	token, err := c.token(ctx, op)
	if err != nil {
		return nil, err
	}
	ex, callErr := c.attempt(ctx, token, call)
	if ex.status == http.StatusUnauthorized && ex.err == nil {
		if inv, ok := c.tokens.(Invalidator); ok {
			inv.Invalidate()
			fresh, err := c.token(ctx, op)
			if err != nil {
				err.(*Error).Status = ex.status // the stale token was sent and refused
				return nil, err
			}
			if fresh != token {
				token = fresh
				ex, callErr = c.attempt(ctx, token, call)
			}
		}
	}
	return ex, c.check(op, token, ex, callErr)
}

func (c *Client) token(ctx context.Context, op string) (string, error) {
	token, err := c.tokens.Token(ctx)
	if err != nil {
		return "", &Error{Op: op, Kind: KindToken, Err: fmt.Errorf("get API token: %w", err)}
	}
	// SSM values often end in a newline; a stray byte in a header makes
	// net/http refuse the request with a misleading transport error.
	token = strings.TrimSpace(token)
	if token == "" {
		return "", &Error{Op: op, Kind: KindToken, Err: errors.New("token source returned an empty token")}
	}
	for i := 0; i < len(token); i++ {
		if b := token[i]; b <= ' ' || b >= 0x7f {
			return "", &Error{Op: op, Kind: KindToken, Err: errors.New("token has characters not allowed in a header")}
		}
	}
	return token, nil
}

// attempt runs call on a fresh gochatwork.Client whose exchange carries the
// attempt's context and timeout. It returns what the exchange saw and call's
// own error.
func (c *Client) attempt(ctx context.Context, token string, call func(*gochatwork.Client) error) (*exchange, error) {
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	ex := &exchange{ctx: actx, base: c.transport, calls: &c.calls}
	gc := gochatwork.NewClient(token)
	gc.BaseURL = c.base
	gc.HTTPClient = &http.Client{
		Transport: ex,
		// X-ChatWorkToken is not a header net/http strips on a redirect to
		// another host, and ChatWork does not redirect: never follow one.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	err := safely(func() error { return call(gc) })
	ex.at = c.now()
	if ex.err != nil && errors.Is(ex.err, context.DeadlineExceeded) && ctx.Err() == nil {
		ex.err = fmt.Errorf("no response within %v: %w", c.timeout, ex.err)
	}
	return ex, err
}

// safely runs f, turning a panic into an error: the defence for the
// go-chatwork panics the exchange does not already prevent.
func safely(f func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &panicError{msg: fmt.Sprint(v)}
		}
	}()
	return f()
}

// panicError is a panic inside go-chatwork, turned into an error.
type panicError struct{ msg string }

func (e *panicError) Error() string { return "go-chatwork panicked: " + e.msg }

// check turns what happened in a call into nil or an *Error.
func (c *Client) check(op, token string, ex *exchange, callErr error) error {
	// Whatever the kind, a panic is said in the error.
	var pe *panicError
	panicked := errors.As(callErr, &pe)
	if panicked {
		pe.msg = clean(pe.msg, token)
	} else if callErr != nil {
		callErr = scrub(callErr, token)
	}
	fail := func(kind Kind, err error) error {
		if panicked && err != callErr {
			err = fmt.Errorf("%w (%w)", err, callErr)
		}
		return &Error{Op: op, Kind: kind, Status: ex.status, Quota: quotaFrom(ex.header, ex.at), Err: err}
	}
	switch {
	case ex.refused != nil:
		return fail(KindBadRequest, ex.refused)
	case ex.err != nil:
		return fail(KindNetwork, scrub(ex.err, token))
	case !ex.sent:
		if callErr == nil {
			callErr = errors.New("no request was sent")
		}
		return fail(KindOther, callErr)
	case ex.status == http.StatusOK || ex.status == http.StatusNoContent:
		switch {
		case ex.tooLarge:
			return fail(KindBadResponse, fmt.Errorf("response body larger than %d bytes", maxBody))
		case panicked:
			return fail(KindBadResponse, callErr)
		case callErr != nil:
			// go-chatwork's only error after a 200 or 204 is from encoding/json.
			return fail(KindBadResponse, fmt.Errorf("decode response: %w", callErr))
		}
		return nil
	}
	msg := serverMessage(ex.body, token)
	switch {
	case ex.status == http.StatusUnauthorized:
		return fail(KindInvalidToken, msg)
	case ex.status == http.StatusTooManyRequests && bytes.Contains(ex.body, []byte(roomLimitMessage)):
		return fail(KindRoomLimit, msg)
	case ex.status == http.StatusTooManyRequests:
		return fail(KindQuotaExhausted, msg)
	case ex.status >= 500:
		return fail(KindServer, msg)
	case ex.status >= 400:
		return fail(KindBadRequest, msg)
	default:
		// go-chatwork made an error of this body too: it is not repeated.
		return fail(KindBadResponse, fmt.Errorf("unexpected HTTP status %d", ex.status))
	}
}

// serverMessage is ChatWork's {"errors":[...]} as an error, cleaned. Bodies
// of any other shape are not repeated.
func serverMessage(body []byte, token string) error {
	var v struct {
		Errors []string `json:"errors"`
	}
	if err := json.Unmarshal(body, &v); err != nil || len(v.Errors) == 0 {
		return fmt.Errorf("response without ChatWork errors (%d bytes)", len(body))
	}
	list := v.Errors[:min(len(v.Errors), maxErrorList)]
	msg := clean(strings.Join(list, "; "), token)
	if more := len(v.Errors) - len(list); more > 0 {
		msg += fmt.Sprintf(" (and %d more)", more)
	}
	return errors.New(msg)
}

// clean is text a server may have written, fit for an error: without the
// token (a server that echoes the request must not put it into our logs)
// and at most maxErrorText characters long.
func clean(s, token string) string { return truncate(redact(s, token), maxErrorText) }

// scrub is err with its text cleaned: server bytes reach errors from
// go-chatwork, encoding/json and net/http alike. Of its chain only a
// context error is kept, for errors.Is.
func scrub(err error, token string) error {
	s := &scrubbed{msg: clean(err.Error(), token)}
	for _, c := range []error{context.Canceled, context.DeadlineExceeded} {
		if errors.Is(err, c) {
			s.cause = c
		}
	}
	return s
}

type scrubbed struct {
	msg   string
	cause error
}

func (e *scrubbed) Error() string { return e.msg }
func (e *scrubbed) Unwrap() error { return e.cause }

func redact(s, token string) string {
	if token == "" {
		return s
	}
	return strings.ReplaceAll(s, token, "[token]")
}

// truncate cuts s to at most n runes.
func truncate(s string, n int) string {
	i := 0
	for pos := range s {
		if i == n {
			return s[:pos] + "…"
		}
		i++
	}
	return s
}

// retryable reports whether a ReadQuota failure may go away by itself.
func retryable(err error) bool {
	k := KindOf(err)
	return k == KindServer || k == KindNetwork
}

// sleep waits for d unless ctx ends first or would end before d is over:
// sleeping into the deadline leaves no time for the retry it waits for.
func sleep(ctx context.Context, d time.Duration) bool {
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= d {
		return false
	}
	return wait.Sleep(ctx, d) == nil
}

// quotaFrom reads the rate-limit headers of a response that arrived at at.
// It returns nil, meaning unknown, unless all three are present and sane:
// 0 <= remaining <= limit <= maxLimit, limit not 0, and the reset within a
// day of at. "0 remaining" must never be invented from a missing header (as
// go-chatwork does), nor a figure out of range recorded as ChatWork's.
func quotaFrom(h http.Header, at time.Time) *Quota {
	const day = int64(24 * time.Hour / time.Second)
	limit, ok1 := headerInt(h, "X-RateLimit-Limit")
	remaining, ok2 := headerInt(h, "X-RateLimit-Remaining")
	reset, ok3 := headerInt(h, "X-RateLimit-Reset")
	if !ok1 || !ok2 || !ok3 || limit <= 0 || limit > maxLimit || remaining < 0 || remaining > limit ||
		reset < at.Unix()-day || reset > at.Unix()+day {
		return nil
	}
	return &Quota{Limit: int(limit), Remaining: int(remaining), Reset: time.Unix(reset, 0).UTC()}
}

// headerInt parses a header as an integer; http.Header.Get matches the name
// in any case, as newer ChatWork docs spell these headers in lower case.
func headerInt(h http.Header, name string) (int64, bool) {
	s := strings.TrimSpace(h.Get(name))
	if s == "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// exchange is the http.RoundTripper go-chatwork sends one attempt through,
// and the record of that attempt. go-chatwork reads the response before
// checking the error (a nil-pointer panic on any transport failure), drops
// the status, and keeps the rate limit in shared state, so:
//
//   - a transport failure is recorded and go-chatwork gets a synthetic,
//     empty response instead, whose error check ignores for the record;
//   - status, headers and (capped) body are recorded for check and quotaFrom;
//   - the attempt's context and the User-Agent are attached;
//   - the "?" go-chatwork appends to every GET is dropped, and a real query
//     string is refused: go-chatwork builds them unescaped.
//
// An exchange serves one attempt, synchronously, so its fields need no lock.
type exchange struct {
	ctx   context.Context
	base  http.RoundTripper
	calls *atomic.Int64

	sent     bool
	at       time.Time // when the attempt ended, by the client's clock
	refused  error     // a request this client will not send
	err      error     // transport failure: no (complete) response
	status   int
	header   http.Header
	body     []byte
	tooLarge bool
}

func (ex *exchange) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		defer req.Body.Close()
	}
	if ex.sent || ex.refused != nil {
		ex.refused = errors.New("a second request in one attempt")
		return ex.synthetic(req), nil
	}
	out := req.Clone(ex.ctx)
	out.URL.ForceQuery = false
	if out.URL.RawQuery != "" {
		ex.refused = errors.New("request has a query string")
		return ex.synthetic(req), nil
	}
	out.Header.Set("User-Agent", UserAgent)

	ex.sent = true
	ex.calls.Add(1)
	resp, err := ex.base.RoundTrip(out)
	if err != nil {
		ex.err = err
		return ex.synthetic(req), nil
	}
	defer resp.Body.Close()
	ex.status, ex.header = resp.StatusCode, resp.Header
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		ex.err = fmt.Errorf("read response: %w", err)
		return ex.synthetic(req), nil
	}
	if len(body) > maxBody {
		body, ex.tooLarge = body[:maxBody], true
	}
	ex.body = body
	return &http.Response{
		Status:        resp.Status,
		StatusCode:    resp.StatusCode,
		Proto:         resp.Proto,
		ProtoMajor:    resp.ProtoMajor,
		ProtoMinor:    resp.ProtoMinor,
		Header:        resp.Header,
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}, nil
}

// synthetic is the empty response go-chatwork gets in place of a transport
// error, so that it returns an error without touching a nil response.
func (ex *exchange) synthetic(req *http.Request) *http.Response {
	return &http.Response{Header: http.Header{}, Body: http.NoBody, Request: req}
}
