package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-lambda-go/events"
)

// Summary is what the monitor Lambda returns: the figures of its readings,
// for `sam remote invoke` and the emulator tests. It holds no secret.
type Summary struct {
	Calls     int    `json:"calls"`
	Records   int    `json:"records"`
	Remaining *int   `json:"remaining,omitempty"`
	Limit     *int   `json:"limit,omitempty"`
	Reset     *int64 `json:"reset,omitempty"`
	Final     bool   `json:"final,omitempty"`
	Woken     bool   `json:"wake_arranged,omitempty"`
	Error     string `json:"error,omitempty"`
}

func summarize(res Result) Summary {
	s := Summary{Calls: res.Calls, Records: len(res.Records), Woken: res.Woken}
	for _, r := range res.Records {
		if r.HasQuota {
			rem, lim, reset := r.Remaining, r.Limit, r.Reset
			s.Remaining, s.Limit, s.Reset, s.Final = &rem, &lim, &reset, r.Final
		}
		if r.Error != "" {
			s.Error = r.Error
		}
	}
	return s
}

// HandleEvent is the monitor Lambda's handler. It accepts what the template
// sends it: an EventBridge Scheduler (ScheduleV2) payload, passed verbatim,
// or a classic EventBridge scheduled event — both mean "tick" — and SQS
// batches of wake-ups arranged by earlier ticks.
func (m *Monitor) HandleEvent(ctx context.Context, raw json.RawMessage) (Summary, error) {
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
	var all Result
	var errs []error
	for _, msg := range batch.Records {
		if msg.EventSource != "aws:sqs" {
			errs = append(errs, fmt.Errorf("monitor: record from %q is not a wake-up", msg.EventSource))
			continue
		}
		var w WakeRequest
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
