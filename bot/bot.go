// Package bot is the webhook side of the quota bot: it verifies ChatWork's
// signed webhook deliveries, recognises the /quota command in a room, and
// answers with the token's current quota and its recent history, or with
// a chart of the tokens' quota over a period.
//
// The heart is an http.Handler (Bot.Handler), so the same code serves the
// Lambda Function URL adapter, the local sandbox and httptest. Every
// dependency is a small interface (ChatWork, Verifier and State here, the
// record store's in internal/sample); the wiring supplies the real ChatWork
// client, the CloudWatch Logs recorder and history, and the state table.
package bot

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/alarm"
	"github.com/quotabot/chatwork-quota-bot/internal/chart"
	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
	"github.com/quotabot/chatwork-quota-bot/internal/state"
	"github.com/quotabot/chatwork-quota-bot/internal/wait"
)

// ChatWork is what the bot needs from the ChatWork API with its own token.
// *chatwork.Client implements it.
type ChatWork interface {
	Reader
	Post(ctx context.Context, roomID int64, body string) (chatwork.Posted, error)
	// Upload posts a file (a chart) with its message, in one call that
	// counts toward the room's posting limit like a post.
	Upload(ctx context.Context, roomID int64, f chatwork.File) (chatwork.Uploaded, error)
}

// Reader reads one token's quota. *chatwork.Client implements it.
type Reader interface {
	ReadQuota(ctx context.Context) (chatwork.Reading, error)
}

// Token is one monitored token: its label and a client reading with it.
type Token struct {
	Label  string
	Reader Reader
}

// Verifier checks a webhook delivery's signature over its raw body.
// *chatwork.Verifier (one fixed token) and *chatwork.RotatingVerifier (a
// token read from SSM that may change) implement it.
type Verifier interface {
	Verify(ctx context.Context, body []byte, signature string) bool
}

// State is the bot's memory of what it did: in one process
// (*state.Memory), or shared by every instance of the function in a table
// (*state.Dynamo), where each "first one wins" is a conditional write.
// Times come from the bot's clock.
type State interface {
	// Answered records that a message is being answered, and reports
	// whether no one answered it before.
	Answered(ctx context.Context, room int64, messageID string, now time.Time) (bool, error)
	// Claim takes an alarm transition before its message is posted; Settle
	// records what was done, or with "" releases the claim for a retry.
	Claim(ctx context.Context, key string, now time.Time) (state.Claim, error)
	Settle(ctx context.Context, c state.Claim, outcome string, now time.Time) error
	// Last, Lasts and SetLast keep each alarm's tokens' last states.
	Last(ctx context.Context, alarm, token string) (state.Last, bool, error)
	Lasts(ctx context.Context) ([]state.Last, error)
	SetLast(ctx context.Context, l state.Last, now time.Time) error
	// Mutes lists the mutes, ended ones until DropMute removes them.
	Mutes(ctx context.Context) ([]state.Mute, error)
	SetMute(ctx context.Context, m state.Mute, now time.Time) error
	DropMute(ctx context.Context, m state.Mute) error
	// Transitions lists the alarm transitions settled in [from, to): the
	// digest's alarm messages and the token-errors alarm's changes.
	Transitions(ctx context.Context, from, to time.Time) ([]state.Transition, error)
}

// Deps are the bot's collaborators. All but Logger, Tokens, State and
// Metrics are required.
type Deps struct {
	ChatWork
	sample.Recorder
	sample.History
	Verifier Verifier
	Logger   *slog.Logger // nil discards logs
	// Tokens lists the deployment's tokens; nil means the bot's own only.
	// The own token (Config.TokenLabel) comes first whatever the list says,
	// read through ChatWork.
	Tokens func(ctx context.Context) []Token
	// State is the bot's memory (QUOTA_STATE_TABLE); nil keeps it in this
	// process.
	State State
	// Charts gives the low points the bot's charts draw (CloudWatch's
	// metrics on AWS, the records file in the sandbox); nil: no charts,
	// alerts are posted as text.
	Charts chart.Source
	// Metrics gets the EMF line of each alarm message the bot gives up
	// posting (the function's stdout, where CloudWatch extracts it); nil
	// drops them.
	Metrics io.Writer
}

