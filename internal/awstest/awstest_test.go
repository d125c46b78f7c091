package awstest_test

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/quotabot/chatwork-quota-bot/internal/awstest"
)

func TestMain(m *testing.M) {
	if os.Getenv("AWSTEST_CHILD") == "1" {
		os.Exit(child())
	}
	awstest.Main(m)
}

func answers(endpoint string) bool {
	c := &http.Client{Timeout: time.Second}
	resp, err := c.Get(endpoint + "/moto-api/")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}

func TestPrivateServerStopsInCleanup(t *testing.T) {
	var endpoint string
	t.Run("server", func(t *testing.T) {
		start := time.Now()
		endpoint = awstest.StartPrivateMoto(t)
		t.Logf("moto_server answered after %v", time.Since(start))
		if !answers(endpoint) {
			t.Fatal("server does not answer")
		}
	})
	if endpoint != "" && answers(endpoint) {
		t.Errorf("server at %s still answers after the test's cleanup", endpoint)
	}
}

func TestSharedServerIsShared(t *testing.T) {
	a, b := awstest.StartMoto(t), awstest.StartMoto(t)
	if a != b {
		t.Errorf("StartMoto under Main gave %s and %s, want one shared server", a, b)
	}
}

// recorder stands in for *testing.T to see whether StartMoto skips or fails.
type recorder struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (r *recorder) Helper()     {}
func (r *recorder) Skip(...any) { r.skipped = true; runtime.Goexit() }
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recorder) Fatal(args ...any) { r.Fatalf("%s", fmt.Sprint(args...)) }

// setShort sets -short for the rest of the test.
func setShort(t *testing.T, short bool) {
	was := testing.Short()
	if err := flag.Set("test.short", strconv.FormatBool(short)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = flag.Set("test.short", strconv.FormatBool(was)) })
}

// Without moto, a test skips under -short and otherwise fails with one line
// that names what is missing and how to install it.
func TestMissingMoto(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // neither moto_server nor python3
	for _, short := range []bool{false, true} {
		setShort(t, short)
		r := &recorder{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			awstest.StartPrivateMoto(r)
		}()
		<-done
		switch {
		case short && (!r.skipped || r.failed):
			t.Errorf("-short: skipped %v, failed %v (%s)", r.skipped, r.failed, r.msg)
		case !short && (!r.failed || r.skipped):
			t.Errorf("without -short: skipped %v, failed %v", r.skipped, r.failed)
		case !short && (!strings.Contains(r.msg, "moto_server not found") ||
			!strings.Contains(r.msg, "python3 -m pip install 'moto[server]'") || strings.Contains(r.msg, "\n")):
			t.Errorf("without -short: message %q, want one line naming moto_server and how to install it", r.msg)
		}
	}
}

// A child process configured only by Env reaches the emulator.
func TestEnvForChildProcess(t *testing.T) {
	endpoint := awstest.StartMoto(t)
	name := "/" + awstest.UniqueName(t, "quotabot-test/")
	awstest.PutSecureString(t, awstest.Config(t, endpoint), name, "child-can-read")

	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), awstest.Env(endpoint)...)
	cmd.Env = append(cmd.Env, "AWSTEST_CHILD=1", "AWSTEST_PARAM="+name)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "child-can-read" {
		t.Errorf("child: %v, output %q", err, out)
	}
}

func child() int {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		os.Stdout.WriteString(err.Error())
		return 1
	}
	out, err := ssm.NewFromConfig(cfg).GetParameter(ctx, &ssm.GetParameterInput{
		Name: aws.String(os.Getenv("AWSTEST_PARAM")), WithDecryption: aws.Bool(true),
	})
	if err != nil {
		os.Stdout.WriteString(err.Error())
		return 1
	}
	os.Stdout.WriteString(aws.ToString(out.Parameter.Value))
	return 0
}

func TestSeedHelpers(t *testing.T) {
	cfg := awstest.Config(t, awstest.StartMoto(t))
	group := "/" + awstest.UniqueName(t, "quotabot-test/")
	awstest.CreateLogGroup(t, cfg, group)
	if got := awstest.LogEvents(t, cfg, group, "missing"); got != nil {
		t.Errorf("LogEvents of a missing stream = %q, want nil", got)
	}
}
