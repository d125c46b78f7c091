package ssmparam_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"

	"github.com/quotabot/chatwork-quota-bot/internal/awstest"
	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/ssmparam"
)

func TestMain(m *testing.M) { awstest.Main(m) }

// The source is what the chatwork client expects.
var (
	_ chatwork.TokenSource = (*ssmparam.Source)(nil)
	_ chatwork.Invalidator = (*ssmparam.Source)(nil)
)

const secret = "a1b2c3d4e5f6SECRETvalue" // must never show up in an error

// counting wraps an API and counts GetParameter calls.
type counting struct {
	ssmparam.API
	calls atomic.Int64
}

func (c *counting) GetParameter(ctx context.Context, in *ssm.GetParameterInput, opts ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	c.calls.Add(1)
	return c.API.GetParameter(ctx, in, opts...)
}

func motoSSM(t *testing.T) (aws.Config, *counting) {
	t.Helper()
	cfg := awstest.Config(t, awstest.StartMoto(t))
	return cfg, &counting{API: ssm.NewFromConfig(cfg)}
}

func TestTokenDecryptsSecureString(t *testing.T) {
	cfg, api := motoSSM(t)
	name := "/" + awstest.UniqueName(t, "quotabot/") + "/token"
	// A value stored from a file usually ends in a newline.
	awstest.PutSecureString(t, cfg, name, secret+"\n")

	got, err := ssmparam.New(api, name).Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got != secret {
		t.Errorf("Token = %q, want the decrypted value without the newline", got)
	}
}

func TestTokenIsCachedAndInvalidateRereads(t *testing.T) {
	cfg, api := motoSSM(t)
	name := "/" + awstest.UniqueName(t, "quotabot/")
	awstest.PutSecureString(t, cfg, name, "old-token")
	src := ssmparam.New(api, name)

	// Concurrent first callers and later callers: one read in all, since
	// every caller either waits for the read under way or finds the cache.
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if tok, err := src.Token(t.Context()); err != nil || tok != "old-token" {
				t.Errorf("Token = %q, %v; want old-token", tok, err)
			}
		})
	}
	wg.Wait()
	if n := api.calls.Load(); n != 1 {
		t.Fatalf("GetParameter called %d times for 20 concurrent Token calls, want 1", n)
	}

	// The token is rotated: the cache hides it until Invalidate.
	awstest.PutSecureString(t, cfg, name, "new-token")
	if tok, _ := src.Token(t.Context()); tok != "old-token" {
		t.Errorf("before Invalidate Token = %q, want the cached old-token", tok)
	}
	src.Invalidate()
	tok, err := src.Token(t.Context())
	if err != nil || tok != "new-token" {
		t.Errorf("after Invalidate Token = %q, %v; want new-token", tok, err)
	}
	if n := api.calls.Load(); n != 2 {
		t.Errorf("GetParameter called %d times, want 2", n)
	}
}

func TestMissingParameter(t *testing.T) {
	cfg, api := motoSSM(t)
	prefix := "/" + awstest.UniqueName(t, "quotabot/")
	awstest.PutSecureString(t, cfg, prefix+"/other", secret)
	name := prefix + "/token"

	_, err := ssmparam.New(api, name).Token(t.Context())
	if err == nil {
		t.Fatal("no error for a missing parameter")
	}
	msg := err.Error()
	want := `read SSM parameter "` + name + `": not found: `
	if !strings.HasPrefix(msg, want) {
		t.Errorf("error = %q, want it to start with %q", msg, want)
	}
	if strings.Contains(msg, secret) || strings.Contains(msg, "\n") {
		t.Errorf("error = %q: must be one line and hold no value", msg)
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ParameterNotFound" {
		t.Errorf("error does not wrap the SDK's ParameterNotFound: %v", err)
	}

	// A failure is not cached: once the parameter exists, the next call
	// finds it.
	awstest.PutSecureString(t, cfg, name, "later")
	if tok, err := ssmparam.New(api, name).Token(t.Context()); err != nil || tok != "later" {
		t.Errorf("after creating the parameter Token = %q, %v", tok, err)
	}
}

// fake answers GetParameter with a fixed result.
type fake struct {
	out   *ssm.GetParameterOutput
	err   error
	calls atomic.Int64
}

func (f *fake) GetParameter(context.Context, *ssm.GetParameterInput, ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	f.calls.Add(1)
	return f.out, f.err
}

func value(v string) *ssm.GetParameterOutput {
	return &ssm.GetParameterOutput{Parameter: &ssmtypes.Parameter{Value: aws.String(v)}}
}

