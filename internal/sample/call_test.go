package sample

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
)

// secret stands for a token a server echoed back into an error.
const secret = "f0e1d2c3b4a5968778695a4b3c2d1e0f"

func TestFromCall(t *testing.T) {
	reset := at.Add(3 * time.Minute).Truncate(time.Second)
	q := &chatwork.Quota{Limit: 300, Remaining: 12, Reset: reset}
	leak := errors.New("server said: X-ChatWorkToken: " + secret)
	cwErr := func(kind chatwork.Kind, status int, q *chatwork.Quota) error {
		return &chatwork.Error{Op: "read quota", Kind: kind, Status: status, Quota: q, Err: leak}
	}
	cases := []struct {
		name      string
		q         *chatwork.Quota
		err       error
		kind      chatwork.Kind // the kind the row covers, for the coverage check
		wantErr   string
		detail    string
		hasQuota  bool
		remaining int
		calls     int
	}{
		{"sample", q, nil, -1, "", "", true, 12, 1},
		{"no usable headers", nil, nil, -1, "bad_response", "no usable rate-limit headers", false, 0, 1},
		{"other", nil, cwErr(chatwork.KindOther, 0, nil), chatwork.KindOther, "other", "read quota: other", false, 0, 1},
		{"untyped error", nil, leak, chatwork.KindOther, "other", "other", false, 0, 1},
		{"network", nil, cwErr(chatwork.KindNetwork, 0, nil), chatwork.KindNetwork, "network", "read quota: network", false, 0, 3},
		{"invalid token", nil, cwErr(chatwork.KindInvalidToken, 401, nil), chatwork.KindInvalidToken,
			"invalid_token", "read quota: invalid_token (HTTP 401)", false, 0, 1},
		{"quota exhausted, headers say 12 left", nil, cwErr(chatwork.KindQuotaExhausted, 429, q), chatwork.KindQuotaExhausted,
			"quota_exhausted", "read quota: quota_exhausted (HTTP 429)", true, 0, 1},
		{"quota exhausted, no headers", nil, cwErr(chatwork.KindQuotaExhausted, 429, nil), chatwork.KindQuotaExhausted,
			"quota_exhausted", "read quota: quota_exhausted (HTTP 429)", false, 0, 1},
		{"room limit keeps the token's figures", nil, cwErr(chatwork.KindRoomLimit, 429, q), chatwork.KindRoomLimit,
			"room_limit", "read quota: room_limit (HTTP 429)", true, 12, 1},
		{"server", nil, cwErr(chatwork.KindServer, 503, nil), chatwork.KindServer, "server", "read quota: server (HTTP 503)", false, 0, 3},
		{"bad request with headers", nil, cwErr(chatwork.KindBadRequest, 400, q), chatwork.KindBadRequest,
			"bad_request", "read quota: bad_request (HTTP 400)", true, 12, 1},
		{"bad response with headers", nil, cwErr(chatwork.KindBadResponse, 202, q), chatwork.KindBadResponse,
			"bad_response", "read quota: bad_response (HTTP 202)", true, 12, 1},
		{"token source: nothing sent", nil, cwErr(chatwork.KindToken, 0, nil), chatwork.KindToken,
			"token_source", "read quota: token_source", false, 0, 0},
		{"token source after a 401", nil, cwErr(chatwork.KindToken, 401, nil), chatwork.KindToken,
			"token_source", "read quota: token_source (HTTP 401)", false, 0, 1},
		{"wrapped error, quota ignored on failure", q, fmt.Errorf("monitor: %w", cwErr(chatwork.KindServer, 500, nil)), chatwork.KindServer,
			"server", "read quota: server (HTTP 500)", false, 0, 1},
	}
	covered := map[chatwork.Kind]bool{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			covered[tc.kind] = true
			calls := tc.calls
			if calls == 0 {
				calls = 1 // what a caller that cannot count passes
			}
			r := FromCall("ops", SourceMonitor, at, tc.q, tc.err, calls)
			if r.Error != tc.wantErr || r.Detail != tc.detail {
				t.Errorf("Error, Detail = %q, %q; want %q, %q", r.Error, r.Detail, tc.wantErr, tc.detail)
			}
			if r.HasQuota != tc.hasQuota || r.Remaining != tc.remaining || r.Calls != tc.calls {
				t.Errorf("HasQuota, Remaining, Calls = %v, %d, %d; want %v, %d, %d",
					r.HasQuota, r.Remaining, r.Calls, tc.hasQuota, tc.remaining, tc.calls)
			}
			if r.HasQuota && (r.Limit != 300 || r.Reset != reset.Unix()) {
				t.Errorf("Limit, Reset = %d, %d; want 300, %d", r.Limit, r.Reset, reset.Unix())
			}
			if !r.Time.Equal(at) || r.Token != "ops" || r.Source != SourceMonitor {
				t.Errorf("Time, Token, Source = %v, %q, %q", r.Time, r.Token, r.Source)
			}
			if err := r.Validate(); err != nil {
				t.Errorf("record does not validate: %v", err)
			}
			b, err := r.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), secret) || strings.Contains(string(b), "server said") {
				t.Errorf("server text reached the record: %s", b)
			}
		})
	}
	for k := chatwork.Kind(0); !strings.HasPrefix(k.String(), "kind("); k++ {
		if !covered[k] {
			t.Errorf("no row for kind %v", k)
		}
	}
}

