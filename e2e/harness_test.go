package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/testproc"
)

// Generous bounds for a shared, noisy two-core machine: they only turn a hang
// into a failure, nothing here asserts on time.
const (
	buildTimeout  = 10 * time.Minute
	startTimeout  = 60 * time.Second
	invokeTimeout = 2 * time.Minute
)

// requireTool returns the path of an executable. Under -short it skips the
// test (the builds take minutes on a cold cache); without -short a missing
// tool fails it.
func requireTool(t testing.TB, name, install string) string {
	t.Helper()
	testproc.SkipShort(t, name+" and minutes of building")
	p, err := exec.LookPath(name)
	if err != nil {
		testproc.Missing(t, name+" not found on PATH", install)
	}
	return p
}

// qemuAarch64 returns qemu-aarch64-static's path, or "" when it is not
// installed. Its absence is not a failure, even under CI: the arm64 runs are
// an extra that needs a Debian package (qemu-user-static).
func qemuAarch64() string {
	p, err := exec.LookPath("qemu-aarch64-static")
	if err != nil {
		return ""
	}
	return p
}

// moduleRoot is the directory holding go.mod.
func moduleRoot(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatalf("module root: %v", err)
	}
	return dir
}

// run runs a build command in the module root and fails the test with its
// output when it fails.
func run(t testing.TB, env []string, name string, args ...string) {
	t.Helper()
	if out, err := runOut(t, env, name, args...); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// cacheRace is how the go command reports a build-cache entry that a
// concurrent go command had not finished writing (golang/go#73368 and
// kin). It is seen with a cold cache while go test builds other packages.
var cacheRace = regexp.MustCompile(`could not import \S+ \(open [^)]*: no such file or directory\)`)

// runOut runs a build command in the module root. A build that failed on
// a build-cache race is run once more.
func runOut(t testing.TB, env []string, name string, args ...string) ([]byte, error) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir = moduleRoot(t)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		cancel()
		if err == nil || attempt == 2 || !cacheRace.Match(out) {
			return out, err
		}
		t.Logf("%s %s hit a build-cache race, running it again:\n%s", name, strings.Join(args, " "), out)
	}
}

// buildHost builds a command of this module for the machine the tests run
// on, as Lambda builds it (no RPC, no cgo), into dir/bootstrap.
func buildHost(t testing.TB, pkg, dir string) string {
	t.Helper()
	goBin := requireTool(t, "go", "the installer from https://go.dev/dl")
	out := filepath.Join(dir, "bootstrap")
	run(t, []string{"CGO_ENABLED=0"}, goBin, "build", "-tags", "lambda.norpc", "-o", out, pkg)
	return out
}

// buildArm64 runs the Makefile's SAM build target for a function into
// dir/bootstrap: the binary sam build would deploy.
func buildArm64(t testing.TB, function, dir string) string {
	t.Helper()
	makeBin := requireTool(t, "make", "apt-get install make (SAM's makefile build method runs it too)")
	requireTool(t, "go", "the installer from https://go.dev/dl")
	run(t, nil, makeBin, "build-"+function, "ARTIFACTS_DIR="+dir)
	return filepath.Join(dir, "bootstrap")
}

const riePackage = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"

