// Package sandbox runs the whole quota bot on loopback, with no AWS account
// and no ChatWork token: the ChatWork simulator with a bot account per
// token, the monitor ticking against it through the real client, the bot's
// webhook handler receiving the simulator's signed deliveries, samples in a
// local JSON-lines file in the log group's record format, and stand-ins for
// the CloudWatch alarms (quota and failing tokens per token, the monitor's
// heartbeat) that hand the bot the events EventBridge would. A terminal (or
// a script on stdin) is a person in the room.
package sandbox

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/quotabot/chatwork-quota-bot/bot"
	"github.com/quotabot/chatwork-quota-bot/internal/alarm"
	"github.com/quotabot/chatwork-quota-bot/internal/chart"
	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/chatworksim"
	"github.com/quotabot/chatwork-quota-bot/internal/localstore"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
	"github.com/quotabot/chatwork-quota-bot/monitor"
)

// Identities in the simulated ChatWork.
const (
	RoomID     = 1001
	BotID      = 9001
	HumanID    = 2001
	botName    = "Quota Bot"
	humanName  = "You"
	TokenLabel = sample.DefaultLabel
	// The stand-in alarms' names, as the template names its own in a stack
	// called sandbox.
	AlarmName          = "sandbox-quota-low"
	PaceAlarmName      = "sandbox-quota-pace"
	ErrorsAlarmName    = "sandbox-token-errors"
	HeartbeatAlarmName = "sandbox-monitor-heartbeat"
)

// Config configures a sandbox. Zero values take the defaults noted.
type Config struct {
	Window           time.Duration // rate-limit window and alarm period; default 60s
	Limit            int           // calls per window; default 300
	Threshold        int           // alarm threshold; default 20% of Limit
	ThresholdPercent bool          // Threshold is a percentage of the limit
	Interval         time.Duration // monitor schedule; default 5s
	Language         string        // the bot's and the sandbox's language; default bot.DefaultLanguage
	Location         *time.Location
	Dir              string // where the records file goes; default a new temp dir
	Port             int    // the simulator's port; 0 picks a free one
	// Interactive is true when a person types (stdin is a terminal): input
	// lines are not echoed back.
	Interactive bool
	// Tokens label more bot accounts, each with its own token, quota
	// window and phase, watched beside the bot's own (TokenLabel).
	Tokens []string
	// Secrets, when set, is told every generated token (API, the person's,
	// webhook), so tests can check that no output holds them. Nothing else
	// ever shows them.
	Secrets func(tokens ...string)
}

// Validate reports a setting Run would refuse, naming it.
func (c Config) Validate() error { return c.defaults() }

func (c *Config) defaults() error {
	c.Window = cmp.Or(c.Window, time.Minute)
	c.Limit = cmp.Or(c.Limit, 300)
	c.Interval = cmp.Or(c.Interval, 5*time.Second)
	c.Language = cmp.Or(c.Language, bot.DefaultLanguage)
	c.Location = cmp.Or(c.Location, time.Local)
	if c.Threshold == 0 && c.ThresholdPercent {
		c.Threshold = 20
	} else if c.Threshold == 0 {
		c.Threshold = c.Limit / 5
	}
	switch {
	case c.Window < time.Second:
		return fmt.Errorf("window %v: want at least 1s", c.Window)
	case c.Limit < 1:
		return fmt.Errorf("limit %d: want at least 1", c.Limit)
	case c.Interval < 100*time.Millisecond:
		return fmt.Errorf("interval %v: want at least 100ms", c.Interval)
	case c.Interval >= c.Window:
		return fmt.Errorf("interval %v must be shorter than the window %v, or the alarm sees no data", c.Interval, c.Window)
	case !c.ThresholdPercent && c.Threshold > c.Limit:
		return fmt.Errorf("threshold %d: more than the limit %d, so the alarm would never clear", c.Threshold, c.Limit)
	case c.Port < 0 || c.Port > 65535:
		return fmt.Errorf("port %d: not a TCP port", c.Port)
	}
	seen := map[string]bool{strings.ToLower(TokenLabel): true}
	for _, l := range c.Tokens {
		if err := sample.CheckLabel(l); err != nil {
			return fmt.Errorf("token %q: %w", l, err)
		}
		if seen[strings.ToLower(l)] {
			return fmt.Errorf("token %q: named twice (labels are matched case-insensitively; %s is the bot's own)", l, TokenLabel)
		}
		seen[strings.ToLower(l)] = true
	}
	if err := alarm.CheckThreshold(c.Threshold, c.ThresholdPercent); err != nil {
		return err
	}
	return bot.CheckLanguage(c.Language)
}

