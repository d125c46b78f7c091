package chatwork

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"

	gochatwork "github.com/griffin-stewie/go-chatwork"
)

// These tests show that the go-chatwork version in go.mod still has the
// defects client.go contains, so that the tests pinning each containment
// are known to exercise a real failure. If one fails after the dependency
// changes, re-read go-chatwork before simplifying client.go.

func TestUpstreamPanicsOnTransportError(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gc := gochatwork.NewClient(testToken)
	gc.BaseURL = "http://" + l.Addr().String()
	l.Close()
	defer func() {
		if recover() == nil {
			t.Error("go-chatwork no longer panics when the request fails")
		}
	}()
	_, _ = gc.Me() // panics before returning
}

func TestUpstreamRateLimitSpendsARequestAndInventsZero(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"account_id":1}`) // no rate-limit headers
	})
	gc := gochatwork.NewClient(testToken)
	gc.BaseURL = srv.URL + "/v2"
	rl := gc.RateLimit()
	if n := srv.requests.Load(); n != 1 {
		t.Errorf("RateLimit() with no earlier call sent %d requests, want 1 (the defect)", n)
	}
	if rl == nil || rl.Limit != 0 || rl.Remaining != 0 || rl.ResetTime != 0 {
		t.Errorf("RateLimit() without headers = %+v, want the false 0/0/0", rl)
	}
	// The client contains both: one request, and "unknown", not 0.
	c := newClient(t, srv.URL)
	r, err := c.ReadQuota(context.Background())
	if err != nil || r.Quota != nil || srv.requests.Load() != 2 {
		t.Errorf("ReadQuota = %+v, %v after %d requests; want nil Quota after 2", r, err, srv.requests.Load())
	}
}
