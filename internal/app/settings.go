// Package app holds what the Lambda functions and the operator CLI share:
// the environment variables, parsed and named (Settings), the AWS
// configuration and the Lambda logger. The functions' own wiring is in
// monitorfn and webhookfn, so that neither binary links the other's code.
package app

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
)

// Getenv is os.Getenv, injectable for tests.
type Getenv func(string) string

// Settings are the contract's environment variables, parsed and checked.
type Settings struct {
	APIURL             string        // CHATWORK_API_URL
	TokenParameter     string        // CHATWORK_TOKEN_PARAMETER
	WebhookTokenParam  string        // CHATWORK_WEBHOOK_TOKEN_PARAMETER
	RoomID             int64         // CHATWORK_ROOM_ID
	AllowedRooms       string        // CHATWORK_ALLOWED_ROOM_IDS (parsed by the bot)
	LogGroup           string        // QUOTA_LOG_GROUP
	TokenLabel         string        // QUOTA_TOKEN_LABEL
	Language           string        // QUOTA_LANGUAGE (checked by the bot's wiring; empty: the bot's default)
	TimeZone           string        // QUOTA_TIME_ZONE
	Interval           time.Duration // from QUOTA_SCHEDULE, or QUOTA_MONITOR_INTERVAL
	WakeQueueURL       string        // QUOTA_WAKE_QUEUE_URL (monitor; empty: sleep instead)
	Threshold          int           // QUOTA_ALARM_THRESHOLD
	ThresholdPercent   bool          // QUOTA_ALARM_THRESHOLD_KIND=percent
	AlarmName          string        // QUOTA_ALARM_NAME
	PaceAlarmName      string        // QUOTA_PACE_ALARM_NAME
	ErrorsAlarmName    string        // QUOTA_ERRORS_ALARM_NAME
	HeartbeatAlarmName string        // QUOTA_HEARTBEAT_ALARM_NAME
	TokensPath         string        // QUOTA_TOKENS_PATH, ending in "/" (empty: only the bot's own token)
	DashboardURL       string        // QUOTA_DASHBOARD_URL
	AlertMentions      string        // QUOTA_ALERT_MENTIONS: "all" or comma-separated account ids
	BotAccountID       int64         // CHATWORK_BOT_ACCOUNT_ID (optional)
	StateTable         string        // QUOTA_STATE_TABLE: the webhook's DynamoDB table (empty: per-process memory)
	AdminAccountIDs    string        // QUOTA_ADMIN_ACCOUNT_IDS: comma-separated account ids (parsed by the bot)
}

// Load reads the settings every binary shares. Each problem is reported
// with the variable's name; values are echoed only where they are not
// secret (none of these variables holds a secret: tokens live in SSM).
func Load(getenv Getenv) (Settings, error) {
	s := Settings{
		TokenParameter:     strings.TrimSpace(getenv("CHATWORK_TOKEN_PARAMETER")),
		WebhookTokenParam:  strings.TrimSpace(getenv("CHATWORK_WEBHOOK_TOKEN_PARAMETER")),
		AllowedRooms:       getenv("CHATWORK_ALLOWED_ROOM_IDS"),
		LogGroup:           strings.TrimSpace(getenv("QUOTA_LOG_GROUP")),
		TokenLabel:         or(getenv("QUOTA_TOKEN_LABEL"), sample.DefaultLabel),
		Language:           strings.TrimSpace(getenv("QUOTA_LANGUAGE")),
		TimeZone:           strings.TrimSpace(getenv("QUOTA_TIME_ZONE")),
		WakeQueueURL:       strings.TrimSpace(getenv("QUOTA_WAKE_QUEUE_URL")),
		AlarmName:          getenv("QUOTA_ALARM_NAME"),
		PaceAlarmName:      getenv("QUOTA_PACE_ALARM_NAME"),
		ErrorsAlarmName:    getenv("QUOTA_ERRORS_ALARM_NAME"),
		HeartbeatAlarmName: getenv("QUOTA_HEARTBEAT_ALARM_NAME"),
		DashboardURL:       getenv("QUOTA_DASHBOARD_URL"),
		AlertMentions:      getenv("QUOTA_ALERT_MENTIONS"),
		StateTable:         strings.TrimSpace(getenv("QUOTA_STATE_TABLE")),
		AdminAccountIDs:    getenv("QUOTA_ADMIN_ACCOUNT_IDS"),
	}
	var errs []error
	var err error
	if s.APIURL, err = chatwork.BaseURL(strings.TrimSpace(getenv("CHATWORK_API_URL"))); err != nil {
		errs = append(errs, fmt.Errorf("CHATWORK_API_URL: %w", err))
	}
	if err := sample.CheckLabel(s.TokenLabel); err != nil {
		errs = append(errs, fmt.Errorf("QUOTA_TOKEN_LABEL: %w", err))
	}
	if _, err := time.LoadLocation(s.TimeZone); s.TimeZone != "" && err != nil {
		errs = append(errs, fmt.Errorf("QUOTA_TIME_ZONE %q: %v", s.TimeZone, err))
	}
	if v := strings.TrimSpace(getenv("QUOTA_TOKENS_PATH")); v != "" {
		// The labels are the names after the path, so it ends in a slash.
		s.TokensPath = strings.TrimRight(v, "/") + "/"
		if !strings.HasPrefix(v, "/") {
			errs = append(errs, fmt.Errorf("QUOTA_TOKENS_PATH %q: an SSM path starts with /", v))
		}
	}
	if v := getenv("QUOTA_MONITOR_INTERVAL"); v != "" {
		s.Interval, err = time.ParseDuration(v)
		if err != nil || s.Interval < 10*time.Second {
			errs = append(errs, fmt.Errorf("QUOTA_MONITOR_INTERVAL %q: want a duration of at least 10s", v))
		}
	} else if s.Interval, err = ScheduleInterval(or(getenv("QUOTA_SCHEDULE"), "rate(1 minute)")); err != nil {
		errs = append(errs, fmt.Errorf("QUOTA_SCHEDULE: %w (or set QUOTA_MONITOR_INTERVAL)", err))
	}
	if v := getenv("CHATWORK_ROOM_ID"); v != "" {
		if s.RoomID, err = strconv.ParseInt(strings.TrimSpace(v), 10, 64); err != nil || s.RoomID <= 0 {
			errs = append(errs, fmt.Errorf("CHATWORK_ROOM_ID %q is not a room id", v))
		}
	}
	if v := getenv("CHATWORK_BOT_ACCOUNT_ID"); v != "" {
		if s.BotAccountID, err = strconv.ParseInt(strings.TrimSpace(v), 10, 64); err != nil || s.BotAccountID <= 0 {
			errs = append(errs, fmt.Errorf("CHATWORK_BOT_ACCOUNT_ID %q is not an account id", v))
		}
	}
	if s.Threshold, s.ThresholdPercent, err = Threshold(getenv); err != nil {
		errs = append(errs, err)
	}
	return s, errors.Join(errs...)
}