// buildEmulator builds the emulator at the version go.mod's tool directive
// pins, into dir.
func buildEmulator(t testing.TB, dir string) string {
	t.Helper()
	goBin := requireTool(t, "go", "the installer from https://go.dev/dl")
	out := filepath.Join(dir, "aws-lambda-rie")
	b, err := runOut(t, nil, goBin, "build", "-o", out, riePackage)
	if err == nil {
		return out
	}
	if !bytes.Contains(b, []byte("missing go.sum entry")) {
		t.Fatalf("go build %s: %v\n%s", riePackage, err, b)
	}
	// go.sum lacks a checksum the emulator's dependencies need. Build from
	// copies of go.mod and go.sum so that the repository stays untouched,
	// and say so: the fix belongs in go.sum.
	tmp := t.TempDir()
	root := moduleRoot(t)
	for _, f := range []string{"go.mod", "go.sum"} {
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tmp, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("NOTE: go.sum is incomplete for %s (%s); built with a temporary copy of go.mod/go.sum", riePackage, firstLine(b))
	run(t, nil, goBin, "build", "-modfile="+filepath.Join(tmp, "go.mod"), "-mod=mod", "-o", out, riePackage)
	return out
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return s
}

// emulator is one aws-lambda-rie process running one bootstrap. The
// emulator starts the bootstrap on the first invocation (the cold start).
type emulator struct {
	invokeURL string
	*testproc.Proc
	out *testproc.Buffer // the emulator's stdout and stderr, the bootstrap's included
}

// The emulator's default runtime API port; never use it.
const reservedPort = 9001

// startEmulator runs `rie --runtime-interface-emulator-address 127.0.0.1:P
// --runtime-api-address 127.0.0.1:P2 argv...` with env added to this
// process's environment, on free loopback ports, and waits until it
// accepts connections. It is stopped in t.Cleanup.
func startEmulator(t testing.TB, rie string, env []string, argv ...string) *emulator {
	t.Helper()
	var lastErr error
	// A port found free can be taken before the emulator binds it; the
	// emulator then exits at once and another pair is tried.
	for range 3 {
		e, err := tryStartEmulator(rie, env, argv)
		if err == nil {
			t.Cleanup(e.Stop)
			return e
		}
		lastErr = err
	}
	t.Fatal(lastErr)
	return nil
}

func tryStartEmulator(rie string, env []string, argv []string) (*emulator, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(ports[0])
	args := append([]string{
		"--runtime-interface-emulator-address", addr,
		"--runtime-api-address", "127.0.0.1:" + strconv.Itoa(ports[1]),
	}, argv...)
	cmd := exec.Command(rie, args...)
	cmd.Dir = filepath.Dir(argv[len(argv)-1])
	cmd.Env = append(os.Environ(), env...)
	out := &testproc.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	proc, err := testproc.Start(cmd)
	if err != nil {
		return nil, fmt.Errorf("start the emulator: %w", err)
	}
	e := &emulator{
		invokeURL: "http://" + addr + "/2015-03-31/functions/function/invocations",
		Proc:      proc,
		out:       out,
	}
	if err := e.waitListening(addr); err != nil {
		e.Stop()
		return nil, fmt.Errorf("emulator on %s: %w; its output:\n%s", addr, err, out.String())
	}
	return e, nil
}

// freePorts returns n distinct free loopback ports other than 9001. Each is
// released before use, so another process may take it in between.
func freePorts(n int) ([]int, error) {
	var ports []int
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	for len(ports) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		held = append(held, l)
		if p := l.Addr().(*net.TCPAddr).Port; p != reservedPort {
			ports = append(ports, p)
		}
	}
	return ports, nil
}

func (e *emulator) waitListening(addr string) error {
	deadline := time.Now().Add(startTimeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-e.Exited():
			return errors.New("exited before listening")
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not listening within %v", startTimeout)
		}
	}
}

// output is everything the emulator and the bootstrap printed so far.
func (e *emulator) output() string { return e.out.String() }

// reports waits until the emulator has printed n REPORT lines and returns
// them. The output reaches the buffer through a pipe, so the last line can
// arrive after the invocation's response.
func (e *emulator) reports(t testing.TB, n int) []Report {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for {
		r := ParseReports(e.output())
		if len(r) >= n || time.Now().After(deadline) {
			if len(r) != n {
				t.Fatalf("%d REPORT lines, want %d; emulator output:\n%s", len(r), n, e.output())
			}
			return r
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// result is one invocation's outcome as the emulator's HTTP API returns it.
type result struct {
	Status int
	Body   []byte
	// ErrorType and ErrorMessage are set when the function returned an
	// error (the body is Lambda's {"errorMessage", "errorType"} object).
	ErrorType    string
	ErrorMessage string
}

func (r result) String() string {
	return fmt.Sprintf("HTTP %d %s", r.Status, r.Body)
}

var invokeClient = &http.Client{Timeout: invokeTimeout}

// invoke POSTs one event and returns the function's result.
func (e *emulator) invoke(t testing.TB, event []byte) result {
	t.Helper()
	resp, err := invokeClient.Post(e.invokeURL, "application/json", bytes.NewReader(event))
	if err != nil {
		t.Fatalf("invoke: %v\nemulator output:\n%s", err, e.output())
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("invoke: read the result: %v", err)
	}
	r := result{Status: resp.StatusCode, Body: body}
	var fnErr struct {
		Type    *string `json:"errorType"`
		Message *string `json:"errorMessage"`
	}
	if json.Unmarshal(body, &fnErr) == nil && fnErr.Type != nil && fnErr.Message != nil {
		r.ErrorType, r.ErrorMessage = *fnErr.Type, *fnErr.Message
	}
	return r
}

// bootstrapPID returns the pid of the emulator's child process: the
// bootstrap, or qemu running it. 0 when there is none yet.
func (e *emulator) bootstrapPID() int {
	parent := e.Cmd.Process.Pid
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	for _, d := range entries {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(stat[i+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(parent) {
			return pid
		}
	}
	return 0
}

// peakRSSKiB reads a process's peak resident set size (VmHWM).
func peakRSSKiB(pid int) (int, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		}
	}
	return 0, errors.New("no VmHWM in /proc/PID/status")
}
