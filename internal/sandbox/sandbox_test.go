package sandbox

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/sample"
	"github.com/quotabot/chatwork-quota-bot/internal/testproc"
)

// waitFor polls until cond holds on the output, or fails the test. The
// timeouts are generous: the machine may be slow and shared.
func waitFor(t *testing.T, out *testproc.Buffer, what string, timeout time.Duration, cond func(string) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond(out.String()) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v; output:\n%s", what, timeout, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A person in the room: /quota is answered, spending most of the quota
// raises the alarm, and the next windows clear it. Driven through a pipe,
// so each step waits for the last one's effect instead of for a time.
func TestSessionQuotaAlarmRecovery(t *testing.T) {
	testproc.SkipShort(t, "a dozen seconds of rate-limit windows (the same session runs under -short as cmd/quotabot's TestSandboxScript)")
	dir := t.TempDir()
	inR, inW := io.Pipe()
	out := &testproc.Buffer{}
	var secrets []string
	cfg := Config{
		Window: 4 * time.Second, Interval: time.Second, Limit: 300, Threshold: 60,
		Language: "en", Dir: dir,
		Secrets: func(tokens ...string) { secrets = tokens },
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, inR, out) }()
	say := func(line string) {
		t.Helper()
		if _, err := io.WriteString(inW, line+"\n"); err != nil {
			t.Fatalf("write %q: %v", line, err)
		}
	}

	waitFor(t, out, "summary", time.Minute, func(s string) bool { return strings.Contains(s, "!help lists more") })
	say("/quota")
	waitFor(t, out, "answer to /quota", time.Minute, func(s string) bool {
		return strings.Contains(s, "Quota Bot:") && strings.Contains(s, "Remaining:")
	})

	// Burn at the start of a window, so the bot's reading lands in the same
	// window; try again in a later window if the machine was too slow.
	for attempt := 0; !strings.Contains(out.String(), "→ ALARM"); attempt++ {
		if attempt == 5 {
			t.Fatalf("no alarm after %d burns; output:\n%s", attempt, out.String())
		}
		say("!wait reset")
		say("!burn 250")
		say("/quota")
		say("!status")
		deadline := time.Now().Add(8 * time.Second)
		for time.Now().Before(deadline) && !strings.Contains(out.String(), "→ ALARM") {
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor(t, out, "recovery", time.Minute, func(s string) bool {
		return strings.Contains(s[strings.Index(s, "→ ALARM"):], "ALARM → OK")
	})
	say("!bogus")
	waitFor(t, out, "hint", time.Minute, func(s string) bool { return strings.Contains(s, "unknown command !bogus") })
	inW.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("Run did not return after the end of input; output:\n%s", out.String())
	}

	// The records file holds the monitor's and the bot's samples, in the
	// log group's format.
	raw, err := os.ReadFile(filepath.Join(dir, "samples.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	sources := map[sample.Source]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		r, err := sample.Parse([]byte(line))
		if err != nil {
			t.Fatalf("record %q: %v", line, err)
		}
		sources[r.Source]++
	}
	if sources[sample.SourceMonitor] == 0 || sources[sample.SourcePassive] == 0 {
		t.Errorf("records by source: %v", sources)
	}
	logText, _ := os.ReadFile(filepath.Join(dir, "sandbox.log"))
	if len(secrets) != 3 {
		t.Fatalf("the Secrets hook was told %d tokens, want the API, the person's and the webhook token", len(secrets))
	}
	for _, secret := range secrets {
		if secret == "" {
			t.Fatal("the Secrets hook was told an empty token")
		}
		for name, text := range map[string]string{"output": out.String(), "log": string(logText), "records": string(raw)} {
			if strings.Contains(text, secret) {
				t.Errorf("the %s holds a generated token", name)
			}
		}
	}
}

// Ctrl-C (ctx canceled) stops a session cleanly while it waits for input.
func TestSessionStopsOnCancel(t *testing.T) {
	inR, inW := io.Pipe()
	defer inW.Close()
	out := &testproc.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{Window: 2 * time.Second, Interval: 500 * time.Millisecond, Language: "en", Dir: t.TempDir(), Interactive: true}, inR, out)
	}()
	waitFor(t, out, "summary", time.Minute, func(s string) bool { return strings.Contains(s, "Ctrl-C quits") })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Run did not return after cancel")
	}
	if !strings.Contains(out.String(), "stopped.") {
		t.Errorf("output:\n%s", out.String())
	}
}

