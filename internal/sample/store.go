package sample

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// DefaultLabel is the label of the bot's own token when QUOTA_TOKEN_LABEL is
// not set.
const DefaultLabel = "default"

var labelRE = regexp.MustCompile(`^[A-Za-z0-9_.\-]{1,64}$`)

// ReservedLabels are the words /quota takes after it (in any case), and
// the chart periods /quota chart takes (internal/chart's Periods; a test
// there checks): a token so labelled could never be asked for by name.
var ReservedLabels = []string{"all", "chart", "help", "mute", "mutes", "unmute", "3h", "24h", "7d"}

// CheckLabel reports whether s can label a token: it names a log stream and
// a metric dimension value, so 1 to 64 letters, digits, '.', '_' or '-', and
// it is not one of the ReservedLabels.
func CheckLabel(s string) error {
	if !labelRE.MatchString(s) {
		return fmt.Errorf("token label %q: use 1-64 letters, digits, '.', '_' or '-'", s)
	}
	for _, w := range ReservedLabels {
		if strings.EqualFold(s, w) {
			return fmt.Errorf("token label %q: a word /quota reads as a command (%s)", s, strings.Join(ReservedLabels, ", "))
		}
	}
	return nil
}

// Recorder writes records. cwlogs.Recorder, localstore.Store and
// recordtest.Memory implement it.
type Recorder interface {
	// Record writes r, which must pass Validate.
	Record(ctx context.Context, r Record) error
}

// History reads records back. cwlogs.History, localstore.Store and
// recordtest.Memory implement it, and recordtest.TestHistory holds each of
// them to this contract:
//
//   - it returns token's records with since <= Time < until, oldest first;
//   - a zero since or a zero until leaves that end of the range open;
//   - a token with no records yet gives no records and no error;
//   - records of other tokens are never returned.
type History interface {
	Samples(ctx context.Context, token string, since, until time.Time) ([]Record, error)
}

// InRange reports whether t lies in History's range [since, until), a zero
// bound being open.
func InRange(t, since, until time.Time) bool {
	return (since.IsZero() || !t.Before(since)) && (until.IsZero() || t.Before(until))
}
