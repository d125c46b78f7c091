package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/smithy-go/logging"

	"github.com/quotabot/chatwork-quota-bot/internal/app"
)

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1 // an error, or check's threshold reached
	exitUsage = 2
)

const usage = `quotabot: the ChatWork API quota bot's command line.

Usage:
  quotabot sandbox [flags]   run ChatWork (simulated), the monitor, the alarm and the bot on this machine
  quotabot check [flags]     read a token's quota once (spends one API call)
  quotabot history [flags]   show each rate-limit window's low point from the recorded samples
  quotabot help [command]    show this, or a command's flags

Run "quotabot help COMMAND" for a command's flags.
`

type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, env env) int
}

// env is what a command gets from the process.
type env struct {
	getenv         func(string) string
	stdin          io.Reader
	stdout, stderr io.Writer
	verbose        bool // --verbose: fail adds the AWS SDK's own message
}

var commands = []command{
	{"sandbox", "run the whole bot on this machine", runSandbox},
	{"check", "read a token's quota once", runCheck},
	{"history", "show each window's low point", runHistory},
}

// run is the program: main only adds the signals and exits with its code.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := env{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) == 1 {
			fmt.Fprint(stdout, usage)
			return exitOK
		}
		name, rest = args[1], []string{"-h"} // "help COMMAND" is "COMMAND -h"
	}
	for _, c := range commands {
		if c.name == name {
			return c.run(ctx, rest, e)
		}
	}
	fmt.Fprintf(stderr, "quotabot: unknown command %q\n\n%s", name, usage)
	return exitUsage
}

// parseFlags parses a command's flags. done means the command should
// return code at once: after -h (usage on stdout, 0) or a usage error
// (message and usage on stderr, 2).
func parseFlags(fs *flag.FlagSet, args []string, e env, synopsis string) (code int, done bool) {
	fs.SetOutput(io.Discard)
	printUsage := func(w io.Writer) {
		fmt.Fprintf(w, "Usage: quotabot %s %s\n\nFlags:\n", fs.Name(), synopsis)
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		printUsage(e.stdout)
		return exitOK, true
	case err != nil:
		fmt.Fprintf(e.stderr, "quotabot %s: %v\n", fs.Name(), err)
		printUsage(e.stderr)
		return exitUsage, true
	case fs.NArg() > 0:
		fmt.Fprintf(e.stderr, "quotabot %s: unexpected argument %q\n", fs.Name(), strings.Join(fs.Args(), " "))
		printUsage(e.stderr)
		return exitUsage, true
	}
	return exitOK, false
}

// usageError reports, in one line, a flag value that parsed but makes no
// sense.
func usageError(e env, cmd string, format string, args ...any) int {
	fmt.Fprintf(e.stderr, "quotabot %s: %s (quotabot help %s lists the flags)\n", cmd, fmt.Sprintf(format, args...), cmd)
	return exitUsage
}

// fail reports an error as one line; with --verbose, an AWS setup error's
// cause follows on a second.
func fail(e env, cmd string, err error) int {
	fmt.Fprintf(e.stderr, "quotabot %s: %s\n", cmd, strings.Join(strings.Fields(err.Error()), " "))
	var se *awsSetupError
	if e.verbose && errors.As(err, &se) && se.cause != nil {
		fmt.Fprintf(e.stderr, "  %s\n", strings.Join(strings.Fields(se.cause.Error()), " "))
	}
	return exitFail
}

// awsSetupError says what is missing from the AWS configuration and how to
// provide it; the SDK's own message, long and about its provider chain, is
// the cause.
type awsSetupError struct {
	msg   string
	cause error
}

func (e *awsSetupError) Error() string { return e.msg }
func (e *awsSetupError) Unwrap() error { return e.cause }

// loadAWS loads the SDK's configuration and makes sure it has a region and
// credentials before the first call.
func loadAWS(ctx context.Context) (aws.Config, error) {
	// The SDK's own warnings (an instance metadata fallback on a laptop)
	// would come before the one line that says what to do.
	cfg, err := app.LoadAWS(ctx, config.WithLogger(logging.Nop{}))
	switch {
	case err != nil:
		return cfg, err
	case cfg.Region == "":
		return cfg, &awsSetupError{msg: "no AWS region: set AWS_REGION (e.g. ap-northeast-1) or a region in your AWS profile"}
	case cfg.Credentials == nil:
		return cfg, nil
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return cfg, &awsSetupError{"no AWS credentials found (--verbose says why): run aws configure or aws sso login, " +
			"set AWS_PROFILE, or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", err}
	}
	return cfg, nil
}

// flagSet reports whether the named flag was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}
