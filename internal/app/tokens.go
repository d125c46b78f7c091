package app

import (
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/cwlogs"
	"github.com/quotabot/chatwork-quota-bot/internal/fleet"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
	"github.com/quotabot/chatwork-quota-bot/internal/ssmparam"
)

// NewClient makes a token's ChatWork client as both functions want it: 5 s
// attempts and one retry, so that a ChatWork that hangs costs a reading
// about 10 s, a webhook delivery or an alert ends well inside 30 s, and a
// monitor tick of 100 tokens, 10 at a time, reads most of them inside its
// 90 s. hc nil: the default transport.
func NewClient(base string, hc *http.Client) func(chatwork.TokenSource) (*chatwork.Client, error) {
	return func(ts chatwork.TokenSource) (*chatwork.Client, error) {
		return chatwork.New(chatwork.Config{BaseURL: base, Token: ts, Timeout: 5 * time.Second, Retries: 1, HTTPClient: hc})
	}
}

// Fleet is the tokens a function watches: the bot's own (own, read from
// CHATWORK_TOKEN_PARAMETER, labelled QUOTA_TOKEN_LABEL) and every token
// under QUOTA_TOKENS_PATH.
func Fleet(s Settings, api *ssm.Client, own chatwork.TokenSource, newClient func(chatwork.TokenSource) (*chatwork.Client, error), log *slog.Logger) (*fleet.Fleet, error) {
	var registry fleet.Registry
	if s.TokensPath != "" {
		registry = ssmparam.NewRegistry(api, s.TokensPath, log)
	}
	return fleet.New(fleet.Config{
		OwnLabel: s.TokenLabel, OwnParameter: s.TokenParameter, Own: own,
		Registry: registry, NewClient: newClient, Logger: log,
	})
}

// Recorder writes the samples to QUOTA_LOG_GROUP, each declaring the
// metric the quota alarm watches (QUOTA_ALARM_THRESHOLD_KIND).
func Recorder(s Settings, api cwlogs.WriteAPI, stdout io.Writer) *cwlogs.Recorder {
	rec := cwlogs.NewRecorder(api, s.LogGroup, stdout)
	rec.Metrics = sample.Metrics{Percent: s.ThresholdPercent}
	return rec
}
