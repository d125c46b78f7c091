package fleet_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/quotabot/chatwork-quota-bot/internal/awstest"
	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
	"github.com/quotabot/chatwork-quota-bot/internal/fleet"
	"github.com/quotabot/chatwork-quota-bot/internal/ssmparam"
)

func TestMain(m *testing.M) { awstest.Main(m) }

const ownToken = "own-SECRET-token"

// registry is a fake fleet.Registry: the entries of a path, or an error.
type registry struct {
	mu      sync.Mutex
	entries map[string]string // label → token
	err     error
	calls   int
}

func (r *registry) set(entries map[string]string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries, r.err = entries, err
}

func (r *registry) List(context.Context) ([]ssmparam.Entry, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.err != nil {
		return nil, r.err
	}
	var out []ssmparam.Entry
	for _, label := range slices.Sorted(maps.Keys(r.entries)) {
		out = append(out, ssmparam.Entry{Label: label, Parameter: "/tokens/" + label, Value: r.entries[label], Type: ssmtypes.ParameterTypeSecureString})
	}
	return out, nil
}

func (r *registry) n() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}

// clock is a fake clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// env is a fleet under test and what it was built from.
type env struct {
	reg    *registry
	clock  *clock
	logs   *bytes.Buffer
	tokens map[*chatwork.Client]string // each client NewClient made → its token
	fleet  *fleet.Fleet
}

