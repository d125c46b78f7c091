package chatwork

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Where ChatWork puts a delivery's signature; it sends both.
const (
	SignatureHeader = "X-ChatWorkWebhookSignature"
	SignatureQuery  = "chatwork_webhook_signature"
)

// Signatures collects the candidate signatures of a request, at most four
// to bound the work an unsigned request causes. Header names are matched in
// any case (an adapter may copy a Function URL's lower-cased headers). A
// query value whose '+' was decoded to ' ' is tried as written too: the HMAC
// decides, so extra candidates cost nothing in safety.
func Signatures(r *http.Request) []string {
	var sigs []string
	for name, values := range r.Header {
		if strings.EqualFold(name, SignatureHeader) {
			sigs = append(sigs, values...)
		}
	}
	if r.URL != nil {
		for _, v := range r.URL.Query()[SignatureQuery] {
			sigs = append(sigs, v)
			if strings.Contains(v, " ") {
				sigs = append(sigs, strings.ReplaceAll(v, " ", "+"))
			}
		}
	}
	const maxCandidates = 4
	if len(sigs) > maxCandidates {
		sigs = sigs[:maxCandidates]
	}
	return sigs
}

// RotatingVerifier checks signatures against a webhook token that lives in
// a TokenSource (SSM) and may change: ChatWork issues a new token when a
// webhook is created anew, and the token may not exist yet when the function
// starts. While no token could be read every signature fails.
//
// A well-formed signature that fails makes it read the token again, at most
// every Every (MissingEvery while no token is known) so that forged requests
// cannot hammer the source, and check the signature against a new token.
type RotatingVerifier struct {
	Source TokenSource
	// Every and MissingEvery bound the re-reads; defaults 1 minute and 5 s.
	Every, MissingEvery time.Duration
	// OnError is told why the token could not be read (never the token).
	OnError func(ctx context.Context, err error)
	// OnChange is told when a re-read found a new token.
	OnChange func(ctx context.Context)
	// Now is the clock; default time.Now.
	Now func() time.Time

	mu      sync.Mutex
	token   string
	current *Verifier
	checked time.Time
}

// Verify reports whether signature is body's signature under the current
// token, reading the token again first when it is due.
func (v *RotatingVerifier) Verify(ctx context.Context, body []byte, signature string) bool {
	if _, ok := signatureBytes(signature); !ok {
		return false // no token accepts junk, so it never costs a read
	}
	cur := v.verifier(ctx, false)
	if cur != nil && cur.Verify(ctx, body, signature) {
		return true
	}
	// Compared with the verifier that failed, not a second look: another
	// request may have swapped it in meanwhile.
	fresh := v.verifier(ctx, true)
	return fresh != nil && fresh != cur && fresh.Verify(ctx, body, signature)
}

// verifier returns the verifier of the current token, reading the token
// first when refresh is set and a re-read is due, or when none was read yet.
func (v *RotatingVerifier) verifier(ctx context.Context, refresh bool) *Verifier {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	every := cmp.Or(v.Every, time.Minute)
	if v.current == nil {
		every = cmp.Or(v.MissingEvery, 5*time.Second)
	}
	due := v.checked.IsZero() || now().Sub(v.checked) >= every
	if !due || (!refresh && !v.checked.IsZero()) {
		return v.current
	}
	v.checked = now()
	if inv, ok := v.Source.(Invalidator); ok {
		inv.Invalidate()
	}
	// Not cancelled with the request: a caller that hangs up must not waste
	// the re-read that the rate limit allows. Its deadline still holds.
	end := time.Now().Add(5 * time.Second)
	if dl, ok := ctx.Deadline(); ok && dl.Before(end) {
		end = dl
	}
	rctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), end)
	defer cancel()
	token, err := v.Source.Token(rctx)
	token = strings.TrimSpace(token)
	var fresh *Verifier
	if err == nil {
		fresh, err = NewVerifier(token)
	}
	if err != nil {
		if v.OnError != nil {
			// A source may put the value it read into its error.
			if msg := redact(redact(err.Error(), token), v.token); msg != err.Error() {
				err = errors.New(msg)
			}
			v.OnError(ctx, err)
		}
		return v.current // keep the last good token
	}
	if token != v.token {
		if v.current != nil && v.OnChange != nil {
			v.OnChange(ctx)
		}
		v.token, v.current = token, fresh
	}
	return v.current
}
