package sample

import (
	"strings"
	"testing"
)

func TestCheckLabel(t *testing.T) {
	for _, ok := range []string{"default", "deploy-bot", "a.b_c", strings.Repeat("x", 64), "helper", "all-bots"} {
		if err := CheckLabel(ok); err != nil {
			t.Errorf("CheckLabel(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"", strings.Repeat("x", 65), "a b", "a/b", "トークン", "help", "HELP", "Mute", "mutes", "unmute", "all", "chart", "Chart"} {
		if err := CheckLabel(bad); err == nil {
			t.Errorf("CheckLabel(%q) = nil, want an error", bad)
		}
	}
}
