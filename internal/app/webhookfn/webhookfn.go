// Package webhookfn is the webhook Lambda: the bot, wired from the
// environment, behind one handler that receives ChatWork's webhook
// deliveries (Function URL requests), the alarms' events (EventBridge's
// alarm and contributor state changes) and its own schedules' payloads
// (Housekeeping, Digest).
package webhookfn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/quotabot/chatwork-quota-bot/bot"
	"github.com/quotabot/chatwork-quota-bot/internal/alarm"
	"github.com/quotabot/chatwork-quota-bot/internal/app"
	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/cwlogs"
	"github.com/quotabot/chatwork-quota-bot/internal/cwmetrics"
	"github.com/quotabot/chatwork-quota-bot/internal/funcurl"
	"github.com/quotabot/chatwork-quota-bot/internal/ssmparam"
	"github.com/quotabot/chatwork-quota-bot/internal/state"
)

// New is the webhook Lambda's handler, wired from the environment; when the
// configuration is bad, a handler that reports it on every invocation.
func New(ctx context.Context, getenv app.Getenv, stdout, stderr io.Writer) app.Handler[any] {
	return app.Lambda(ctx, getenv, stdout, stderr, Wire)
}

// Wire builds the bot from the environment and returns its handler.
//
// The webhook token exists only after the URL is registered with ChatWork,
// which needs the deployed URL, and it changes when the webhook is created
// anew. So it is not needed to start: the bot's verifier reads it when a
// delivery comes, and again (rate-limited) when a well-formed signature
// fails. Without it the bot still posts alarm state changes and answers
// deliveries 401.
func Wire(ctx context.Context, getenv app.Getenv, awsCfg aws.Config, stdout io.Writer, log *slog.Logger) (app.Handler[any], error) {
	return wire(ctx, getenv, awsCfg, stdout, log, time.Now)
}

func wire(_ context.Context, getenv app.Getenv, awsCfg aws.Config, stdout io.Writer, log *slog.Logger, now func() time.Time) (app.Handler[any], error) {
	s, err := app.Load(getenv)
	if err != nil {
		return nil, err
	}
	cfg, err := botConfig(s)
	if err != nil {
		return nil, err
	}
	ssmClient := ssm.NewFromConfig(awsCfg)
	newClient := app.NewClient(s.APIURL, nil)
	own := ssmparam.New(ssmClient, s.TokenParameter)
	cw, err := newClient(own)
	if err != nil {
		return nil, fmt.Errorf("CHATWORK_API_URL: %w", err)
	}
	// The fleet's own member is the bot's own token, which the bot reads
	// through cw; the fleet knows it to skip it under the path.
	tokens, err := app.Fleet(s, ssmClient, own, newClient, log)
	if err != nil {
		return nil, err
	}
	logs := cloudwatchlogs.NewFromConfig(awsCfg)
	rec := app.Recorder(s, logs, stdout)
	param := s.WebhookTokenParam
	var st bot.State // the bot's own memory when no table is named
	if s.StateTable != "" {
		st = state.NewDynamo(dynamodb.NewFromConfig(awsCfg), s.StateTable)
	}
	b, err := bot.New(cfg, bot.Deps{
		ChatWork: cw,
		Recorder: rec,
		History:  cwlogs.NewHistory(logs, s.LogGroup),
		Logger:   log,
		State:    st,
		Charts:   cwmetrics.New(cwmetrics.NewClient(awsCfg)),
		Metrics:  stdout,
		Tokens: func(ctx context.Context) []bot.Token {
			ms := tokens.Members(ctx)
			out := make([]bot.Token, len(ms))
			for i, m := range ms {
				out[i] = bot.Token{Label: m.Label, Reader: m.Client}
			}
			return out
		},
		Verifier: &chatwork.RotatingVerifier{
			Source: ssmparam.New(ssmClient, param),
			Now:    now,
			OnError: func(ctx context.Context, err error) {
				log.ErrorContext(ctx, "webhook token unreadable: webhook deliveries are rejected until it can be read (alarm messages still work)",
					"parameter", param, "error", err.Error())
			},
			OnChange: func(ctx context.Context) {
				log.InfoContext(ctx, "webhook token changed: deliveries are checked against the new one", "parameter", param)
			},
		},
	})
	if err != nil {
		return nil, err
	}
	return Handler(b.Handler(), b, log), nil
}

