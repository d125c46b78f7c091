package e2e

import (
	"reflect"
	"testing"
)

func TestParseReports(t *testing.T) {
	out := "START RequestId: a Version: $LATEST\n" +
		"{\"level\":\"INFO\"}\n" +
		"END RequestId: a\n" +
		"REPORT RequestId: a\tInit Duration: 4.52 ms\tDuration: 12.25 ms\tBilled Duration: 13 ms\tMemory Size: 128 MB\tMax Memory Used: 128 MB\t\n" +
		"REPORT RequestId: b\tDuration: 0.75 ms\tBilled Duration: 1 ms\tMemory Size: 3008 MB\tMax Memory Used: 3008 MB\t\n" +
		"not a REPORT RequestId: c\tDuration: 9 ms\n" +
		"REPORT RequestId: d\tDuration: 2 ms\tSomething New: 5 ms\n"
	want := []Report{
		{RequestID: "a", InitDurationMS: 4.52, HasInit: true, DurationMS: 12.25, BilledDurationMS: 13, MemorySizeMB: 128, MaxMemoryUsedMB: 128},
		{RequestID: "b", DurationMS: 0.75, BilledDurationMS: 1, MemorySizeMB: 3008, MaxMemoryUsedMB: 3008},
		{RequestID: "d", DurationMS: 2},
	}
	if got := ParseReports(out); !reflect.DeepEqual(got, want) {
		t.Fatalf("ParseReports:\n got %+v\nwant %+v", got, want)
	}
	if got := ParseReports("no reports here\n"); got != nil {
		t.Fatalf("no REPORT lines: %+v", got)
	}
}

func TestInitDurations(t *testing.T) {
	out := "24 Nov 2026 20:56:15,550 [INFO] (rapid) INIT START(type: on-demand, phase: init)\n" +
		"24 Nov 2026 20:56:15,560 [INFO] (rapid) INIT RTDONE(status: success)\n" +
		"24 Nov 2026 20:56:15,560 [INFO] (rapid) INIT REPORT(durationMs: 10.340000)\n" +
		"REPORT RequestId: a\tInit Duration: 0.03 ms\tDuration: 15.11 ms\n" +
		"24 Nov 2026 20:56:16,560 [INFO] (rapid) INIT REPORT(durationMs: 291.496000)\n"
	if got, want := InitDurations(out), []float64{10.34, 291.496}; !reflect.DeepEqual(got, want) {
		t.Fatalf("InitDurations = %v, want %v", got, want)
	}
}
