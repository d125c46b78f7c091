package chatworksim

import (
	"encoding/base64"
	"testing"
	"time"
)

// The public test vector from creators-note.chatwork.com (2017-11-29).
func TestSignVector(t *testing.T) {
	key, err := base64.StdEncoding.DecodeString("A9ne+ygvdV0IZBaPFV2zC1e5Bk+IsI14BPwieRoBQNU=")
	if err != nil {
		t.Fatal(err)
	}
	body := `{"webhook_setting_id":"246","webhook_event_type":"message_created","webhook_event_time":1511238729,"webhook_event":{"message_id":"984676321621704704","room_id":36818150,"account_id":1484814,"body":"test","send_time":1511238729,"update_time":0}}`
	if got := sign(key, []byte(body)); got != "G7Gtrh5Ee6d8erOVXhWPtUrkNJqqIT5vwLU50KhyLQk=" {
		t.Errorf("sign = %s", got)
	}
}

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
