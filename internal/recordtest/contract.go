package recordtest

import (
	"reflect"
	"testing"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/sample"
)

// TestHistory holds a store to the contract written on sample.History. open
// returns a new, empty store as its Recorder and its History. The records lie
// in the hour before now, which CloudWatch Logs accepts.
func TestHistory(t *testing.T, open func(t *testing.T) (sample.Recorder, sample.History)) {
	t.Helper()
	rec, hist := open(t)
	// Sub-millisecond digits: a store that keeps milliseconds must still
	// split ranges at the record's exact time.
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Second).Add(123456789)
	const token, other = "contract", "contract.other"
	mk := func(token string, at time.Duration, remaining int) sample.Record {
		return sample.Record{Time: base.Add(at), Token: token, Source: sample.SourceMonitor, HasQuota: true,
			Remaining: remaining, Limit: 300, Reset: base.Add(5 * time.Minute).Unix(), Calls: 1}
	}
	r := []sample.Record{
		mk(token, 0, 300),
		{Time: base.Add(time.Minute), Token: token, Source: sample.SourcePassive, Error: "server", Detail: "read quota: server (HTTP 503)", Calls: 1},
		mk(token, 2*time.Minute, 250),
		mk(token, 2*time.Minute+300*time.Microsecond, 249), // the same millisecond as r[2]
		mk(token, 3*time.Minute, 200),
	}
	o := []sample.Record{mk(other, 0, 100), mk(other, 90*time.Second, 90)}
	// Out of time order, the other token's records among them.
	for _, x := range []sample.Record{r[4], o[1], r[0], r[3], r[2], o[0], r[1]} {
		if err := rec.Record(t.Context(), x); err != nil {
			t.Fatalf("Record: %v", err)
		}
	}
	var open0 time.Time
	cases := []struct {
		name         string
		token        string
		since, until time.Time
		want         []sample.Record
	}{
		{"zero bounds are open, oldest first", token, open0, open0, r},
		{"since is inclusive", token, r[1].Time, open0, r[1:]},
		{"until is exclusive", token, open0, r[4].Time, r[:4]},
		{"both bounds", token, r[1].Time, r[4].Time, r[1:4]},
		{"until splits a millisecond", token, open0, r[3].Time, r[:3]},
		{"since splits a millisecond", token, r[3].Time, open0, r[3:]},
		{"a nanosecond either side", token, r[2].Time.Add(-1), r[2].Time.Add(1), r[2:3]},
		{"a nanosecond past a record", token, r[0].Time.Add(1), r[1].Time, nil},
		{"since equals until", token, r[2].Time, r[2].Time, nil},
		{"after the last record", token, r[4].Time.Add(time.Nanosecond), open0, nil},
		{"other token", other, open0, open0, o},
		{"unknown token", "contract.nobody", open0, open0, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := hist.Samples(t.Context(), tc.token, tc.since, tc.until)
			if err != nil {
				t.Fatalf("Samples: %v", err)
			}
			if len(got) != len(tc.want) || len(got) > 0 && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Samples(%q, %v, %v) =\n%+v\nwant\n%+v", tc.token, tc.since, tc.until, got, tc.want)
			}
		})
	}
}
