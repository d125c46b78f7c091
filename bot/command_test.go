package bot

import "testing"

func TestDropQuotes(t *testing.T) {
	cases := []struct{ in, want string }{
		{"plain", "plain"},
		{"[qt][qtmeta aid=1 time=1498028125]/quota[/qt]hi", "hi"},
		{"a[qt]x[qt]y[/qt]z[/qt]b", "ab"},
		{"[QT]shout[/QT]/quota", "/quota"},
		{"before[qt]never closed /quota", "before"},
		{"stray[/qt] close", "stray close"},
		{"日本語[qt]引用[/qt]本文", "日本語本文"},
		{"", ""},
	}
	for _, c := range cases {
		if got := dropQuotes(c.in); got != c.want {
			t.Errorf("dropQuotes(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestStripLeadingTags(t *testing.T) {
	cases := []struct{ in, want string }{
		{"/quota", "/quota"},
		{"[To:123]山田さん\n/quota", "/quota"},
		{"[To:123]山田さん /quota", "/quota"},
		{"[To:123]山田さん／quota", "／quota"},
		{"[To:1]Aさん\n[To:2]Bさん\n/quota help", "/quota help"},
		{"[To:1]Aさん[To:2]Bさん /quota", "/quota"},
		{"[to:1]lower\n/quota", "/quota"},
		{"[toall]\n/quota", "/quota"},
		{"[toall]みなさん /quota", "/quota"},
		{"[rp aid=1 to=2-3]山田さん\n/quota", "/quota"},
		{"[返信 aid=1 to=2-3]山田さん\n/quota", "/quota"},
		{"  \u3000[To:1]A\n  /quota", "/quota"},
		{"[To:1]just a name", ""},
		{"[To:9001][pname:9001]さん /quota", "/quota"},
		{"[To:9001][picon:9001]\n/quota", "/quota"},
		{"[piconname:9001]さん／quota", "／quota"},
		{"[PNAME:1]A /quota", "/quota"},
		{"[pname:x]A /quota", "[pname:x]A /quota"},
		{"[To:x]not a tag\n/quota", "[To:x]not a tag\n/quota"},
		{"[info]x[/info]", "[info]x[/info]"},
		{"hello [To:1]A /quota", "hello [To:1]A /quota"},
	}
	for _, c := range cases {
		if got := stripLeadingTags(c.in); got != c.want {
			t.Errorf("stripLeadingTags(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestParseCommand(t *testing.T) {
	cases := []struct {
		in   string
		kind cmdKind
		arg  string
	}{
		{"/quota", cmdQuota, ""},
		{"  /quota  ", cmdQuota, ""},
		{"\u3000/quota\u3000\n", cmdQuota, ""},
		{"/QUOTA", cmdQuota, ""},
		{"/Quota", cmdQuota, ""},
		{"／quota", cmdQuota, ""},
		{"／ｑｕｏｔａ", cmdQuota, ""},
		{"／ＱＵＯＴＡ　ｈｅｌｐ", cmdHelp, ""},
		{"/quota help", cmdHelp, ""},
		{"/quota HELP", cmdHelp, ""},
		{"/quota\thelp\n", cmdHelp, ""},
		{"/quota\u3000help", cmdHelp, ""},
		{"[To:123]山田さん\n/quota", cmdQuota, ""},
		{"[To:123]山田さん /quota help", cmdHelp, ""},
		{"[To:1]Aさん[To:2]Bさん\n／quota", cmdQuota, ""},
		{"[rp aid=1 to=2-3]山田さん\n/quota", cmdQuota, ""},
		{"[toall]\n/quota", cmdQuota, ""},
		{"[qt][qtmeta aid=1 time=1]/quota[/qt]", cmdNone, ""},
		{"[qt][qtmeta aid=1 time=1]hi[/qt]\n/quota", cmdQuota, ""},
		{"[qt]/quota[qt]nested[/qt][/qt]", cmdNone, ""},
		{"/quota\nthanks", cmdQuota, ""},
		{"/quota\r\nありがとう", cmdQuota, ""},
		{"/quota help\nthanks", cmdHelp, ""},
		{"/quota xyz\nmore words", cmdUnknown, "xyz"},
		{"[To:9001][pname:9001]さん /quota\nthanks", cmdQuota, ""},
		{"[To:9001][picon:9001]\n／quota", cmdQuota, ""},
		{"[piconname:9001]さん /quota help", cmdHelp, ""},
		{"hello\n/quota", cmdNone, ""},
		{"/quota xyz", cmdUnknown, "xyz"},
		{"/quota chart", cmdChart, ""},
		{"/quota CHART 7d deploy", cmdChart, ""},
		{"／ｑｕｏｔａ　ｃｈａｒｔ　３ｈ", cmdChart, ""},
		{"[To:1]Bot\n/quota chart [toall]\nthanks", cmdChart, ""},
		{"/quota charts", cmdUnknown, "charts"},
		{"/quota help me", cmdUnknown, ""},
		{"/quota [toall]", cmdUnknown, ""},
		{"/quota ﾃｽﾄ", cmdUnknown, ""},
		{"/quota aaaaaaaaaaaaaaaaaaaaaaaaa", cmdUnknown, ""},
		{"/quotas", cmdNone, ""},
		{"/quota-x", cmdNone, ""},
		{"/quot", cmdNone, ""},
		{"quota", cmdNone, ""},
		{"please /quota", cmdNone, ""},
		{"", cmdNone, ""},
		{"[To:1]Bot", cmdNone, ""},
		{"\u200b/quota", cmdQuota, ""},
		{"/quotä", cmdNone, ""},
	}
	for _, c := range cases {
		got := parseCommand(c.in)
		if got.kind != c.kind || got.arg != c.arg {
			t.Errorf("parseCommand(%q) = {%v %q}, want {%v %q}", c.in, got.kind, got.arg, c.kind, c.arg)
		}
	}
}

// The words after /quota chart reach parseChartArgs as typed (full-width
// folded), one space apart.
func TestParseChartCommand(t *testing.T) {
	cases := []struct{ in, args string }{
		{"/quota chart", ""},
		{"/quota chart 7d", "7d"},
		{"/quota  Chart\tDeploy   3H ", "Deploy 3H"},
		{"／quota　chart　ｄｅｐｌｏｙ　２４ｈ", "deploy 24h"},
		{"/quota chart 3h\n7d", "3h"},
	}
	for _, c := range cases {
		if got := parseCommand(c.in); got.kind != cmdChart || got.args != c.args {
			t.Errorf("parseCommand(%q) = {%v %q}, want {chart %q}", c.in, got.kind, got.args, c.args)
		}
	}
}

func TestFoldWidth(t *testing.T) {
	if got := foldWidth("／ｑｕｏｔａ　ＨＥＬＰ！～"); got != "/quota HELP!~" {
		t.Errorf("foldWidth = %q", got)
	}
}
