// Package awstest runs tests against moto_server, a local AWS emulator, and
// seeds it with the SSM parameters and log groups the project's adapters
// expect.
//
// Starting moto_server takes about half a second, plus a few hundred ms for
// the first call to each service: too slow to pay per test, so a package
// shares one server per test binary. Call Main from TestMain and StartMoto
// hands every test the same endpoint, started on first use and stopped when
// the tests finish; tests that share it must use names of their own
// (UniqueName helps). Without Main, StartMoto starts a server per test and
// stops it in t.Cleanup; StartPrivateMoto always does.
//
// Under -short the tests that need moto skip; without it a missing moto
// fails them, saying how to install it.
package awstest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/testproc"
)

// Region is the region every test configuration uses.
const Region = "us-east-1"

// startTimeout bounds how long a server may take to answer: generous, as a
// loaded CI machine can be slow to start Python.
const startTimeout = 60 * time.Second

var (
	mainRunning atomic.Bool

	sharedOnce    sync.Once
	sharedSrv     *server
	sharedMissing string // why moto_server cannot be found
	sharedErr     error  // start failure, reported to every test that asks
)

// installMoto is how to get moto_server.
const installMoto = "python3 -m pip install 'moto[server]'"

// Main runs the package's tests and then stops the shared moto_server, if
// one was started. Use it as the whole body of TestMain:
//
//	func TestMain(m *testing.M) { awstest.Main(m) }
func Main(m *testing.M) {
	testproc.Require(func() string { _, missing := command(); return missing }, installMoto)
	mainRunning.Store(true)
	code := m.Run()
	if sharedSrv != nil {
		sharedSrv.Stop()
	}
	os.Exit(code)
}

// StartMoto returns the endpoint URL of a running moto_server. Under Main it
// is the binary's shared server; otherwise a server of the test's own,
// stopped in t.Cleanup.
func StartMoto(t testing.TB) string {
	t.Helper()
	if !mainRunning.Load() {
		return StartPrivateMoto(t)
	}
	testproc.SkipShort(t, "moto_server")
	sharedOnce.Do(func() {
		var argv []string
		if argv, sharedMissing = command(); argv != nil {
			sharedSrv, sharedErr = start(argv)
		}
	})
	switch {
	case sharedMissing != "":
		testproc.Missing(t, sharedMissing, installMoto)
	case sharedErr != nil:
		t.Fatal(sharedErr)
	}
	return sharedSrv.endpoint
}

// StartPrivateMoto starts a moto_server for this test alone and stops it
// (and every process it started) in t.Cleanup.
func StartPrivateMoto(t testing.TB) string {
	t.Helper()
	testproc.SkipShort(t, "moto_server")
	argv, missing := command()
	if argv == nil {
		testproc.Missing(t, missing, installMoto)
	}
	srv, err := start(argv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return srv.endpoint
}

// command returns the argv prefix that runs moto's server, or nil and the
// reason it cannot be found.
func command() ([]string, string) {
	if p, err := exec.LookPath("moto_server"); err == nil {
		return []string{p}, ""
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		return nil, "moto_server not found: neither moto_server nor python3 is on PATH"
	}
	// Checking the import costs a Python start, but only on machines
	// without the moto_server script.
	if err := exec.Command(py, "-c", "import moto.server").Run(); err != nil {
		return nil, "moto_server not found: not on PATH, and python3 cannot import moto.server"
	}
	return []string{py, "-m", "moto.server"}, ""
}

type server struct {
	endpoint string
	*testproc.Proc
}

// start launches moto on a free loopback port and waits until it answers.
// The port is found by binding :0 and releasing it, so another process can
// take it in between; moto then exits at once and start tries a new port.
func start(argv []string) (*server, error) {
	var lastErr error
	for range 3 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		srv, err := startOn(argv, port)
		if err == nil {
			return srv, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port for moto_server: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func startOn(argv []string, port int) (*server, error) {
	args := append(argv[1:len(argv):len(argv)], "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd := exec.Command(argv[0], args...)
	out := &testproc.Buffer{Limit: 64 << 10}
	cmd.Stdout, cmd.Stderr = out, out
	proc, err := testproc.Start(cmd)
	if err != nil {
		return nil, fmt.Errorf("start moto_server: %w", err)
	}
	srv := &server{endpoint: "http://127.0.0.1:" + strconv.Itoa(port), Proc: proc}
	if err := srv.waitReady(); err != nil {
		srv.Stop()
		return nil, fmt.Errorf("moto_server on port %d: %w; its output:\n%s", port, err, strings.TrimSpace(out.String()))
	}
	return srv, nil
}

func (s *server) waitReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.endpoint+"/moto-api/", nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-s.Exited():
			return errors.New("exited before answering")
		case <-ctx.Done():
			return fmt.Errorf("no answer within %v", startTimeout)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
