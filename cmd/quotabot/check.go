package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/quotabot/chatwork-quota-bot/internal/alarm"
	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/fanout"
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

// checkRow is one token's row of check --tokens-path, and its --json form:
// the reading, or the error.
type checkRow struct {
	Label string `json:"label"`
	*checkResult
	Error string `json:"error,omitempty"`
	token string
}

func runCheck(ctx context.Context, args []string, e env) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	param := fs.String("token-parameter", "", "SSM parameter `name` holding the API token (SecureString; normal AWS credentials); default: the CHATWORK_TOKEN variable")
	path := fs.String("tokens-path", e.getenv("QUOTA_TOKENS_PATH"), "SSM `path`: read every SecureString token directly under it too, one row each (QUOTA_TOKENS_PATH)")
	label := fs.String("token-label", cmp.Or(e.getenv("QUOTA_TOKEN_LABEL"), sample.DefaultLabel), "with --tokens-path, the `label` of the CHATWORK_TOKEN or --token-parameter token's row (QUOTA_TOKEN_LABEL)")
	apiURL := fs.String("api-url", cmp.Or(e.getenv("CHATWORK_API_URL"), chatwork.DefaultBaseURL), "ChatWork API base `URL` (CHATWORK_API_URL)")
	threshold := fs.Int("threshold", 0, "exit 1 when the remaining count of a token is at or under `N` (default: no threshold)")
	asJSON := fs.Bool("json", false, "print the reading as JSON (with --tokens-path: an array, one element per token)")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	fs.BoolVar(&e.verbose, "verbose", false, "with an AWS error, also print the SDK's own message")
	if code, done := parseFlags(fs, args, e, "[--token-parameter NAME] [--tokens-path PATH [--token-label LABEL]] [--api-url URL] [--threshold N] [--json] [--timeout 30s] [--verbose]"); done {
		return code
	}
	if *timeout <= 0 {
		return usageError(e, "check", "--timeout %v: must be positive", *timeout)
	}
	if err := alarm.CheckThreshold(*threshold, false); err != nil {
		return usageError(e, "check", "--%v", err)
	}
	if err := sample.CheckLabel(*label); err != nil {
		return usageError(e, "check", "--token-label: %v", err)
	}
	if !flagSet(fs, "threshold") {
		threshold = nil
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if *path != "" {
		return checkAll(ctx, e, *path, *label, *param, *apiURL, threshold, *asJSON)
	}

	token, err := checkToken(ctx, *param, e.getenv)
	if err != nil {
		return fail(e, "check", err)
	}
	res, err := readQuota(ctx, *apiURL, token, threshold)
	if err != nil {
		return fail(e, "check", err)
	}
	code := exitOK
	if res.AtOrUnder {
		fmt.Fprintf(e.stderr, "quotabot check: %d remaining is at or under the threshold %d\n", res.Remaining, *threshold)
		code = exitFail
	}
	if *asJSON {
		b, _ := json.MarshalIndent(res, "", "  ")
		fmt.Fprintln(e.stdout, string(b))
		return code
	}
	printCheck(e, *res)
	return code
}