// botConfig names the variables the bot needs and maps the settings onto
// its configuration; the bot owns the rules and the defaults, the errors
// here name the variable.
func botConfig(s app.Settings) (bot.Config, error) {
	var errs []error
	for _, v := range []struct{ name, value string }{
		{"CHATWORK_TOKEN_PARAMETER", s.TokenParameter},
		{"CHATWORK_WEBHOOK_TOKEN_PARAMETER", s.WebhookTokenParam},
		{"QUOTA_LOG_GROUP", s.LogGroup},
	} {
		if v.value == "" {
			errs = append(errs, fmt.Errorf("%s is not set", v.name))
		}
	}
	if s.RoomID == 0 {
		errs = append(errs, errors.New("CHATWORK_ROOM_ID is not set"))
	}
	if s.Language != "" {
		if err := bot.CheckLanguage(s.Language); err != nil {
			errs = append(errs, fmt.Errorf("QUOTA_LANGUAGE: %w", err))
		}
	}
	if err := alarm.CheckThreshold(s.Threshold, s.ThresholdPercent); err != nil {
		errs = append(errs, fmt.Errorf("QUOTA_ALARM_THRESHOLD: %w", err))
	}
	rooms, err := bot.ParseAllowedRooms(s.AllowedRooms)
	if err != nil {
		errs = append(errs, fmt.Errorf("CHATWORK_ALLOWED_ROOM_IDS: %w", err))
	}
	all, ids, err := bot.ParseMentions(s.AlertMentions)
	if err != nil {
		errs = append(errs, fmt.Errorf("QUOTA_ALERT_MENTIONS: %w", err))
	}
	admins, err := bot.ParseAdmins(s.AdminAccountIDs)
	if err != nil {
		errs = append(errs, fmt.Errorf("QUOTA_ADMIN_ACCOUNT_IDS: %w", err))
	}
	return bot.Config{
		RoomID:             s.RoomID,
		AllowedRoomIDs:     rooms,
		AdminAccountIDs:    admins,
		BotAccountID:       s.BotAccountID,
		Language:           s.Language,
		Location:           s.Location(),
		TokenLabel:         s.TokenLabel,
		Threshold:          s.Threshold,
		ThresholdPercent:   s.ThresholdPercent,
		MonitorInterval:    s.Interval,
		AlarmName:          s.AlarmName,
		PaceAlarmName:      s.PaceAlarmName,
		ErrorsAlarmName:    s.ErrorsAlarmName,
		HeartbeatAlarmName: s.HeartbeatAlarmName,
		DashboardURL:       s.DashboardURL,
		MentionAll:         all,
		MentionAccountIDs:  ids,
	}, errors.Join(errs...)
}

// AlarmHandler posts alarm state changes into the room, does the
// scheduled housekeeping and posts the morning digest of the day before.
type AlarmHandler interface {
	HandleAlarm(ctx context.Context, ev alarm.Event) error
	Housekeeping(ctx context.Context) error
	DigestYesterday(ctx context.Context) error
}

// Housekeeping is the payload of the function's own schedule, every 5
// minutes (an EventBridge Scheduler schedule passes it verbatim): it tells
// the room of alarms held back by mutes that have ended.
const Housekeeping = `{"action":"` + housekeeping + `"}`

// Digest is the payload of the morning digest's schedule (DigestSchedule,
// in the stack's TimeZone): it posts the digest of the day before, in
// QUOTA_TIME_ZONE.
const Digest = `{"action":"` + digest + `"}`

const (
	housekeeping = "housekeeping"
	digest       = "digest"
)

// Handler is the webhook Lambda's handler. One function receives three
// kinds of event, told apart by shape: Function URL requests (ChatWork's
// webhook deliveries, served by h), EventBridge's alarm events of both
// detail types, and its schedules' {"action": ...} payloads.
func Handler(h http.Handler, alarms AlarmHandler, log *slog.Logger) app.Handler[any] {
	serve := funcurl.Handler(h)
	return func(ctx context.Context, raw json.RawMessage) (any, error) {
		if alarm.IsStateChange(raw) {
			ev, err := alarm.Parse(raw)
			if err != nil {
				// Nothing is posted; EventBridge retrying would not fix the event.
				log.ErrorContext(ctx, "malformed alarm event: nothing posted", "error", err.Error())
				return nil, nil
			}
			return nil, alarms.HandleAlarm(ctx, ev)
		}
		var scheduled struct {
			Action *string `json:"action"`
		}
		if json.Unmarshal(raw, &scheduled) == nil && scheduled.Action != nil {
			switch *scheduled.Action {
			case housekeeping:
				return nil, alarms.Housekeeping(ctx)
			case digest:
				return nil, alarms.DigestYesterday(ctx)
			}
			log.ErrorContext(ctx, "unknown scheduled action", "action", *scheduled.Action)
			return nil, errors.New("webhook: unknown scheduled action")
		}
		var req events.LambdaFunctionURLRequest
		if err := json.Unmarshal(raw, &req); err != nil || req.RequestContext.HTTP.Method == "" {
			log.ErrorContext(ctx, "unrecognised event: neither a Function URL request nor an alarm state change")
			return nil, errors.New("webhook: unrecognised event")
		}
		return serve(ctx, req)
	}
}
