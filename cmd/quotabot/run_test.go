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

// A flag value that parses but makes no sense is one line and exit 2; none
// is replaced by a default.
func TestUsageErrorsAreOneLine(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"sandbox", "--window", "0s"}, "--window 0s: must be positive"},
		{[]string{"sandbox", "--interval", "0s"}, "--interval 0s: must be positive"},
		{[]string{"sandbox", "--limit", "0"}, "--limit 0: must be at least 1"},
		{[]string{"sandbox", "--threshold", "0"}, "--threshold 0: must be at least 1"},
		{[]string{"sandbox", "--threshold", "400", "--limit", "300"}, "threshold 400: more than the limit 300"},
		{[]string{"sandbox", "--threshold", "101", "--threshold-kind", "percent"}, "at most 100"},
		{[]string{"sandbox", "--lang", "fr"}, "want ja or en"},
		{[]string{"check", "--threshold", "-5"}, "--threshold -5: must not be negative"},
		{[]string{"check", "--timeout", "0s"}, "--timeout 0s: must be positive"},
		{[]string{"history", "--file", "x", "--token-label", "no spaces"}, "token label"},
		{[]string{"history", "--file", "x", "--token", "no spaces"}, "token label"},
		{[]string{"check", "--tokens-path", "/x/", "--token-label", "no spaces"}, "--token-label: token label"},
		{[]string{"history", "--file", "x", "--since", "0d"}, "--since 0s: must be positive"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := runWith(t, nil, nil, tt.args...)
			if r.code != 2 || !strings.Contains(r.stderr, tt.want) || strings.Count(r.stderr, "\n") != 1 {
				t.Fatalf("exit %d, want 2 and one line with %q\nstderr:\n%s", r.code, tt.want, r.stderr)
			}
		})
	}
}

// Help shows no made-up default and lists every flag in the usage line.
func TestHelpText(t *testing.T) {
	for _, cmd := range []string{"check", "sandbox", "history"} {
		r := runWith(t, nil, nil, "help", cmd)
		if r.code != 0 || strings.Contains(r.stdout, "(default -1)") || strings.Contains(r.stdout, "(default 0)") {
			t.Errorf("help %s:\n%s", cmd, r.stdout)
		}
	}
	r := runWith(t, nil, nil, "help", "check")
	usage, _, _ := strings.Cut(r.stdout, "\n")
	for _, flag := range []string{"--token-parameter", "--tokens-path", "--token-label", "--api-url", "--threshold", "--json", "--timeout", "--verbose"} {
		if !strings.Contains(usage, flag) {
			t.Errorf("check's usage line lacks %s: %s", flag, usage)
		}
	}
	r = runWith(t, nil, nil, "help", "history")
	if usage, _, _ := strings.Cut(r.stdout, "\n"); !strings.Contains(usage, "[--token LABEL]") || !strings.Contains(r.stdout, "the same as --token") {
		t.Errorf("help history:\n%s", r.stdout)
	}
}

func TestParseSince(t *testing.T) {
	for in, want := range map[string]time.Duration{"90m": 90 * time.Minute, "24h": 24 * time.Hour, "2d": 48 * time.Hour, "7d": 7 * 24 * time.Hour} {
		if got, err := parseSince(in); err != nil || got != want {
			t.Errorf("parseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"2", "d", "1.5d", "2w", "soon"} {
		if _, err := parseSince(in); err == nil || !strings.Contains(err.Error(), "90m or 24h, or days such as 7d") {
			t.Errorf("parseSince(%q): %v, want the accepted forms", in, err)
		}
	}
	r := runWith(t, nil, nil, "history", "--file", "x", "--since", "2w")
	if r.code != 2 || !strings.Contains(r.stderr, "days such as 7d") {
		t.Errorf("--since 2w: exit %d\n%s", r.code, r.stderr)
	}
}