// Whatever a server answers, neither the client's error nor the record
// built from it holds the token or much of the server's text.
func TestFromCallServerText(t *testing.T) {
	huge := strings.Repeat("<p>X-ChatWorkToken: "+secret+"</p>", 8000) // about 300 KB
	cases := []struct {
		status int
		body   string
		detail string
	}{
		{202, "GET /v2/me HTTP/1.1\r\nX-ChatWorkToken: " + secret + "\r\n%s", "read quota: bad_response (HTTP 202)"},
		{202, huge, "read quota: bad_response (HTTP 202)"},
		{200, huge, "read quota: bad_response (HTTP 200)"},
		{400, `{"errors":["X-ChatWorkToken: ` + secret + strings.Repeat(" bad", 80000) + `"]}`, "read quota: bad_request (HTTP 400)"},
		{503, huge, "read quota: server (HTTP 503)"},
	}
	for _, tc := range cases {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(tc.status)
			io.WriteString(w, tc.body)
		}))
		c, err := chatwork.New(chatwork.Config{BaseURL: srv.URL, Token: chatwork.StaticToken(secret), Retries: -1})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.ReadQuota(t.Context())
		srv.Close()
		if err == nil || strings.Contains(err.Error(), secret) || len(err.Error()) > 400 {
			t.Errorf("%d: err = %.500q (%d bytes), want an error without the token, at most 400 bytes", tc.status, err, len(fmt.Sprint(err)))
		}
		r := FromCall("ops", SourcePassive, at, nil, err, 1)
		b, _ := r.MarshalJSON()
		if r.Detail != tc.detail || strings.Contains(string(b), secret) {
			t.Errorf("%d: Detail = %q, record %.300s; want Detail %q and no token", tc.status, r.Detail, b, tc.detail)
		}
	}
}

// Rate-limit figures out of range never become a sample: the client says
// the quota is unknown, and FromCall records a bad_response failure.
func TestFromCallRateLimitHeaders(t *testing.T) {
	reset := at.Add(3 * time.Minute).Unix()
	unix := func(sec int64) string { return fmt.Sprint(sec) }
	cases := []struct {
		name                    string
		limit, remaining, reset string
		sample                  bool
	}{
		{"sane", "300", "12", unix(reset), true},
		{"remaining above limit", "300", "500", unix(reset), false},
		{"remaining max int64", "300", "9223372036854775807", unix(reset), false},
		{"limit 2,000,000", "2000000", "12", unix(reset), false},
		{"reset max int64", "300", "12", "9223372036854775807", false},
		{"reset in milliseconds", "300", "12", unix(reset * 1000), false},
		{"reset 2 days away", "300", "12", unix(reset + 2*86400), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-RateLimit-Limit", tc.limit)
				w.Header().Set("X-RateLimit-Remaining", tc.remaining)
				w.Header().Set("X-RateLimit-Reset", tc.reset)
				io.WriteString(w, `{"account_id":1}`)
			}))
			defer srv.Close()
			c, err := chatwork.New(chatwork.Config{BaseURL: srv.URL, Token: chatwork.StaticToken(secret),
				Now: func() time.Time { return at }})
			if err != nil {
				t.Fatal(err)
			}
			reading, err := c.ReadQuota(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			r := FromCall("ops", SourceMonitor, reading.At, reading.Quota, err, 1)
			if tc.sample != r.HasQuota || !tc.sample && r.Error != "bad_response" || tc.sample && r.Error != "" {
				t.Errorf("record %+v, want a sample: %v (else a bad_response failure)", r, tc.sample)
			}
			if err := r.Validate(); err != nil {
				t.Errorf("record does not validate: %v", err)
			}
		})
	}
}