// Config tunes the bot. Zero values take the defaults noted per field.
type Config struct {
	// RoomID is CHATWORK_ROOM_ID: the room alerts go to. It may always ask.
	RoomID int64
	// AllowedRoomIDs are further rooms that may ask (CHATWORK_ALLOWED_ROOM_IDS).
	AllowedRoomIDs []int64
	// AdminAccountIDs are QUOTA_ADMIN_ACCOUNT_IDS: the accounts that may
	// mute and unmute. Empty: anyone in an allowed room.
	AdminAccountIDs []int64
	// BotAccountID is the bot's own account, whose messages are ignored.
	// 0 learns it from the first reading's AccountID; until then only a
	// /quota, which reads first, can tell its own messages.
	BotAccountID int64
	// Language is "ja" or "en"; default DefaultLanguage.
	Language string
	// Location is QUOTA_TIME_ZONE for times in messages; default Asia/Tokyo.
	Location *time.Location
	// TokenLabel is QUOTA_TOKEN_LABEL; default sample.DefaultLabel.
	TokenLabel string
	// Threshold is the alarm threshold shown in answers: a count of remaining
	// calls, or with ThresholdPercent a percentage of the limit.
	Threshold        int
	ThresholdPercent bool
	// MonitorInterval is the monitor's schedule period (default 1m, as the
	// monitor's). A latest monitor sample older than twice this plus a
	// minute makes the answer warn that the monitor looks stopped.
	MonitorInterval time.Duration
	// Window is the rate-limit window, the period of a chart's low points;
	// default chart.Window (ChatWork's 5 minutes). A shorter one (the
	// sandbox's) shortens the charts' periods in proportion: "3h" is 3
	// hours' worth of windows.
	Window time.Duration
	// MaxBody is the largest webhook body accepted; default 64 KiB.
	MaxBody int64
	// Now is the clock for messages and records; default time.Now.
	Now func() time.Time
	// Sleep waits out the per-room posting limit; default wait.Sleep.
	Sleep func(ctx context.Context, d time.Duration) error

	// AlarmName is QUOTA_ALARM_NAME: the CloudWatch alarm on the quota,
	// PaceAlarmName QUOTA_PACE_ALARM_NAME (the projected remaining at the
	// reset, at or under 0: the quota runs out before the reset at the pace
	// seen), ErrorsAlarmName QUOTA_ERRORS_ALARM_NAME (failed readings per
	// token) and HeartbeatAlarmName QUOTA_HEARTBEAT_ALARM_NAME (the
	// monitor's completed ticks). An empty name takes any alarm on that
	// alarm's metric in sample.Namespace (for this token label, when it
	// names one) for it, as the sandbox needs. Other alarms get a plain
	// message. The quota and pace alarms of a token are one episode for
	// the room (see Episode) when both names are set: each finds the
	// other's last state under the other's name.
	AlarmName, PaceAlarmName, ErrorsAlarmName, HeartbeatAlarmName string
	// DashboardURL is QUOTA_DASHBOARD_URL, linked from alarm messages when
	// set. It must be an absolute http(s) URL.
	DashboardURL string
	// MentionAll and MentionAccountIDs are QUOTA_ALERT_MENTIONS (see
	// ParseMentions): the low-quota alert starts with [toall], or with
	// [To:id] for each id. At most one of the two may be set.
	MentionAll        bool
	MentionAccountIDs []int64
}

const (
	defaultMaxBody         = 64 << 10
	defaultMonitorInterval = time.Minute
	defaultTimeZone        = "Asia/Tokyo"
)

