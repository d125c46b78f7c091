package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/awstest"
	"github.com/quotabot/chatwork-quota-bot/internal/testproc"
)

func TestMain(m *testing.M) { awstest.Main(m) }

type result struct {
	code           int
	stdout, stderr string
}

// runWith calls run as main would, with the given environment and stdin.
func runWith(t *testing.T, vars map[string]string, stdin io.Reader, args ...string) result {
	t.Helper()
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	var stdout, stderr testproc.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	code := run(ctx, args, func(k string) string { return vars[k] }, stdin, &stdout, &stderr)
	return result{code, stdout.String(), stderr.String()}
}

func TestUsage(t *testing.T) {
	tests := []struct {
		args     []string
		code     int
		inStdout string
		inStderr string
	}{
		{nil, 2, "", "Usage:"},
		{[]string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{[]string{"help"}, 0, "quotabot sandbox", ""},
		{[]string{"-h"}, 0, "quotabot check", ""},
		{[]string{"help", "check"}, 0, "-token-parameter", ""},
		{[]string{"help", "nope"}, 2, "", `unknown command "nope"`},
		{[]string{"check", "-h"}, 0, "-threshold", ""},
		{[]string{"sandbox", "--help"}, 0, "-window", ""},
		{[]string{"history", "-h"}, 0, "-since", ""},
		{[]string{"check", "--no-such-flag"}, 2, "", "flag provided but not defined"},
		{[]string{"sandbox", "--window", "soon"}, 2, "", "invalid value"},
		{[]string{"sandbox", "extra"}, 2, "", `unexpected argument "extra"`},
		{[]string{"sandbox", "--threshold-kind", "ratio"}, 2, "", "want count or percent"},
		{[]string{"sandbox", "--lang", "fr"}, 2, "", "want ja or en"},
		{[]string{"sandbox", "--interval", "2m"}, 2, "", "shorter than the window"},
		{[]string{"history"}, 2, "", "--log-group"},
		{[]string{"history", "--file", "x", "--log-group", "y"}, 2, "", "not both"},
		{[]string{"check", "--timeout", "0s"}, 2, "", "--timeout"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := runWith(t, nil, nil, tt.args...)
			if r.code != tt.code || !strings.Contains(r.stdout, tt.inStdout) || !strings.Contains(r.stderr, tt.inStderr) {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tt.code, r.stdout, r.stderr)
			}
		})
	}
}
