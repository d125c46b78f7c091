// Command quotabot is the operator's command line: `sandbox` runs the whole
// quota bot on this machine, `check` reads a real token's quota once, and
// `history` shows the recorded low point of each rate-limit window.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // QUOTA_TIME_ZONE works without a system zoneinfo
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr))
}
