package monitorfn

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/quotabot/chatwork-quota-bot/internal/app"
	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/chatworksim"
	"github.com/quotabot/chatwork-quota-bot/internal/fleet"
	"github.com/quotabot/chatwork-quota-bot/internal/recordtest"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
	"github.com/quotabot/chatwork-quota-bot/internal/ssmparam"
	"github.com/quotabot/chatwork-quota-bot/monitor"
)

// functionTimeout is the monitor function's timeout in template.yaml: the
// deadline of the context Lambda hands the handler.
const functionTimeout = 90 * time.Second

// registry is an SSM path of tokens that answers at once.
type registry []ssmparam.Entry

func (r registry) List(context.Context) ([]ssmparam.Entry, error) { return r, nil }

// logGroup is a log group whose puts take 100 ms and fail once their
// context is done, as PutLogEvents does when the function runs out of time.
type logGroup struct{ recordtest.Memory }

func (l *logGroup) Record(ctx context.Context, r sample.Record) error {
	select {
	case <-time.After(100 * time.Millisecond):
	case <-ctx.Done():
		return ctx.Err()
	}
	return l.Memory.Record(ctx, r)
}

// With ChatWork hanging, a tick of 100 tokens wired as Wire wires it (its
// clients, its fleet, the monitor's defaults) returns before the function's
// timeout, with a record of every token it tried, each written while the
// invocation was alive; the tokens it had no time for are named and, since
// the tick did not complete, no heartbeat is printed. With 10 tokens every
// token is tried and the tick, complete, prints its heartbeat. In virtual
// time (testing/synctest).
func TestHangingChatWorkTickEndsBeforeTheTimeout(t *testing.T) {
	for _, n := range []int{100, 10} {
		t.Run(fmt.Sprintf("%d tokens", n), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				sim := chatworksim.New(chatworksim.Config{})
				defer sim.Close()
				sim.AddAccount(apiToken, 9001, "quota bot")
				var reg registry
				for i := 1; i < n; i++ {
					tok := fmt.Sprintf("token-%03d", i)
					sim.AddAccount(tok, int64(9001+i), tok)
					reg = append(reg, ssmparam.Entry{Label: fmt.Sprintf("t%03d", i), Parameter: "/tokens/" + tok, Value: tok, Type: ssmtypes.ParameterTypeSecureString})
				}
				sim.InjectFault(chatworksim.Fault{Kind: chatworksim.FaultHang})
				var logs, stdout bytes.Buffer
				log := slog.New(slog.NewJSONHandler(&logs, nil))
				f, err := fleet.New(fleet.Config{OwnLabel: "ops-bots", Own: chatwork.StaticToken(apiToken), Registry: reg,
					NewClient: app.NewClient("http://chatworksim.invalid/v2", &http.Client{Transport: sim.Transport()}), Logger: log})
				if err != nil {
					t.Fatal(err)
				}
				rec := &logGroup{}
				m, err := newMonitor(monitor.Config{TokenLabel: "ops-bots", Heartbeat: &stdout, Logger: log}, f, rec, nil)
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), functionTimeout)
				defer cancel()
				start := time.Now()
				sum, err := Handler(m)(ctx, json.RawMessage(`{}`))
				took := time.Since(start)
				recs := rec.All()
				t.Logf("%d tokens: returned after %v with %d records", n, took, len(recs))
				if took >= functionTimeout-time.Second {
					t.Fatalf("the tick returned %v after it began: the function's timeout is %v", took, functionTimeout)
				}
				// 5 s attempts and one retry: about 10 s a token, so 10 at a
				// time read 80 or more in the time there is.
				if len(recs) < min(n, 80) {
					t.Fatalf("%d tokens tried: each reading took too long", len(recs))
				}
				if len(recs) == 0 || len(recs) != sum.Records {
					t.Fatalf("%d records written, %d in the summary", len(recs), sum.Records)
				}
				for _, r := range recs {
					if r.Error == "" || r.HasQuota {
						t.Fatalf("record %+v: want a failure", r)
					}
				}
				heartbeats := strings.Count(stdout.String(), `"heartbeat":1`)
				if n == 10 {
					if len(recs) != n || heartbeats != 1 || err == nil || strings.Contains(err.Error(), "out of time") {
						t.Fatalf("10 tokens: %d records, %d heartbeats, err %v; want every token tried and a heartbeat", len(recs), heartbeats, err)
					}
					return
				}
				if len(recs) >= n || heartbeats != 0 {
					t.Fatalf("%d records and %d heartbeats: a hanging ChatWork cannot let 100 tokens be read in time", len(recs), heartbeats)
				}
				want := fmt.Sprintf("out of time: %d of %d tokens not read", n-len(recs), n)
				if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(logs.String(), `"msg":"out of time: tokens not read"`) ||
					!strings.Contains(logs.String(), fmt.Sprintf("t%03d", n-1)) {
					t.Fatalf("err %v, want %q; logs:\n%s", err, want, logs.String())
				}
			})
		})
	}
}

