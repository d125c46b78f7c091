package monitor

import (
	"testing"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/sample"
)

// TestStrategy is the monitor's strategy, one rule a row, with the default
// configuration (Interval 1m, Slack 10s, FinalLead 1s, WakeLead 3s) unless a
// row says otherwise. R is the window's reset; times are relative to it.
func TestStrategy(t *testing.T) {
	R := t0.Add(5 * time.Minute)
	at := func(d time.Duration) time.Time { return R.Add(d) }
	// reading is what a tick (or, with final, the final reading) recorded.
	reading := func(before time.Duration, remaining int, final bool) *sample.Record {
		return &sample.Record{Time: R.Add(-before), Token: "bots", Source: sample.SourceMonitor,
			HasQuota: true, Remaining: remaining, Limit: 300, Reset: R.Unix(), Calls: 1, Final: final}
	}
	passive := reading(62*time.Second, 60, false)
	passive.Source = sample.SourcePassive
	failed := &sample.Record{Time: R.Add(-40 * time.Second), Token: "bots", Source: sample.SourceMonitor, Error: "server", Calls: 3}

	rows := []struct {
		rule string
		cfg  Config
		f    facts
		want action // why is not compared
	}{
		// Before the reading.
		{rule: "a tick reads the quota",
			f: facts{now: at(-200 * time.Second)}, want: action{do: doRead}},
		{rule: "a tick skips when this container arranged the final reading and it is due within Slack/2",
			f: facts{now: at(-3 * time.Second), planned: []int64{R.Unix()}}, want: action{do: doSkip}},
		{rule: "a tick reads when the final reading it arranged is further off than Slack/2",
			f: facts{now: at(-30 * time.Second), planned: []int64{R.Unix()}}, want: action{do: doRead}},
		{rule: "a fresh container skips when the log shows the previous tick arranged the final reading",
			f: facts{now: at(-3 * time.Second), latest: reading(62*time.Second, 62, false)}, want: action{do: doSkip, plan: R.Unix()}},
		{rule: "a fresh container skips when the log holds the final reading itself",
			f: facts{now: at(-500 * time.Millisecond), latest: reading(time.Second, 1, true)}, want: action{do: doSkip, plan: R.Unix()}},
		{rule: "a fresh container reads when the final reading the log promised is late",
			f: facts{now: at(-500 * time.Millisecond), latest: reading(62*time.Second, 62, false)}, want: action{do: doRead}},
		{rule: "a fresh container reads when the log's record is too old to have arranged the final reading",
			f: facts{now: at(-3 * time.Second), latest: reading(200*time.Second, 200, false)}, want: action{do: doRead}},
		{rule: "a fresh container reads when the log's record saw the reset within Slack/2 and arranged nothing",
			f: facts{now: at(-3 * time.Second), latest: reading(4*time.Second, 4, false)}, want: action{do: doRead}},
		{rule: "a fresh container reads when the reset is further off than Slack/2",
			f: facts{now: at(-30 * time.Second), latest: reading(62*time.Second, 62, false)}, want: action{do: doRead}},
		{rule: "a passive record in the log says nothing of the monitor",
			f: facts{now: at(-3 * time.Second), latest: passive}, want: action{do: doRead}},
		{rule: "an exhausted window in the log arranged no final reading",
			f: facts{now: at(-3 * time.Second), latest: reading(62*time.Second, 0, false)}, want: action{do: doRead}},

		// After the reading.
		{rule: "a failed reading ends the tick",
			f: facts{reading: failed}, want: action{do: doSkip}},
		{rule: "the next tick comes before the reset: nothing more",
			f: facts{reading: reading(200*time.Second, 100, false)}, want: action{do: doSkip}},
		{rule: "an exhausted quota needs no final reading: the low point is recorded",
			f: facts{reading: reading(40*time.Second, 0, false)}, want: action{do: doSkip}},
		{rule: "a reset within Slack/2: the tick before arranged the final reading, so only count it arranged",
			f: facts{reading: reading(4*time.Second, 4, false), canWake: true}, want: action{do: doSkip, plan: R.Unix()}},
		{rule: "a final reading this container arranged is not arranged again",
			f: facts{reading: reading(40*time.Second, 40, false), planned: []int64{R.Unix()}, canWake: true}, want: action{do: doSkip}},
		{rule: "a fresh container's reading does not arrange the final reading the log shows the tick before arranged",
			f:    facts{reading: reading(9*time.Second, 9, false), latest: reading(69*time.Second, 69, false), canWake: true},
			want: action{do: doSkip, plan: R.Unix()}},
		{rule: "a fresh container's reading arranges the final reading when the log's record is of another window",
			f:    facts{reading: reading(9*time.Second, 9, false), latest: &sample.Record{Time: R.Add(-369 * time.Second), Token: "bots", Source: sample.SourceMonitor, HasQuota: true, Remaining: 9, Limit: 300, Reset: R.Add(-5 * time.Minute).Unix(), Calls: 1}},
			want: action{do: doSleep, at: at(-time.Second), plan: R.Unix()}},
		{rule: "a fresh container's reading arranges the final reading when the log's record saw the reset too far off to arrange it",
			f:    facts{reading: reading(40*time.Second, 40, false), latest: reading(80*time.Second, 80, false), canWake: true},
			want: action{do: doWake, at: at(-4 * time.Second), final: at(-time.Second), plan: R.Unix()}},
		{rule: "the reset before the next tick, with a waker: wake WakeLead before the final reading, FinalLead before the reset",
			f:    facts{reading: reading(40*time.Second, 40, false), canWake: true},
			want: action{do: doWake, at: at(-4 * time.Second), final: at(-time.Second), plan: R.Unix()}},
		{rule: "the reset before the next tick, without a waker: sleep until the final reading",
			f: facts{reading: reading(40*time.Second, 40, false)}, want: action{do: doSleep, at: at(-time.Second), plan: R.Unix()}},
		{rule: "a final reading too close for a wake-up: sleep until it",
			cfg: Config{WakeLead: 5 * time.Second},
			f:   facts{reading: reading(6*time.Second, 6, false), canWake: true}, want: action{do: doSleep, at: at(-time.Second), plan: R.Unix()}},
		{rule: "a reading already as late as the final one would be is the final one",
			cfg: Config{Interval: 6 * time.Second}, // Slack 1s: the sandbox's short periods
			f:   facts{reading: reading(800*time.Millisecond, 1, false), canWake: true}, want: action{do: doSkip, plan: R.Unix()}},
	}
	for _, row := range rows {
		t.Run(row.rule, func(t *testing.T) {
			cfg := row.cfg
			cfg.defaults()
			got := decide(cfg, row.f)
			if got.why == "" && got.do == doSkip && row.f.reading == nil {
				t.Error("a skip before the reading must say why: it is logged")
			}
			got.why = ""
			if got.do != row.want.do || !got.at.Equal(row.want.at) || !got.final.Equal(row.want.final) || got.plan != row.want.plan {
				t.Fatalf("decide = %+v, want %+v", got, row.want)
			}
		})
	}
}