func newEnv(t *testing.T, own chatwork.TokenSource, reg fleet.Registry) *env {
	t.Helper()
	e := &env{clock: &clock{now: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)}, logs: &bytes.Buffer{}, tokens: map[*chatwork.Client]string{}}
	if r, ok := reg.(*registry); ok {
		e.reg = r
	}
	var mu sync.Mutex
	f, err := fleet.New(fleet.Config{
		OwnLabel: "bot", OwnParameter: "/quotabot/token", Own: own, Registry: reg,
		NewClient: func(ts chatwork.TokenSource) (*chatwork.Client, error) {
			c, err := chatwork.New(chatwork.Config{BaseURL: "http://127.0.0.1:1/v2", Token: ts})
			tok, _ := ts.Token(context.Background())
			mu.Lock()
			e.tokens[c] = tok
			mu.Unlock()
			return c, err
		},
		Logger: slog.New(slog.NewTextHandler(e.logs, nil)),
		Now:    e.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.fleet = f
	return e
}

// members returns label=token for each member, in order.
func (e *env) members(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, m := range e.fleet.Members(t.Context()) {
		if m.Client == nil || m.Parameter == "" {
			t.Fatalf("member %+v without a client or parameter", m)
		}
		out = append(out, m.Label+"="+e.tokens[m.Client])
	}
	return out
}

func client(t *testing.T, f *fleet.Fleet, label string) *chatwork.Client {
	t.Helper()
	for _, m := range f.Members(t.Context()) {
		if m.Label == label {
			return m.Client
		}
	}
	t.Fatalf("no member %s", label)
	return nil
}

func TestWithoutRegistryOnlyTheOwnToken(t *testing.T) {
	e := newEnv(t, chatwork.StaticToken(ownToken), nil)
	got := e.fleet.Members(t.Context())
	if len(got) != 1 || got[0].Label != "bot" || got[0].Parameter != "/quotabot/token" || e.tokens[got[0].Client] != ownToken {
		t.Errorf("Members = %+v", got)
	}
	if again := e.fleet.Members(t.Context()); again[0].Client != got[0].Client {
		t.Error("the own client is not kept")
	}
}

func TestRelistsAtMostEveryFiveMinutes(t *testing.T) {
	reg := &registry{entries: map[string]string{"notify": "tok-n", "deploy": "tok-d", "report": "tok-r"}}
	e := newEnv(t, chatwork.StaticToken(ownToken), reg)
	want := []string{"bot=" + ownToken, "deploy=tok-d", "notify=tok-n", "report=tok-r"}
	if got := e.members(t); !reflect.DeepEqual(got, want) {
		t.Fatalf("Members = %v, want %v", got, want)
	}
	deploy, report := client(t, e.fleet, "deploy"), client(t, e.fleet, "report")

	// A token added, one deleted and one rotated: nothing changes before
	// five minutes have passed since the list.
	reg.set(map[string]string{"alpha": "tok-a", "deploy": "tok-d2", "report": "tok-r"}, nil)
	e.clock.Advance(5*time.Minute - time.Second)
	if got := e.members(t); !reflect.DeepEqual(got, want) || reg.n() != 1 {
		t.Fatalf("before 5m: Members = %v after %d lists, want the first list", got, reg.n())
	}
	e.clock.Advance(time.Second)
	want = []string{"bot=" + ownToken, "alpha=tok-a", "deploy=tok-d2", "report=tok-r"}
	if got := e.members(t); !reflect.DeepEqual(got, want) || reg.n() != 2 {
		t.Fatalf("at 5m: Members = %v after %d lists, want %v", got, reg.n(), want)
	}
	if client(t, e.fleet, "report") != report {
		t.Error("report's token did not change, but its client did")
	}
	if client(t, e.fleet, "deploy") == deploy {
		t.Error("deploy's token changed, but its client did not")
	}
	logs := e.logs.String()
	for _, want := range []string{"token joins\" label=alpha parameter=/tokens/alpha", "token leaves\" label=notify"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, "tok-") || strings.Contains(logs, "SECRET") {
		t.Errorf("a token in the logs:\n%s", logs)
	}
}

func TestKeepsTheLastGoodList(t *testing.T) {
	reg := &registry{err: errors.New("list SSM parameters under \"/tokens/\": throttled: rate exceeded")}
	e := newEnv(t, chatwork.StaticToken(ownToken), reg)
	// No list yet: the own token alone.
	if got := e.members(t); !reflect.DeepEqual(got, []string{"bot=" + ownToken}) {
		t.Fatalf("first list failed: Members = %v", got)
	}
	reg.set(map[string]string{"deploy": "tok-d"}, nil)
	e.clock.Advance(5 * time.Minute)
	want := []string{"bot=" + ownToken, "deploy=tok-d"}
	if got := e.members(t); !reflect.DeepEqual(got, want) {
		t.Fatalf("Members = %v, want %v", got, want)
	}
	deploy := client(t, e.fleet, "deploy")

	reg.set(nil, errors.New("list SSM parameters under \"/tokens/\": access denied"))
	e.clock.Advance(5 * time.Minute)
	if got := e.members(t); !reflect.DeepEqual(got, want) || client(t, e.fleet, "deploy") != deploy {
		t.Fatalf("SSM failed: Members = %v, want the last good list %v with its clients", got, want)
	}
	// A failed list counts: the next one is five minutes later.
	e.members(t)
	if reg.n() != 3 {
		t.Errorf("%d lists, want 3", reg.n())
	}
	if !strings.Contains(e.logs.String(), `level=WARN msg="list tokens: keeping the last list" error="list SSM parameters under \"/tokens/\": access denied" tokens=1`) {
		t.Errorf("logs:\n%s", e.logs.String())
	}
}

func TestSkipsTheOwnToken(t *testing.T) {
	reg := &registry{entries: map[string]string{"copy": ownToken, "BOT": "tok-other", "deploy": "tok-d"}}
	e := newEnv(t, chatwork.StaticToken(ownToken), reg)
	if got, want := e.members(t), []string{"bot=" + ownToken, "deploy=tok-d"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Members = %v, want %v", got, want)
	}
	logs := e.logs.String()
	for _, want := range []string{
		`level=WARN msg="skip token parameter" parameter=/tokens/copy reason="the bot's own token, watched as bot"`,
		`level=WARN msg="skip token parameter" parameter=/tokens/BOT reason="its label names the bot's own token"`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, "SECRET") {
		t.Errorf("the own token in the logs:\n%s", logs)
	}
}

func TestWithoutOwnToken(t *testing.T) {
	reg := &registry{entries: map[string]string{"deploy": "tok-d"}}
	e := newEnv(t, nil, reg)
	if got := e.members(t); !reflect.DeepEqual(got, []string{"deploy=tok-d"}) {
		t.Errorf("Members = %v", got)
	}
}

func TestConfigErrors(t *testing.T) {
	newClient := func(ts chatwork.TokenSource) (*chatwork.Client, error) {
		return chatwork.New(chatwork.Config{BaseURL: "ftp://x", Token: ts})
	}
	if _, err := fleet.New(fleet.Config{Own: chatwork.StaticToken("x")}); err == nil {
		t.Error("no error without NewClient")
	}
	if _, err := fleet.New(fleet.Config{Own: chatwork.StaticToken("x"), NewClient: newClient}); err == nil || !strings.Contains(err.Error(), "scheme") {
		t.Errorf("own client: err = %v", err)
	}
	if _, err := fleet.New(fleet.Config{OwnLabel: "no spaces", Own: chatwork.StaticToken("x"), NewClient: newClient}); err == nil {
		t.Error("no error for a bad own label")
	}
	// A path token whose client cannot be made is skipped with a warning.
	var logs bytes.Buffer
	f, err := fleet.New(fleet.Config{Registry: &registry{entries: map[string]string{"deploy": "tok-d"}}, NewClient: newClient,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Members(t.Context()); len(got) != 0 || !strings.Contains(logs.String(), "parameter=/tokens/deploy") {
		t.Errorf("Members = %v\n%s", got, logs.String())
	}
}

// Members is called from concurrent handlers while lists come and go.
func TestConcurrentMembers(t *testing.T) {
	reg := &registry{entries: map[string]string{"deploy": "tok-d"}}
	e := newEnv(t, chatwork.StaticToken(ownToken), reg)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 20 {
				if i == 0 {
					e.clock.Advance(time.Minute)
					reg.set(map[string]string{"deploy": "tok-d", "n": string(rune('a' + j%3))}, nil)
				}
				if ms := e.fleet.Members(context.Background()); len(ms) < 2 || ms[0].Label != "bot" || ms[1].Label != "deploy" {
					t.Errorf("Members = %+v", ms)
				}
			}
		})
	}
	wg.Wait()
}

