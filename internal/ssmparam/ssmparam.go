// Package ssmparam supplies tokens from SSM Parameter Store SecureStrings:
// Source one token (the ChatWork API token, the webhook token), read once
// per container and cached until Invalidate (ChatWork answered 401, a
// signature failed: the token may have been rotated); Registry every token
// under a path. No value ever appears in an error or a log line.
package ssmparam

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"
)

// API is the part of *ssm.Client that Source uses.
type API interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, optFns ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

// Source is a chatwork.TokenSource and chatwork.Invalidator backed by one
// SSM parameter. It is safe for concurrent use; concurrent callers while
// nothing is cached share one GetParameter call.
type Source struct {
	api  API
	name string

	mu       sync.Mutex
	token    string // valid when cached
	cached   bool
	inflight *fetch // the read under way, if any
}

// fetch is one GetParameter call whose result several callers may wait for.
type fetch struct {
	done  chan struct{}
	token string
	err   error
}

// New returns a Source for the parameter name (e.g. "/quotabot/token"). An
// empty name is reported by the first Token call, so wiring code can build
// its dependencies unconditionally.
func New(api API, name string) *Source {
	return &Source{api: api, name: name}
}

// Token returns the parameter's decrypted value with surrounding white space
// removed (a value stored from a file often ends in a newline; ChatWork
// tokens hold no spaces). The first call reads SSM; later calls return the
// cached value until Invalidate.
func (s *Source) Token(ctx context.Context) (string, error) {
	for {
		s.mu.Lock()
		if s.cached {
			tok := s.token
			s.mu.Unlock()
			return tok, nil
		}
		f := s.inflight
		if f == nil {
			f = &fetch{done: make(chan struct{})}
			s.inflight = f
			s.mu.Unlock()
			s.run(ctx, f)
			return f.token, f.err
		}
		s.mu.Unlock()

		select {
		case <-f.done:
		case <-ctx.Done():
			return "", fmt.Errorf("read SSM parameter %q: %w", s.name, context.Cause(ctx))
		}
		// A read that failed only because its caller gave up says nothing
		// about this caller's chances: try again with this caller's context.
		if f.err != nil && isContextErr(f.err) && ctx.Err() == nil {
			continue
		}
		return f.token, f.err
	}
}

// run performs the read for f and publishes the result.
func (s *Source) run(ctx context.Context, f *fetch) {
	f.token, f.err = s.read(ctx)
	s.mu.Lock()
	// If Invalidate ran meanwhile, this read may predate a rotation: give it
	// to the callers that waited for it but do not cache it.
	if s.inflight == f {
		s.inflight = nil
		if f.err == nil {
			s.token, s.cached = f.token, true
		}
	}
	s.mu.Unlock()
	close(f.done)
}

// Invalidate drops the cached value, so the next Token reads SSM again.
func (s *Source) Invalidate() {
	s.mu.Lock()
	s.token, s.cached = "", false
	s.inflight = nil
	s.mu.Unlock()
}

func (s *Source) read(ctx context.Context) (string, error) {
	if s.name == "" {
		return "", errors.New("read SSM parameter: no parameter name configured")
	}
	out, err := s.api.GetParameter(ctx, &ssm.GetParameterInput{
		Name:           aws.String(s.name),
		WithDecryption: aws.Bool(true),
	})
	if err != nil {
		return "", describe(fmt.Sprintf("read SSM parameter %q", s.name), err)
	}
	var v string
	if out != nil && out.Parameter != nil {
		v = strings.TrimSpace(aws.ToString(out.Parameter.Value))
	}
	if v == "" {
		return "", fmt.Errorf("read SSM parameter %q: empty value", s.name)
	}
	return v, nil
}

// describe wraps an SDK error: what failed, the cause in words (named by its
// AWS error code), then the SDK's error, wrapped for errors.As. A context
// error needs no words.
func describe(what string, err error) error {
	if isContextErr(err) {
		return fmt.Errorf("%s: %w", what, err)
	}
	var ae smithy.APIError
	code, cause := "", "request failed" // without an AWS error code: no answer (network, endpoint, credentials)
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	switch {
	case code == "ParameterNotFound", code == "ParameterVersionNotFound":
		cause = "not found"
	case code == "AccessDeniedException", code == "AccessDenied",
		code == "UnrecognizedClientException", code == "InvalidClientTokenId",
		code == "ExpiredTokenException":
		cause = "access denied"
	case code == "InvalidKeyId", strings.HasPrefix(code, "KMS"):
		cause = "cannot decrypt (KMS key)"
	case code == "ThrottlingException", code == "TooManyUpdates":
		cause = "throttled"
	}
	return fmt.Errorf("%s: %s: %w", what, cause, err)
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