// checkAll reads the token given as for one check, if any, and every token
// under path, each once and concurrently, and prints one row each. A token
// that fails does not stop the others; the exit is 1 if any failed or is at
// or under the threshold.
func checkAll(ctx context.Context, e env, path, label, param, apiURL string, threshold *int, asJSON bool) int {
	cfg, err := loadAWS(ctx)
	if err != nil {
		return fail(e, "check", err)
	}
	var rows []checkRow
	var own string
	if param != "" || e.getenv("CHATWORK_TOKEN") != "" {
		if own, err = checkToken(ctx, param, e.getenv); err != nil {
			return fail(e, "check", err)
		}
		rows = append(rows, checkRow{Label: label, token: own})
	}
	warn := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{} // read at once: no time needed
		}
		return a
	}}))
	entries, err := ssmparam.NewRegistry(ssm.NewFromConfig(cfg), path, warn).List(ctx)
	if err != nil {
		return fail(e, "check", err)
	}
	for _, en := range entries {
		if en.Value == own {
			warn.Warn("skip token parameter", "parameter", en.Parameter, "reason", "the same token as the "+label+" row")
			continue
		}
		rows = append(rows, checkRow{Label: en.Label, token: en.Value})
	}
	if len(rows) == 0 {
		return fail(e, "check", fmt.Errorf("no token: nothing under %s, and neither CHATWORK_TOKEN nor --token-parameter", path))
	}
	fanout.Each(len(rows), 16, func(i int) {
		res, err := readQuota(ctx, apiURL, rows[i].token, threshold)
		rows[i].checkResult = res
		if err != nil {
			rows[i].Error = strings.Join(strings.Fields(err.Error()), " ")
		}
	})

	code := exitOK
	for _, r := range rows {
		switch {
		case r.Error != "":
			fmt.Fprintf(e.stderr, "quotabot check: %s: %s\n", r.Label, r.Error)
			code = exitFail
		case r.AtOrUnder:
			fmt.Fprintf(e.stderr, "quotabot check: %s: %d remaining is at or under the threshold %d\n", r.Label, r.Remaining, *threshold)
			code = exitFail
		}
	}
	if asJSON {
		b, _ := json.MarshalIndent(rows, "", "  ")
		fmt.Fprintln(e.stdout, string(b))
		return code
	}
	var table bytes.Buffer
	tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "token\tremaining\tpercent\treset\t")
	for _, r := range rows {
		if r.checkResult == nil {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t%s\n", r.Label, r.Error)
			continue
		}
		var notes []string
		if r.Exhausted {
			notes = append(notes, "exhausted (429)")
		}
		if r.AtOrUnder {
			notes = append(notes, "at or under the threshold")
		}
		fmt.Fprintf(tw, "%s\t%d/%d\t%s\t%s (%s)\t%s\n", r.Label, r.Remaining, r.Limit, sample.Percent(r.Remaining, r.Limit),
			r.Reset.Format("15:04:05"), inHuman(time.Duration(r.ResetInSeconds)*time.Second), strings.Join(notes, ", "))
	}
	tw.Flush()
	for line := range strings.Lines(table.String()) {
		fmt.Fprintln(e.stdout, strings.TrimRight(line, " \n"))
	}
	return code
}

// readQuota reads a token's quota with one call (no retry) and marks the
// result against the threshold, when there is one.
func readQuota(ctx context.Context, apiURL, token string, threshold *int) (*checkResult, error) {
	client, err := chatwork.New(chatwork.Config{BaseURL: apiURL, Token: chatwork.StaticToken(token), Retries: -1})
	if err != nil {
		return nil, err
	}
	now := time.Now()
	var res checkResult
	reading, err := client.ReadQuota(ctx)
	switch q := chatwork.QuotaOf(err); {
	case err == nil && reading.Quota == nil:
		return nil, errors.New("ChatWork answered without rate-limit headers")
	case err == nil:
		res = newCheckResult(*reading.Quota, now)
		res.AccountID = reading.AccountID
	case chatwork.KindOf(err) == chatwork.KindQuotaExhausted && q != nil:
		// A 429 is a reading: nothing left until the reset.
		q.Remaining = 0
		res = newCheckResult(*q, now)
		res.Exhausted = true
	case chatwork.KindOf(err) == chatwork.KindInvalidToken:
		return nil, errors.New("ChatWork refused the token (HTTP 401): it is wrong or revoked")
	default:
		return nil, err
	}
	if threshold != nil {
		res.Threshold, res.AtOrUnder = threshold, res.Remaining <= *threshold
	}
	return &res, nil
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
	r.RemainingPercent = sample.PercentValue(q.Remaining, q.Limit)
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