func (c *Config) defaults() {
	c.Language = cmp.Or(c.Language, DefaultLanguage)
	c.TokenLabel = cmp.Or(c.TokenLabel, sample.DefaultLabel)
	c.MonitorInterval = cmp.Or(c.MonitorInterval, defaultMonitorInterval)
	c.Window = cmp.Or(c.Window, chart.Window)
	c.MaxBody = cmp.Or(c.MaxBody, defaultMaxBody)
	if c.Location == nil {
		c.Location = defaultLocation()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Sleep == nil {
		c.Sleep = wait.Sleep
	}
}

// defaultLocation is Asia/Tokyo, or a fixed +09:00 "JST" zone when the
// system has no tz database (a bare Lambda image unless cmd imports
// time/tzdata): Japan has no daylight saving, so the two agree.
func defaultLocation() *time.Location {
	if loc, err := time.LoadLocation(defaultTimeZone); err == nil {
		return loc
	}
	return time.FixedZone("JST", 9*60*60)
}

func (c *Config) validate() error {
	switch {
	case c.RoomID <= 0:
		return fmt.Errorf("room id must be a positive ChatWork room id, got %d", c.RoomID)
	case c.BotAccountID < 0:
		return fmt.Errorf("bot account id must not be negative, got %d", c.BotAccountID)
	case c.MonitorInterval < 0:
		return fmt.Errorf("monitor interval must not be negative, got %v", c.MonitorInterval)
	case c.MaxBody < 0:
		return fmt.Errorf("max body must not be negative, got %d", c.MaxBody)
	}
	for _, err := range []error{CheckLanguage(c.Language), alarm.CheckThreshold(c.Threshold, c.ThresholdPercent), sample.CheckLabel(c.TokenLabel)} {
		if err != nil {
			return err
		}
	}
	for _, id := range append(c.AllowedRoomIDs, c.AdminAccountIDs...) {
		if id <= 0 {
			return fmt.Errorf("allowed room ids and admin account ids must be positive, got %d", id)
		}
	}
	if c.MentionAll && len(c.MentionAccountIDs) > 0 {
		return errors.New("alert mentions: mention all and mention account ids exclude each other")
	}
	for _, id := range c.MentionAccountIDs {
		if id <= 0 {
			return fmt.Errorf("alert mentions: account ids must be positive, got %d", id)
		}
	}
	if c.DashboardURL != "" {
		if err := checkDashboardURL(c.DashboardURL); err != nil {
			return err
		}
	}
	return nil
}

// checkDashboardURL accepts an absolute http(s) URL that cannot break the
// message it is put in: no spaces (ChatWork would end the link there) and
// no square brackets (they would read as notation).
func checkDashboardURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
		return fmt.Errorf("dashboard url %q is not an absolute http(s) URL", s)
	case len(s) > 2048:
		return fmt.Errorf("dashboard url is %d bytes long, want at most 2048", len(s))
	case strings.ContainsAny(s, " \t\r\n[]"):
		return fmt.Errorf("dashboard url %q contains a space or a square bracket", s)
	}
	return nil
}

// Bot answers /quota commands delivered by ChatWork webhooks.
type Bot struct {
	cfg      Config
	text     *phrases
	rooms    map[int64]bool
	cw       ChatWork
	list     func(ctx context.Context) []Token
	rec      sample.Recorder
	hist     sample.History
	verifier Verifier
	log      *slog.Logger
	state    State
	charts   chart.Source
	metrics  io.Writer

	// self is the bot's own account id: Config.BotAccountID, or learned from
	// a reading. Atomic because concurrent deliveries may learn it at once.
	self atomic.Int64
	// locks serialise the handling of one alarm transition in this process,
	// so that a duplicate delivered at the same moment waits for the first
	// and finds it settled. Instances elsewhere meet at the state's claim.
	locks [32]sync.Mutex
	seed  maphash.Seed
}

