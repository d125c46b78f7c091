// Package testproc runs the helper processes tests need (moto_server, the
// Lambda Runtime Interface Emulator) so that stopping one stops everything it
// started and none outlives the test binary, collects output that a child
// writes while a test reads it, and holds the one rule for tests that need
// more than Go: they skip under -short and fail, naming what is missing,
// without it.
package testproc

import (
	"bytes"
	"cmp"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"testing"
	"time"
)

// SkipShort skips t, which needs what (a program Go does not bring, or
// minutes of building), under -short: the loop that needs nothing but Go.
func SkipShort(t testing.TB, what string) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs " + what + "; runs without -short")
	}
}

// Missing fails t with one line: what is missing and how to install it. A
// run that could not run its tests must not look green.
func Missing(t testing.TB, what, install string) {
	t.Helper()
	t.Fatal(missingLine(what, install))
}

func missingLine(what, install string) string {
	return fmt.Sprintf("%s: install it with %s, or run go test -short ./... to skip the tests that need it", what, install)
}

// Require is the start of a TestMain for a package whose tests need a tool
// Go does not bring. missing says what is missing ("" when nothing is).
// Without -short, a missing tool ends the test binary at once with one line
// naming it and how to install it, and exit status 1, instead of one failure
// per test. Under -short it does nothing: the tests that need the tool skip.
func Require(missing func() string, install string) {
	if !flag.Parsed() {
		flag.Parse()
	}
	if testing.Short() {
		return
	}
	if what := missing(); what != "" {
		fmt.Fprintln(os.Stderr, missingLine(what, install))
		os.Exit(1)
	}
}

// Proc is a started helper process.
type Proc struct {
	Cmd      *exec.Cmd
	exited   chan struct{}
	stopOnce sync.Once
}

// Start starts cmd in a process group of its own, so that Stop reaches the
// processes it starts (the Python behind a moto_server shim, the bootstrap
// the emulator runs), and, on Linux, asks the kernel to kill it should the
// test binary die without stopping it (a panic, go test's -timeout). The
// death signal follows the thread that started the child, so Start and Wait
// run on one locked thread that lives as long as the process.
func Start(cmd *exec.Cmd) (*Proc, error) {
	setProcAttr(cmd)
	cmd.WaitDelay = cmp.Or(cmd.WaitDelay, time.Second)
	p := &Proc{Cmd: cmd, exited: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		err := cmd.Start()
		started <- err
		if err == nil {
			_ = cmd.Wait()
		}
		close(p.exited)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return p, nil
}

// Exited is closed when the process has exited.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// Stop kills the process group and waits for the process to exit. It is
// safe to call more than once.
func (p *Proc) Stop() {
	p.stopOnce.Do(func() {
		killGroup(p.Cmd)
		<-p.exited
	})
}

// Buffer is a bytes.Buffer that one goroutine (a child's output copier, a
// logger) may write while another reads. With Limit > 0 it keeps only the
// first Limit bytes: enough to see why a server failed, bounded for one that
// logs every request.
type Buffer struct {
	Limit int

	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.Limit <= 0 {
		return b.buf.Write(p)
	}
	if room := b.Limit - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
