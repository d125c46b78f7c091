package chatwork_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
)

const (
	oldToken    = "A9ne+ygvdV0IZBaPFV2zC1e5Bk+IsI14BPwieRoBQNU="
	newToken    = "bmV3LXdlYmhvb2stdG9rZW4tYWZ0ZXItYS1jaGFuZ2U="
	forgedToken = "Zm9yZ2VyJ3Mgb3duIHRva2VuLCBub3QgQ2hhdFdvcmsncw=="
)

var body = []byte(`{"webhook_event_type":"message_created"}`)

// fakeSource is the webhook token's parameter: it counts reads, and its
// token or error can be changed between them.
type fakeSource struct {
	mu          sync.Mutex
	token       string
	err         error
	reads       int
	invalidates int
}

func (f *fakeSource) Token(ctx context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	if err := ctx.Err(); err != nil {
		return "", err
	}
	return f.token, f.err
}

func (f *fakeSource) Invalidate() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.invalidates++
}

func (f *fakeSource) set(token string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.token, f.err = token, err
}

func (f *fakeSource) readCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// rotating is a RotatingVerifier over src on a fake clock, with the
// default intervals (1 minute, 5 s while no token is known).
func rotating(src *fakeSource) (*chatwork.RotatingVerifier, *clock) {
	c := &clock{now: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}
	return &chatwork.RotatingVerifier{Source: src, Now: c.Now}, c
}

func sig(t testing.TB, token string) string {
	t.Helper()
	s, err := chatwork.Sign(token, body)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSignatures(t *testing.T) {
	r := httptest.NewRequest("POST", "/?"+chatwork.SignatureQuery+"=a+b&"+chatwork.SignatureQuery+"=c", nil)
	r.Header["x-chatworkwebhooksignature"] = []string{"h1"}
	r.Header[chatwork.SignatureHeader] = []string{"h2"}
	got := chatwork.Signatures(r)
	slices.Sort(got[:2]) // header map order
	if want := []string{"h1", "h2", "a b", "a+b"}; !slices.Equal(got, want) {
		t.Errorf("Signatures = %q, want %q (at most four)", got, want)
	}
}

func TestRotatingVerifierTokenMissingAtStart(t *testing.T) {
	for name, missing := range map[string]error{
		"parameter not found": errors.New("ParameterNotFound"),
		"empty parameter":     nil,
	} {
		t.Run(name, func(t *testing.T) {
			src := &fakeSource{err: missing}
			v, c := rotating(src)
			good := sig(t, oldToken)
			for range 3 {
				if v.Verify(context.Background(), body, good) {
					t.Fatal("accepted while no token is known")
				}
			}
			if n := src.readCount(); n != 1 {
				t.Errorf("%d reads within MissingEvery, want 1", n)
			}
			src.set(oldToken, nil)
			c.advance(4 * time.Second)
			if v.Verify(context.Background(), body, good) || src.readCount() != 1 {
				t.Errorf("re-read before MissingEvery (reads %d)", src.readCount())
			}
			c.advance(time.Second)
			if !v.Verify(context.Background(), body, good) {
				t.Fatal("rejected once the token is there and MissingEvery has passed")
			}
			if n := src.readCount(); n != 2 {
				t.Errorf("%d reads, want 2", n)
			}
			if !v.Verify(context.Background(), body, good) || src.readCount() != 2 {
				t.Errorf("a known token is read again (reads %d)", src.readCount())
			}
		})
	}
}

func TestRotatingVerifierPicksUpANewToken(t *testing.T) {
	src := &fakeSource{token: oldToken}
	v, c := rotating(src)
	changes := 0
	v.OnChange = func(context.Context) { changes++ }
	if !v.Verify(context.Background(), body, sig(t, oldToken)) {
		t.Fatal("the first token is rejected")
	}
	src.set(newToken, nil)
	c.advance(time.Minute)
	// The caller hung up: the re-read still happens, and counts.
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	if !v.Verify(gone, body, sig(t, newToken)) {
		t.Fatal("a delivery signed with the new token is rejected")
	}
	if n := src.readCount(); n != 2 || changes != 1 {
		t.Errorf("reads %d changes %d, want one re-read that found a change", n, changes)
	}
	src.mu.Lock()
	invalidated := src.invalidates
	src.mu.Unlock()
	if invalidated != 2 {
		t.Errorf("the source's cache was invalidated %d times, want before each of the 2 reads", invalidated)
	}
	if v.Verify(context.Background(), body, sig(t, oldToken)) {
		t.Error("the old token still verifies")
	}
	if !v.Verify(context.Background(), body, sig(t, newToken)) || src.readCount() != 2 {
		t.Errorf("reads %d, want the new token kept without another read", src.readCount())
	}
}

// A flood of well-formed forged signatures reads the token at most once per
// Every (MissingEvery while none is known), and genuine deliveries in it
// are still accepted.
func TestRotatingVerifierRateLimitsReads(t *testing.T) {
	for _, c := range []struct {
		name  string
		token string
		want  int // reads over 600 s, the first at 0 s
	}{
		{"token known: once a minute", oldToken, 600 / 60},
		{"token missing: once every 5 s", "", 600 / 5},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := &fakeSource{token: c.token}
			v, clk := rotating(src)
			forged, good := sig(t, forgedToken), sig(t, oldToken)
			for range 600 {
				var wg sync.WaitGroup
				for range 4 {
					wg.Go(func() {
						if v.Verify(context.Background(), body, forged) {
							t.Error("a forged signature is accepted")
						}
					})
				}
				wg.Wait()
				if c.token != "" && !v.Verify(context.Background(), body, good) {
					t.Fatal("a genuine delivery is rejected during the flood")
				}
				clk.advance(time.Second)
			}
			if n := src.readCount(); n != c.want {
				t.Errorf("%d reads, want %d", n, c.want)
			}
		})
	}
}

