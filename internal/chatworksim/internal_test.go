package chatworksim

import (
	"testing"
	"time"
)

func TestMentions(t *testing.T) {
	tests := []struct {
		body string
		want bool
	}{
		{"[To:12]", true},
		{"hi [To:12]Bob", true},
		{"[To:123]", false},
		{"[To:1][To:12]", true},
		{"[To:12", false},
		{"[to:12]", false},
		{"[rp aid=12 to=1-2]", true},
		{"[rp aid=12]", true},
		{"[rp aid=123 to=1-2]", false},
		{"[rp aid=]", false},
		{"[To:]", false},
		{"", false},
	}
	for _, tc := range tests {
		if got := mentions(tc.body, 12); got != tc.want {
			t.Errorf("mentions(%q, 12) = %v", tc.body, got)
		}
	}
}

func TestFloorAndCeil(t *testing.T) {
	s := int64(time.Second)
	for _, tc := range []struct{ n, floor, ceil int64 }{
		{0, 0, 0}, {1, 0, 1}, {s, s, 1}, {s + 1, s, 2}, {-1, -s, 0}, {-s, -s, -1},
	} {
		if f := floorTo(tc.n, s); f != tc.floor {
			t.Errorf("floorTo(%d) = %d", tc.n, f)
		}
		if c := ceilSeconds(tc.n); c != tc.ceil {
			t.Errorf("ceilSeconds(%d) = %d", tc.n, c)
		}
	}
}
