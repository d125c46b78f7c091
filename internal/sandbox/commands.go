package sandbox

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/sample"
)

// maxWait bounds !wait, so a typo cannot hang a script for a day.
const maxWait = time.Hour

// interact reads lines until the input ends (true) or ctx is done (false),
// in a goroutine of its own: a terminal read cannot be interrupted, so on
// Ctrl-C that goroutine is left blocked and the process exits around it.
func (s *session) interact(ctx context.Context, in io.Reader) bool {
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(in)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return false
		case line, ok := <-lines:
			if !ok {
				return true
			}
			if !s.command(ctx, line) {
				return true
			}
		}
	}
}

// command handles one input line; false means stop.
func (s *session) command(ctx context.Context, line string) bool {
	text := strings.TrimSpace(line)
	if text == "" {
		return true
	}
	if !s.cfg.Interactive {
		s.out.Event(time.Now(), "%s: %s", humanName, text)
	}
	if !strings.HasPrefix(text, "!") {
		s.sim.Say(RoomID, HumanID, text)
		if !s.cfg.Interactive {
			// A script's next line waits for the answer, so a transcript
			// reads in order and !burn cannot overtake a /quota.
			s.settle(ctx)
		}
		return true
	}
	name, arg, _ := strings.Cut(text, " ")
	arg = strings.TrimSpace(arg)
	switch strings.ToLower(name) {
	case "!help":
		s.out.Println(s.ph.help)
	case "!burn":
		num, label, _ := strings.Cut(arg, " ")
		n, err := strconv.Atoi(num)
		if err != nil || n < 1 {
			s.out.Println(s.ph.burnUsage)
			return true
		}
		a, ok := s.account(label)
		if !ok {
			return true
		}
		refused, whose := "", ""
		if ok := s.sim.Spend(a.token, n); ok < n {
			refused = fmt.Sprintf(s.ph.burned429, n-ok)
		}
		if a.id != BotID {
			whose = fmt.Sprintf(s.ph.burnedOf, a.label)
		}
		s.out.Event(time.Now(), s.ph.burned, n, whose, refused, s.quotaLine(a))
	case "!pace":
		rate, label, _ := strings.Cut(arg, " ")
		perSecond, err := parsePace(rate)
		if err != nil {
			s.out.Println(s.ph.paceUsage)
			return true
		}
		a, ok := s.account(label)
		if !ok {
			return true
		}
		s.pacers.set(a.token, perSecond)
		whose := ""
		if a.id != BotID {
			whose = fmt.Sprintf(s.ph.burnedOf, a.label)
		}
		if perSecond == 0 {
			s.out.Event(time.Now(), s.ph.paceOff, whose)
		} else {
			perWindow := perSecond * s.cfg.Window.Seconds()
			s.out.Event(time.Now(), s.ph.paceOn, strconv.FormatFloat(perSecond, 'f', -1, 64), whose, perWindow, s.cfg.Window, s.quotaLine(a))
		}
	case "!chart":
		s.chart(ctx, arg)
	case "!digest":
		if err := s.bot.Digest(ctx, time.Now()); err != nil {
			s.out.Event(time.Now(), "bot: digest: %v", err)
		}
		s.settle(ctx)
	case "!wait":
		s.wait(ctx, arg)
	case "!status":
		for _, a := range s.tokens {
			prefix := ""
			if len(s.tokens) > 1 {
				prefix = a.label + ": "
			}
			line := prefix + s.quotaLine(a)
			if p := s.pacers.pace(a.token); p > 0 {
				line += fmt.Sprintf(s.ph.paceRunning, strconv.FormatFloat(p, 'f', -1, 64))
			}
			s.out.Event(time.Now(), s.ph.status, line, cmp.Or(s.alarm.TokenState(a.label), s.alarm.State()),
				cmp.Or(s.pace.TokenState(a.label), s.pace.State()))
		}
	case "!quit", "!exit":
		s.quit = true
		return false
	default:
		s.out.Printf(s.ph.unknown, name)
	}
	return true
}

func (s *session) wait(ctx context.Context, arg string) {
	var d time.Duration
	if what, label, _ := strings.Cut(arg, " "); strings.EqualFold(what, "reset") {
		a, ok := s.account(label)
		if !ok {
			return
		}
		_, _, reset := s.sim.Quota(a.token)
		// A little past the reset, so the next call is in the new window.
		d = time.Until(reset) + 50*time.Millisecond
	} else {
		var err error
		d, err = time.ParseDuration(arg)
		if err != nil || d < 0 || d > maxWait {
			s.out.Printf(s.ph.waitUsage, maxWait)
			return
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// account is the bot account labelled label, matched case-insensitively;
// "" is the bot's own. An unknown label is told on screen.
func (s *session) account(label string) (account, bool) {
	if label = strings.TrimSpace(label); label == "" {
		return s.tokens[0], true
	}
	for _, a := range s.tokens {
		if strings.EqualFold(a.label, label) {
			return a, true
		}
	}
	s.out.Printf(s.ph.unknownToken, label, s.labels())
	return account{}, false
}

// labels lists the tokens' labels, the bot's own first.
func (s *session) labels() string {
	labels := make([]string, len(s.tokens))
	for i, a := range s.tokens {
		labels[i] = a.label
	}
	return strings.Join(labels, ", ")
}

// quotaLine describes a token's quota as the simulator holds it.
func (s *session) quotaLine(a account) string {
	limit, remaining, reset := s.sim.Quota(a.token)
	return fmt.Sprintf(s.ph.quota, remaining, limit, sample.Percent(remaining, limit),
		reset.In(s.cfg.Location).Format("15:04:05"), until(reset))
}

// until is the time left until t, rounded up to the second: "in 0s" would
// read as "already".
func until(t time.Time) time.Duration {
	d := max(time.Until(t), 0)
	return (d + time.Second - 1).Truncate(time.Second)
}

// chart writes the chart /quota chart would post for arg into the
// sandbox's directory and prints its path.
func (s *session) chart(ctx context.Context, arg string) {
	img, rest, err := s.bot.Chart(ctx, arg)
	if err != nil {
		s.out.Event(time.Now(), s.ph.chartFailed, err)
		return
	}
	s.charts++
	path := filepath.Join(s.dir, fmt.Sprintf("chart-%d.png", s.charts))
	if err := os.WriteFile(path, img, 0o644); err != nil {
		s.out.Event(time.Now(), s.ph.chartFailed, err)
		return
	}
	left := ""
	if len(rest) > 0 {
		left = fmt.Sprintf(s.ph.chartRest, strings.Join(rest, ", "))
	}
	s.out.Event(time.Now(), s.ph.chartWritten, path, left)
}