// account is one bot account in the simulated ChatWork: its label, API
// token and account id. Each has its own quota window.
type account struct {
	label, token string
	id           int64
}

// session is one running sandbox.
type session struct {
	cfg     Config
	ph      *phrases
	out     *console
	sim     *chatworksim.Server
	tokens  []account // the bot's own first, then Config.Tokens by label
	store   *localstore.Store
	alarm   *alarm.Evaluator // the stand-ins for the CloudWatch alarms: the quota's,
	pace    *alarm.Evaluator // the pace's,
	errors  *alarm.Evaluator // the failing tokens'
	beat    *alarm.Heartbeat // and the monitor's heartbeat
	mon     *monitor.Monitor
	pacers  *pacers // !pace's background loads
	bot     *bot.Bot
	simURL  string
	hookURL string
	logPath string
	dir     string // where the records file, the log and the charts go
	logFile *os.File
	showMu  sync.Mutex
	printed int64 // id of the newest room message shown; guarded by showMu
	quit    bool  // !quit was typed
	charts  int   // !chart's files written
}

// Run runs a sandbox until ctx is done (exiting cleanly) or, when the input
// ends, until the answers to it have landed and been shown. Its errors are
// one line each and never hold a token.
func Run(ctx context.Context, cfg Config, in io.Reader, out io.Writer) error {
	if err := cfg.defaults(); err != nil {
		return err
	}
	s := &session{cfg: cfg, ph: languages[cfg.Language], out: newConsole(out, cfg.Location)}
	return s.run(ctx, in)
}

