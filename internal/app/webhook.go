package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
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

// Webhook is the webhook Lambda: the bot, with its webhook token read from
// SSM and read again when it may have changed.
//
// The webhook token exists only after the URL is registered with ChatWork,
// which needs the deployed URL, and it changes when the webhook is created
// anew. So the token is not needed to start: without it the bot still posts
// alarm state changes, and rejects webhook deliveries (401) until the token
// can be read. A 401 makes the function read the parameter again (at most
// every refreshEvery, so a flood of forged requests cannot hammer SSM); when
// the token changed, the bot is rebuilt and the request served again.
type Webhook struct {
	log    *slog.Logger
	cfg    bot.Config
	deps   bot.Deps // without the Verifier
	param  string
	tokens *ssmparam.Source
	now    func() time.Time

	mu      sync.Mutex
	token   string // "" until read
	bot     *bot.Bot
	handle  func(context.Context, json.RawMessage) (any, error) // the bot's, built once
	checked time.Time
}

// Webhook token re-reads: at most this often while the token is known, and
// while it is not.
const (
	refreshEvery        = time.Minute
	refreshEveryMissing = 5 * time.Second
)

// NewWebhook wires the bot from the environment. Configuration errors name
// the variable at fault; a missing webhook token is not one (see Webhook).
func NewWebhook(ctx context.Context, getenv Getenv, awsCfg aws.Config, stdout io.Writer, log *slog.Logger) (*Webhook, error) {
	s, err := Load(getenv)
	if err != nil {
		return nil, err
	}
	var missing []error
	for _, v := range []struct{ name, value string }{
		{"CHATWORK_TOKEN_PARAMETER", s.TokenParameter},
		{"CHATWORK_WEBHOOK_TOKEN_PARAMETER", s.WebhookTokenParam},
		{"QUOTA_LOG_GROUP", s.LogGroup},
	} {
		if v.value == "" {
			missing = append(missing, fmt.Errorf("%s is not set", v.name))
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
	cw, err := chatwork.New(chatwork.Config{
		BaseURL: s.APIURL,
		Token:   ssmparam.New(ssmClient, s.TokenParameter),
		// A webhook delivery and an alert must finish well inside the
		// function's 30 s: short attempts, one retry for the reading.
		Timeout: 5 * time.Second,
		Retries: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("CHATWORK_API_URL: %w", err)
	}
	logs := cloudwatchlogs.NewFromConfig(awsCfg)
	w := &Webhook{
		log: log, cfg: cfg, param: s.WebhookTokenParam, now: time.Now,
		tokens: ssmparam.New(ssmClient, s.WebhookTokenParam),
		deps: bot.Deps{
			ChatWork: cw,
			Recorder: cwlogs.NewRecorder(logs, s.LogGroup, stdout),
			History:  cwlogs.NewHistory(logs, s.LogGroup),
			Logger:   log,
		},
	}
	if _, err := w.current(ctx, true); err != nil {
		return nil, err
	}
	return w, nil
}

// current returns the bot, reading the webhook token again first when
// refresh is set and a re-read is due.
func (w *Webhook) current(ctx context.Context, refresh bool) (*bot.Bot, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	every := refreshEvery
	if w.token == "" {
		every = refreshEveryMissing
	}
	if w.bot != nil && (!refresh || w.now().Sub(w.checked) < every) {
		return w.bot, nil
	}
	w.checked = w.now()
	w.tokens.Invalidate()
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	token, err := w.tokens.Token(rctx)
	var verifier *chatwork.Verifier
	if err == nil {
		verifier, err = chatwork.NewVerifier(token)
		if err != nil {
			err = fmt.Errorf("SSM parameter %q: %w", w.param, err)
		}
	}
	if err != nil {
		w.log.ErrorContext(ctx, "webhook token unreadable: webhook deliveries are rejected until it can be read (alarm messages still work)", "error", err.Error())
		if w.bot != nil {
			return w.bot, nil // keep the last good token
		}
		token, verifier = "", rejectAll()
	}
	switch {
	case w.bot == nil:
		deps := w.deps
		deps.Verifier = verifier
		b, err := bot.New(w.cfg, deps)
		if err != nil {
			return nil, err
		}
		w.bot, w.handle = b, WebhookHandler(b.Handler(), b, w.log)
	case token != w.token:
		// Same bot, new token: its memory of recent deliveries and alarm
		// transitions survives.
		w.bot.SetVerifier(verifier)
		w.log.InfoContext(ctx, "webhook token changed: verifier replaced")
	}
	w.token = token
	return w.bot, nil
}

// tokenNow is the webhook token in use ("" while none could be read).
func (w *Webhook) tokenNow() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.token
}

// rejectAll is a verifier no signature satisfies: a random key nobody has.
func rejectAll() *chatwork.Verifier {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	v, _ := chatwork.NewVerifier(base64.StdEncoding.EncodeToString(key))
	return v
}

// Handle is the Lambda handler.
func (w *Webhook) Handle(ctx context.Context, raw json.RawMessage) (any, error) {
	if _, err := w.current(ctx, false); err != nil {
		return nil, err
	}
	out, err := w.handle(ctx, raw)
	res, ok := out.(events.LambdaFunctionURLResponse)
	if err != nil || !ok || res.StatusCode != http.StatusUnauthorized {
		return out, err
	}
	// A rejected signature: the webhook may have been created anew with a
	// new token. Read it again (rate-limited) and, if it changed, retry;
	// but only for a request that carries a well-formed signature, so that
	// junk never costs an SSM call.
	if !signatureShaped(raw) {
		return out, nil
	}
	before := w.tokenNow()
	if _, err := w.current(ctx, true); err != nil || w.tokenNow() == before {
		return out, nil
	}
	return w.handle(ctx, raw)
}

// signatureShaped reports whether a Function URL request carries something
// shaped like a ChatWork signature: base64 of an HMAC-SHA256 (32 bytes), in
// the header or the query parameter.
func signatureShaped(raw json.RawMessage) bool {
	var req events.LambdaFunctionURLRequest
	if json.Unmarshal(raw, &req) != nil {
		return false
	}
	candidates := []string{req.QueryStringParameters["chatwork_webhook_signature"]}
	for k, v := range req.Headers {
		if strings.EqualFold(k, "X-ChatWorkWebhookSignature") {
			candidates = append(candidates, v)
		}
	}
	if q, err := url.ParseQuery(req.RawQueryString); err == nil {
		candidates = append(candidates, q.Get("chatwork_webhook_signature"))
	}
	for _, c := range candidates {
		if b, err := base64.StdEncoding.DecodeString(c); err == nil && len(b) == sha256.Size {
			return true
		}
	}
	return false
}
