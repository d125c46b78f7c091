package main

import (
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/quotabot/chatwork-quota-bot/internal/sample"
	"github.com/quotabot/chatwork-quota-bot/internal/sandbox"
)

// A scripted session through run, as `quotabot sandbox < script` runs it:
// the answer to /quota, the alarm after !burn and the recovery after the
// window resets, then exit 0 after !quit. The script burns at
// the start of a window (!wait reset), so the bot's reading that follows
// lands in the same 4-second window even on a slow machine.
func TestSandboxScript(t *testing.T) {
	var secrets []string
	sandboxHook = func(c *sandbox.Config) {
		c.Secrets = func(tokens ...string) { secrets = tokens }
	}
	t.Cleanup(func() { sandboxHook = nil })
	script := strings.Join([]string{
		"/quota",
		"!wait reset",
		"!burn 250",
		"/quota",
		"!status",
		"!wait 2s",
		"!wait reset",
		// The quota alarm clears after 10 of its periods without a low
		// reading: 8 s in a 4 s window (alarm.QuotaShape, scaled).
		"!wait 11s",
		"!help",
		"!quit",
	}, "\n")
	r := runWith(t, nil, strings.NewReader(script),
		"sandbox", "--tokens", "", "--window", "4s", "--interval", "1s", "--threshold", "60", "--lang", "en", "--dir", t.TempDir())
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	out := r.stdout
	for _, want := range []string{"ChatWork simulator  http://127.0.0.1:", "samples.jsonl", "Quota Bot:", "Remaining:", "another client spent 250 calls", "!burn N"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	alarmAt := strings.Index(out, "→ ALARM")
	if alarmAt < 0 {
		t.Fatalf("no alarm in the output:\n%s", out)
	}
	after := out[alarmAt:]
	if !strings.Contains(after, "ALARM → OK") {
		t.Errorf("no recovery after the alarm:\n%s", out)
	}
	// The bot posts the alert and the recovery into the room.
	if strings.Count(after, "Quota Bot:") < 2 {
		t.Errorf("the bot posted no alert and recovery:\n%s", out)
	}
	// !burn shows the percentage as the bot does (sample.Percent).
	m := regexp.MustCompile(`another client spent 250 calls; quota (\d+) of (\d+) left \(([^)]*)\)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no !burn line:\n%s", out)
	}
	remaining, _ := strconv.Atoi(m[1])
	limit, _ := strconv.Atoi(m[2])
	if want := sample.Percent(remaining, limit); m[3] != want {
		t.Errorf("!burn shows %s for %d of %d, the bot would show %s", m[3], remaining, limit, want)
	}
	// !quit says what Ctrl-C says, last.
	if !strings.HasSuffix(out, "\nstopped.\n") {
		t.Errorf("!quit: output does not end with stopped.:\n%s", out)
	}
	if len(secrets) != 3 {
		t.Fatal("the secrets hook was not called")
	}
	for _, s := range secrets {
		if s == "" || strings.Contains(r.stdout+r.stderr, s) {
			t.Fatal("the output holds a generated token")
		}
	}
}

func TestSandboxPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	r := runWith(t, nil, nil, "sandbox", "--port", port, "--dir", t.TempDir())
	if r.code != 1 || !strings.Contains(r.stderr, port) || strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("exit %d\nstderr:\n%s", r.code, r.stderr)
	}
}

// The default sandbox watches three bot accounts: /quota answers for the
// three, spending one token's quota alarms and recovers that token alone,
// named, and /quota LABEL details it. The script burns at the start of
// notify's window, so the readings that follow land in that window.
func TestSandboxScriptThreeTokens(t *testing.T) {
	var secrets []string
	sandboxHook = func(c *sandbox.Config) {
		c.Secrets = func(tokens ...string) { secrets = tokens }
	}
	t.Cleanup(func() { sandboxHook = nil })
	script := strings.Join([]string{
		"/quota",
		"!wait reset notify",
		"!burn 250 notify",
		"/quota notify",
		"!status",
		"!wait 2s",
		"!wait reset notify",
		"!wait 11s",
		"!quit",
	}, "\n")
	r := runWith(t, nil, strings.NewReader(script),
		"sandbox", "--window", "4s", "--interval", "1s", "--threshold", "60", "--lang", "en", "--dir", t.TempDir())
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	out := r.stdout
	section := func(from, to string) string {
		t.Helper()
		i, j := strings.Index(out, from), strings.Index(out, to)
		if i < 0 || j < i {
			t.Fatalf("no %q before %q in the output:\n%s", from, to, out)
		}
		return out[i:j]
	}
	all := section("You: /quota\n", "You: !wait reset notify")
	for _, want := range []string{"tokens              default, notify, report", "(3 tokens)", "default: ", "notify: ", "report: "} {
		if !strings.Contains(out[:strings.Index(out, "You: !wait")], want) {
			t.Errorf("the banner or the answer to /quota lacks %q:\n%s", want, all)
		}
	}
	if one := section("You: /quota notify", "You: !status"); !strings.Contains(one, "(token: notify)") || !strings.Contains(one, "Remaining: ") {
		t.Errorf("/quota notify:\n%s", one)
	}
	if status := section("You: !status", "You: !wait 2s"); !strings.Contains(status, "default: quota ") ||
		!regexp.MustCompile(`notify: quota \d\d? of 300 left`).MatchString(status) || !strings.Contains(status, "report: quota ") {
		t.Errorf("!status does not show each token, notify's spent:\n%s", status)
	}
	for _, want := range []string{
		"another client spent 250 calls of notify's token",
		"alarm sandbox-quota-low, token notify: OK → ALARM",
		"running low (token: notify)",
		"alarm sandbox-quota-low, token notify: ALARM → OK",
		"has recovered (token: notify)",
		"alarm sandbox-monitor-heartbeat: INSUFFICIENT_DATA → OK", // the monitor's ticks complete
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "token default: OK → ALARM") || strings.Contains(out, "token report: OK → ALARM") {
		t.Errorf("a token nobody spent alarmed:\n%s", out)
	}
	if len(secrets) != 5 {
		t.Fatalf("the secrets hook was told %d tokens, want 3 API tokens, the person's and the webhook's", len(secrets))
	}
	for _, s := range secrets {
		if s == "" || strings.Contains(r.stdout+r.stderr, s) {
			t.Fatal("the output holds a generated token")
		}
	}
}