// In Japanese, a script that uses up the quota: the sandbox's own lines
// follow the language, the reply the bot could not post shows on screen
// with why, !quit stops the session and prints what Ctrl-C prints, and the
// log names the simulator once per line.
func TestSessionUnpostedReplyAndQuit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out := &testproc.Buffer{}
	cfg := Config{Window: 5 * time.Second, Interval: time.Second, Language: "ja", Dir: dir}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	script := "!wait reset\n!burn 300\n/quota\n!quit\n/quota\n"
	if err := Run(ctx, cfg, strings.NewReader(script), out); err != nil {
		t.Fatalf("Run: %v", err)
	}
	got := out.String()
	for _, want := range []string{
		"quotabot サンドボックス: ",
		"アラーム                 残り 60 回以下で発報。ペース: ",
		"別のクライアントが 300 回使いました",
		"残り 0 / 300 回（0%）",
		"Quota Bot のメッセージは投稿されませんでした: トークンの残りが ",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	// The answer to /quota, before the next input line.
	quota, quit := strings.Index(got, "You: /quota"), strings.Index(got, "You: !quit")
	if i := strings.Index(got, "Quota Bot のメッセージは投稿されませんでした"); i < quota || i > quit {
		t.Errorf("no line between /quota and !quit says the reply was not posted:\n%s", got)
	}
	if !strings.HasSuffix(got, "\n"+ja.stopped+"\n") || strings.Count(got, "You: /quota") != 1 {
		t.Errorf("!quit: want the line %q last and no input read after it:\n%s", ja.stopped, got)
	}
	log, err := os.ReadFile(filepath.Join(dir, "sandbox.log"))
	if err != nil || !strings.Contains(string(log), "chatworksim: ") || strings.Contains(string(log), "chatworksim: chatworksim:") {
		t.Errorf("sandbox.log (%v):\n%s", err, log)
	}
}

// The person mutes every token from the room, lists the mutes and
// unmutes, as in ChatWork: there is no sandbox command for it.
func TestSessionMutes(t *testing.T) {
	t.Parallel()
	out := &testproc.Buffer{}
	cfg := Config{Window: 5 * time.Second, Interval: time.Second, Language: "en", Dir: t.TempDir()}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	script := "/quota mute 1h\n/quota mutes\n/quota unmute\n/quota mutes\n!quit\n"
	if err := Run(ctx, cfg, strings.NewReader(script), out); err != nil {
		t.Fatalf("Run: %v", err)
	}
	got := out.String()
	want := []string{"Alerts and recoveries of every token are not posted until", "every token: until", "Unmuted every token", "Nothing is muted."}
	at := 0
	for _, w := range want {
		i := strings.Index(got[at:], w)
		if i < 0 {
			t.Fatalf("output lacks %q after the previous reply:\n%s", w, got)
		}
		at += i
	}
}

func TestPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	err = Run(context.Background(), Config{Port: port, Dir: t.TempDir()}, strings.NewReader(""), io.Discard)
	if err == nil || !strings.Contains(err.Error(), strconv.Itoa(port)) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("err = %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	bad := []Config{
		{Window: 500 * time.Millisecond},
		{Window: 10 * time.Second, Interval: 10 * time.Second},
		{Interval: time.Millisecond},
		{Threshold: 101, ThresholdPercent: true},
		{Language: "fr"},
		{Port: 70000},
		{Threshold: 301, Limit: 300},
		{Threshold: -1},
	}
	for _, c := range bad {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	var zero Config
	if err := zero.Validate(); err != nil || zero.Window != 0 {
		t.Errorf("Validate changed its receiver or failed: %v", err)
	}
}

