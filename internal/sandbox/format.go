package sandbox

import (
	"regexp"
	"strconv"
	"strings"
)

// tagRE matches one ChatWork notation tag: [info], [/title], [To:123],
// [rp aid=1 to=2-3], [toall], [hr], [qtmeta aid=1 time=2] and the like.
var tagRE = regexp.MustCompile(`\[(/?)([A-Za-z]+)(?:[: ]([^\[\]]*))?\]`)

// Format renders a ChatWork message body for a terminal: [info] and [qt]
// blocks become indented lines, a [title] its own line, [To:id] and
// [rp aid=id ...] an @name (name gives the account's name, "" when
// unknown). Tags it does not know are left as they are.
func Format(body string, name func(id int64) string) string {
	var f formatter
	last := 0
	for _, m := range tagRE.FindAllStringSubmatchIndex(body, -1) {
		f.text(body[last:m[0]])
		tag := body[m[0]:m[1]]
		closing := m[3] > m[2]
		kind := strings.ToLower(body[m[4]:m[5]])
		var arg string
		if m[6] >= 0 {
			arg = body[m[6]:m[7]]
		}
		if !f.tag(closing, kind, arg, name) {
			f.text(tag)
		}
		last = m[1]
	}
	f.text(body[last:])
	lines := strings.Split(strings.TrimRight(f.b.String(), " \n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n")
}

type formatter struct {
	b         strings.Builder
	depth     int
	lineStart bool // nothing but indentation written on the current line
}

// text writes plain text, indenting each new line to the current depth.
func (f *formatter) text(s string) {
	for i, line := range strings.Split(s, "\n") {
		if i > 0 {
			f.newline()
		}
		if line != "" {
			f.b.WriteString(line)
			f.lineStart = false
		}
	}
}

func (f *formatter) newline() {
	if f.b.Len() > 0 {
		f.b.WriteString("\n")
	}
	f.b.WriteString(strings.Repeat("  ", f.depth))
	f.lineStart = true
}

// breakLine starts a new line unless the current one is still empty.
func (f *formatter) breakLine() {
	if !f.lineStart && f.b.Len() > 0 {
		f.newline()
	}
}

func (f *formatter) tag(closing bool, kind, arg string, name func(int64) string) bool {
	at := func(idText string) string {
		id, err := strconv.ParseInt(strings.TrimSpace(idText), 10, 64)
		if err == nil && name != nil {
			if n := name(id); n != "" {
				return "@" + n
			}
		}
		return "@" + strings.TrimSpace(idText)
	}
	switch {
	case kind == "info" || kind == "qt" || kind == "code":
		if closing {
			f.depth = max(f.depth-1, 0)
			f.breakLine()
			return true
		}
		f.breakLine()
		f.depth++
		// The first line of the block gets the deeper indentation.
		if f.lineStart || f.b.Len() == 0 {
			f.reindent()
		}
		return true
	case kind == "title":
		if closing {
			f.breakLine()
			return true
		}
		f.breakLine()
		f.b.WriteString("■ ")
		f.lineStart = false
		return true
	case kind == "hr" && !closing:
		f.breakLine()
		f.text("――――――――")
		f.breakLine()
		return true
	case kind == "to" && !closing:
		f.text(at(arg) + " ")
		return true
	case kind == "toall" && !closing:
		f.text("@all ")
		return true
	case kind == "rp" && !closing:
		for _, field := range strings.Fields(arg) {
			if id, ok := strings.CutPrefix(field, "aid="); ok {
				f.text("↩ " + at(id) + " ")
				return true
			}
		}
		return false
	case kind == "qtmeta" && !closing:
		return true // the quote's author and time: the indentation says enough
	case kind == "dtext" && !closing:
		f.text(strings.ReplaceAll(arg, "_", " ")) // [dtext:file_uploaded]: "file uploaded"
		return true
	case kind == "download":
		if !closing {
			f.text("📎 ")
		}
		return true
	}
	return false
}

// reindent rewrites the indentation of the current, still empty line.
func (f *formatter) reindent() {
	s := strings.TrimRight(f.b.String(), " ")
	f.b.Reset()
	f.b.WriteString(s)
	f.b.WriteString(strings.Repeat("  ", f.depth))
	f.lineStart = true
}
