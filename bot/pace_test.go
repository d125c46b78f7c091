package bot

import (
	"fmt"
	"testing"

	"github.com/quotabot/chatwork-quota-bot/internal/alarm"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
)

// testPaceAlarm is the pace alarm as template.yaml names it for a stack
// "quotabot".
const testPaceAlarm = "quotabot-quota-pace"

// paceOf turns a quota contributor fixture into the pace alarm's, for
// token, at timestamp ("" keeps the fixture's), its datapoint value.
func paceOf(t testing.TB, fixture, token, timestamp string, value float64) alarm.Event {
	t.Helper()
	ev := loadEvent(t, fixture)
	ev.ID += "-pace"
	ev.Resources = []string{"arn:aws:cloudwatch:ap-northeast-1:123456789012:alarm:" + testPaceAlarm}
	ev.Detail.AlarmName = testPaceAlarm
	ev.Detail.AlarmContributor = &alarm.Contributor{ID: "7ac3" + token, Attributes: map[string]string{sample.Dimension: token}}
	ev.Detail.Configuration.Description = "At the pace of use seen, a ChatWork API token's quota runs out before the reset (one contributor per token)"
	ev.Detail.Configuration.Metrics[0].Expression = `SELECT MIN(projected_remaining) FROM SCHEMA("ChatWorkQuota", Token) GROUP BY Token ORDER BY MIN() ASC`
	crossed := "less than or equal to"
	if ev.Detail.State.Value == alarm.StateOK {
		crossed = "not less than or equal to"
	}
	ev.Detail.State.Reason = fmt.Sprintf("Threshold Crossed: 1 datapoint was %s the threshold (0.0). The most recent datapoint: [%.1f (24/11/26 03:00:00)].", crossed, value)
	if timestamp != "" {
		ev.Detail.State.Timestamp = timestamp
	}
	return ev
}

// projected gives each record the projection from the one before it, as
// the monitor does (Project refuses two readings of different windows).
func projected(recs []sample.Record) []sample.Record {
	for i := 1; i < len(recs); i++ {
		recs[i].Project(recs[i-1])
	}
	return recs
}
