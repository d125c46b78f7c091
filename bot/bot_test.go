package bot

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/recordtest"
)

func TestNewValidates(t *testing.T) {
	v, err := chatwork.NewVerifier(vectorToken)
	if err != nil {
		t.Fatal(err)
	}
	deps := Deps{ChatWork: newFakeChatWork(), Recorder: &recordtest.Memory{}, History: &recordtest.Memory{}, Verifier: v}
	cases := []struct {
		name    string
		cfg     Config
		deps    func(Deps) Deps
		wantErr string
	}{
		{"defaults", Config{RoomID: 1}, nil, ""},
		{"no room", Config{}, nil, "room id"},
		{"negative room", Config{RoomID: -5}, nil, "room id"},
		{"bad allowed room", Config{RoomID: 1, AllowedRoomIDs: []int64{0}}, nil, "allowed room"},
		{"language", Config{RoomID: 1, Language: "fr"}, nil, `"fr"`},
		{"english", Config{RoomID: 1, Language: "en"}, nil, ""},
		{"negative threshold", Config{RoomID: 1, Threshold: -1}, nil, "threshold"},
		{"percent over 100", Config{RoomID: 1, Threshold: 101, ThresholdPercent: true}, nil, "percentage"},
		{"bad label", Config{RoomID: 1, TokenLabel: "team a"}, nil, "token label"},
		{"label", Config{RoomID: 1, TokenLabel: "team-a"}, nil, ""},
		{"negative interval", Config{RoomID: 1, MonitorInterval: -time.Second}, nil, "monitor interval"},
		{"negative max body", Config{RoomID: 1, MaxBody: -1}, nil, "max body"},
		{"no verifier", Config{RoomID: 1}, func(d Deps) Deps { d.Verifier = nil; return d }, "verifier"},
		{"no chatwork", Config{RoomID: 1}, func(d Deps) Deps { d.ChatWork = nil; return d }, "ChatWork"},
		{"no recorder", Config{RoomID: 1}, func(d Deps) Deps { d.Recorder = nil; return d }, "recorder"},
		{"no history", Config{RoomID: 1}, func(d Deps) Deps { d.History = nil; return d }, "history"},
	}
	for _, c := range cases {
		d := deps
		if c.deps != nil {
			d = c.deps(d)
		}
		b, err := New(c.cfg, d)
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("%s: error %v, want one mentioning %q", c.name, err, c.wantErr)
		case c.wantErr == "" && b.Handler() == nil:
			t.Errorf("%s: nil handler", c.name)
		}
	}
}

func TestDefaults(t *testing.T) {
	v, _ := chatwork.NewVerifier(vectorToken)
	b, err := New(Config{RoomID: 1}, Deps{ChatWork: newFakeChatWork(), Recorder: &recordtest.Memory{}, History: &recordtest.Memory{}, Verifier: v})
	if err != nil {
		t.Fatal(err)
	}
	c := b.cfg
	if c.Language != "ja" || c.TokenLabel != "default" || c.MaxBody != 64<<10 || c.MonitorInterval != time.Minute {
		t.Errorf("defaults = %+v", c)
	}
	if _, off := time.Date(2025, 1, 1, 0, 0, 0, 0, c.Location).Zone(); off != 9*60*60 {
		t.Errorf("default location %v is not +09:00", c.Location)
	}
}

func TestParseAllowedRooms(t *testing.T) {
	cases := []struct {
		in      string
		want    []int64
		wantErr bool
	}{
		{"", nil, false},
		{"  ", nil, false},
		{"123", []int64{123}, false},
		{"1, 2 ,3", []int64{1, 2, 3}, false},
		{"1,,2", nil, true},
		{"1,", nil, true},
		{"abc", nil, true},
		{"0", nil, true},
		{"-4", nil, true},
		{"1;2", nil, true},
		{"99999999999999999999", nil, true},
	}
	for _, c := range cases {
		got, err := ParseAllowedRooms(c.in)
		if (err != nil) != c.wantErr || !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseAllowedRooms(%q) = %v, %v; want %v, error %v", c.in, got, err, c.want, c.wantErr)
		}
		if err != nil && !strings.Contains(err.Error(), "allowed room ids") {
			t.Errorf("error %q does not say what was being parsed", err)
		}
	}
}
