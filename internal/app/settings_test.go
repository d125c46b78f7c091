package app

import (
	"strings"
	"testing"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
)

func env(m map[string]string) Getenv { return func(k string) string { return m[k] } }

func TestLoadDefaults(t *testing.T) {
	s, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	// The language and the time zone are the bot's to default (the monitor's
	// binary does not link it); the API URL is the client's.
	if s.APIURL != chatwork.DefaultBaseURL || s.TokenLabel != "default" || s.Language != "" ||
		s.TimeZone != "" || s.Location() != nil || s.Interval != time.Minute || s.ThresholdPercent || s.TokensPath != "" {
		t.Fatalf("defaults: %+v", s)
	}
}

func TestLoadErrorsNameTheVariable(t *testing.T) {
	cases := map[string]string{
		"CHATWORK_API_URL":           "ftp://x",
		"QUOTA_TOKEN_LABEL":          "a:b",
		"QUOTA_TIME_ZONE":            "Mars/Olympus",
		"QUOTA_SCHEDULE":             "every now and then",
		"QUOTA_MONITOR_INTERVAL":     "1s",
		"CHATWORK_ROOM_ID":           "room",
		"CHATWORK_BOT_ACCOUNT_ID":    "-4",
		"QUOTA_ALARM_THRESHOLD":      "lots",
		"QUOTA_ALARM_THRESHOLD_KIND": "ratio",
		"QUOTA_TOKENS_PATH":          "quotabot/tokens/",
	}
	for k, v := range cases {
		_, err := Load(env(map[string]string{k: v}))
		if err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%q: err = %v", k, v, err)
		}
	}
}

// The alarm names pass through; the tokens path ends in a slash whether or
// not the variable does, so a label is the name after it.
func TestLoadFleetSettings(t *testing.T) {
	for _, path := range []string{"/quotabot/tokens", "/quotabot/tokens/", " /quotabot/tokens// "} {
		s, err := Load(env(map[string]string{
			"QUOTA_TOKENS_PATH":          path,
			"QUOTA_ERRORS_ALARM_NAME":    "stack-token-errors",
			"QUOTA_HEARTBEAT_ALARM_NAME": "stack-monitor-heartbeat",
			"QUOTA_PACE_ALARM_NAME":      "stack-quota-pace",
		}))
		if err != nil || s.TokensPath != "/quotabot/tokens/" || s.ErrorsAlarmName != "stack-token-errors" ||
			s.HeartbeatAlarmName != "stack-monitor-heartbeat" || s.PaceAlarmName != "stack-quota-pace" {
			t.Errorf("QUOTA_TOKENS_PATH=%q: %+v, %v", path, s, err)
		}
	}
}

// The state table and the admins pass through (the bot parses the ids).
func TestLoadStateSettings(t *testing.T) {
	s, err := Load(env(map[string]string{"QUOTA_STATE_TABLE": " quotabot-state ", "QUOTA_ADMIN_ACCOUNT_IDS": "1, 2"}))
	if err != nil || s.StateTable != "quotabot-state" || s.AdminAccountIDs != "1, 2" {
		t.Fatalf("%+v, %v", s, err)
	}
	if s, _ := Load(env(nil)); s.StateTable != "" || s.AdminAccountIDs != "" {
		t.Fatalf("defaults: %+v", s)
	}
}

func TestScheduleInterval(t *testing.T) {
	cases := map[string]time.Duration{
		"rate(1 minute)":           time.Minute,
		"rate(2 minutes)":          2 * time.Minute,
		"rate(1 hour)":             time.Hour,
		"cron(* * * * ? *)":        time.Minute,
		"cron(*/5 * * * ? *)":      5 * time.Minute,
		"cron(0/2 8-18 ? * MON *)": 2 * time.Minute,
	}
	for expr, want := range cases {
		got, err := ScheduleInterval(expr)
		if err != nil || got != want {
			t.Errorf("%s: %v, %v; want %v", expr, got, err, want)
		}
	}
	for _, bad := range []string{"rate(0 minutes)", "cron(15 10 * * ? *)", "rate(1 day)", ""} {
		if _, err := ScheduleInterval(bad); err == nil {
			t.Errorf("%q: want error", bad)
		}
	}
}
