package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/quotabot/chatwork-quota-bot/internal/alarm"
	"github.com/quotabot/chatwork-quota-bot/internal/app"
	"github.com/quotabot/chatwork-quota-bot/internal/chart"
	"github.com/quotabot/chatwork-quota-bot/internal/cwlogs"
	"github.com/quotabot/chatwork-quota-bot/internal/fanout"
	"github.com/quotabot/chatwork-quota-bot/internal/localstore"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
)

// window is one rate-limit window's low point, and history's --json form.
type window struct {
	Reset     time.Time `json:"reset"`
	Low       int       `json:"low_remaining"`
	Limit     int       `json:"limit"`
	LowAt     time.Time `json:"low_at"`
	Samples   int       `json:"samples"`
	Failures  int       `json:"failures"` // failure records that carried this window's figures (429s)
	Exhausted bool      `json:"exhausted"`
}

// failure is one failure record.
type failure struct {
	At     time.Time `json:"at"`
	Kind   string    `json:"kind"`
	Detail string    `json:"detail,omitempty"`
	Source string    `json:"source"`
}

type historyReport struct {
	Source    string         `json:"source"` // "file PATH" or "log group NAME"
	Token     string         `json:"token"`
	Since     time.Time      `json:"since"`
	Windows   []window       `json:"windows"`
	Records   int            `json:"records"`
	Failures  []failure      `json:"failures"`
	ByKind    map[string]int `json:"failures_by_kind"`
	Skipped   int            `json:"skipped"`   // lines of the file, or events of the token's stream, that were not records
	Truncated bool           `json:"truncated"` // the log group had more than one read returns
}

func runHistory(ctx context.Context, args []string, e env) int {
	fs := flag.NewFlagSet("history", flag.ContinueOnError)
	group := fs.String("log-group", e.getenv("QUOTA_LOG_GROUP"), "CloudWatch Logs group `name` holding the samples (QUOTA_LOG_GROUP)")
	file := fs.String("file", "", "JSON-lines samples `file` written by quotabot sandbox, instead of a log group")
	var label string
	fs.StringVar(&label, "token", "", "show only the token labelled `LABEL` (default: every token with samples)")
	fs.StringVar(&label, "token-label", "", "the same as --token")
	since, sinceText := 24*time.Hour, "24h"
	fs.Func("since", "how far back to look: a `duration` such as 90m or 24h, or days such as 7d (default 24h)", func(v string) (err error) {
		since, err = parseSince(v)
		sinceText = v
		return err
	})
	asJSON := fs.Bool("json", false, "print the windows as JSON: an array, one element per token")
	pngPath := fs.String("png", "", "also write the chart of the tokens' low points per 5 minutes to `FILE` (PNG, as the bot posts it)")
	envThreshold, envPercent, envErr := app.Threshold(e.getenv)
	threshold := fs.Int("threshold", envThreshold, "the chart's alert threshold line at `N` (default QUOTA_ALARM_THRESHOLD; 0: none)")
	kind := fs.String("threshold-kind", map[bool]string{false: "count", true: "percent"}[envPercent], "the chart's figures: count or percent of the limit (QUOTA_ALARM_THRESHOLD_KIND)")
	fs.BoolVar(&e.verbose, "verbose", false, "with an AWS error, also print the SDK's own message")
	if code, done := parseFlags(fs, args, e, "(--log-group NAME | --file PATH) [--since 24h] [--token LABEL] [--json] [--png FILE [--threshold N] [--threshold-kind count|percent]] [--verbose]"); done {
		return code
	}
	if envErr != nil && (!flagSet(fs, "threshold") || !flagSet(fs, "threshold-kind")) {
		return usageError(e, "history", "%v", envErr)
	}
	if err := alarm.CheckThreshold(*threshold, *kind == "percent"); err != nil || (*kind != "count" && *kind != "percent") {
		return usageError(e, "history", "--threshold %d --threshold-kind %q: want a threshold of 0 or more, of count or percent", *threshold, *kind)
	}
	loc := time.Local
	if tz := e.getenv("QUOTA_TIME_ZONE"); tz != "" {
		var err error
		if loc, err = time.LoadLocation(tz); err != nil {
			return usageError(e, "history", "QUOTA_TIME_ZONE %q: %v", tz, err)
		}
	}
	if label != "" {
		if err := sample.CheckLabel(label); err != nil {
			return usageError(e, "history", "%v", err)
		}
	}
	switch {
	case since <= 0:
		return usageError(e, "history", "--since %v: must be positive", since)
	case flagSet(fs, "log-group") && *file != "":
		return usageError(e, "history", "give --log-group or --file, not both")
	case *file == "" && *group == "":
		return usageError(e, "history", "no samples to read: give --log-group NAME (or set QUOTA_LOG_GROUP) or --file PATH")
	}
	now := time.Now()
	from := now.Add(-since)
	reps := []historyReport{}
	read := memHistory{} // the records read, by token, for the chart
	var skipped int      // lines or events that were not records, in all
	if *file != "" {
		byToken, n, err := readFile(ctx, *file, from)
		if err != nil {
			return fail(e, "history", err)
		}
		labels := slices.Sorted(maps.Keys(byToken))
		if label != "" {
			labels = []string{label}
		}
		for _, l := range labels {
			rep := historyReport{Source: "file " + *file, Token: l, Since: from, Skipped: n}
			summarize(&rep, byToken[l])
			read[l] = byToken[l]
			reps = append(reps, rep)
		}
		skipped = n
	} else {
		cfg, err := loadAWS(ctx)
		if err != nil {
			return fail(e, "history", err)
		}
		h := cwlogs.NewHistory(cloudwatchlogs.NewFromConfig(cfg), *group)
		labels := []string{label}
		if label == "" {
			if labels, err = h.Tokens(ctx); err != nil {
				return fail(e, "history", err)
			}
		}
		reps = make([]historyReport, len(labels))
		errs := make([]error, len(labels))
		recs := make([][]sample.Record, len(labels))
		fanout.Each(len(labels), 8, func(i int) {
			res, err := h.Read(ctx, labels[i], from, time.Time{})
			recs[i] = res.Records
			reps[i] = historyReport{Source: "log group " + *group, Token: labels[i], Since: from, Skipped: res.Skipped, Truncated: res.Truncated}
			summarize(&reps[i], res.Records)
			errs[i] = err
		})
		for i := range reps {
			if errs[i] != nil {
				return fail(e, "history", errs[i])
			}
			skipped += reps[i].Skipped
		}
		for i, l := range labels {
			read[l] = recs[i]
		}
	}
	if *pngPath != "" {
		say := e.stdout
		if *asJSON {
			say = e.stderr
		}
		if err := writeChart(ctx, say, *pngPath, read, chart.Query{From: from, To: now}, chart.Spec{
			Title: chart.Title(label, *kind == "percent", sinceText), Loc: loc,
			Threshold: float64(*threshold), Percent: *kind == "percent",
		}); err != nil {
			return fail(e, "history", err)
		}
	}
	if *asJSON {
		b, _ := json.MarshalIndent(reps, "", "  ")
		fmt.Fprintln(e.stdout, string(b))
		return exitOK
	}
	if len(reps) == 0 {
		fmt.Fprintf(e.stdout, "no token has samples in log group %s\n", *group)
	}
	if skipped > 0 {
		fmt.Fprintf(e.stdout, "(%d lines were not sample records and were skipped)\n", skipped)
	}
	for i, rep := range reps {
		if i > 0 {
			fmt.Fprintln(e.stdout)
		}
		printHistory(e.stdout, rep, since)
	}
	return exitOK
}