// slowRegistry takes 10 s to list, and counts its listings.
type slowRegistry struct {
	registry
	lists *atomic.Int32
}

func (r slowRegistry) List(ctx context.Context) ([]ssmparam.Entry, error) {
	r.lists.Add(1)
	time.Sleep(10 * time.Second)
	return r.registry.List(ctx)
}

// A wake-up takes its final readings at their time even when the registry
// is slow and the container's list is older than the fleet's five minutes:
// it does not list the registry again (its next tick will). In virtual time.
func TestWakeDoesNotWaitForTheRegistry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim := chatworksim.New(chatworksim.Config{}) // windows of 5 minutes on the clock
		defer sim.Close()
		sim.AddAccount(apiToken, 9001, "quota bot")
		reg := slowRegistry{lists: &atomic.Int32{}}
		labels := []string{"ops-bots"}
		for i := 1; i < 5; i++ {
			tok := fmt.Sprintf("token-%03d", i)
			sim.AddAccount(tok, int64(9001+i), tok)
			reg.registry = append(reg.registry, ssmparam.Entry{Label: fmt.Sprintf("t%03d", i), Parameter: "/tokens/" + tok, Value: tok, Type: ssmtypes.ParameterTypeSecureString})
			labels = append(labels, fmt.Sprintf("t%03d", i))
		}
		f, err := fleet.New(fleet.Config{OwnLabel: "ops-bots", Own: chatwork.StaticToken(apiToken), Registry: reg,
			NewClient: app.NewClient("http://chatworksim.invalid/v2", &http.Client{Transport: sim.Transport()})})
		if err != nil {
			t.Fatal(err)
		}
		rec := &recordtest.Memory{}
		m, err := newMonitor(monitor.Config{TokenLabel: "ops-bots"}, f, rec, nil)
		if err != nil {
			t.Fatal(err)
		}
		handle := Handler(m)
		if sum, err := handle(t.Context(), json.RawMessage(`{}`)); err != nil || sum.Records != 5 {
			t.Fatalf("tick: %+v, %v", sum, err)
		}
		// The second window's end: more than five minutes after the list.
		reset := time.Now().Truncate(5 * time.Minute).Add(10 * time.Minute)
		time.Sleep(time.Until(reset.Add(-4 * time.Second)))
		body, _ := json.Marshal(monitor.WakeRequest{Action: "final", Reset: reset.Unix(), FinalAt: reset.Add(-time.Second).UnixMilli(), Labels: labels})
		sqsEvent, _ := json.Marshal(map[string]any{"Records": []map[string]any{{"messageId": "m1", "eventSource": "aws:sqs", "body": string(body)}}})
		sum, err := handle(t.Context(), sqsEvent)
		if err != nil || sum.Records != 5 || len(sum.Tokens) != 5 || reg.lists.Load() != 1 {
			t.Fatalf("wake-up: %+v, %v; %d listings", sum, err, reg.lists.Load())
		}
		for _, tok := range sum.Tokens {
			if !tok.Final {
				t.Fatalf("token %s: no final reading", tok.Token)
			}
		}
	})
}
