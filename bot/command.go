package bot

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// cmdKind is what a message asks of the bot.
type cmdKind int

const (
	cmdNone    cmdKind = iota // not addressed to the bot: no call at all
	cmdQuota                  // "/quota"
	cmdHelp                   // "/quota help"
	cmdUnknown                // "/quota something-else": a token's label, or unknown
	cmdMute                   // "/quota mute DURATION [LABEL|all]"
	cmdUnmute                 // "/quota unmute [LABEL|all]"
	cmdMutes                  // "/quota mutes"
	cmdChart                  // "/quota chart [LABEL] [3h|24h|7d]"
)

func (k cmdKind) String() string {
	return [...]string{"none", "quota", "help", "unknown", "mute", "unmute", "mutes", "chart"}[k]
}

// command is a parsed message.
type command struct {
	kind cmdKind
	// arg is the unknown subcommand, only when it is short and plain enough
	// to echo back into the room (see safeArg); "" otherwise.
	arg string
	// word is the one word after /quota, as typed (full-width folded): a
	// token's label, perhaps. Never echoed.
	word string
	// args are the words after mute, unmute or chart, as typed, one space
	// apart.
	args string
}

// parseCommand recognises /quota in a ChatWork message body. The steps follow
// how people address a bot in ChatWork: quoted text is someone else's words,
// leading To/reply/toall tags (and the names the UI writes after them) are
// addressing, only the first line is the command (what follows is the
// message's own text), and Japanese input methods produce full-width
// characters.
func parseCommand(body string) command {
	text, _, _ := strings.Cut(trimSpace(stripLeadingTags(dropQuotes(body))), "\n")
	text = foldWidth(text)
	const name = "/quota"
	if len(text) < len(name) || !strings.EqualFold(text[:len(name)], name) {
		return command{}
	}
	rest := text[len(name):]
	if rest != "" {
		// "/quotas" or "/quota-x" is a different word, not our command.
		if r, _ := utf8.DecodeRuneInString(rest); !isSpace(r) {
			return command{}
		}
	}
	args := strings.FieldsFunc(rest, isSpace)
	switch {
	case len(args) == 0:
		return command{kind: cmdQuota}
	case len(args) == 1 && strings.EqualFold(args[0], "help"):
		return command{kind: cmdHelp}
	case len(args) == 1 && strings.EqualFold(args[0], "mutes"):
		return command{kind: cmdMutes}
	case strings.EqualFold(args[0], "mute"):
		return command{kind: cmdMute, args: strings.Join(args[1:], " ")}
	case strings.EqualFold(args[0], "unmute"):
		return command{kind: cmdUnmute, args: strings.Join(args[1:], " ")}
	case strings.EqualFold(args[0], "chart"):
		return command{kind: cmdChart, args: strings.Join(args[1:], " ")}
	case len(args) == 1:
		return command{kind: cmdUnknown, arg: safeArg(args[0]), word: args[0]}
	}
	// Several words: echoing only the first ("/quota help me" -> "help")
	// would name a command that exists, so echo nothing.
	return command{kind: cmdUnknown}
}

// safeArg returns s if it can be echoed into a room harmlessly: ASCII
// letters, digits, '-' and '_', at most 20 bytes. Anything else (notation
// such as [toall], long text) is not repeated back.
func safeArg(s string) string {
	if len(s) > 20 {
		return ""
	}
	for _, r := range s {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_') {
			return ""
		}
	}
	return s
}

// dropQuotes removes [qt]...[/qt] blocks, nested ones included. An
// unterminated quote runs to the end of the message: text after an opened
// quote is never taken as a command. A stray [/qt] is dropped.
func dropQuotes(s string) string {
	const open, closing = "[qt]", "[/qt]"
	var b strings.Builder
	depth := 0
	for i := 0; i < len(s); {
		switch {
		case hasPrefixFold(s[i:], open):
			depth++
			i += len(open)
		case hasPrefixFold(s[i:], closing):
			if depth > 0 {
				depth--
			}
			i += len(closing)
		default:
			if depth == 0 {
				b.WriteByte(s[i])
			}
			i++
		}
	}
	return b.String()
}

// addressTag matches one addressing tag at the start of the text: [To:123],
// [toall], [rp aid=1 to=2-3], the older Japanese reply tag [返信 aid=..], and
// the name and icon notations written after them ([pname:123], [picon:123],
// [piconname:123]).
var addressTag = regexp.MustCompile(`(?i)^\[(?:to:\d+|toall|p(?:name|icon|iconname):\d+|(?:rp|返信)\s+aid=\d+\s+to=\d+-\d+)\]`)

// stripLeadingTags removes the addressing at the start of a message: each
// tag and the name text the ChatWork UI writes after it ("[To:123]山田さん").
// The name runs to the end of its line, the next tag, or the first slash
// (half- or full-width), since people also write "[To:1]Botさん /quota" on
// one line. A name that itself contains a slash therefore ends early; the
// rest then is not a command, which only costs that message its answer.
func stripLeadingTags(s string) string {
	for {
		s = trimLeftSpace(s)
		loc := addressTag.FindStringIndex(s)
		if loc == nil {
			return s
		}
		s = s[loc[1]:]
		end := strings.IndexFunc(s, func(r rune) bool {
			return r == '\n' || r == '[' || r == '/' || r == '／'
		})
		if end < 0 {
			return ""
		}
		s = s[end:]
	}
}

// foldWidth maps full-width ASCII variants (U+FF01..U+FF5E, as Japanese input
// produces them: "／ｑｕｏｔａ") to ASCII and the ideographic space to a space.
func foldWidth(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 0xFF01 && r <= 0xFF5E:
			return r - 0xFF01 + '!'
		case r == '\u3000':
			return ' '
		}
		return r
	}, s)
}

// isSpace is unicode.IsSpace (which covers U+3000) plus the invisible
// characters editors leave around pasted text.
func isSpace(r rune) bool {
	return unicode.IsSpace(r) || r == '\u200b' || r == '\ufeff'
}

func trimSpace(s string) string     { return strings.TrimFunc(s, isSpace) }
func trimLeftSpace(s string) string { return strings.TrimLeftFunc(s, isSpace) }

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
