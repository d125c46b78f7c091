package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

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

// putString stores a plain String parameter, which is no token.
func putString(t *testing.T, cfg aws.Config, name, value string) {
	t.Helper()
	_, err := ssm.NewFromConfig(cfg).PutParameter(t.Context(), &ssm.PutParameterInput{
		Name: aws.String(name), Value: aws.String(value), Type: ssmtypes.ParameterTypeString,
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Several bot accounts in the simulator, their tokens under an SSM path on
// moto, and the bot's own token in CHATWORK_TOKEN.
func TestCheckTokensPath(t *testing.T) {
	endpoint := awstest.StartMoto(t)
	cfg := awstest.Config(t, endpoint)
	awsEnv(t, endpoint)
	sim, vars := startSim(t)
	tokens := map[string]string{"deploy": "deploy-token-SECRET-1", "notify": "notify-token-SECRET-2", "report": "revoked-token-SECRET-3"}
	sim.AddAccount(tokens["deploy"], 9002, "deploy bot")
	sim.AddAccount(tokens["notify"], 9003, "notify bot") // "report"'s token is unknown to ChatWork: 401
	sim.Spend(tokens["deploy"], 280)
	path := "/" + awstest.UniqueName(t, "quotabot-test/") + "/tokens/"
	for label, tok := range tokens {
		awstest.PutSecureString(t, cfg, path+label, tok)
	}
	awstest.PutSecureString(t, cfg, path+"zz-own", simToken) // the bot's own token again
	putString(t, cfg, path+"plain", "plain-token-SECRET-4")

	r := runWith(t, vars, nil, "check", "--tokens-path", path)
	if r.code != 1 {
		t.Errorf("exit %d, want 1: a token failed", r.code)
	}
	// One row per token, the own token first, then by label; the skipped
	// parameters are named on stderr.
	want := []string{
		`token\s+remaining\s+percent\s+reset`,
		`default\s+299/300\s+99\.6%\s+\d\d:\d\d:\d\d \(in .*\)`,
		`deploy\s+19/300\s+6\.3%\s+\d\d:\d\d:\d\d \(in .*\)`,
		`notify\s+299/300\s+99\.6%`,
		`report\s+-\s+-\s+-\s+ChatWork refused the token \(HTTP 401\): it is wrong or revoked`,
	}
	rows := lines(r.stdout)
	if len(rows) != len(want) {
		t.Fatalf("stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
	for i, re := range want {
		if !regexp.MustCompile(`^`+re).MatchString(rows[i]) || strings.HasSuffix(rows[i], " ") {
			t.Errorf("row %d = %q, want %s", i, rows[i], re)
		}
	}
	for _, w := range []string{
		"parameter=" + path + "plain reason=",
		"parameter=" + path + "zz-own reason=\"the same token as the default row\"",
		"quotabot check: report: ChatWork refused the token (HTTP 401)",
	} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
		}
	}
	// Each token read once; the bad parameters not at all.
	for _, tok := range []string{simToken, tokens["deploy"], tokens["notify"], tokens["report"]} {
		if n := sim.Calls(tok) - sim.OtherCalls(tok); n != 1 {
			t.Errorf("%d calls with one token, want 1", n)
		}
	}
	if n := sim.Calls("plain-token-SECRET-4"); n != 0 {
		t.Errorf("the String parameter's token was read %d times", n)
	}
	if strings.Contains(r.stdout+r.stderr, "SECRET") || strings.Contains(r.stdout+r.stderr, simToken) {
		t.Errorf("a token in the output:\n%s\n%s", r.stdout, r.stderr)
	}

	// --json: an array in the same order; a failed token has its error and
	// no figures.
	r = runWith(t, vars, nil, "check", "--tokens-path", path, "--json", "--threshold", "20")
	var got []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != 1 || len(got) != 4 {
		t.Fatalf("exit %d, %v:\n%s", r.code, err, r.stdout)
	}
	for i, w := range []struct {
		label     string
		remaining any
		under     any
	}{{"default", 298.0, nil}, {"deploy", 18.0, true}, {"notify", 298.0, nil}, {"report", nil, nil}} {
		if got[i]["label"] != w.label || got[i]["remaining"] != w.remaining || got[i]["at_or_under_threshold"] != w.under {
			t.Errorf("element %d = %v, want %+v", i, got[i], w)
		}
	}
	if _, ok := got[3]["error"]; !ok || len(got[3]) != 2 {
		t.Errorf("failed token = %v, want only its label and error", got[3])
	}
	if !strings.Contains(r.stderr, "quotabot check: deploy: 18 remaining is at or under the threshold 20") {
		t.Errorf("stderr:\n%s", r.stderr)
	}
}

func TestCheckTokensPathThreshold(t *testing.T) {
	endpoint := awstest.StartMoto(t)
	cfg := awstest.Config(t, endpoint)
	awsEnv(t, endpoint)
	sim, vars := startSim(t)
	delete(vars, "CHATWORK_TOKEN") // the path's tokens only
	path := "/" + awstest.UniqueName(t, "quotabot-test/") + "/tokens"
	for i, label := range []string{"a", "b"} {
		tok := label + "-token-6f1d2a9b"
		sim.AddAccount(tok, int64(9100+i), label)
		awstest.PutSecureString(t, cfg, path+"/"+label, tok)
	}
	sim.Spend("b-token-6f1d2a9b", 290)

	r := runWith(t, vars, nil, "check", "--tokens-path", path, "--threshold", "5")
	if r.code != 0 || len(lines(r.stdout)) != 3 || !strings.Contains(r.stdout, "9/300") {
		t.Fatalf("above the threshold: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runWith(t, vars, nil, "check", "--tokens-path", path, "--threshold", "8")
	if r.code != 1 || !regexp.MustCompile(`b\s+8/300\s+2\.6%.*at or under the threshold`).MatchString(r.stdout) ||
		strings.TrimSpace(r.stderr) != "quotabot check: b: 8 remaining is at or under the threshold 8" {
		t.Fatalf("at the threshold: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// Nothing under the path and no token of the bot's own: an error.
	r = runWith(t, vars, nil, "check", "--tokens-path", path+"-empty/")
	if r.code != 1 || !strings.Contains(r.stderr, "no token: nothing under "+path+"-empty/") {
		t.Fatalf("empty path: exit %d\n%s", r.code, r.stderr)
	}
}

func lines(s string) []string { return strings.Split(strings.TrimSuffix(s, "\n"), "\n") }