func (s *session) run(ctx context.Context, in io.Reader) (err error) {
	cfg := s.cfg
	// Listeners first: a port in use is the likeliest failure, and nothing
	// has been created yet that would need cleaning up.
	simLn, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.Port)))
	if err != nil {
		return fmt.Errorf("start the ChatWork simulator: %w", err)
	}
	defer simLn.Close()
	hookLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("start the webhook listener: %w", err)
	}
	defer hookLn.Close()

	dir := cfg.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "quotabot-sandbox-"); err != nil {
			return fmt.Errorf("create the sandbox directory: %w", err)
		}
	}
	s.store, err = localstore.Open(filepath.Join(dir, "samples.jsonl"))
	if err != nil {
		return err
	}
	defer s.store.Close()
	s.dir = dir
	s.logPath = filepath.Join(dir, "sandbox.log")
	s.logFile, err = os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open the sandbox log: %w", err)
	}
	defer s.logFile.Close()
	logger := slog.New(slog.NewTextHandler(s.logFile, nil))

	// ChatWork: a bot account per token, windows spread over the window's
	// length, and the person.
	s.sim = chatworksim.New(chatworksim.Config{
		Limit: cfg.Limit, Window: cfg.Window, Mode: chatworksim.WindowFixed,
		Logf: func(format string, args ...any) { logger.Info(fmt.Sprintf(format, args...)) },
	})
	defer s.sim.Close()
	labels := append([]string{TokenLabel}, slices.Sorted(slices.Values(cfg.Tokens))...)
	var secrets []string
	for i, label := range labels {
		token, err := randomHex(20)
		if err != nil {
			return err
		}
		a := account{label: label, token: token, id: BotID + int64(i)}
		name := label + " bot"
		if i == 0 {
			name = botName
		}
		s.sim.AddAccount(token, a.id, name)
		// Whole seconds, as ChatWork's resets are.
		s.sim.SetPhase(token, (time.Duration(i) * cfg.Window / time.Duration(len(labels))).Truncate(time.Second))
		s.tokens = append(s.tokens, a)
		secrets = append(secrets, token)
	}
	humanToken, err := randomHex(20)
	if err != nil {
		return err
	}
	s.sim.AddAccount(humanToken, HumanID, humanName)
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("generate the webhook token: %w", err)
	}
	webhookToken := base64.StdEncoding.EncodeToString(key)
	if cfg.Secrets != nil {
		cfg.Secrets(append(secrets, humanToken, webhookToken)...)
	}
	s.sim.AddRoom(RoomID)
	s.simURL = "http://" + simLn.Addr().String() + "/v2"
	s.hookURL = "http://" + hookLn.Addr().String() + "/webhook"
	if err := s.sim.AddWebhook(chatworksim.Webhook{URL: s.hookURL, Token: webhookToken, RoomID: RoomID}); err != nil {
		return fmt.Errorf("register the webhook: %w", err)
	}

	// The bot and the monitor, on the real client, a client per token;
	// every record they write goes to the file and to the alarm stand-ins.
	var own *chatwork.Client
	var botTokens []bot.Token
	var monTokens []monitor.Token
	for _, a := range s.tokens {
		c, err := chatwork.New(chatwork.Config{BaseURL: s.simURL, Token: chatwork.StaticToken(a.token)})
		if err != nil {
			return fmt.Errorf("create the ChatWork client: %w", err)
		}
		own = cmp.Or(own, c)
		botTokens = append(botTokens, bot.Token{Label: a.label, Reader: c})
		monTokens = append(monTokens, monitor.Token{Label: a.label, ChatWork: c})
	}
	s.store.Metrics = sample.Metrics{Percent: cfg.ThresholdPercent}
	// The template's alarm shapes, shrunk by the ratio of the sandbox's
	// window to ChatWork's 5 minutes.
	s.alarm = alarm.NewEvaluator(alarm.Rule{Percent: cfg.ThresholdPercent, Threshold: float64(cfg.Threshold), Shape: alarm.QuotaShape.Scaled(cfg.Window)}, AlarmName)
	s.pace = alarm.NewEvaluator(alarm.Rule{Pace: true, Percent: cfg.ThresholdPercent, Threshold: alarm.PaceThreshold, Shape: alarm.PaceShape.Scaled(cfg.Window)}, PaceAlarmName)
	s.errors = alarm.NewEvaluator(alarm.Rule{Errors: true, Threshold: alarm.ErrorsThreshold, Shape: alarm.ErrorsShape.Scaled(cfg.Window)}, ErrorsAlarmName)
	s.beat = alarm.NewHeartbeat(HeartbeatAlarmName, cfg.Window, time.Now())
	rec := &recorder{store: s.store, alarms: []*alarm.Evaluator{s.alarm, s.pace, s.errors}, first: make(chan struct{})}
	verifier, err := chatwork.NewVerifier(webhookToken)
	if err != nil {
		return fmt.Errorf("create the webhook verifier: %w", err)
	}
	b, err := bot.New(bot.Config{
		RoomID:             RoomID,
		AdminAccountIDs:    []int64{HumanID}, // the person mutes; the bot's memory (and mutes) is this process's
		BotAccountID:       BotID,
		Language:           cfg.Language,
		Location:           cfg.Location,
		TokenLabel:         TokenLabel,
		Threshold:          cfg.Threshold,
		ThresholdPercent:   cfg.ThresholdPercent,
		MonitorInterval:    cfg.Interval,
		Window:             cfg.Window,
		AlarmName:          AlarmName,
		PaceAlarmName:      PaceAlarmName,
		ErrorsAlarmName:    ErrorsAlarmName,
		HeartbeatAlarmName: HeartbeatAlarmName,
	}, bot.Deps{
		ChatWork: onScreen{own, s}, Recorder: rec, History: s.store, Verifier: verifier, Logger: logger,
		Charts: chart.FromRecords(s.store),
		Tokens: func(context.Context) []bot.Token { return botTokens },
	})
	if err != nil {
		return err
	}
	s.bot = b
	s.mon, err = monitor.New(monitor.Config{
		TokenLabel: TokenLabel,
		Interval:   cfg.Interval,
		FinalLead:  min(time.Second, cfg.Interval/2),
		Heartbeat:  heartbeat{s.beat},
		Logger:     logger,
	}, func(context.Context) []monitor.Token { return monTokens }, rec, nil)
	if err != nil {
		return err
	}

	// Servers. They stop last, after the work that needs them.
	serveCtx, stopServing := context.WithCancel(context.Background())
	var servers sync.WaitGroup
	defer func() {
		stopServing()
		servers.Wait()
	}()
	servers.Go(func() {
		if err := s.sim.Serve(serveCtx, simLn); err != nil {
			logger.Error("simulator stopped", "error", err)
		}
	})
	hs := &http.Server{Handler: b.Handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	servers.Go(func() {
		if err := hs.Serve(hookLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("webhook server stopped", "error", err)
		}
	})
	servers.Go(func() {
		<-serveCtx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if hs.Shutdown(sctx) != nil {
			hs.Close()
		}
	})

	s.summary()

	// Background work: the monitor, the alarm and the room's printer. They
	// stop when work is canceled, before the servers do.
	work, stopWork := context.WithCancel(ctx)
	var workers sync.WaitGroup
	stopWorkers := func() {
		stopWork()
		workers.Wait()
	}
	defer stopWorkers()
	s.pacers = newPacers(work, func(token string, n int) { s.sim.Spend(token, n) })
	defer s.pacers.wait()
	workers.Go(func() { s.monitorLoop(work) })
	workers.Go(func() { s.alarmLoop(work, serveCtx) })
	workers.Go(func() { s.roomLoop(work) })
	// The monitor's first reading, so the first /quota finds it running.
	select {
	case <-rec.first:
	case <-time.After(15 * time.Second):
	case <-ctx.Done():
	}

	ended := s.interact(ctx, in)
	if ended && ctx.Err() == nil {
		// End of input: let the answers land, give the alarm a last look,
		// and show what arrived.
		s.settle(ctx)
		stopWorkers()
		s.evaluate(ctx, serveCtx)
		s.settle(ctx)
	}
	stopWorkers()
	s.showRoom()
	if ctx.Err() != nil || s.quit {
		s.out.Println(s.ph.stopped)
	}
	return nil
}

