package chatworksim_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/chatworksim"
)

func TestFaults(t *testing.T) {
	tests := []struct {
		name   string
		fault  chatworksim.Fault
		status int  // 0: the client gets an error
		rate   bool // the rate-limit headers are present and numeric
	}{
		{"status 503", chatworksim.Fault{Kind: chatworksim.FaultStatus, Status: 503, Count: 1}, 503, true},
		{"status default 500", chatworksim.Fault{Kind: chatworksim.FaultStatus, Count: 1}, 500, true},
		{"hang", chatworksim.Fault{Kind: chatworksim.FaultHang, Count: 1}, 0, false},
		{"drop", chatworksim.Fault{Kind: chatworksim.FaultDrop, Count: 1}, 0, false},
		{"no headers", chatworksim.Fault{Kind: chatworksim.FaultNoHeaders, Count: 1}, 200, false},
		{"garbage headers", chatworksim.Fault{Kind: chatworksim.FaultGarbageHeaders, Count: 1}, 200, false},
		{"room limit", chatworksim.Fault{Kind: chatworksim.FaultRoomLimit, Count: 1}, 429, true},
	}
	client := &http.Client{Timeout: 300 * time.Millisecond}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, base, _ := start(t, chatworksim.Config{})
			s.InjectFault(tc.fault)
			r := call(t, client, "GET", base+"/me", token, nil)
			switch {
			case tc.status == 0 && r.err == nil:
				t.Fatalf("got status %d, want an error", r.status)
			case tc.status != 0 && r.status != tc.status:
				t.Fatalf("got %d (%v), want %d", r.status, r.err, tc.status)
			}
			if tc.status != 0 {
				if tc.rate {
					if _, rem, _ := r.rate(t); rem != 299 {
						t.Errorf("remaining %d", rem)
					}
				} else if tc.fault.Kind == chatworksim.FaultNoHeaders && hasRateHeaders(r.header) {
					t.Errorf("headers present: %v", r.header)
				} else if tc.fault.Kind == chatworksim.FaultGarbageHeaders && r.header.Get("X-RateLimit-Remaining") == "" {
					t.Errorf("garbage headers missing")
				}
				if tc.status >= 400 {
					errorsOf(t, r.body)
				}
			}
			// Count 1: the next request is normal, and both were counted.
			r = call(t, client, "GET", base+"/me", token, nil)
			if r.status != 200 {
				t.Fatalf("after the fault: %d %v", r.status, r.err)
			}
			if _, rem, _ := r.rate(t); rem != 298 {
				t.Errorf("remaining %d, want 298: the faulted request counts", rem)
			}
			if c := s.Calls(token); c != 2 {
				t.Errorf("Calls %d", c)
			}
		})
	}
}

func TestFaultPathCountAndClear(t *testing.T) {
	s, base, _ := start(t, chatworksim.Config{})
	s.InjectFault(chatworksim.Fault{Kind: chatworksim.FaultStatus, Status: 502, Count: 2, Path: "/v2/rooms/"})
	s.InjectFault(chatworksim.Fault{Kind: chatworksim.FaultStatus, Status: 503}) // forever, every path
	post := func() int {
		return call(t, nil, "POST", base+"/rooms/42/messages", token, url.Values{"body": {"x"}}).status
	}
	me := func() int { return call(t, nil, "GET", base+"/me", token, nil).status }
	got := []int{post(), me(), post(), post(), me()}
	want := []int{502, 503, 502, 503, 503}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("statuses %v, want %v", got, want)
		}
	}
	s.ClearFaults()
	if st := me(); st != 200 {
		t.Errorf("after ClearFaults: %d", st)
	}
	if len(s.Messages(roomID)) != 0 {
		t.Errorf("a faulted post landed")
	}
}

// A hang must not keep the test's cleanup waiting when the client never
// gives up: Close releases it.
func TestHangReleasedByClose(t *testing.T) {
	s, base, _ := start(t, chatworksim.Config{})
	s.InjectFault(chatworksim.Fault{Kind: chatworksim.FaultHang})
	done := make(chan result, 1)
	go func() { done <- call(t, &http.Client{}, "GET", base+"/me", token, nil) }()
	time.Sleep(50 * time.Millisecond)
	s.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("hang not released")
	}
}

func TestFaultUnknownToken(t *testing.T) {
	s, base, _ := start(t, chatworksim.Config{})
	s.InjectFault(chatworksim.Fault{Kind: chatworksim.FaultStatus, Status: 502, Count: 1})
	r := call(t, nil, "GET", base+"/me", "nope", nil)
	if r.status != 502 || hasRateHeaders(r.header) {
		t.Errorf("%d %v", r.status, r.header)
	}
}