// Threshold parses QUOTA_ALARM_THRESHOLD (default 0) and
// QUOTA_ALARM_THRESHOLD_KIND (count, the default, or percent), for the
// functions' settings and the operator's command line alike.
func Threshold(getenv Getenv) (threshold int, percent bool, err error) {
	var errs []error
	if v := getenv("QUOTA_ALARM_THRESHOLD"); v != "" {
		if threshold, err = strconv.Atoi(strings.TrimSpace(v)); err != nil {
			errs = append(errs, fmt.Errorf("QUOTA_ALARM_THRESHOLD %q is not an integer", v))
		}
	}
	switch k := or(getenv("QUOTA_ALARM_THRESHOLD_KIND"), "count"); k {
	case "count":
	case "percent":
		percent = true
	default:
		errs = append(errs, fmt.Errorf("QUOTA_ALARM_THRESHOLD_KIND %q: want count or percent", k))
	}
	return threshold, percent, errors.Join(errs...)
}

// Location is the parsed QUOTA_TIME_ZONE; nil when it is not set, for the
// bot's default.
func (s Settings) Location() *time.Location {
	loc, err := time.LoadLocation(s.TimeZone)
	if s.TimeZone == "" || err != nil {
		return nil
	}
	return loc
}

func or(v, def string) string {
	if v = strings.TrimSpace(v); v == "" {
		return def
	}
	return v
}

var (
	rateRE = regexp.MustCompile(`^rate\((\d+)\s+(minute|minutes|hour|hours)\)$`)
	cronRE = regexp.MustCompile(`^cron\((\S+)\s`)
	stepRE = regexp.MustCompile(`^(?:\*|0)/(\d+)$`)
)

// ScheduleInterval derives the period of an EventBridge schedule expression:
// rate(N minute[s]|hour[s]), or a cron whose minutes field is * or */N.
// The monitor needs the period to know whether the next tick comes before
// the reset.
func ScheduleInterval(expr string) (time.Duration, error) {
	expr = strings.TrimSpace(expr)
	if m := rateRE.FindStringSubmatch(expr); m != nil {
		n, _ := strconv.Atoi(m[1])
		if n <= 0 {
			return 0, fmt.Errorf("schedule %q has a zero period", expr)
		}
		unit := time.Minute
		if strings.HasPrefix(m[2], "hour") {
			unit = time.Hour
		}
		return time.Duration(n) * unit, nil
	}
	if m := cronRE.FindStringSubmatch(expr); m != nil {
		if m[1] == "*" {
			return time.Minute, nil
		}
		if s := stepRE.FindStringSubmatch(m[1]); s != nil {
			n, _ := strconv.Atoi(s[1])
			if n > 0 {
				return time.Duration(n) * time.Minute, nil
			}
		}
	}
	return 0, fmt.Errorf("cannot derive a period from schedule %q", expr)
}