// Against moto: a path of SecureStrings through ssmparam.Registry, with the
// own token kept elsewhere and also put under the path by mistake.
func TestAgainstMoto(t *testing.T) {
	cfg := awstest.Config(t, awstest.StartMoto(t))
	api := ssm.NewFromConfig(cfg)
	root := "/" + awstest.UniqueName(t, "quotabot/")
	path := root + "/tokens/"
	awstest.PutSecureString(t, cfg, root+"/token", ownToken)
	awstest.PutSecureString(t, cfg, path+"deploy", "tok-deploy")
	awstest.PutSecureString(t, cfg, path+"same-as-bot", ownToken)

	e := newEnv(t, ssmparam.New(api, root+"/token"), ssmparam.NewRegistry(api, path, nil))
	if got, want := e.members(t), []string{"bot=" + ownToken, "deploy=tok-deploy"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Members = %v, want %v", got, want)
	}
	awstest.PutSecureString(t, cfg, path+"notify", "tok-notify")
	if _, err := api.DeleteParameter(t.Context(), &ssm.DeleteParameterInput{Name: aws.String(path + "deploy")}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(5 * time.Minute)
	if got, want := e.members(t), []string{"bot=" + ownToken, "notify=tok-notify"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after put and delete: Members = %v, want %v", got, want)
	}
	if !strings.Contains(e.logs.String(), "parameter="+path+"same-as-bot reason=\"the bot's own token") {
		t.Errorf("logs:\n%s", e.logs.String())
	}
}

// blockingRegistry lists when the test releases it, and tells when a
// listing begins.
type blockingRegistry struct {
	*registry
	entered, release chan struct{}
}

func (r blockingRegistry) List(ctx context.Context) ([]ssmparam.Entry, error) {
	r.entered <- struct{}{}
	select {
	case <-r.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return r.registry.List(ctx)
}

// While one caller lists the registry again, the others get the list as it
// stands at once; before there is a list, they wait for the first one only
// as long as their context allows.
func TestCallersDoNotWaitForAListing(t *testing.T) {
	reg := &registry{entries: map[string]string{"deploy": "tok-d"}}
	br := blockingRegistry{reg, make(chan struct{}), make(chan struct{})}
	e := newEnv(t, chatwork.StaticToken(ownToken), br)
	members := func(ctx context.Context, list func(context.Context) []fleet.Member) <-chan []string {
		ch := make(chan []string, 1)
		go func() {
			var labels []string
			for _, m := range list(ctx) {
				labels = append(labels, m.Label)
			}
			ch <- labels
		}()
		return ch
	}
	// A watchdog, not a measure: a caller that waits behind the listing
	// waits until the test releases it.
	answer := func(ch <-chan []string, when string) []string {
		t.Helper()
		select {
		case got := <-ch:
			return got
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: a caller waits for another caller's listing", when)
			return nil
		}
	}

	first := members(context.Background(), e.fleet.Members)
	<-br.entered
	ctx, cancel := context.WithCancel(context.Background())
	waiting := members(ctx, e.fleet.Members)
	cancel()
	if got := answer(waiting, "before the first list"); !slices.Equal(got, []string{"bot"}) {
		t.Fatalf("before the first list, a caller whose context ended got %v, want [bot]", got)
	}
	br.release <- struct{}{}
	if got := answer(first, "the first list"); !slices.Equal(got, []string{"bot", "deploy"}) {
		t.Fatalf("the first list: %v", got)
	}

	reg.set(map[string]string{"deploy": "tok-d", "notify": "tok-n"}, nil)
	e.clock.Advance(5 * time.Minute)
	again := members(context.Background(), e.fleet.Members)
	<-br.entered
	for range 3 {
		if got := answer(members(context.Background(), e.fleet.Members), "during a listing"); !slices.Equal(got, []string{"bot", "deploy"}) {
			t.Fatalf("during a listing: %v, want the list as it stands", got)
		}
	}
	br.release <- struct{}{}
	if got := answer(again, "the second list"); !slices.Equal(got, []string{"bot", "deploy", "notify"}) || reg.n() != 2 {
		t.Fatalf("the second list: %v after %d lists", got, reg.n())
	}
}

// Current never lists the registry again: only a fleet that never listed
// it lists it, and that listing is the one Members would have made.
func TestCurrentDoesNotRelist(t *testing.T) {
	reg := &registry{entries: map[string]string{"deploy": "tok-d"}}
	e := newEnv(t, chatwork.StaticToken(ownToken), reg)
	current := func() []string {
		var out []string
		for _, m := range e.fleet.Current(t.Context()) {
			out = append(out, m.Label+"="+e.tokens[m.Client])
		}
		return out
	}
	want := []string{"bot=" + ownToken, "deploy=tok-d"}
	if got := current(); !reflect.DeepEqual(got, want) || reg.n() != 1 {
		t.Fatalf("a fleet that never listed: Current = %v after %d lists", got, reg.n())
	}
	if got := e.members(t); !reflect.DeepEqual(got, want) || reg.n() != 1 {
		t.Fatalf("Members after Current's list: %v after %d lists", got, reg.n())
	}
	reg.set(map[string]string{"notify": "tok-n"}, nil)
	e.clock.Advance(time.Hour)
	if got := current(); !reflect.DeepEqual(got, want) || reg.n() != 1 {
		t.Fatalf("an hour later: Current = %v after %d lists, want the list as it stands", got, reg.n())
	}
	if got := e.members(t); !reflect.DeepEqual(got, []string{"bot=" + ownToken, "notify=tok-n"}) || reg.n() != 2 {
		t.Fatalf("Members an hour later: %v after %d lists", got, reg.n())
	}
}
