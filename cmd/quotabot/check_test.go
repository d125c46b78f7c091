package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/awstest"
	"github.com/quotabot/chatwork-quota-bot/internal/chatworksim"
)

const simToken = "check-test-token-6f1d2a9b"

func startSim(t *testing.T) (*chatworksim.Server, map[string]string) {
	t.Helper()
	sim, base := chatworksim.Start(t, chatworksim.Config{Mode: chatworksim.WindowFirstCall})
	sim.AddAccount(simToken, 9001, "quota bot")
	return sim, map[string]string{"CHATWORK_TOKEN": simToken, "CHATWORK_API_URL": base}
}

// spent is the calls check made, not counting the test's own Spend.
func spent(sim *chatworksim.Server) int { return sim.Calls(simToken) - sim.OtherCalls(simToken) }

func TestCheckHuman(t *testing.T) {
	sim, vars := startSim(t)
	sim.Spend(simToken, 40)
	r := runWith(t, vars, nil, "check")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	_, remaining, reset := sim.Quota(simToken)
	for _, want := range []string{
		"limit      300\n",
		"remaining  259 (86.3%)\n",
		"used       41\n",
		"reset      " + reset.Local().Format("2006-01-02 15:04:05"),
		"(in ",
		"account    9001",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if remaining != 259 || spent(sim) != 1 {
		t.Errorf("simulator: remaining %d, check spent %d calls", remaining, spent(sim))
	}
	if strings.Contains(r.stdout+r.stderr, simToken) {
		t.Error("the token is in the output")
	}
}

func TestCheckJSONAndAPIURLFlag(t *testing.T) {
	sim, vars := startSim(t)
	base := vars["CHATWORK_API_URL"]
	delete(vars, "CHATWORK_API_URL")
	r := runWith(t, vars, nil, "check", "--json", "--api-url", base)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var got checkResult
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("%v:\n%s", err, r.stdout)
	}
	_, _, reset := sim.Quota(simToken)
	if got.Limit != 300 || got.Remaining != 299 || got.Used != 1 || got.ResetUnix != reset.Unix() ||
		got.Exhausted || got.AccountID != 9001 || got.ResetInSeconds <= 0 || got.ResetInSeconds > 300 {
		t.Errorf("got %+v", got)
	}
}

func TestCheckThreshold(t *testing.T) {
	sim, vars := startSim(t)
	r := runWith(t, vars, nil, "check", "--threshold", "20")
	if r.code != 0 {
		t.Fatalf("above the threshold: exit %d: %s", r.code, r.stderr)
	}
	sim.Spend(simToken, 280)
	r = runWith(t, vars, nil, "check", "--threshold", "20")
	if r.code != 1 || !strings.Contains(r.stderr, "18 remaining is at or under the threshold 20") || !strings.Contains(r.stdout, "remaining  18") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
}

// A 429 is a reading: remaining 0 until the reset.
func TestCheckExhausted(t *testing.T) {
	sim, vars := startSim(t)
	sim.Spend(simToken, 300)
	_, _, reset := sim.Quota(simToken)
	r := runWith(t, vars, nil, "check", "--json")
	var got checkResult
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != 0 {
		t.Fatalf("exit %d, %v\nstdout:\n%s\nstderr:\n%s", r.code, err, r.stdout, r.stderr)
	}
	if got.Remaining != 0 || !got.Exhausted || got.ResetUnix != reset.Unix() {
		t.Errorf("got %+v", got)
	}
	r = runWith(t, vars, nil, "check", "--threshold", "0")
	if r.code != 1 || !strings.Contains(r.stdout, "exhausted") {
		t.Fatalf("exit %d\nstdout:\n%s", r.code, r.stdout)
	}
}

