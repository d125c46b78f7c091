package webhookfn

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/quotabot/chatwork-quota-bot/bot"
	"github.com/quotabot/chatwork-quota-bot/internal/app"
)

// The bot owns the rules and the defaults; the wiring names the variable.
func TestBotConfigNamesTheVariable(t *testing.T) {
	base := map[string]string{
		"CHATWORK_TOKEN_PARAMETER":         "/p/api",
		"CHATWORK_WEBHOOK_TOKEN_PARAMETER": "/p/webhook",
		"QUOTA_LOG_GROUP":                  "g",
		"CHATWORK_ROOM_ID":                 "5",
	}
	settings := func(k, v string) app.Settings {
		t.Helper()
		vars := map[string]string{k: v}
		for bk, bv := range base {
			if _, ok := vars[bk]; !ok {
				vars[bk] = bv
			}
		}
		s, err := app.Load(env(vars))
		if err != nil {
			t.Fatalf("%s=%q: Load: %v", k, v, err)
		}
		return s
	}
	cfg, err := botConfig(settings("QUOTA_LANGUAGE", ""))
	if err != nil || cfg.Language != "" {
		t.Fatalf("no language: %+v, %v; want the bot's default left to it", cfg, err)
	}
	if _, err := bot.New(cfg, bot.Deps{}); err == nil || strings.Contains(err.Error(), "language") {
		t.Fatalf("bot.New must take an empty language as its default (and fail only for the missing deps): %v", err)
	}
	for _, c := range []struct{ name, value string }{
		{"QUOTA_LANGUAGE", "fr"},
		{"QUOTA_ALARM_THRESHOLD", "-1"},
		{"CHATWORK_ALLOWED_ROOM_IDS", "1,x"},
		{"QUOTA_ALERT_MENTIONS", "12,abc"},
		{"QUOTA_ADMIN_ACCOUNT_IDS", "12,,13"},
		{"CHATWORK_ROOM_ID", ""},
		{"CHATWORK_WEBHOOK_TOKEN_PARAMETER", ""},
	} {
		if _, err := botConfig(settings(c.name, c.value)); err == nil || !strings.Contains(err.Error(), c.name) {
			t.Errorf("%s=%q: err = %v, want it named", c.name, c.value, err)
		}
	}
	s := settings("QUOTA_ERRORS_ALARM_NAME", "stack-token-errors")
	s.HeartbeatAlarmName = "stack-monitor-heartbeat"
	if cfg, err := botConfig(s); err != nil || cfg.ErrorsAlarmName != "stack-token-errors" || cfg.HeartbeatAlarmName != "stack-monitor-heartbeat" {
		t.Fatalf("alarm names: %+v, %v", cfg, err)
	}
	if cfg, err := botConfig(settings("QUOTA_PACE_ALARM_NAME", "stack-quota-pace")); err != nil || cfg.PaceAlarmName != "stack-quota-pace" {
		t.Fatalf("QUOTA_PACE_ALARM_NAME: %+v, %v", cfg, err)
	}
	if cfg, err := botConfig(settings("QUOTA_PACE_ALARM_NAME", "")); err != nil || cfg.PaceAlarmName != "" {
		t.Fatalf("no QUOTA_PACE_ALARM_NAME: %+v, %v", cfg, err)
	}
	if cfg, err := botConfig(settings("QUOTA_ADMIN_ACCOUNT_IDS", "12, 13")); err != nil || len(cfg.AdminAccountIDs) != 2 || cfg.AdminAccountIDs[1] != 13 {
		t.Fatalf("admins: %+v, %v", cfg.AdminAccountIDs, err)
	}
	s = settings("QUOTA_ALARM_THRESHOLD", "400")
	if _, err := botConfig(s); err != nil {
		t.Fatalf("a count of 400: %v", err)
	}
	s.ThresholdPercent = true
	if _, err := botConfig(s); err == nil || !strings.Contains(err.Error(), "QUOTA_ALARM_THRESHOLD") {
		t.Fatalf("400 percent: err = %v", err)
	}
}

// A bad configuration still gives a handler: one that reports the error,
// naming the variable, on every invocation.
func TestNewReportsABadConfigurationOnEveryInvocation(t *testing.T) {
	var stdout, stderr bytes.Buffer
	handle := New(context.Background(), env(map[string]string{"QUOTA_LANGUAGE": "fr"}), &stdout, &stderr)
	for i := range 2 {
		_, err := handle(context.Background(), json.RawMessage(`{}`))
		for _, v := range []string{"QUOTA_LANGUAGE", "CHATWORK_ROOM_ID"} {
			if err == nil || !strings.Contains(err.Error(), v) {
				t.Fatalf("invocation %d: err = %v, want it to name %s", i+1, err, v)
			}
		}
	}
	if n := strings.Count(stderr.String(), "configuration error"); n != 2 {
		t.Fatalf("%d log lines for 2 invocations:\n%s", n, stderr.String())
	}
}
