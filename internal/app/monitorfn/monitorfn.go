// Package monitorfn is the monitor Lambda: its wiring from the environment
// and its handler, which turns scheduled events and SQS wake-ups into the
// monitor's ticks and wake-ups.
package monitorfn

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/quotabot/chatwork-quota-bot/internal/app"
	"github.com/quotabot/chatwork-quota-bot/internal/cwlogs"
	"github.com/quotabot/chatwork-quota-bot/internal/fleet"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
	"github.com/quotabot/chatwork-quota-bot/internal/sqswake"
	"github.com/quotabot/chatwork-quota-bot/internal/ssmparam"
	"github.com/quotabot/chatwork-quota-bot/monitor"
)

// New is the monitor Lambda's handler, wired from the environment; when the
// configuration is bad, a handler that reports it on every invocation.
func New(ctx context.Context, getenv app.Getenv, stdout, stderr io.Writer) app.Handler[Summary] {
	return app.Lambda(ctx, getenv, stdout, stderr, Wire)
}

// Wire builds the monitor from the environment and returns its handler.
func Wire(_ context.Context, getenv app.Getenv, awsCfg aws.Config, stdout io.Writer, log *slog.Logger) (app.Handler[Summary], error) {
	s, err := app.Load(getenv)
	if err != nil {
		return nil, err
	}
	var missing []error
	if s.TokenParameter == "" {
		missing = append(missing, errors.New("CHATWORK_TOKEN_PARAMETER is not set"))
	}
	if s.LogGroup == "" {
		missing = append(missing, errors.New("QUOTA_LOG_GROUP is not set"))
	}
	if err := errors.Join(missing...); err != nil {
		return nil, err
	}
	ssmAPI := ssm.NewFromConfig(awsCfg)
	tokens, err := app.Fleet(s, ssmAPI, ssmparam.New(ssmAPI, s.TokenParameter), app.NewClient(s.APIURL, nil), log)
	if err != nil {
		return nil, fmt.Errorf("CHATWORK_API_URL: %w", err)
	}
	logs := cloudwatchlogs.NewFromConfig(awsCfg)
	var waker monitor.Waker
	if s.WakeQueueURL != "" {
		w, err := sqswake.New(sqs.NewFromConfig(awsCfg), s.WakeQueueURL, nil)
		if err != nil {
			return nil, fmt.Errorf("QUOTA_WAKE_QUEUE_URL: %w", err)
		}
		waker = w
	}
	rec := app.Recorder(s, logs, stdout)
	m, err := newMonitor(monitor.Config{
		TokenLabel: s.TokenLabel,
		Interval:   s.Interval,
		Latest:     latestMonitorRecords(cwlogs.NewHistory(logs, s.LogGroup), s.Interval),
		Heartbeat:  stdout,
		Logger:     log,
	}, tokens, rec, waker)
	if err != nil {
		return nil, err
	}
	return Handler(m), nil
}

// newMonitor is the monitor of f's tokens: a tick lists them (anew every
// few minutes), a wake-up takes the list as it stands.
func newMonitor(cfg monitor.Config, f *fleet.Fleet, rec sample.Recorder, waker monitor.Waker) (*monitor.Monitor, error) {
	cfg.Current = members(f.Current)
	return monitor.New(cfg, members(f.Members), rec, waker)
}

// members is a monitor's token list of a fleet's list.
func members(list func(context.Context) []fleet.Member) func(context.Context) []monitor.Token {
	return func(ctx context.Context) []monitor.Token {
		ms := list(ctx)
		toks := make([]monitor.Token, len(ms))
		for i, m := range ms {
			toks[i] = monitor.Token{Label: m.Label, ChatWork: m.Client}
		}
		return toks
	}
}

// latestMonitorRecords reads the newest monitor record of every token of
// the last two periods back from the log group, in one query.
func latestMonitorRecords(h *cwlogs.History, interval time.Duration) func(context.Context) (map[string]sample.Record, error) {
	return func(ctx context.Context) (map[string]sample.Record, error) {
		return h.LatestMonitor(ctx, time.Now().Add(-2*interval))
	}
}

