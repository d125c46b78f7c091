package main

import (
	"cmp"
	"context"
	"flag"
	"os"
	"strings"
	"time"

	"github.com/quotabot/chatwork-quota-bot/bot"
	"github.com/quotabot/chatwork-quota-bot/internal/sandbox"
)

// sandboxHook, when set by a test, sees the configuration before the
// sandbox starts (to learn its generated tokens through Config.Secrets).
var sandboxHook func(*sandbox.Config)

func runSandbox(ctx context.Context, args []string, e env) int {
	fs := flag.NewFlagSet("sandbox", flag.ContinueOnError)
	window := fs.Duration("window", time.Minute, "length of the simulated rate-limit `window` (ChatWork's is 5m); also the alarm's period")
	limit := fs.Int("limit", 300, "calls allowed per window")
	threshold := fs.Int("threshold", 0, "alarm when the remaining count (or percent) is at or under `N` (default 20% of the limit)")
	kind := fs.String("threshold-kind", "count", "what --threshold counts: count or percent")
	interval := fs.Duration("interval", 5*time.Second, "how often the monitor reads the quota")
	lang := fs.String("lang", cmp.Or(e.getenv("QUOTA_LANGUAGE"), bot.DefaultLanguage), "the bot's and the sandbox's language: ja or en (QUOTA_LANGUAGE)")
	dir := fs.String("dir", "", "`directory` for the samples file and the log (default: a new temporary directory)")
	port := fs.Int("port", 0, "loopback port of the ChatWork simulator (default: a free one)")
	tokens := fs.String("tokens", "notify,report", "comma-separated `labels` of more bot accounts watched beside the bot's own, each with its own token and window (\"\": only the bot's)")
	if code, done := parseFlags(fs, args, e, "[flags]"); done {
		return code
	}
	// A zero would be taken for "the default" by sandbox.Config.
	switch {
	case *window <= 0:
		return usageError(e, "sandbox", "--window %v: must be positive", *window)
	case *interval <= 0:
		return usageError(e, "sandbox", "--interval %v: must be positive", *interval)
	case *limit <= 0:
		return usageError(e, "sandbox", "--limit %d: must be at least 1", *limit)
	case flagSet(fs, "threshold") && *threshold == 0:
		return usageError(e, "sandbox", "--threshold 0: must be at least 1 (0 would alarm only once nothing is left)")
	case *kind != "count" && *kind != "percent":
		return usageError(e, "sandbox", "--threshold-kind %q: want count or percent", *kind)
	}
	cfg := sandbox.Config{
		Window: *window, Limit: *limit, Interval: *interval,
		Threshold: *threshold, ThresholdPercent: *kind == "percent",
		Language: *lang, Dir: *dir, Port: *port,
		Tokens:      strings.FieldsFunc(*tokens, func(r rune) bool { return r == ',' || r == ' ' }),
		Interactive: isTerminal(e.stdin),
	}
	if tz := e.getenv("QUOTA_TIME_ZONE"); tz != "" {
		loc, err := time.LoadLocation(tz)
		if err != nil {
			return usageError(e, "sandbox", "QUOTA_TIME_ZONE %q: %v", tz, err)
		}
		cfg.Location = loc
	}
	if err := cfg.Validate(); err != nil {
		return usageError(e, "sandbox", "%v", err)
	}
	if sandboxHook != nil {
		sandboxHook(&cfg)
	}
	if err := sandbox.Run(ctx, cfg, e.stdin, e.stdout); err != nil {
		return fail(e, "sandbox", err)
	}
	return exitOK
}

// isTerminal reports whether r is a terminal, where a person types.
func isTerminal(r any) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