// New checks cfg and deps and returns a Bot. It never panics: every problem
// is an error naming the setting.
func New(cfg Config, deps Deps) (*Bot, error) {
	cfg.defaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("bot config: %w", err)
	}
	switch {
	case deps.ChatWork == nil:
		return nil, errors.New("bot: a ChatWork client is required")
	case deps.Recorder == nil:
		return nil, errors.New("bot: a recorder is required")
	case deps.History == nil:
		return nil, errors.New("bot: a history source is required")
	case deps.Verifier == nil:
		return nil, errors.New("bot: a webhook signature verifier is required")
	}
	log := cmp.Or(deps.Logger, slog.New(slog.DiscardHandler))
	rooms := map[int64]bool{cfg.RoomID: true}
	for _, id := range cfg.AllowedRoomIDs {
		rooms[id] = true
	}
	b := &Bot{
		cfg:      cfg,
		text:     languages[cfg.Language],
		rooms:    rooms,
		cw:       deps.ChatWork,
		list:     deps.Tokens,
		rec:      deps.Recorder,
		hist:     deps.History,
		log:      log,
		verifier: deps.Verifier,
		state:    timedState{cmp.Or[State](deps.State, &state.Memory{})},
		charts:   deps.Charts,
		metrics:  cmp.Or[io.Writer](deps.Metrics, io.Discard),
		seed:     maphash.MakeSeed(),
	}
	b.self.Store(cfg.BotAccountID)
	return b, nil
}

// own is the bot's own token.
func (b *Bot) own() Token { return Token{b.cfg.TokenLabel, b.cw} }

// labelsOf is the labels of tokens, in their order.
func labelsOf(tokens []Token) []string {
	labels := make([]string, len(tokens))
	for i, t := range tokens {
		labels[i] = t.Label
	}
	return labels
}

// tokens lists the deployment's tokens, the own first, each label once.
func (b *Bot) tokens(ctx context.Context) []Token {
	out := []Token{b.own()}
	if b.list == nil {
		return out
	}
	seen := map[string]bool{b.cfg.TokenLabel: true}
	for _, t := range b.list(ctx) {
		if t.Reader != nil && !seen[t.Label] && sample.CheckLabel(t.Label) == nil {
			seen[t.Label] = true
			out = append(out, t)
		}
	}
	return out
}

// ParseAllowedRooms parses CHATWORK_ALLOWED_ROOM_IDS: comma-separated room
// ids, spaces allowed around each. An empty string means no extra rooms.
func ParseAllowedRooms(s string) ([]int64, error) { return parseIDs(s, "allowed room ids", "room id") }

// ParseAdmins parses QUOTA_ADMIN_ACCOUNT_IDS: comma-separated account ids,
// spaces allowed around each. An empty string means no admins: anyone in
// an allowed room may mute.
func ParseAdmins(s string) ([]int64, error) { return parseIDs(s, "admin account ids", "account id") }

func parseIDs(s, what, one string) ([]int64, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	ids := make([]int64, 0, len(parts))
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			return nil, fmt.Errorf("%s: item %d is empty (want comma-separated %ss like 123,456)", what, i+1, one)
		}
		id, err := strconv.ParseInt(p, 10, 64)
		if err != nil || id <= 0 {
			return nil, fmt.Errorf("%s: item %d %q is not a positive %s", what, i+1, p, one)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// ParseMentions parses QUOTA_ALERT_MENTIONS: empty for no mention, "all"
// for [toall], or comma-separated ChatWork account ids (spaces allowed
// around each) for one [To:id] each. Repeated ids are mentioned once.
func ParseMentions(s string) (all bool, ids []int64, err error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return false, nil, nil
	case strings.EqualFold(s, "all"):
		return true, nil, nil
	}
	parts := strings.Split(s, ",")
	seen := make(map[int64]bool, len(parts))
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			return false, nil, fmt.Errorf("alert mentions: item %d is empty (want \"all\" or comma-separated account ids like 123,456)", i+1)
		}
		id, err := strconv.ParseInt(p, 10, 64)
		if err != nil || id <= 0 {
			return false, nil, fmt.Errorf("alert mentions: item %d %q is not a positive account id (want \"all\" or comma-separated account ids like 123,456)", i+1, p)
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return false, ids, nil
}
