package sandbox

import "testing"

func TestFormat(t *testing.T) {
	names := func(id int64) string {
		if id == 2001 {
			return "You"
		}
		return ""
	}
	tests := []struct{ name, in, want string }{
		{"plain", "hello", "hello"},
		{"reply and info", "[rp aid=2001 to=1001-5]\n[info][title]Quota[/title]Remaining: 5\nUsed: 295[/info]",
			"↩ @You\n  ■ Quota\n  Remaining: 5\n  Used: 295"},
		{"to unknown and toall", "[To:77] [toall] hi", "@77  @all  hi"},
		{"hr", "[info]a[hr]b[/info]", "  a\n  ――――――――\n  b"},
		{"text after a block", "[info]x[/info]after", "  x\nafter"},
		{"quote", "[qt][qtmeta aid=1 time=2]said[/qt]ok", "  said\nok"},
		{"unknown tag kept", "[piconname:5] [foo]", "[piconname:5] [foo]"},
		{"stray brackets", "a [b c", "a [b c"},
		{"upload", "see\n[info][title][dtext:file_uploaded][/title][download:1000000001]quota-24h.png (4.90 KB)[/download][/info]",
			"see\n  ■ file uploaded\n  📎 quota-24h.png (4.90 KB)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Format(tt.in, names); got != tt.want {
				t.Errorf("Format(%q) =\n%q\nwant\n%q", tt.in, got, tt.want)
			}
		})
	}
}
