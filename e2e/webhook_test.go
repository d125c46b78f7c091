package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/quotabot/chatwork-quota-bot/internal/awstest"
	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/chatworksim"
)

// functionURLRequest is a Function URL (payload 2.0, BUFFERED) invocation
// carrying a ChatWork webhook delivery, as Lambda builds it: lower-cased
// header names, the body base64-encoded when b64.
func functionURLRequest(body []byte, signature string, b64 bool) []byte {
	now := time.Now()
	ev := events.LambdaFunctionURLRequest{
		Version: "2.0",
		RawPath: "/",
		Headers: map[string]string{
			"content-type":               "application/json",
			"content-length":             fmt.Sprint(len(body)),
			"host":                       "e2etest0123456789abcdefghijklmn.lambda-url.ap-northeast-1.on.aws",
			"user-agent":                 "ChatWork-Webhook/1.0",
			"x-chatworkwebhooksignature": signature,
			"x-forwarded-for":            "198.51.100.23",
			"x-forwarded-proto":          "https",
		},
		RequestContext: events.LambdaFunctionURLRequestContext{
			AccountID:    "anonymous",
			RequestID:    fmt.Sprintf("e2e-%d", now.UnixNano()),
			APIID:        "e2etest0123456789abcdefghijklmn",
			DomainName:   "e2etest0123456789abcdefghijklmn.lambda-url.ap-northeast-1.on.aws",
			DomainPrefix: "e2etest0123456789abcdefghijklmn",
			Time:         now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:    now.UnixMilli(),
			HTTP: events.LambdaFunctionURLRequestContextHTTPDescription{
				Method:    "POST",
				Path:      "/",
				Protocol:  "HTTP/1.1",
				SourceIP:  "198.51.100.23",
				UserAgent: "ChatWork-Webhook/1.0",
			},
		},
		Body:            string(body),
		IsBase64Encoded: b64,
	}
	if b64 {
		ev.Body = base64.StdEncoding.EncodeToString(body)
	}
	out, _ := json.Marshal(ev)
	return out
}

// say makes a person type text in the room and returns the message_created
// delivery ChatWork would send for it.
func say(w *world, text string) []byte {
	id := w.sim.Say(roomID, humanID, text)
	var sent int64
	for _, m := range w.sim.Messages(roomID) {
		if m.ID == id {
			sent = m.SendTime
		}
	}
	event, _ := json.Marshal(chatwork.WebhookEvent{MessageID: id, RoomID: roomID, AccountID: humanID, Body: text, SendTime: sent})
	body, _ := json.Marshal(chatwork.WebhookPayload{SettingID: "1", EventType: chatwork.EventMessageCreated, EventTime: sent, Event: event})
	return body
}

// botMessages are the room's messages the bot posted.
func botMessages(w *world) []chatworksim.Message {
	var out []chatworksim.Message
	for _, m := range w.sim.Messages(roomID) {
		if m.AccountID == botAccountID {
			out = append(out, m)
		}
	}
	return out
}

func functionURLResponse(t *testing.T, res result) events.LambdaFunctionURLResponse {
	t.Helper()
	var out events.LambdaFunctionURLResponse
	if res.Status != 200 || res.ErrorType != "" {
		t.Fatalf("invocation failed: %v", res)
	}
	if err := json.Unmarshal(res.Body, &out); err != nil || out.StatusCode == 0 {
		t.Fatalf("not a Function URL response: %v (%v)", res, err)
	}
	return out
}