// parseSince reads --since: a Go duration, or a whole number of days.
func parseSince(v string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(v, "d"); ok {
		if days, err := strconv.Atoi(n); err == nil {
			return time.Duration(days) * 24 * time.Hour, nil
		}
	} else if d, err := time.ParseDuration(v); err == nil {
		return d, nil
	}
	return 0, errors.New("want a duration such as 90m or 24h, or days such as 7d")
}

// readFile reads the records at or after since from a samples file, by
// token: every token found in the file has an entry, even one with no
// record in the period. Lines that are not records are counted, not fatal,
// but a file with no record at all is not a samples file.
func readFile(ctx context.Context, path string, since time.Time) (map[string][]sample.Record, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("read samples: %w", err)
	}
	defer f.Close()
	byToken := map[string][]sample.Record{}
	lines, skipped, err := localstore.Scan(ctx, f, func(r sample.Record) {
		recs := byToken[r.Token] // a key for every token found, whatever its records' time
		if !r.Time.Before(since) {
			recs = append(recs, r)
		}
		byToken[r.Token] = recs
	})
	if err != nil {
		return nil, 0, fmt.Errorf("read samples from %s: %w", path, err)
	}
	if skipped == lines {
		return nil, 0, fmt.Errorf("no line of %s is a sample record: --file reads the samples.jsonl that quotabot sandbox writes", path)
	}
	for _, recs := range byToken {
		slices.SortStableFunc(recs, func(a, b sample.Record) int { return a.Time.Compare(b.Time) })
	}
	return byToken, skipped, nil
}

