package bot

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/chart"
	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/chatworksim"
	"github.com/quotabot/chatwork-quota-bot/internal/recordtest"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
)

// hangingStore is a log group (or CloudWatch's metrics) that never
// answers: every write and query waits for its context.
type hangingStore struct{}

func (hangingStore) Record(ctx context.Context, _ sample.Record) error {
	<-ctx.Done()
	return ctx.Err()
}

func (hangingStore) Samples(ctx context.Context, _ string, _, _ time.Time) ([]sample.Record, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func (hangingStore) Lows(ctx context.Context, _ chart.Query) ([]chart.Series, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// hangingSource is SSM never answering for the webhook token.
type hangingSource struct{}

func (hangingSource) Token(ctx context.Context) (string, error) {
	<-ctx.Done()
	return "", ctx.Err()
}

// TestDeliveryAnsweredWithin10s measures the worst case of a delivery in
// virtual time (testing/synctest, no wall clock): ChatWork slow (every
// answer a minute late), hanging, refusing posts with the per-room limit,
// or dropping connections; the state table, the log group, CloudWatch's
// metrics and SSM healthy or never answering; /quota and /quota chart for
// one token and for 100, /quota mute and /quota help.
// The bot is wired as the webhook function wires it (5 s attempts, one
// retry of a reading). Every delivery is answered within answerWithin (9 s),
// a second under the 10 s promised, for Lambda's own overhead.
func TestDeliveryAnsweredWithin10s(t *testing.T) {
	chatworks := []struct {
		name    string
		latency time.Duration
		fault   *chatworksim.Fault
	}{
		{"ChatWork fast", 0, nil},
		{"ChatWork slow", time.Minute, nil},
		{"ChatWork hanging", 0, &chatworksim.Fault{Kind: chatworksim.FaultHang}},
		{"ChatWork refusing posts", 0, &chatworksim.Fault{Kind: chatworksim.FaultRoomLimit, Path: "/v2/rooms/"}},
		{"ChatWork dropping connections", 0, &chatworksim.Fault{Kind: chatworksim.FaultDrop}},
	}
	var worst time.Duration
	for _, cw := range chatworks {
		for _, aws := range []string{"AWS healthy", "AWS hanging"} {
			for _, cmd := range []string{"/quota", "/quota mute 1h", "/quota help", "/quota chart 7d"} {
				for _, tokens := range []int{1, 100} {
					if tokens > 1 && cmd != "/quota" && cmd != "/quota chart 7d" {
						continue
					}
					name := fmt.Sprintf("%s, %s, %s, %d tokens", cw.name, aws, cmd, tokens)
					t.Run(name, func(t *testing.T) {
						synctest.Test(t, func(t *testing.T) {
							took, status, posts := deliverOnce(t, cw.latency, cw.fault, aws == "AWS hanging", cmd, tokens)
							if took > answerWithin || status != http.StatusOK {
								t.Fatalf("answered %d after %v, want 200 within %v", status, took, answerWithin)
							}
							worst = max(worst, took)
							t.Logf("answered %d after %v, %d posts", status, took, posts)
							// The per-room limit is waited out as far as the
							// deadline allows, not given up at once.
							if cw.fault != nil && cw.fault.Kind == chatworksim.FaultRoomLimit && aws == "AWS healthy" && posts != 2 {
								t.Errorf("%d posts against the per-room limit, want one retry", posts)
							}
						})
					})
				}
			}
		}
	}
	t.Run("SSM hanging for the webhook token", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b, err := New(Config{RoomID: testRoom}, Deps{ChatWork: newFakeChatWork(), Recorder: hangingStore{}, History: hangingStore{},
				Verifier: &chatwork.RotatingVerifier{Source: hangingSource{}}})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			w := (&env{bot: b}).serve(t, signedRequest(t, eventAt(chatwork.EventMessageCreated, chatwork.WebhookEvent{MessageID: "1", RoomID: testRoom, AccountID: testSender, Body: "/quota"}, start)))
			if took := time.Since(start); took > answerWithin || w.Code != http.StatusUnauthorized {
				t.Fatalf("answered %d after %v, want 401 within %v", w.Code, took, answerWithin)
			}
		})
	})
	t.Logf("the slowest answer took %v of virtual time (bound %v)", worst, answerWithin)
}

// deliverOnce runs one signed delivery of text through a bot on the
// simulator inside the bubble, and returns how long its answer took, its
// status and how many posts the simulator saw.
func deliverOnce(t *testing.T, latency time.Duration, fault *chatworksim.Fault, awsHangs bool, text string, tokens int) (time.Duration, int, int) {
	sim := chatworksim.New(chatworksim.Config{Latency: latency, RoomPostLimit: 1 << 20})
	defer sim.Close()
	sim.AddRoom(testRoom)
	posts := &countingPosts{RoundTripper: sim.Transport()}
	client := func(token string) *chatwork.Client {
		c, err := chatwork.New(chatwork.Config{BaseURL: "http://chatworksim.invalid/v2", Token: chatwork.StaticToken(token),
			Timeout: 5 * time.Second, Retries: 1, HTTPClient: &http.Client{Transport: posts}})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	sim.AddAccount(apiToken, testBotID, "bot")
	var others []Token
	for i := 1; i < tokens; i++ {
		token := fmt.Sprintf("token-%03d", i)
		sim.AddAccount(token, int64(testBotID+i), token)
		others = append(others, Token{fmt.Sprintf("bot-%03d", i), client(token)})
	}
	if fault != nil {
		sim.InjectFault(*fault)
	}
	v, err := chatwork.NewVerifier(vectorToken)
	if err != nil {
		t.Fatal(err)
	}
	deps := Deps{ChatWork: client(apiToken), Recorder: &recordtest.Memory{}, History: hangingStore{}, Verifier: v,
		Tokens: func(context.Context) []Token { return others }, Charts: &fakeCharts{}}
	if awsHangs {
		deps.Recorder, deps.State, deps.Charts = hangingStore{}, brokenState{hang: true}, hangingStore{}
	} else {
		deps.History = memoryOf(t)
	}
	b, err := New(Config{RoomID: testRoom, Location: jst}, deps)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	body := eventAt(chatwork.EventMessageCreated, chatwork.WebhookEvent{MessageID: "1", RoomID: testRoom, AccountID: testSender, Body: text}, start)
	w := (&env{bot: b}).serve(t, signedRequest(t, body))
	return time.Since(start), w.Code, int(posts.n.Load())
}

// countingPosts counts the POST requests that pass.
type countingPosts struct {
	http.RoundTripper
	n atomic.Int64
}

func (c *countingPosts) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost {
		c.n.Add(1)
	}
	return c.RoundTripper.RoundTrip(r)
}
