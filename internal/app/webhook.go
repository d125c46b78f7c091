package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/quotabot/chatwork-quota-bot/bot"
	"github.com/quotabot/chatwork-quota-bot/internal/alarm"
	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/cwlogs"
	"github.com/quotabot/chatwork-quota-bot/internal/funcurl"
	"github.com/quotabot/chatwork-quota-bot/internal/ssmparam"
)

// AlarmHandler posts alarm state changes into the room.
type AlarmHandler interface {
	HandleAlarm(ctx context.Context, ev alarm.Event) error
}

// WebhookHandler is the webhook Lambda's handler. One function receives two
// kinds of event, told apart by shape: Function URL requests (ChatWork's
// webhook deliveries) and EventBridge "CloudWatch Alarm State Change" events.
func WebhookHandler(h http.Handler, alarms AlarmHandler, log *slog.Logger) func(context.Context, json.RawMessage) (any, error) {
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
		var req events.LambdaFunctionURLRequest
		if err := json.Unmarshal(raw, &req); err != nil || req.RequestContext.HTTP.Method == "" {
			log.ErrorContext(ctx, "unrecognised event: neither a Function URL request nor an alarm state change")
			return nil, errors.New("webhook: unrecognised event")
		}
		return serve(ctx, req)
	}
}

// NewWebhook wires the bot from the environment. It reads the webhook token
// from SSM during init, because every request needs it to verify the
// signature before anything else happens.
func NewWebhook(ctx context.Context, getenv Getenv, awsCfg aws.Config, stdout io.Writer, log *slog.Logger) (*bot.Bot, error) {
	s, err := Load(getenv)
	if err != nil {
		return nil, err
	}
	var missing []error
	for name, v := range map[string]string{
		"CHATWORK_TOKEN_PARAMETER":         s.TokenParameter,
		"CHATWORK_WEBHOOK_TOKEN_PARAMETER": s.WebhookTokenParam,
		"QUOTA_LOG_GROUP":                  s.LogGroup,
	} {
		if v == "" {
			missing = append(missing, fmt.Errorf("%s is not set", name))
		}
	}
	if s.RoomID == 0 {
		missing = append(missing, errors.New("CHATWORK_ROOM_ID is not set"))
	}
	if err := errors.Join(missing...); err != nil {
		return nil, err
	}
	cfg, err := botConfig(s)
	if err != nil {
		return nil, err
	}
	ssmClient := ssm.NewFromConfig(awsCfg)
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	webhookToken, err := ssmparam.New(ssmClient, s.WebhookTokenParam).Token(rctx)
	if err != nil {
		return nil, err
	}
	verifier, err := chatwork.NewVerifier(webhookToken)
	if err != nil {
		return nil, fmt.Errorf("SSM parameter %q: %w", s.WebhookTokenParam, err)
	}
	cw, err := chatwork.New(chatwork.Config{BaseURL: s.APIURL, Token: ssmparam.New(ssmClient, s.TokenParameter)})
	if err != nil {
		return nil, fmt.Errorf("CHATWORK_API_URL: %w", err)
	}
	logs := cloudwatchlogs.NewFromConfig(awsCfg)
	return bot.New(cfg, bot.Deps{
		ChatWork: cw,
		Recorder: cwlogs.NewRecorder(logs, s.LogGroup, stdout),
		History:  cwlogs.NewHistory(logs, s.LogGroup),
		Verifier: verifier,
		Logger:   log,
	})
}

// LazyWebhook builds the webhook handler on first use and again on every
// invocation until building succeeds. The webhook token exists only after
// the URL is registered with ChatWork, which needs the deployed URL: until
// the operator stores it, each invocation fails with one clear line, and the
// first one after it is stored starts working, with no redeploy or restart.
func LazyWebhook(getenv Getenv, awsCfg aws.Config, stdout io.Writer, log *slog.Logger) func(context.Context, json.RawMessage) (any, error) {
	var (
		mu     sync.Mutex
		handle func(context.Context, json.RawMessage) (any, error)
	)
	return func(ctx context.Context, raw json.RawMessage) (any, error) {
		mu.Lock()
		h := handle
		if h == nil {
			b, err := NewWebhook(ctx, getenv, awsCfg, stdout, log)
			if err != nil {
				mu.Unlock()
				log.ErrorContext(ctx, "webhook not configured", "error", err.Error())
				return nil, err
			}
			h = WebhookHandler(b.Handler(), b, log)
			handle = h
		}
		mu.Unlock()
		return h(ctx, raw)
	}
}
