package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/quotabot/chatwork-quota-bot/internal/alarm"
	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
	"github.com/quotabot/chatwork-quota-bot/internal/ssmparam"
)

// checkResult is check's reading, and its --json form.
type checkResult struct {
	Limit            int       `json:"limit"`
	Remaining        int       `json:"remaining"`
	Used             int       `json:"used"`
	RemainingPercent float64   `json:"remaining_percent"`
	Reset            time.Time `json:"reset"`
	ResetUnix        int64     `json:"reset_unix"`
	ResetInSeconds   int64     `json:"reset_in_seconds"`
	Exhausted        bool      `json:"exhausted"`            // ChatWork answered 429
	AccountID        int64     `json:"account_id,omitempty"` // the token's owner
	Threshold        *int      `json:"threshold,omitempty"`
	AtOrUnder        bool      `json:"at_or_under_threshold,omitempty"`
	CheckedAt        time.Time `json:"checked_at"`
}

func runCheck(ctx context.Context, args []string, e env) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	param := fs.String("token-parameter", "", "SSM parameter `name` holding the API token (SecureString; normal AWS credentials); default: the CHATWORK_TOKEN variable")
	apiURL := fs.String("api-url", cmp.Or(e.getenv("CHATWORK_API_URL"), chatwork.DefaultBaseURL), "ChatWork API base `URL` (CHATWORK_API_URL)")
	threshold := fs.Int("threshold", 0, "exit 1 when the remaining count is at or under `N` (default: no threshold)")
	asJSON := fs.Bool("json", false, "print the reading as JSON")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	fs.BoolVar(&e.verbose, "verbose", false, "with an AWS error, also print the SDK's own message")
	if code, done := parseFlags(fs, args, e, "[--token-parameter NAME] [--api-url URL] [--threshold N] [--json] [--timeout 30s] [--verbose]"); done {
		return code
	}
	if *timeout <= 0 {
		return usageError(e, "check", "--timeout %v: must be positive", *timeout)
	}
	if err := alarm.CheckThreshold(*threshold, false); err != nil {
		return usageError(e, "check", "--%v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	token, err := checkToken(ctx, *param, e.getenv)
	if err != nil {
		return fail(e, "check", err)
	}
	// Retries -1: exactly one call, as promised.
	client, err := chatwork.New(chatwork.Config{BaseURL: *apiURL, Token: chatwork.StaticToken(token), Retries: -1})
	if err != nil {
		return fail(e, "check", err)
	}
	now := time.Now()
	var res checkResult
	reading, err := client.ReadQuota(ctx)
	switch q := chatwork.QuotaOf(err); {
	case err == nil && reading.Quota == nil:
		return fail(e, "check", errors.New("ChatWork answered without rate-limit headers"))
	case err == nil:
		res = newCheckResult(*reading.Quota, now)
		res.AccountID = reading.AccountID
	case chatwork.KindOf(err) == chatwork.KindQuotaExhausted && q != nil:
		// A 429 is a reading: nothing left until the reset.
		q.Remaining = 0
		res = newCheckResult(*q, now)
		res.Exhausted = true
	case chatwork.KindOf(err) == chatwork.KindInvalidToken:
		return fail(e, "check", errors.New("ChatWork refused the token (HTTP 401): it is wrong or revoked"))
	default:
		return fail(e, "check", err)
	}
	code := exitOK
	if flagSet(fs, "threshold") {
		res.Threshold = threshold
		res.AtOrUnder = res.Remaining <= *threshold
		if res.AtOrUnder {
			fmt.Fprintf(e.stderr, "quotabot check: %d remaining is at or under the threshold %d\n", res.Remaining, *threshold)
			code = exitFail
		}
	}
	if *asJSON {
		b, _ := json.MarshalIndent(res, "", "  ")
		fmt.Fprintln(e.stdout, string(b))
		return code
	}
	printCheck(e, res)
	return code
}

// checkToken gets the token from SSM or the environment; it is never
// printed, and errors name where it was looked for, not what it is.
func checkToken(ctx context.Context, param string, getenv func(string) string) (string, error) {
	if param != "" {
		cfg, err := loadAWS(ctx)
		if err != nil {
			return "", err
		}
		return ssmparam.New(ssm.NewFromConfig(cfg), param).Token(ctx)
	}
	token := strings.TrimSpace(getenv("CHATWORK_TOKEN"))
	if token == "" {
		return "", errors.New("no token: set CHATWORK_TOKEN or pass --token-parameter NAME")
	}
	return token, nil
}

func newCheckResult(q chatwork.Quota, now time.Time) checkResult {
	r := checkResult{
		Limit:     q.Limit,
		Remaining: q.Remaining,
		Used:      q.Used(),
		Reset:     q.Reset.Local(),
		ResetUnix: q.Reset.Unix(),
		CheckedAt: now.Local(),
	}
	if q.Limit > 0 { // in tenths, rounded down as sample.Percent rounds
		r.RemainingPercent = float64(int64(q.Remaining)*1000/int64(q.Limit)) / 10
	}
	r.ResetInSeconds = max(int64(math.Ceil(q.Reset.Sub(now).Seconds())), 0)
	return r
}

func printCheck(e env, r checkResult) {
	w := e.stdout
	fmt.Fprintf(w, "limit      %d\n", r.Limit)
	fmt.Fprintf(w, "remaining  %d (%s)", r.Remaining, sample.Percent(r.Remaining, r.Limit))
	if r.Exhausted {
		fmt.Fprint(w, " — exhausted: ChatWork answers 429 until the reset")
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "used       %d\n", r.Used)
	fmt.Fprintf(w, "reset      %s (%s)\n", r.Reset.Format("2006-01-02 15:04:05 MST"), inHuman(time.Duration(r.ResetInSeconds)*time.Second))
	if r.AccountID != 0 {
		fmt.Fprintf(w, "account    %d (the token's owner)\n", r.AccountID)
	}
}

func inHuman(d time.Duration) string {
	if d <= 0 {
		return "now"
	}
	return "in " + d.String()
}
