package sqswake

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

func TestDelay(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		in      time.Duration
		want    int32
		wantErr bool
	}{
		{-time.Second, 0, false},
		{0, 0, false},
		{1500 * time.Millisecond, 1, false},
		{56*time.Second + 900*time.Millisecond, 56, false},
		{900 * time.Second, 900, false},
		{901 * time.Second, 0, true},
	}
	for _, c := range cases {
		got, err := Delay(now, now.Add(c.in))
		if (err != nil) != c.wantErr || got != c.want {
			t.Errorf("Delay(%v) = %d, %v; want %d, error %v", c.in, got, err, c.want, c.wantErr)
		}
	}
}

type fakeSQS struct {
	in  *sqs.SendMessageInput
	err error
}

func (f *fakeSQS) SendMessage(_ context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	f.in = in
	return &sqs.SendMessageOutput{}, f.err
}

func TestWakeAt(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	api := &fakeSQS{}
	w, err := New(api, "http://q/1", func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WakeAt(context.Background(), now.Add(42*time.Second), []byte(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	if api.in.DelaySeconds != 42 || *api.in.MessageBody != `{"a":1}` || *api.in.QueueUrl != "http://q/1" {
		t.Fatalf("sent %+v", api.in)
	}
	api.err = errors.New("boom")
	if err := w.WakeAt(context.Background(), now, nil); err == nil {
		t.Fatal("want error")
	}
	if _, err := New(nil, "", nil); err == nil {
		t.Fatal("want error for missing dependencies")
	}
}
