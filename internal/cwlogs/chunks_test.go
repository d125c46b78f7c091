package cwlogs

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
)

func TestChunks(t *testing.T) {
	base := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	small := func(n int, step time.Duration) []entry {
		es := make([]entry, n)
		for i := range es {
			es[i] = entry{emf: []byte("{}"), stamp: base + int64(i)*step.Milliseconds()}
		}
		return es
	}
	big := make([]entry, 5)
	for i := range big {
		big[i] = entry{emf: bytes.Repeat([]byte("x"), 300_000), stamp: base}
	}
	tests := []struct {
		name    string
		entries []entry
		want    []int // chunk sizes
	}{
		{"one", small(1, 0), []int{1}},
		{"at the event limit", small(10_000, 0), []int{10_000}},
		{"over the event limit", small(10_001, 0), []int{10_000, 1}},
		{"byte limit", big, []int{3, 2}}, // 3 × 300,026 fits in 1 MiB, 4 do not
		{"24 hour span", small(4, 12*time.Hour), []int{2, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []int
			for _, c := range chunks(tt.entries) {
				got = append(got, len(c))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("chunk sizes = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRejectedIndexes(t *testing.T) {
	tests := []struct {
		name string
		info *types.RejectedLogEventsInfo
		want []bool
	}{
		{"none", nil, nil},
		{"empty", &types.RejectedLogEventsInfo{}, nil},
		{"too old, exclusive end", &types.RejectedLogEventsInfo{TooOldLogEventEndIndex: aws.Int32(2)}, []bool{true, true, false, false}},
		{"too old at 0 means the first", &types.RejectedLogEventsInfo{TooOldLogEventEndIndex: aws.Int32(0)}, []bool{true, false, false, false}},
		{"expired", &types.RejectedLogEventsInfo{ExpiredLogEventEndIndex: aws.Int32(1)}, []bool{true, false, false, false}},
		{"too new from index", &types.RejectedLogEventsInfo{TooNewLogEventStartIndex: aws.Int32(3)}, []bool{false, false, false, true}},
		{"both ends", &types.RejectedLogEventsInfo{TooOldLogEventEndIndex: aws.Int32(1), TooNewLogEventStartIndex: aws.Int32(2)}, []bool{true, false, true, true}},
		{"index past the batch", &types.RejectedLogEventsInfo{TooOldLogEventEndIndex: aws.Int32(9)}, []bool{true, true, true, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := rejected(tt.info, 4)
			if (err != nil) != (tt.want != nil) {
				t.Fatalf("err = %v", err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("failed = %v, want %v", got, tt.want)
			}
		})
	}
}
