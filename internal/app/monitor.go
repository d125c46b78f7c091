package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/cwlogs"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
	"github.com/quotabot/chatwork-quota-bot/internal/sqswake"
	"github.com/quotabot/chatwork-quota-bot/internal/ssmparam"
	"github.com/quotabot/chatwork-quota-bot/monitor"
)

// LoadAWS loads the SDK's configuration the usual way; AWS_ENDPOINT_URL and
// the other SDK variables work unchanged, so every binary can be pointed at a
// local emulator.
func LoadAWS(ctx context.Context) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	return cfg, nil
}

// Logger is the JSON logger every Lambda binary writes to stderr.
func Logger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, nil))
}

// MonitorHandler is the monitor Lambda's handler.
type MonitorHandler func(ctx context.Context, raw json.RawMessage) (monitor.Summary, error)

// NewMonitor wires the monitor from the environment. Its errors name the
// variable or parameter at fault and never hold a secret.
func NewMonitor(ctx context.Context, getenv Getenv, awsCfg aws.Config, stdout io.Writer, log *slog.Logger) (*monitor.Monitor, error) {
	s, err := Load(getenv)
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
	tokens := ssmparam.New(ssm.NewFromConfig(awsCfg), s.TokenParameter)
	cw, err := chatwork.New(chatwork.Config{BaseURL: s.APIURL, Token: tokens})
	if err != nil {
		return nil, fmt.Errorf("CHATWORK_API_URL: %w", err)
	}
	logs := cloudwatchlogs.NewFromConfig(awsCfg)
	rec := cwlogs.NewRecorder(logs, s.LogGroup, stdout)
	var waker monitor.Waker
	if s.WakeQueueURL != "" {
		w, err := sqswake.New(sqs.NewFromConfig(awsCfg), s.WakeQueueURL, nil)
		if err != nil {
			return nil, fmt.Errorf("QUOTA_WAKE_QUEUE_URL: %w", err)
		}
		waker = w
	}
	return monitor.New(monitor.Config{
		TokenLabel: s.TokenLabel,
		Interval:   s.Interval,
		Latest:     latestMonitorRecord(cwlogs.NewHistory(logs, s.LogGroup), s.Interval),
		Logger:     log,
	}, cw, rec, waker)
}

// latestMonitorRecord reads the newest monitor record of the last two
// periods back from the log group.
func latestMonitorRecord(h *cwlogs.History, interval time.Duration) func(context.Context, string) (sample.Record, bool, error) {
	return func(ctx context.Context, token string) (sample.Record, bool, error) {
		recs, err := h.Samples(ctx, token, time.Now().Add(-2*interval), time.Time{})
		if err != nil {
			return sample.Record{}, false, err
		}
		for i := len(recs) - 1; i >= 0; i-- {
			if recs[i].Source == sample.SourceMonitor {
				return recs[i], true, nil
			}
		}
		return sample.Record{}, false, nil
	}
}

// Failing is a Lambda handler that reports a configuration error on every
// invocation: one clear line in the invocation's result and log, instead of a
// crash loop during init that says nothing useful.
func Failing[T any](log *slog.Logger, err error) func(context.Context, json.RawMessage) (T, error) {
	return func(ctx context.Context, _ json.RawMessage) (T, error) {
		var zero T
		log.ErrorContext(ctx, "configuration error", "error", err.Error())
		return zero, err
	}
}