func TestCheckFailures(t *testing.T) {
	t.Run("invalid token", func(t *testing.T) {
		_, vars := startSim(t)
		vars["CHATWORK_TOKEN"] = "revoked-token-value-xyz"
		r := runWith(t, vars, nil, "check")
		if r.code != 1 || !strings.Contains(r.stderr, "401") || strings.Count(r.stderr, "\n") != 1 || r.stdout != "" {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		if strings.Contains(r.stderr, "revoked-token-value-xyz") {
			t.Fatal("the token is in the output")
		}
	})
	t.Run("no token", func(t *testing.T) {
		r := runWith(t, nil, nil, "check")
		if r.code != 1 || !strings.Contains(r.stderr, "CHATWORK_TOKEN") {
			t.Fatalf("exit %d\nstderr:\n%s", r.code, r.stderr)
		}
	})
	t.Run("network", func(t *testing.T) {
		vars := map[string]string{"CHATWORK_TOKEN": simToken, "CHATWORK_API_URL": "http://127.0.0.1:1/v2"}
		r := runWith(t, vars, nil, "check", "--timeout", "20s")
		if r.code != 1 || !strings.Contains(r.stderr, "network") || strings.Count(r.stderr, "\n") != 1 {
			t.Fatalf("exit %d\nstderr:\n%s", r.code, r.stderr)
		}
	})
	t.Run("bad URL", func(t *testing.T) {
		r := runWith(t, map[string]string{"CHATWORK_TOKEN": simToken}, nil, "check", "--api-url", "ftp://example")
		if r.code != 1 || !strings.Contains(r.stderr, "scheme") {
			t.Fatalf("exit %d\nstderr:\n%s", r.code, r.stderr)
		}
	})
}

// awsEnv points the AWS SDK in this process at moto.
func awsEnv(t *testing.T, endpoint string) {
	t.Helper()
	for _, kv := range awstest.Env(endpoint) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
}

func TestCheckTokenParameter(t *testing.T) {
	endpoint := awstest.StartMoto(t)
	cfg := awstest.Config(t, endpoint)
	awsEnv(t, endpoint)
	sim, vars := startSim(t)
	delete(vars, "CHATWORK_TOKEN")
	param := "/" + awstest.UniqueName(t, "quotabot-test/token")
	awstest.PutSecureString(t, cfg, param, simToken+"\n")

	ctxTimeout := time.Minute
	r := runWith(t, vars, nil, "check", "--token-parameter", param, "--timeout", ctxTimeout.String())
	if r.code != 0 || !strings.Contains(r.stdout, "remaining  299") || spent(sim) != 1 {
		t.Fatalf("exit %d, spent %d\nstdout:\n%s\nstderr:\n%s", r.code, spent(sim), r.stdout, r.stderr)
	}
	missing := "/quotabot-test/no-such-parameter"
	r = runWith(t, vars, nil, "check", "--token-parameter", missing)
	if r.code != 1 || !strings.Contains(r.stderr, missing) || strings.Count(r.stderr, "\n") != 1 || spent(sim) != 1 {
		t.Fatalf("exit %d\nstderr:\n%s", r.code, r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr, simToken) {
		t.Fatal("the token is in the output")
	}
}

// noAWS leaves the AWS SDK in this process with no credentials at all: no
// variables, no files, no instance metadata.
func noAWS(t *testing.T) {
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
		"AWS_DEFAULT_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_REGION", "ap-northeast-1")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
}

// With no AWS credentials (or region), one line says what is missing and
// how to provide it; --verbose adds the SDK's own message.
func TestCheckNoAWSCredentials(t *testing.T) {
	noAWS(t)
	r := runWith(t, nil, nil, "check", "--token-parameter", "/quotabot/chatwork-api-token")
	if r.code != 1 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "no AWS credentials found") ||
		!strings.Contains(r.stderr, "aws configure") || strings.Contains(r.stderr, "IMDS") {
		t.Fatalf("exit %d\nstderr:\n%s", r.code, r.stderr)
	}
	r = runWith(t, nil, nil, "check", "--token-parameter", "/quotabot/chatwork-api-token", "--verbose")
	if r.code != 1 || strings.Count(r.stderr, "\n") != 2 || !strings.Contains(r.stderr, "IMDS") {
		t.Fatalf("--verbose: exit %d\nstderr:\n%s", r.code, r.stderr)
	}
	t.Setenv("AWS_REGION", "")
	r = runWith(t, nil, nil, "history", "--log-group", "samples")
	if r.code != 1 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "no AWS region: set AWS_REGION") {
		t.Fatalf("no region: exit %d\nstderr:\n%s", r.code, r.stderr)
	}
}