func TestRotatingVerifierNeverReadsForJunk(t *testing.T) {
	src := &fakeSource{token: oldToken}
	v, c := rotating(src)
	junk := []string{"", "not base64!", "c2hvcnQ=", strings.Repeat("A", 44), sig(t, oldToken) + "="}
	for range 2 {
		for _, s := range junk {
			if v.Verify(context.Background(), body, s) {
				t.Errorf("junk %q accepted", s)
			}
		}
		c.advance(time.Hour)
	}
	if n := src.readCount(); n != 0 {
		t.Errorf("%d reads for junk signatures, want 0", n)
	}
}

// OnError learns why the token could not be read, whatever the source's
// error says, but never a token.
func TestRotatingVerifierOnErrorNeverGetsTheToken(t *testing.T) {
	src := &fakeSource{token: oldToken}
	v, c := rotating(src)
	var got []error
	v.OnError = func(_ context.Context, err error) { got = append(got, err) }
	if !v.Verify(context.Background(), body, sig(t, oldToken)) {
		t.Fatal("the token is rejected")
	}
	denied := errors.New("AccessDeniedException")
	for _, read := range []struct {
		token string
		err   error
	}{
		{"", fmt.Errorf("parameter value %q cannot be decrypted", oldToken)},
		{newToken, fmt.Errorf("read %s: throttled", newToken)},
		{"not base64 SECRET-VALUE", nil},
		{"", denied},
	} {
		src.set(read.token, read.err)
		c.advance(time.Minute)
		if v.Verify(context.Background(), body, sig(t, newToken)) {
			t.Errorf("accepted after a failed read of %+v", read)
		}
	}
	if len(got) != 4 {
		t.Fatalf("OnError called %d times, want 4", len(got))
	}
	for _, err := range got {
		for _, secret := range []string{oldToken, newToken, "SECRET-VALUE"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("OnError got %q", err)
			}
		}
	}
	if !errors.Is(got[3], denied) {
		t.Errorf("OnError got %v, want the source's error itself when it holds no token", got[3])
	}
	// The last good token is kept through the failures.
	if !v.Verify(context.Background(), body, sig(t, oldToken)) {
		t.Error("the last good token was dropped after failed reads")
	}
}