// summarize groups the records into windows by their reset, keeping each
// window's lowest remaining (the earliest reading of it), and collects the
// failure records.
func summarize(rep *historyReport, recs []sample.Record) {
	rep.Records = len(recs)
	rep.ByKind = map[string]int{}
	rep.Failures = []failure{}
	rep.Windows = []window{}
	byReset := map[int64]*window{}
	for _, r := range recs {
		if r.Error != "" {
			rep.Failures = append(rep.Failures, failure{At: r.Time, Kind: r.Error, Detail: r.Detail, Source: string(r.Source)})
			rep.ByKind[r.Error]++
		}
		if !r.HasQuota {
			continue
		}
		w := byReset[r.Reset]
		if w == nil {
			w = &window{Reset: time.Unix(r.Reset, 0), Low: r.Remaining, Limit: r.Limit, LowAt: r.Time}
			byReset[r.Reset] = w
		}
		w.Samples++
		if r.Error != "" {
			w.Failures++
		}
		if r.Remaining < w.Low {
			w.Low, w.Limit, w.LowAt = r.Remaining, r.Limit, r.Time
		}
		if r.Remaining == 0 {
			w.Exhausted = true
		}
	}
	for _, w := range byReset {
		rep.Windows = append(rep.Windows, *w)
	}
	sort.Slice(rep.Windows, func(i, j int) bool { return rep.Windows[i].Reset.Before(rep.Windows[j].Reset) })
}

var bars = []rune("▁▂▃▄▅▆▇█")

// sparkline draws each window's low point as a share of its limit.
func sparkline(ws []window) string {
	var b strings.Builder
	for _, w := range ws {
		frac := 0.0
		if w.Limit > 0 {
			frac = float64(w.Low) / float64(w.Limit)
		}
		i := int(math.Round(frac * float64(len(bars)-1)))
		b.WriteRune(bars[min(max(i, 0), len(bars)-1)])
	}
	return b.String()
}

func printHistory(w io.Writer, rep historyReport, since time.Duration) {
	layout := "15:04:05"
	if since > 20*time.Hour {
		layout = "01-02 15:04:05"
	}
	fmt.Fprintf(w, "Quota of token %q from %s, since %s: %d records, %d windows\n",
		rep.Token, rep.Source, rep.Since.Local().Format("2006-01-02 15:04:05 MST"), rep.Records, len(rep.Windows))
	if rep.Truncated {
		fmt.Fprintln(w, "(the log group holds more than one read returns: the oldest samples are left out)")
	}
	if len(rep.Windows) > 0 {
		col := max(len(layout), len("window reset"))
		fmt.Fprintf(w, "\n%-*s  %-15s  %-*s  %s\n", col, "window reset", "low point", len(layout), "at", "samples")
		for _, win := range rep.Windows {
			pct := 0.0
			if win.Limit > 0 {
				pct = float64(win.Low) * 100 / float64(win.Limit)
			}
			note := ""
			if win.Exhausted {
				note = "  exhausted (429)"
			}
			digits := len(fmt.Sprint(win.Limit))
			low := fmt.Sprintf("%*d/%d %3.0f%%", digits, win.Low, win.Limit, pct)
			fmt.Fprintf(w, "%-*s  %-15s  %s  %7d%s\n",
				col, win.Reset.Local().Format(layout), low, win.LowAt.Local().Format(layout), win.Samples, note)
		}
		fmt.Fprintf(w, "\nlow points  %s  (oldest first; ▁ empty … █ full)\n", sparkline(rep.Windows))
	} else {
		fmt.Fprintln(w, "\nno samples in this period")
	}
	if len(rep.Failures) == 0 {
		fmt.Fprintln(w, "failures    none")
		return
	}
	kinds := slices.Sorted(maps.Keys(rep.ByKind))
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%s %d", k, rep.ByKind[k])
	}
	fmt.Fprintf(w, "failures    %d (%s)\n", len(rep.Failures), strings.Join(parts, ", "))
	const show = 10
	list := rep.Failures
	if len(list) > show {
		fmt.Fprintf(w, "  the last %d:\n", show)
		list = list[len(list)-show:]
	}
	for _, f := range list {
		fmt.Fprintf(w, "  %s  %-8s %-16s %s\n", f.At.Local().Format(layout), f.Source, f.Kind, f.Detail)
	}
}

// memHistory is records already read, by token, as a sample.History: the
// chart draws from what the report summed up, without reading it again.
type memHistory map[string][]sample.Record

func (m memHistory) Samples(_ context.Context, token string, since, until time.Time) ([]sample.Record, error) {
	var out []sample.Record
	for _, r := range m[token] {
		if sample.InRange(r.Time, since, until) {
			out = append(out, r)
		}
	}
	return out, nil
}

// writeChart draws every token of read (chart.Draw) into the PNG file path
// and says so on say (stderr when stdout carries JSON), naming the tokens
// left out.
func writeChart(ctx context.Context, say io.Writer, path string, read memHistory, q chart.Query, s chart.Spec) error {
	q.Labels = slices.Sorted(maps.Keys(read))
	img, rest, err := chart.Draw(ctx, chart.FromRecords(read), q, s)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, img, 0o644); err != nil {
		return fmt.Errorf("write the chart: %w", err)
	}
	fmt.Fprintf(say, "chart of %d tokens written to %s\n", len(q.Labels)-len(rest), path)
	if len(rest) > 0 {
		fmt.Fprintf(say, "(the %d lowest are drawn; left out: %s)\n", chart.MaxLines, strings.Join(rest, ", "))
	}
	return nil
}
