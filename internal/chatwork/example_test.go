package chatwork_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
)

func ExampleClient_ReadQuota() {
	// A stand-in for https://api.chatwork.com/v2.
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-RateLimit-Limit", "300")
		w.Header().Set("X-RateLimit-Remaining", "287")
		w.Header().Set("X-RateLimit-Reset", "1777637100")
		io.WriteString(w, `{"account_id":12345,"name":"quota bot"}`)
	}))
	defer api.Close()

	c, err := chatwork.New(chatwork.Config{
		BaseURL: api.URL + "/v2",
		Token:   chatwork.StaticToken("your-api-token"),
		// Only for this example, whose stand-in has a fixed reset: a reset
		// more than a day from the client's clock is not believed.
		Now: func() time.Time { return time.Unix(1777636900, 0) },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	r, err := c.ReadQuota(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	if r.Quota == nil {
		fmt.Println("quota unknown: the response had no rate-limit headers")
		return
	}
	fmt.Printf("account %d: %d of %d calls used, %d left until %s\n",
		r.AccountID, r.Quota.Used(), r.Quota.Limit, r.Quota.Remaining, r.Quota.Reset.Format(time.RFC3339))
	fmt.Println("requests spent:", c.Calls())
	// Output:
	// account 12345: 13 of 300 calls used, 287 left until 2026-05-01T12:05:00Z
	// requests spent: 1
}