// Summary is what the monitor Lambda returns, for `sam remote invoke` and
// the emulator tests: the calls and records of all tokens, the quota of the
// token with the least remaining (with one token, that token's), the first
// failure, and each token's own figures. It holds no secret.
type Summary struct {
	Figures
	Woken  bool      `json:"wake_arranged,omitempty"`
	Tokens []Figures `json:"tokens,omitempty"`
}

// Figures are one token's readings in an invocation: its calls and records,
// and its last reading's quota or failure.
type Figures struct {
	Token     string `json:"token,omitempty"`
	Calls     int    `json:"calls"`
	Records   int    `json:"records"`
	Remaining *int   `json:"remaining,omitempty"`
	Limit     *int   `json:"limit,omitempty"`
	Reset     *int64 `json:"reset,omitempty"`
	Final     bool   `json:"final,omitempty"`
	Error     string `json:"error,omitempty"`
}

func summarize(res monitor.Result) Summary {
	s := Summary{Woken: res.Woken}
	s.Calls, s.Records = res.Calls, len(res.Records)
	for _, r := range res.Records {
		i := slices.IndexFunc(s.Tokens, func(f Figures) bool { return f.Token == r.Token })
		if i < 0 {
			s.Tokens, i = append(s.Tokens, Figures{Token: r.Token}), len(s.Tokens)
		}
		f := &s.Tokens[i]
		f.Calls += r.Calls
		f.Records++
		if r.HasQuota {
			rem, lim, reset := r.Remaining, r.Limit, r.Reset
			f.Remaining, f.Limit, f.Reset, f.Final = &rem, &lim, &reset, r.Final
		}
		if r.Error != "" {
			f.Error = r.Error
		}
	}
	for _, f := range s.Tokens {
		s.Error = cmp.Or(s.Error, f.Error)
		if f.Remaining != nil && (s.Remaining == nil || *f.Remaining < *s.Remaining) {
			s.Token, s.Remaining, s.Limit, s.Reset, s.Final = f.Token, f.Remaining, f.Limit, f.Reset, f.Final
		}
	}
	return s
}

// Handler is m's Lambda handler. It accepts what the template sends it: an
// EventBridge Scheduler (ScheduleV2) payload, passed verbatim, or a classic
// EventBridge scheduled event — both mean "tick" — and SQS batches of
// wake-ups arranged by earlier ticks.
func Handler(m *monitor.Monitor) app.Handler[Summary] {
	return func(ctx context.Context, raw json.RawMessage) (Summary, error) {
		var probe struct {
			Records []json.RawMessage `json:"Records"`
		}
		if len(raw) > 0 && raw[0] == '{' {
			if err := json.Unmarshal(raw, &probe); err != nil {
				return Summary{}, fmt.Errorf("monitor: decode event: %w", err)
			}
		}
		if len(probe.Records) == 0 {
			res, err := m.Tick(ctx)
			return summarize(res), err
		}
		var batch events.SQSEvent
		if err := json.Unmarshal(raw, &batch); err != nil {
			return Summary{}, fmt.Errorf("monitor: decode SQS event: %w", err)
		}
		var all monitor.Result
		var errs []error
		for _, msg := range batch.Records {
			if msg.EventSource != "aws:sqs" {
				errs = append(errs, fmt.Errorf("monitor: record from %q is not a wake-up", msg.EventSource))
				continue
			}
			var w monitor.WakeRequest
			if err := json.Unmarshal([]byte(msg.Body), &w); err != nil {
				// A poison message: fail loudly, but do not make SQS redeliver it
				// forever; the template's redrive policy moves it aside.
				errs = append(errs, fmt.Errorf("monitor: decode wake-up %s: %w", msg.MessageId, err))
				continue
			}
			res, err := m.Wake(ctx, w)
			all.Calls += res.Calls
			all.Records = append(all.Records, res.Records...)
			if err != nil {
				errs = append(errs, err)
			}
		}
		return summarize(all), errors.Join(errs...)
	}
}