// The webhook bootstrap under the emulator: signed /quota requests are
// answered in the room for 2 ChatWork calls, forged ones cost nothing, and
// the alarm's state change is posted.
func TestWebhookUnderEmulator(t *testing.T) {
	endpoint := awstest.StartMoto(t)
	root := moduleRoot(t)
	if _, err := os.Stat(filepath.Join(root, "cmd", "webhook")); err != nil {
		t.Fatalf("cmd/webhook is missing: %v", err)
	}
	dir := t.TempDir()
	rie := buildEmulator(t, dir)
	for _, tg := range targets(t, "WebhookFunction", "./cmd/webhook", dir) {
		t.Run(tg.name, func(t *testing.T) {
			for _, b64 := range []bool{false, true} {
				t.Run(fmt.Sprintf("signed /quota is answered (base64 body %v)", b64), func(t *testing.T) {
					w := newWorld(t, endpoint, chatworksim.Config{}).withWebhook(t)
					emu := startEmulator(t, rie, w.env(), tg.argv...)
					body := say(w, "/quota")
					sig, err := chatwork.Sign(webhookToken, body)
					if err != nil {
						t.Fatal(err)
					}
					res := emu.invoke(t, functionURLRequest(body, sig, b64))
					resp := functionURLResponse(t, res)
					if resp.StatusCode != 200 {
						t.Fatalf("status %d: %s\nemulator output:\n%s", resp.StatusCode, resp.Body, emu.output())
					}
					replies := botMessages(w)
					if len(replies) != 1 || !strings.Contains(replies[0].Body, fmt.Sprintf("[rp aid=%d", humanID)) {
						t.Fatalf("the bot's messages in the room: %+v\nemulator output:\n%s", replies, emu.output())
					}
					if spent := w.spent(); spent != 2 {
						t.Fatalf("the answer spent %d ChatWork calls, want 2", spent)
					}
					noSecrets(t, map[string]string{"emulator output": emu.output(), "result": string(res.Body), "reply": replies[0].Body})
				})
			}
			t.Run("wrong signature is 401 for no ChatWork call", func(t *testing.T) {
				w := newWorld(t, endpoint, chatworksim.Config{}).withWebhook(t)
				emu := startEmulator(t, rie, w.env(), tg.argv...)
				body := say(w, "/quota")
				forged, _ := chatwork.Sign(base64.StdEncoding.EncodeToString([]byte("not the webhook token")), body)
				for _, b64 := range []bool{false, true} {
					res := emu.invoke(t, functionURLRequest(body, forged, b64))
					if resp := functionURLResponse(t, res); resp.StatusCode != 401 {
						t.Fatalf("base64 %v: status %d, want 401", b64, resp.StatusCode)
					}
				}
				if n := w.sim.Calls(apiToken); n != 0 {
					t.Fatalf("forged requests cost %d ChatWork calls", n)
				}
				if m := botMessages(w); len(m) != 0 {
					t.Fatalf("the bot posted %+v", m)
				}
				noSecrets(t, map[string]string{"emulator output": emu.output()})
			})
			t.Run("alarm state changes are posted to the room", func(t *testing.T) {
				w := newWorld(t, endpoint, chatworksim.Config{}).withWebhook(t)
				emu := startEmulator(t, rie, w.env(), tg.argv...)
				texts := map[string]string{}
				for i, file := range []string{"alarm-state-alarm.json", "alarm-state-ok.json"} {
					event, err := os.ReadFile(filepath.Join(root, "testdata", "events", file))
					if err != nil {
						t.Fatal(err)
					}
					res := emu.invoke(t, event)
					if res.Status != 200 || res.ErrorType != "" {
						t.Fatalf("%s: %v\nemulator output:\n%s", file, res, emu.output())
					}
					posts := botMessages(w)
					if len(posts) != i+1 {
						t.Fatalf("after %s: the bot's messages %+v\nemulator output:\n%s", file, posts, emu.output())
					}
					texts[file] = posts[i].Body
					texts[file+" result"] = string(res.Body)
				}
				alert := texts["alarm-state-alarm.json"]
				if !strings.Contains(alert, "running low") || !strings.Contains(alert, "(token: "+w.label+")") {
					t.Errorf("the alert does not say the quota of %s runs low:\n%s", w.label, alert)
				}
				if texts["alarm-state-ok.json"] == alert {
					t.Error("the recovery repeats the alert")
				}
				texts["emulator output"] = emu.output()
				noSecrets(t, texts)
			})
		})
	}
}
