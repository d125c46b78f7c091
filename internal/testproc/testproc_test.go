package testproc

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestStartAndStopKillsTheGroup(t *testing.T) {
	// The shell starts a child of its own; Stop must end both.
	cmd := exec.Command("sh", "-c", "sleep 60 & echo started; wait")
	var out Buffer
	cmd.Stdout = &out
	p, err := Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "started") {
		if time.Now().After(deadline) {
			t.Fatal("the process did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	done := make(chan struct{})
	go func() { p.Stop(); p.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Stop did not return: the group was not killed")
	}
	select {
	case <-p.Exited():
	default:
		t.Fatal("Exited not closed after Stop")
	}
}

func TestStartFailure(t *testing.T) {
	if _, err := Start(exec.Command("/nonexistent/binary")); err == nil {
		t.Fatal("want an error")
	}
}

func TestBuffer(t *testing.T) {
	var unlimited Buffer
	limited := Buffer{Limit: 5}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				_, _ = unlimited.Write([]byte("ab"))
				if n, _ := limited.Write([]byte("abc")); n != 3 {
					t.Error("Write must report the whole input written")
				}
				_ = unlimited.String()
			}
		})
	}
	wg.Wait()
	if got := len(unlimited.String()); got != 1600 {
		t.Fatalf("unlimited kept %d bytes, want 1600", got)
	}
	if got := limited.String(); got != "abcab" {
		t.Fatalf("limited kept %q", got)
	}
}

// TestRequire runs this test binary again as a child whose only act is
// Require with a missing tool: without -short it must exit 1 with one line
// naming the tool and how to install it; with -short it must go on.
func TestRequire(t *testing.T) {
	if os.Getenv("TESTPROC_REQUIRE_CHILD") == "1" {
		Require(func() string { return "frobnicator not found" }, "apt-get install frobnicator")
		fmt.Println("went on")
		os.Exit(0)
	}
	for _, c := range []struct {
		short    bool
		wantCode int
		want     string
	}{
		{false, 1, "frobnicator not found: install it with apt-get install frobnicator, or run go test -short ./... to skip the tests that need it\n"},
		{true, 0, "went on\n"},
	} {
		args := []string{"-test.run=^TestRequire$"}
		if c.short {
			args = append(args, "-test.short")
		}
		cmd := exec.Command(os.Args[0], args...)
		cmd.Env = append(os.Environ(), "TESTPROC_REQUIRE_CHILD=1")
		out, _ := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); code != c.wantCode || string(out) != c.want {
			t.Errorf("short=%v: exit %d, output %q; want exit %d, %q", c.short, code, out, c.wantCode, c.want)
		}
	}
}
