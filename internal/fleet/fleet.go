// Package fleet is the set of ChatWork tokens a deployment watches: the
// bot's own token, and every token of a registry (an SSM path), listed again
// now and then so that a token put there joins, and a deleted one leaves,
// without a redeploy.
package fleet

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/sample"
	"github.com/quotabot/chatwork-quota-bot/internal/ssmparam"
)

// DefaultEvery is how often the registry is listed at most, by default.
const DefaultEvery = 5 * time.Minute

// Member is one watched token.
type Member struct {
	Label     string // its records' stream and metrics' Token dimension
	Parameter string // the SSM parameter that holds it
	Client    *chatwork.Client
}

// Registry lists the tokens under a path; *ssmparam.Registry is one.
type Registry interface {
	List(ctx context.Context) ([]ssmparam.Entry, error)
}

var _ Registry = (*ssmparam.Registry)(nil)

// Config configures a Fleet. Only NewClient is required.
type Config struct {
	OwnLabel     string               // the own token's label, default sample.DefaultLabel
	OwnParameter string               // where the own token is kept, for Member.Parameter
	Own          chatwork.TokenSource // the bot's own token; nil: none
	Registry     Registry             // nil: no path, only the own token
	// NewClient makes the client of a token.
	NewClient func(chatwork.TokenSource) (*chatwork.Client, error)
	Every     time.Duration // default DefaultEvery
	Logger    *slog.Logger  // nil: discarded
	Now       func() time.Time
}

// Fleet is safe for concurrent use. The registry is asked without the
// lock held, by one caller at a time.
type Fleet struct {
	cfg   Config
	own   *Member
	ready chan struct{} // closed once the registry was first asked, or when there is none

	mu      sync.Mutex
	listed  time.Time // when the registry was last asked
	listing bool      // a caller is asking it
	path    []Member
	known   map[string]known // path members by label
}

// known is a path member and its token: its client is kept while the token
// is unchanged.
type known struct {
	Member
	value string
}

// New returns a Fleet; it makes the own token's client at once and lists
// the registry on the first Members.
func New(cfg Config) (*Fleet, error) {
	if cfg.NewClient == nil {
		return nil, errors.New("fleet: Config.NewClient is required")
	}
	cfg.OwnLabel = cmp.Or(cfg.OwnLabel, sample.DefaultLabel)
	cfg.Every = cmp.Or(cfg.Every, DefaultEvery)
	cfg.Logger = cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler))
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	f := &Fleet{cfg: cfg, ready: make(chan struct{})}
	if cfg.Registry == nil {
		close(f.ready)
	}
	if cfg.Own != nil {
		if err := sample.CheckLabel(cfg.OwnLabel); err != nil {
			return nil, err
		}
		c, err := cfg.NewClient(cfg.Own)
		if err != nil {
			return nil, err
		}
		f.own = &Member{cfg.OwnLabel, cfg.OwnParameter, c}
	}
	return f, nil
}

// Members returns the own token first, then the registry's sorted by label.
// It lists the registry when Every has passed since the last time it asked,
// and keeps the last good list when that fails. While another caller lists
// it, Members returns the list as it stands at once; before there is one,
// it waits for the first listing as long as ctx allows.
func (f *Fleet) Members(ctx context.Context) []Member { return f.members(ctx, true) }

// Current is Members without a new listing: the list as it stands, for a
// caller with no time to wait for the registry. Only a Fleet that never
// asked the registry asks it, and that counts as Members' next listing.
func (f *Fleet) Current(ctx context.Context) []Member { return f.members(ctx, false) }

func (f *Fleet) members(ctx context.Context, relist bool) []Member {
	f.mu.Lock()
	now := f.cfg.Now()
	lead := f.cfg.Registry != nil && !f.listing && (f.listed.IsZero() || relist && now.Sub(f.listed) >= f.cfg.Every)
	if lead {
		f.listed, f.listing = now, true
	}
	prev, had := f.path, f.known
	f.mu.Unlock()
	if lead {
		path, next, ok := f.list(ctx, prev, had)
		f.mu.Lock()
		if ok {
			f.path, f.known = path, next
		}
		f.listing = false
		select {
		case <-f.ready:
		default: // under the lock: closed once
			close(f.ready)
		}
		f.mu.Unlock()
	}
	select {
	case <-f.ready:
	case <-ctx.Done():
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Member
	if f.own != nil {
		out = append(out, *f.own)
	}
	return append(out, f.path...)
}

// list asks the registry, and returns its members and their tokens by
// label, reusing the clients in had of the tokens that did not change.
func (f *Fleet) list(ctx context.Context, prev []Member, had map[string]known) ([]Member, map[string]known, bool) {
	log := f.cfg.Logger
	entries, err := f.cfg.Registry.List(ctx)
	if err != nil {
		log.Warn("list tokens: keeping the last list", "error", err, "tokens", len(prev))
		return nil, nil, false
	}
	var own string
	if f.own != nil {
		own, _ = f.cfg.Own.Token(ctx) // unreadable: no path token can be told to be it
	}
	var path []Member
	next := map[string]known{}
	for _, e := range entries {
		skip := func(reason string) { log.Warn("skip token parameter", "parameter", e.Parameter, "reason", reason) }
		switch {
		case own != "" && e.Value == own:
			skip("the bot's own token, watched as " + f.own.Label)
			continue
		case f.own != nil && strings.EqualFold(e.Label, f.own.Label):
			skip("its label names the bot's own token")
			continue
		}
		k, ok := had[e.Label]
		if !ok || k.value != e.Value {
			c, err := f.cfg.NewClient(chatwork.StaticToken(e.Value))
			if err != nil {
				skip(err.Error())
				continue
			}
			if !ok {
				log.Info("token joins", "label", e.Label, "parameter", e.Parameter)
			}
			k = known{Member{e.Label, e.Parameter, c}, e.Value}
		}
		next[e.Label] = k
		path = append(path, k.Member)
	}
	for _, m := range prev {
		if _, ok := next[m.Label]; !ok {
			log.Info("token leaves", "label", m.Label, "parameter", m.Parameter)
		}
	}
	return path, next, true
}
