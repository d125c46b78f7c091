package chatwork_test

import (
	"context"
	"testing"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/chatworksim"
)

// Integration with the project's ChatWork simulator: the client's view of
// the quota must match the simulator's own, call for call.

const simToken = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"

func startSim(t *testing.T, cfg chatworksim.Config) (*chatworksim.Server, *chatwork.Client) {
	t.Helper()
	sim, url := chatworksim.Start(t, cfg)
	sim.AddAccount(simToken, 777, "quota bot")
	sim.AddRoom(42)
	c, err := chatwork.New(chatwork.Config{BaseURL: url, Token: chatwork.StaticToken(simToken), Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return sim, c
}

func TestSimulatorQuotaMatches(t *testing.T) {
	ctx := context.Background()
	sim, c := startSim(t, chatworksim.Config{Limit: 5})

	r, err := c.ReadQuota(ctx)
	if err != nil {
		t.Fatal(err)
	}
	limit, remaining, reset := sim.Quota(simToken)
	if r.AccountID != 777 || r.Quota == nil || r.Quota.Limit != limit || r.Quota.Remaining != remaining || !r.Quota.Reset.Equal(reset) {
		t.Fatalf("Reading = %+v (quota %+v), simulator says %d/%d until %v", r, r.Quota, remaining, limit, reset)
	}

	p, err := c.Post(ctx, 42, "[info]quota[/info]")
	if err != nil {
		t.Fatal(err)
	}
	msgs := sim.Messages(42)
	if len(msgs) != 1 || msgs[0].ID != p.MessageID || msgs[0].AccountID != 777 {
		t.Fatalf("posted %+v, room holds %+v", p, msgs)
	}
	if p.Quota == nil || p.Quota.Remaining != 3 {
		t.Fatalf("Post quota = %+v, want 3 remaining", p.Quota)
	}

	sim.Spend(simToken, 3)
	_, err = c.ReadQuota(ctx)
	if chatwork.KindOf(err) != chatwork.KindQuotaExhausted {
		t.Fatalf("err = %v, want quota_exhausted", err)
	}
	if q := chatwork.QuotaOf(err); q == nil || q.Remaining != 0 || !q.Reset.Equal(reset) {
		t.Fatalf("QuotaOf = %+v, want 0 remaining until %v", q, reset)
	}
	if got, want := c.Calls(), int64(sim.Calls(simToken)-sim.OtherCalls(simToken)); got != want || got != 3 {
		t.Fatalf("Calls() = %d, simulator saw %d from this client; want 3", got, want)
	}
}

func TestSimulatorFaults(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name  string
		fault chatworksim.Fault
		kind  chatwork.Kind // 0 for success
		quota bool
		calls int
	}{
		{"no headers", chatworksim.Fault{Kind: chatworksim.FaultNoHeaders, Count: 1}, 0, false, 1},
		{"garbage headers", chatworksim.Fault{Kind: chatworksim.FaultGarbageHeaders, Count: 1}, 0, false, 1},
		{"one 503 is retried", chatworksim.Fault{Kind: chatworksim.FaultStatus, Status: 503, Count: 1}, 0, true, 2},
		{"dropped every time", chatworksim.Fault{Kind: chatworksim.FaultDrop}, chatwork.KindNetwork, false, 3},
		{"bad request", chatworksim.Fault{Kind: chatworksim.FaultStatus, Status: 400, Count: 1}, chatwork.KindBadRequest, true, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sim, c := startSim(t, chatworksim.Config{})
			sim.InjectFault(tc.fault)
			r, err := c.ReadQuota(ctx)
			if chatwork.KindOf(err) != tc.kind || tc.kind == 0 && err != nil {
				t.Fatalf("err = %v, want kind %v", err, tc.kind)
			}
			q := r.Quota
			if err != nil {
				q = chatwork.QuotaOf(err)
			}
			if (q != nil) != tc.quota {
				t.Errorf("quota = %+v, want present=%v", q, tc.quota)
			}
			if c.Calls() != int64(tc.calls) || sim.Calls(simToken) != tc.calls {
				t.Errorf("Calls() = %d, simulator saw %d; want %d", c.Calls(), sim.Calls(simToken), tc.calls)
			}
		})
	}
}

func TestSimulatorHangAndLimits(t *testing.T) {
	t.Run("hang", func(t *testing.T) {
		sim, c := startSim(t, chatworksim.Config{})
		sim.InjectFault(chatworksim.Fault{Kind: chatworksim.FaultHang})
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		if _, err := c.ReadQuota(ctx); chatwork.KindOf(err) != chatwork.KindNetwork {
			t.Fatalf("err = %v, want network", err)
		}
	})
	t.Run("room limit", func(t *testing.T) {
		_, c := startSim(t, chatworksim.Config{RoomPostLimit: 2})
		for i := range 3 {
			_, err := c.Post(context.Background(), 42, "hi")
			if want := i < 2; (err == nil) != want {
				t.Fatalf("post %d: err = %v", i, err)
			}
			if i == 2 && chatwork.KindOf(err) != chatwork.KindRoomLimit {
				t.Fatalf("post %d: err = %v, want room_limit", i, err)
			}
		}
	})
	t.Run("unknown room and token", func(t *testing.T) {
		sim, url := chatworksim.Start(t, chatworksim.Config{})
		sim.AddAccount(simToken, 1, "bot")
		c, err := chatwork.New(chatwork.Config{BaseURL: url, Token: chatwork.StaticToken("not-a-known-token")})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.ReadQuota(context.Background()); chatwork.KindOf(err) != chatwork.KindInvalidToken {
			t.Fatalf("err = %v, want invalid_token", err)
		}
		c, _ = chatwork.New(chatwork.Config{BaseURL: url, Token: chatwork.StaticToken(simToken)})
		if _, err := c.Post(context.Background(), 999, "hi"); chatwork.KindOf(err) != chatwork.KindBadRequest {
			t.Fatalf("err = %v, want bad_request", err)
		}
	})
}
