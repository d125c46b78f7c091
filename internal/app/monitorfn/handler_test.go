package monitorfn

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/recordtest"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
	"github.com/quotabot/chatwork-quota-bot/monitor"
)

var t0 = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// windowCW answers from a fixed 5-minute window spending one call a second.
type windowCW struct {
	now   *time.Time
	calls int64
}

func (f *windowCW) ReadQuota(context.Context) (chatwork.Reading, error) {
	f.calls++
	start := f.now.Truncate(5 * time.Minute)
	used := int(f.now.Sub(start) / time.Second)
	return chatwork.Reading{At: *f.now, AccountID: 42,
		Quota: &chatwork.Quota{Limit: 300, Remaining: 300 - used, Reset: start.Add(5 * time.Minute)}}, nil
}
func (f *windowCW) Calls() int64 { return f.calls }

func TestHandler(t *testing.T) {
	now := t0.Add(10 * time.Second)
	cw := &windowCW{now: &now}
	m, err := monitor.New(monitor.Config{TokenLabel: "bots",
		Now: func() time.Time { return now },
		Sleep: func(ctx context.Context, d time.Duration) error {
			now = now.Add(d)
			return ctx.Err()
		}}, monitor.Single("bots", cw), &recordtest.Memory{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	handle := Handler(m)
	for _, ev := range []string{`{}`, `{"action":"tick"}`, `{"version":"0","detail-type":"Scheduled Event","source":"aws.events","detail":{}}`} {
		sum, err := handle(context.Background(), json.RawMessage(ev))
		if err != nil || sum.Calls != 1 || sum.Remaining == nil || *sum.Remaining != 290 {
			t.Fatalf("%s: %+v %v", ev, sum, err)
		}
	}
	now = t0.Add(296 * time.Second)
	body, _ := json.Marshal(monitor.WakeRequest{Action: "final", Reset: t0.Add(5 * time.Minute).Unix(), FinalAt: t0.Add(299 * time.Second).UnixMilli()})
	sqsEvent, _ := json.Marshal(map[string]any{"Records": []map[string]any{{"messageId": "m1", "eventSource": "aws:sqs", "body": string(body)}}})
	before := cw.calls
	sum, err := handle(context.Background(), sqsEvent)
	if err != nil || !sum.Final || cw.calls != before+1 || *sum.Remaining != 1 {
		t.Fatalf("wake: %+v %v", sum, err)
	}
	if _, err := handle(context.Background(), json.RawMessage(`{"Records":[{"eventSource":"aws:sqs","body":"nope"}]}`)); err == nil {
		t.Fatal("a poison wake-up must be an error")
	}
	if _, err := handle(context.Background(), json.RawMessage(`{"Records":`)); err == nil {
		t.Fatal("malformed JSON must be an error")
	}
}

// A bad configuration still gives a handler: one that reports the error,
// naming the variable, on every invocation.
func TestNewReportsABadConfigurationOnEveryInvocation(t *testing.T) {
	var stdout, stderr bytes.Buffer
	handle := New(context.Background(), env(map[string]string{"QUOTA_LOG_GROUP": "g"}), &stdout, &stderr)
	for i := range 2 {
		if _, err := handle(context.Background(), json.RawMessage(`{}`)); err == nil || !strings.Contains(err.Error(), "CHATWORK_TOKEN_PARAMETER") {
			t.Fatalf("invocation %d: err = %v", i+1, err)
		}
	}
	if n := strings.Count(stderr.String(), "configuration error"); n != 2 {
		t.Fatalf("%d log lines for 2 invocations:\n%s", n, stderr.String())
	}
}

// The summary of several tokens: totals, the lowest token's quota, the first
// failure, and each token's figures in order.
func TestSummarizeSeveralTokens(t *testing.T) {
	q := func(token string, remaining int, final bool) sample.Record {
		return sample.Record{Token: token, HasQuota: true, Remaining: remaining, Limit: 300, Reset: 1700000000, Calls: 1, Final: final}
	}
	s := summarize(monitor.Result{Calls: 6, Woken: true, Records: []sample.Record{
		q("a", 100, false), {Token: "b", Error: "invalid_token", Calls: 1}, q("c", 60, false), q("c", 50, true),
		{Token: "d", Error: "server", Calls: 3},
	}})
	if s.Calls != 6 || s.Records != 5 || !s.Woken || s.Token != "c" || *s.Remaining != 50 || !s.Final || s.Error != "invalid_token" || len(s.Tokens) != 4 {
		t.Fatalf("summary %+v", s)
	}
	c, d := s.Tokens[2], s.Tokens[3]
	if c.Token != "c" || c.Calls != 2 || c.Records != 2 || *c.Remaining != 50 || d.Error != "server" || d.Calls != 3 || d.Remaining != nil {
		t.Fatalf("tokens %+v", s.Tokens)
	}
}
