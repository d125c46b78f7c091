package e2e

import (
	"regexp"
	"strconv"
	"strings"
)

// Report is one REPORT line the emulator prints after an invocation:
//
//	REPORT RequestId: ID	Init Duration: 3.21 ms	Duration: 1.05 ms	Billed Duration: 2 ms	Memory Size: 128 MB	Max Memory Used: 128 MB
//
// Init Duration is present only on the first invocation of an emulator
// process (the cold start), but this emulator starts the init without
// waiting for it, so the figure is the time to start it (about 0.03 ms) and
// the init's real duration lands in the first invocation's Duration
// instead: use InitDurations for the cold start. The emulator does not
// measure memory either: it prints the configured Memory Size
// (AWS_LAMBDA_FUNCTION_MEMORY_SIZE, default 3008) as Max Memory Used, so
// MaxMemoryUsedMB says nothing about the function.
type Report struct {
	RequestID        string
	DurationMS       float64
	BilledDurationMS float64
	InitDurationMS   float64 // valid when HasInit
	HasInit          bool
	MemorySizeMB     int
	MaxMemoryUsedMB  int
}

var (
	initRE   = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)`)
	reportRE = regexp.MustCompile(`(?m)^REPORT RequestId: (\S+)\t?(.*)$`)
	fieldRE  = regexp.MustCompile(`([A-Za-z][A-Za-z ]*[A-Za-z]): ([0-9.]+) (ms|MB)`)
)

// ParseReports returns the REPORT lines in out, in order. Lines that are not
// REPORT lines, and fields it does not know, are ignored.
func ParseReports(out string) []Report {
	var reports []Report
	for _, m := range reportRE.FindAllStringSubmatch(out, -1) {
		r := Report{RequestID: m[1]}
		for _, f := range fieldRE.FindAllStringSubmatch(m[2], -1) {
			v, err := strconv.ParseFloat(f[2], 64)
			if err != nil {
				continue
			}
			switch strings.TrimSpace(f[1]) {
			case "Init Duration":
				r.InitDurationMS, r.HasInit = v, true
			case "Duration":
				r.DurationMS = v
			case "Billed Duration":
				r.BilledDurationMS = v
			case "Memory Size":
				r.MemorySizeMB = int(v)
			case "Max Memory Used":
				r.MaxMemoryUsedMB = int(v)
			}
		}
		reports = append(reports, r)
	}
	return reports
}

// InitDurations returns the durations, in milliseconds, of the inits in
// out: the emulator's "INIT REPORT(durationMs: X)" log lines, which time
// the runtime's init from starting the bootstrap until it asks for its first
// event, as Lambda's Init Duration does.
func InitDurations(out string) []float64 {
	var ds []float64
	for _, m := range initRE.FindAllStringSubmatch(out, -1) {
		if v, err := strconv.ParseFloat(m[1], 64); err == nil {
			ds = append(ds, v)
		}
	}
	return ds
}