// A steady background pace that would run the window dry: the pace alarm's
// warning reaches the room while calls remain, saying when they run out
// before the reset, and the episode's low-quota alarm adds no second
// message.
func TestSessionPaceWarnsBeforeTheQuotaRunsOut(t *testing.T) {
	testproc.SkipShort(t, "half a minute of rate-limit windows")
	t.Parallel()
	inR, inW := io.Pipe()
	out := &testproc.Buffer{}
	// 20 calls a second is 400 in a 20 s window: dry 15 s into it. The
	// second reading (5 s in, sample.MinPaceSpan) projects the shortfall.
	cfg := Config{Window: 20 * time.Second, Interval: time.Second, Limit: 300, Threshold: 60, Language: "en", Dir: t.TempDir()}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, inR, out) }()
	say := func(line string) {
		t.Helper()
		if _, err := io.WriteString(inW, line+"\n"); err != nil {
			t.Fatalf("write %q: %v", line, err)
		}
	}
	waitFor(t, out, "summary", time.Minute, func(s string) bool { return strings.Contains(s, "!help lists more") })
	say("!wait reset")
	say("!pace 20/s")
	const title = "At this pace ChatWork API quota runs out before the reset (token: default)"
	waitFor(t, out, "pace warning", time.Minute, func(s string) bool { return strings.Contains(s, title) })
	say("!status")
	waitFor(t, out, "status", time.Minute, func(s string) bool { return strings.Contains(s, "background pace 20/s") })
	say("!pace 0")
	waitFor(t, out, "pace stopped", time.Minute, func(s string) bool { return strings.Contains(s, "the background calls stopped") })
	inW.Close()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	got := out.String()
	msg := got[strings.Index(got, title):]
	if i := strings.Index(msg, "Dashboard"); i > 0 {
		msg = msg[:i] // the message's end, as the console shows it
	}
	var remaining int
	if i := strings.Index(msg, "Remaining: "); i < 0 {
		t.Fatalf("the pace warning shows no remaining count:\n%s", msg)
	} else if _, err := fmt.Sscanf(msg[i:], "Remaining: %d of 300", &remaining); err != nil || remaining <= 0 {
		t.Errorf("the pace warning came with %d remaining (%v), want some left:\n%s", remaining, err, msg)
	}
	if !strings.Contains(msg, "before the reset.") || strings.Contains(msg, "ran out") {
		t.Errorf("the pace warning does not say when the quota runs out before the reset:\n%s", msg)
	}
	if n := strings.Count(got, "⚠"); n != 1 {
		t.Errorf("%d alerts in one episode, want 1:\n%s", n, got)
	}
}

// !chart writes the chart /quota chart would post to a file and prints its
// path; !digest posts the day's digest with its chart, once a day; the
// files the bot uploads are saved beside the records, and their messages
// say where.
func TestSessionChartAndDigest(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out := &testproc.Buffer{}
	cfg := Config{Window: 5 * time.Second, Interval: time.Second, Language: "en", Dir: dir}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	script := "!wait 2s\n!chart\n!chart 3h default\n!chart bogus\n!digest\n!digest\n!quit\n"
	if err := Run(ctx, cfg, strings.NewReader(script), out); err != nil {
		t.Fatalf("Run: %v", err)
	}
	got := out.String()
	decodes := func(path string) {
		t.Helper()
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := png.Decode(bytes.NewReader(raw)); err != nil {
			t.Errorf("%s is not a PNG: %v", path, err)
		}
	}
	for _, name := range []string{"chart-1.png", "chart-2.png"} {
		path := filepath.Join(dir, name)
		if !strings.Contains(got, "chart written to "+path) {
			t.Errorf("output lacks the path %s:\n%s", path, got)
		}
		decodes(path)
	}
	if !strings.Contains(got, "no chart: chart: want [LABEL] [3h|24h|7d]") {
		t.Errorf("!chart bogus is not refused:\n%s", got)
	}
	if n := strings.Count(got, "ChatWork API quota digest: "); n != 1 {
		t.Errorf("%d digests for two !digest, want 1:\n%s", n, got)
	}
	m := regexp.MustCompile(`\(the file is saved as (\S+upload-\d+-quota-digest-\d{4}-\d\d-\d\d\.png)\)`).FindStringSubmatch(got)
	if m == nil {
		t.Fatalf("the digest's chart is not saved:\n%s", got)
	}
	decodes(m[1])
}
