// Package sqswake arranges delayed invocations of the monitor through an SQS
// queue: a message sent with DelaySeconds becomes visible, and so invokes the
// function through its SQS event source, that many seconds later. The wait
// costs no Lambda time.
package sqswake

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// MaxDelay is SQS's longest per-message delay.
const MaxDelay = 900 * time.Second

// API is the part of the SQS client the waker uses.
type API interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// Waker sends wake-ups to one queue.
type Waker struct {
	api      API
	queueURL string
	now      func() time.Time
}

// New returns a Waker for queueURL. now may be nil.
func New(api API, queueURL string, now func() time.Time) (*Waker, error) {
	if api == nil || queueURL == "" {
		return nil, errors.New("sqswake: an SQS client and a queue URL are required")
	}
	if now == nil {
		now = time.Now
	}
	return &Waker{api: api, queueURL: queueURL, now: now}, nil
}

// Delay is the whole-second SQS delay that makes a message sent now visible
// at or before at. Rounding down keeps the wake-up early rather than late:
// the woken function sleeps the remainder.
func Delay(now, at time.Time) (int32, error) {
	d := at.Sub(now)
	if d > MaxDelay {
		return 0, fmt.Errorf("sqswake: wake-up %v away is beyond SQS's %v", d.Round(time.Second), MaxDelay)
	}
	if d <= 0 {
		return 0, nil
	}
	return int32(math.Floor(d.Seconds())), nil
}

// WakeAt sends body to the queue, delayed until at.
func (w *Waker) WakeAt(ctx context.Context, at time.Time, body []byte) error {
	delay, err := Delay(w.now(), at)
	if err != nil {
		return err
	}
	_, err = w.api.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:     aws.String(w.queueURL),
		MessageBody:  aws.String(string(body)),
		DelaySeconds: delay,
	})
	if err != nil {
		return fmt.Errorf("send wake-up to queue %s: %w", w.queueURL, err)
	}
	return nil
}
