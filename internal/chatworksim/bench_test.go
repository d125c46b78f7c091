package chatworksim_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/chatworksim"
)

// BenchmarkSpend is the benchmarks' inner loop: another client spends while
// the virtual clock runs through windows.
func BenchmarkSpend(b *testing.B) {
	clock := chatworksim.NewFakeClock(t0)
	s := chatworksim.New(chatworksim.Config{Clock: clock})
	s.AddAccount(token, botID, "Bot")
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.Spend(token, 1)
		if i%100 == 99 {
			clock.Advance(5 * time.Second)
		}
	}
}

// BenchmarkMeRequest is one GET /v2/me through the handler, without a socket.
func BenchmarkMeRequest(b *testing.B) {
	clock := chatworksim.NewFakeClock(t0)
	s := chatworksim.New(chatworksim.Config{Clock: clock, Limit: 1 << 30})
	s.AddAccount(token, botID, "Bot")
	req := httptest.NewRequest("GET", "/v2/me", nil)
	req.Header.Set("X-ChatWorkToken", token)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}

// BenchmarkMeRequestHTTP is the same over loopback HTTP, as the tests use it.
func BenchmarkMeRequestHTTP(b *testing.B) {
	s, base := chatworksim.Start(b, chatworksim.Config{Clock: chatworksim.NewFakeClock(t0), Limit: 1 << 30})
	s.AddAccount(token, botID, "Bot")
	req, _ := http.NewRequest("GET", base+"/me", nil)
	req.Header.Set("X-ChatWorkToken", token)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	b.Cleanup(client.CloseIdleConnections)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body) // so the connection is reused
			resp.Body.Close()
		}
	})
}