// settle waits until the simulator has no webhook delivery queued or in
// flight, the bot's replies included, bounded so a stuck receiver cannot
// hold up the exit.
func (s *session) settle(ctx context.Context) {
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	_ = s.sim.WaitIdle(wctx)
	s.showRoom()
}

func (s *session) summary() {
	threshold := fmt.Sprintf(s.ph.thresholdCount, s.cfg.Threshold)
	if s.cfg.ThresholdPercent {
		threshold = fmt.Sprintf(s.ph.thresholdPercent, s.cfg.Threshold)
	}
	s.out.Printf(s.ph.banner, s.simURL, RoomID, HumanID, BotID, s.hookURL, s.store.Path(), s.logPath,
		s.cfg.Limit, s.cfg.Window, s.cfg.Interval, threshold, s.labels(), alarm.QuotaShape.Scaled(s.cfg.Window).Span())
	if s.cfg.Interactive {
		s.out.Println(s.ph.ctrlC)
	}
}

// onScreen is the bot's ChatWork client, which also shows on screen why a
// message of the bot's was not posted (the bot only logs it): a post failed,
// or a reading found the quota used up.
type onScreen struct {
	*chatwork.Client
	s *session
}

func (c onScreen) ReadQuota(ctx context.Context) (chatwork.Reading, error) {
	r, err := c.Client.ReadQuota(ctx)
	if chatwork.KindOf(err) == chatwork.KindQuotaExhausted {
		c.notPosted(err)
	}
	return r, err
}

func (c onScreen) Post(ctx context.Context, roomID int64, body string) (chatwork.Posted, error) {
	posted, err := c.Client.Post(ctx, roomID, body)
	if err != nil {
		c.notPosted(err)
	}
	return posted, err
}

func (c onScreen) Upload(ctx context.Context, roomID int64, f chatwork.File) (chatwork.Uploaded, error) {
	up, err := c.Client.Upload(ctx, roomID, f)
	if err != nil {
		c.notPosted(err)
	}
	return up, err
}

func (c onScreen) notPosted(err error) {
	ph, why := c.s.ph, fmt.Sprintf(c.s.ph.failed, chatwork.KindOf(err))
	switch q := chatwork.QuotaOf(err); {
	case chatwork.KindOf(err) == chatwork.KindQuotaExhausted && q != nil:
		why = fmt.Sprintf(ph.exhausted, q.Reset.In(c.s.cfg.Location).Format("15:04:05"))
	case chatwork.KindOf(err) == chatwork.KindRoomLimit:
		why = ph.roomLimit
	}
	c.s.out.Event(time.Now(), ph.notPosted, botName, why)
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate a token: %w", err)
	}
	return hex.EncodeToString(b), nil
}
