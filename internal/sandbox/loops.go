package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/alarm"
	"github.com/quotabot/chatwork-quota-bot/internal/localstore"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
)

// console serialises the lines the sandbox's goroutines print.
type console struct {
	mu  sync.Mutex
	w   io.Writer
	loc *time.Location
}

func newConsole(w io.Writer, loc *time.Location) *console { return &console{w: w, loc: loc} }

func (c *console) Println(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintln(c.w, s)
}

func (c *console) Printf(format string, args ...any) { c.Println(fmt.Sprintf(format, args...)) }

// Event prints a line stamped with t's time of day.
func (c *console) Event(t time.Time, format string, args ...any) {
	c.Println(t.In(c.loc).Format("15:04:05") + "  " + fmt.Sprintf(format, args...))
}

// recorder writes every record to the file and shows it to the alarms, as
// CloudWatch extracts the metrics of the log group's records.
type recorder struct {
	store  *localstore.Store
	alarms []*alarm.Evaluator
	first  chan struct{} // closed by the first record
	once   sync.Once
}

func (r *recorder) Record(ctx context.Context, rec sample.Record) error {
	// A reading cut short because the sandbox is stopping is not a reading
	// (a killed Lambda invocation writes nothing either).
	if err := ctx.Err(); err != nil && rec.Error != "" {
		return err
	}
	if err := r.store.Record(ctx, rec); err != nil {
		return err
	}
	for _, a := range r.alarms {
		a.Observe(rec)
	}
	r.once.Do(func() { close(r.first) })
	return nil
}

// monitorLoop ticks the monitor on its schedule, each tick on its own as
// scheduled Lambda invocations are: a tick that waits for a window's final
// reading does not hold up the next one.
func (s *session) monitorLoop(ctx context.Context) {
	var ticks sync.WaitGroup
	defer ticks.Wait()
	tick := func() {
		ticks.Go(func() {
			// A Lambda's timeout, generous enough for the final reading.
			tctx, cancel := context.WithTimeout(ctx, s.cfg.Window+s.cfg.Interval+15*time.Second)
			defer cancel()
			if _, err := s.mon.Tick(tctx); err != nil && ctx.Err() == nil {
				s.out.Event(time.Now(), "monitor: %v", err)
			}
		})
	}
	tick()
	every(ctx, s.cfg.Interval, tick)
}

// every calls f every d until ctx is done.
func every(ctx context.Context, d time.Duration, f func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}

// heartbeat is the monitor's heartbeat output: each line is a completed
// tick, which CloudWatch counts in the heartbeat metric.
type heartbeat struct{ *alarm.Heartbeat }

func (h heartbeat) Write(p []byte) (int, error) {
	h.Beat(time.Now())
	return len(p), nil
}

// alarmLoop evaluates the alarms as CloudWatch does, every minute,
// shortened with the window like the alarms' periods (every 12 s with the
// default 60 s window): an evaluation one period after the last shifts
// the one-minute periods whole, as on AWS, where evaluating more often
// would regroup the datapoints and let an alarm that reaches back past
// empty periods flap. It runs the bot's housekeeping as often; deliver
// carries the bot's work past the loop's end.
func (s *session) alarmLoop(ctx, deliver context.Context) {
	every(ctx, alarm.Shape{Period: time.Minute}.Scaled(s.cfg.Window).Period, func() { s.evaluate(ctx, deliver) })
}

// evaluate runs one evaluation of the alarms and delivers their events to
// the bot the way EventBridge would: as JSON, which the receiver parses.
func (s *session) evaluate(ctx, deliver context.Context) {
	if ctx.Err() != nil {
		return
	}
	now := time.Now()
	events := append(s.alarm.Evaluate(now), s.pace.Evaluate(now)...)
	events = append(events, s.errors.Evaluate(now)...)
	if ev, changed := s.beat.Evaluate(now); changed {
		events = append(events, ev)
	}
	for _, ev := range events {
		d := ev.Detail
		if d.AlarmContributor != nil {
			// A contributor's event has no previous state: it is the other one.
			prev := map[string]string{alarm.StateAlarm: alarm.StateOK, alarm.StateOK: alarm.StateAlarm}[d.State.Value]
			s.out.Event(ev.Time, s.ph.alarmToken, d.AlarmName, ev.Token(), prev, d.State.Value, d.State.Reason)
		} else {
			s.out.Event(ev.Time, s.ph.alarm, d.AlarmName, d.PreviousState.Value, d.State.Value, d.State.Reason)
		}
		raw, err := json.Marshal(ev)
		if err != nil {
			s.out.Event(time.Now(), "alarm: encode event: %v", err)
			continue
		}
		parsed, err := alarm.Parse(raw)
		if err != nil {
			s.out.Event(time.Now(), "alarm: %v", err)
			continue
		}
		hctx, cancel := context.WithTimeout(deliver, 30*time.Second)
		if err := s.bot.HandleAlarm(hctx, parsed); err != nil {
			s.out.Event(time.Now(), "bot: alarm event not handled: %v", err)
		}
		cancel()
	}
	// The webhook function's housekeeping schedule: mutes that ended.
	hctx, cancel := context.WithTimeout(deliver, 30*time.Second)
	defer cancel()
	if err := s.bot.Housekeeping(hctx); err != nil {
		s.out.Event(time.Now(), "bot: housekeeping: %v", err)
	}
}

// roomLoop shows the bot's messages as they land in the room.
func (s *session) roomLoop(ctx context.Context) { every(ctx, 150*time.Millisecond, s.showRoom) }

// showRoom prints the room's messages not shown yet, except the person's
// own: they typed them.
func (s *session) showRoom() {
	s.showMu.Lock()
	defer s.showMu.Unlock()
	for _, m := range s.sim.Messages(RoomID) {
		id, err := strconv.ParseInt(m.ID, 10, 64)
		if err != nil || id <= s.printed {
			continue
		}
		s.printed = id
		if m.AccountID == HumanID {
			continue
		}
		body := Format(m.Body, accountName)
		if path := s.saveUpload(m.ID); path != "" {
			body += "\n" + fmt.Sprintf(s.ph.savedFile, path)
		}
		s.out.Event(time.Unix(m.SendTime, 0), "%s:\n%s", accountName(m.AccountID), indent(body, "          "))
	}
}

// saveUpload writes the file the room message messageID shows (an upload:
// a chart) into the sandbox's directory, where a person can open it, and
// returns its path; "" for a message without a file.
func (s *session) saveUpload(messageID string) string {
	for _, f := range s.sim.Files(RoomID) {
		if f.MessageID != messageID {
			continue
		}
		path := filepath.Join(s.dir, fmt.Sprintf("upload-%d-%s", f.ID, filepath.Base(f.Name)))
		if err := os.WriteFile(path, f.Data, 0o644); err != nil {
			return ""
		}
		return path
	}
	return ""
}

func accountName(id int64) string {
	switch id {
	case BotID:
		return botName
	case HumanID:
		return humanName
	}
	return ""
}

func indent(s, prefix string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "\n")
}