func TestErrors(t *testing.T) {
	apiErr := func(code, msg string) error { return &smithy.GenericAPIError{Code: code, Message: msg} }
	tests := []struct {
		name  string
		param string
		api   *fake
		text  string
	}{
		{"no name", "", &fake{out: value(secret)},
			`read SSM parameter: no parameter name configured`},
		{"access denied", "/p", &fake{err: apiErr("AccessDeniedException", "User: arn:aws:sts::1:assumed-role/r is not authorized to perform: ssm:GetParameter on resource: /p")},
			`read SSM parameter "/p": access denied: `},
		{"kms", "/p", &fake{err: &ssmtypes.InvalidKeyId{Message: aws.String("key disabled")}},
			`read SSM parameter "/p": cannot decrypt (KMS key): `},
		{"throttled", "/p", &fake{err: apiErr("ThrottlingException", "Rate exceeded")},
			`read SSM parameter "/p": throttled: `},
		{"network", "/p", &fake{err: errors.New("dial tcp 127.0.0.1:1: connection refused")},
			`read SSM parameter "/p": request failed: dial tcp`},
		{"empty value", "/p", &fake{out: value("  \n")},
			`read SSM parameter "/p": empty value`},
		{"no parameter in answer", "/p", &fake{out: &ssm.GetParameterOutput{}},
			`read SSM parameter "/p": empty value`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := ssmparam.New(tt.api, tt.param)
			tok, err := src.Token(t.Context())
			if err == nil || tok != "" {
				t.Fatalf("Token = %q, %v; want an error", tok, err)
			}
			if !strings.HasPrefix(err.Error(), tt.text) {
				t.Errorf("error = %q, want prefix %q", err, tt.text)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error = %q: must be one line and hold no value", err)
			}
			if tt.api.err != nil && !errors.Is(err, tt.api.err) {
				t.Errorf("error does not wrap the SDK error")
			}
			// Errors are not cached.
			_, _ = src.Token(t.Context())
			if tt.param != "" && tt.api.calls.Load() != 2 {
				t.Errorf("%d calls after two failing Token calls, want 2", tt.api.calls.Load())
			}
		})
	}
}

// gated blocks each GetParameter until released, then answers with the
// value it is given, or with the context's error once ctx ends.
type gated struct {
	entered chan struct{}
	answers chan string
	calls   atomic.Int64
}

func newGated() *gated {
	return &gated{entered: make(chan struct{}, 10), answers: make(chan string, 10)}
}

func (g *gated) GetParameter(ctx context.Context, _ *ssm.GetParameterInput, _ ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	g.calls.Add(1)
	g.entered <- struct{}{}
	select {
	case v := <-g.answers:
		return value(v), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func TestInvalidateDuringReadDoesNotCacheStaleValue(t *testing.T) {
	g := newGated()
	src := ssmparam.New(g, "/p")
	got := make(chan string)
	go func() {
		tok, _ := src.Token(t.Context())
		got <- tok
	}()
	<-g.entered
	src.Invalidate() // e.g. a 401 while the read is under way
	g.answers <- "before-rotation"
	if tok := <-got; tok != "before-rotation" {
		t.Fatalf("first caller got %q", tok)
	}
	g.answers <- "after-rotation"
	if tok, err := src.Token(t.Context()); err != nil || tok != "after-rotation" {
		t.Errorf("Token after Invalidate = %q, %v; want a fresh read", tok, err)
	}
}

func TestWaiterOutlivesCanceledLeader(t *testing.T) {
	g := newGated()
	src := ssmparam.New(g, "/p")
	leaderCtx, cancel := context.WithCancel(t.Context())
	leaderErr := make(chan error)
	go func() {
		_, err := src.Token(leaderCtx)
		leaderErr <- err
	}()
	<-g.entered
	waiter := make(chan string)
	go func() {
		tok, err := src.Token(t.Context())
		if err != nil {
			t.Errorf("waiter: %v", err)
		}
		waiter <- tok
	}()
	time.Sleep(20 * time.Millisecond) // let the waiter join the read under way
	cancel()
	if err := <-leaderErr; !errors.Is(err, context.Canceled) {
		t.Errorf("leader error = %v, want context.Canceled", err)
	}
	<-g.entered // the waiter's own read
	g.answers <- "tok"
	if tok := <-waiter; tok != "tok" {
		t.Errorf("waiter got %q, want tok", tok)
	}
}

func TestCanceledContextAgainstMoto(t *testing.T) {
	_, api := motoSSM(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := ssmparam.New(api, "/x").Token(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}
