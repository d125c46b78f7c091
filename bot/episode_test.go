package bot

import (
	"testing"

	"github.com/quotabot/chatwork-quota-bot/internal/alarm"
)

func TestEpisode(t *testing.T) {
	const A, O = alarm.StateAlarm, alarm.StateOK
	tests := []struct {
		name        string
		next        string
		prev, other Side
		post        Post
		keep        Side
	}{
		{"first alarm of an episode alerts", A, Side{State: O}, Side{State: O}, PostAlert, Side{State: A}},
		{"unknown other alerts", A, Side{}, Side{}, PostAlert, Side{State: A}},
		{"joining a heard episode is silent and inherits", A, Side{State: O}, Side{State: A, Posted: true}, PostNothing, Side{State: A, Posted: true}},
		{"joining an episode a mute held back is held back too", A, Side{State: O}, Side{State: A, Muted: true}, PostNothing, Side{State: A, Muted: true}},
		{"joining a heard episode that was muted before is heard", A, Side{State: O}, Side{State: A, Posted: true, Muted: true}, PostNothing, Side{State: A, Posted: true}},
		{"an episode whose alert failed is alerted again", A, Side{State: O}, Side{State: A}, PostAlert, Side{State: A}},
		{"leaving while the other holds is silent", O, Side{State: A, Posted: true}, Side{State: A, Posted: true}, PostNothing, Side{State: O}},
		{"last to leave a heard episode recovers", O, Side{State: A, Posted: true}, Side{State: O}, PostRecovery, Side{State: O}},
		{"leaving an unheard episode is silent", O, Side{State: A}, Side{State: O}, PostNothing, Side{State: O}},
		{"OK after OK is silent", O, Side{State: O}, Side{State: O}, PostNothing, Side{State: O}},
	}
	for _, tt := range tests {
		post, keep := Episode(tt.next, tt.prev, tt.other)
		if post != tt.post || keep != tt.keep {
			t.Errorf("%s: Episode(%s, %+v, %+v) = %v, %+v; want %v, %+v", tt.name, tt.next, tt.prev, tt.other, post, keep, tt.post, tt.keep)
		}
	}
}
