package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/quotabot/chatwork-quota-bot/internal/awstest"
	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/chatworksim"
)

// Two webhook bootstraps under two emulators, as two Lambda containers
// with memories of their own, sharing QUOTA_STATE_TABLE on moto: one alarm
// event delivered to both at once is posted once, its recovery delivered
// to both one after the other once, and one signed delivery sent to both
// is answered once. With DynamoDB down (its endpoint refusing), the alert
// is posted all the same.
func TestSharedStateUnderEmulator(t *testing.T) {
	endpoint := awstest.StartMoto(t)
	root := moduleRoot(t)
	dir := t.TempDir()
	rie := buildEmulator(t, dir)
	bootstrap := buildHost(t, "./cmd/webhook", filepath.Join(dir, "webhook"))
	event := func(name string) []byte {
		raw, err := os.ReadFile(filepath.Join(root, "testdata", "events", name))
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	invoke := func(emu *emulator, ev []byte) {
		t.Helper()
		if res := emu.invoke(t, ev); res.Status != 200 || res.ErrorType != "" {
			t.Errorf("invocation: %v\nemulator output:\n%s", res, emu.output())
		}
	}

	t.Run("two instances, one table", func(t *testing.T) {
		w := newWorld(t, endpoint, chatworksim.Config{}).withWebhook(t).withTable(t)
		emus := []*emulator{startEmulator(t, rie, w.env(), bootstrap), startEmulator(t, rie, w.env(), bootstrap)}
		alert := event("alarm-state-alarm.json")
		var wg sync.WaitGroup
		for _, emu := range emus {
			wg.Go(func() { invoke(emu, alert) })
		}
		wg.Wait()
		if posts := botMessages(w); len(posts) != 1 || !strings.Contains(posts[0].Body, "running low") {
			t.Fatalf("one alarm event delivered to both: the bot's messages %+v\noutputs:\n%s\n%s", posts, emus[0].output(), emus[1].output())
		}
		for _, emu := range []*emulator{emus[1], emus[0]} {
			invoke(emu, event("alarm-state-ok.json"))
		}
		if posts := botMessages(w); len(posts) != 2 {
			t.Fatalf("the recovery delivered to both: the bot's messages %+v", posts)
		}
		body := say(w, "/quota help")
		sig, err := chatwork.Sign(webhookToken, body)
		if err != nil {
			t.Fatal(err)
		}
		for _, emu := range emus {
			if resp := functionURLResponse(t, emu.invoke(t, functionURLRequest(body, sig, false))); resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
		}
		posts := botMessages(w)
		if len(posts) != 3 {
			t.Fatalf("one delivery sent to both: the bot's messages %+v", posts)
		}
		texts := map[string]string{"output 0": emus[0].output(), "output 1": emus[1].output()}
		for i, p := range posts {
			texts[fmt.Sprint("post ", i)] = p.Body
		}
		noSecrets(t, texts)
	})

	t.Run("DynamoDB down", func(t *testing.T) {
		w := newWorld(t, endpoint, chatworksim.Config{}).withWebhook(t)
		w.vars["QUOTA_STATE_TABLE"] = "quotabot-e2e-state"
		w.vars["AWS_ENDPOINT_URL_DYNAMODB"] = awstest.DeadEndpoint(t)
		emu := startEmulator(t, rie, w.env(), bootstrap)
		invoke(emu, event("alarm-state-alarm.json"))
		if posts := botMessages(w); len(posts) != 1 || !strings.Contains(emu.output(), "the message may be repeated") {
			t.Fatalf("the bot's messages %+v\nemulator output:\n%s", posts, emu.output())
		}
		noSecrets(t, map[string]string{"output": emu.output()})
	})
}
