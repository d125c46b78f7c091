package chatworksim_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/chatworksim"
)

// Through Transport the Server runs in a synctest bubble: latency and hangs
// pass in virtual time, the client's timeouts end them, a drop is an error,
// and the room-limit fault is what the client calls a per-room limit.
func TestTransportInVirtualTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := chatworksim.New(chatworksim.Config{Latency: time.Minute})
		defer s.Close()
		s.AddAccount(token, 1, "bot")
		s.AddRoom(7)
		client := &http.Client{Transport: s.Transport()}
		start := time.Now()
		req, _ := http.NewRequest("GET", "http://chatworksim.invalid/v2/me", nil)
		req.Header.Set("X-ChatWorkToken", token)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || !strings.Contains(string(body), `"account_id":1`) || time.Since(start) != time.Minute {
			t.Fatalf("status %d after %v: %s", resp.StatusCode, time.Since(start), body)
		}

		cw, err := chatwork.New(chatwork.Config{BaseURL: "http://chatworksim.invalid/v2", Token: chatwork.StaticToken(token),
			Timeout: 5 * time.Second, Retries: -1, HTTPClient: client})
		if err != nil {
			t.Fatal(err)
		}
		start = time.Now()
		if _, err := cw.ReadQuota(context.Background()); chatwork.KindOf(err) != chatwork.KindNetwork || time.Since(start) != 5*time.Second {
			t.Fatalf("a slow answer: %v after %v, want a network error after the 5 s timeout", err, time.Since(start))
		}
		// Without latency, the faults.
		s = chatworksim.New(chatworksim.Config{})
		defer s.Close()
		s.AddAccount(token, 1, "bot")
		s.AddRoom(7)
		cw, err = chatwork.New(chatwork.Config{BaseURL: "http://chatworksim.invalid/v2", Token: chatwork.StaticToken(token),
			Timeout: 5 * time.Second, Retries: -1, HTTPClient: &http.Client{Transport: s.Transport()}})
		if err != nil {
			t.Fatal(err)
		}
		for kind, want := range map[chatworksim.FaultKind]chatwork.Kind{
			chatworksim.FaultHang: chatwork.KindNetwork, chatworksim.FaultDrop: chatwork.KindNetwork, chatworksim.FaultRoomLimit: chatwork.KindRoomLimit,
		} {
			s.InjectFault(chatworksim.Fault{Kind: kind, Count: 1})
			if _, err := cw.Post(context.Background(), 7, "hello"); chatwork.KindOf(err) != want {
				t.Errorf("%v: %v, want %v", kind, err, want)
			}
		}
		if n := len(s.Messages(7)); n != 0 {
			t.Errorf("%d messages posted through faults", n)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		req = req.WithContext(ctx)
		if _, err := s.Transport().RoundTrip(req); !errors.Is(err, context.Canceled) {
			t.Errorf("a canceled request: %v", err)
		}
	})
}
