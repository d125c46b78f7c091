package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
)

// LoadAWS loads the SDK's configuration the usual way; AWS_ENDPOINT_URL and
// the other SDK variables work unchanged, so every binary can be pointed at a
// local emulator.
func LoadAWS(ctx context.Context, opts ...func(*config.LoadOptions) error) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	return cfg, nil
}

// Logger is the JSON logger every Lambda binary writes to stderr.
func Logger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, nil))
}

// Handler is a Lambda handler of the raw event.
type Handler[T any] func(ctx context.Context, raw json.RawMessage) (T, error)

// Wiring builds a Lambda's handler from the environment and the AWS
// configuration. Its errors name the variable or parameter at fault and
// never hold a secret.
type Wiring[T any] func(ctx context.Context, getenv Getenv, awsCfg aws.Config, stdout io.Writer, log *slog.Logger) (Handler[T], error)

// Lambda always returns a handler: wire's, or, when the AWS configuration
// or the environment is bad, one that reports the error in one clear line on
// every invocation, instead of a crash loop during init that says nothing
// useful. Records go to stdout, logs to stderr.
func Lambda[T any](ctx context.Context, getenv Getenv, stdout, stderr io.Writer, wire Wiring[T]) Handler[T] {
	log := Logger(stderr)
	awsCfg, err := LoadAWS(ctx)
	if err == nil {
		var h Handler[T]
		if h, err = wire(ctx, getenv, awsCfg, stdout, log); err == nil {
			return h
		}
	}
	return func(ctx context.Context, _ json.RawMessage) (T, error) {
		var zero T
		log.ErrorContext(ctx, "configuration error", "error", err.Error())
		return zero, err
	}
}
