// Package chatwork is the one place that talks to the ChatWork API. It is
// built on github.com/griffin-stewie/go-chatwork and contains that library's
// known defects (upstream_test.go shows them): every call has a context
// deadline, the quota is read from each response's own headers, the client is
// safe for concurrent use, and errors are typed.
package chatwork

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Quota is a token's rate-limit state as one response's headers reported it.
type Quota struct {
	Limit     int
	Remaining int
	Reset     time.Time // X-RateLimit-Reset, Unix seconds
}

// Used is the number of calls spent in the current window.
func (q Quota) Used() int { return max(q.Limit-q.Remaining, 0) }

// Reading is the result of ReadQuota.
type Reading struct {
	At        time.Time // when the response arrived
	Quota     *Quota    // nil when the response carried no usable rate-limit headers
	AccountID int64     // the token owner's account id
}

// Posted is the result of Post.
type Posted struct {
	At        time.Time
	MessageID string // ChatWork message ids are strings: they exceed 32 bits
	Quota     *Quota // nil when the response carried no usable rate-limit headers
}

// TokenSource supplies the API token for each call.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
}

// Invalidator is implemented by token sources that cache: after a 401 the
// client invalidates the cache and tries once more with a fresh token, since
// the token may have been rotated.
type Invalidator interface {
	Invalidate()
}

// StaticToken is a TokenSource for a fixed token (tests, `quotabot check`).
type StaticToken string

// Token returns the token.
func (t StaticToken) Token(context.Context) (string, error) { return string(t), nil }

// Kind classifies a failed call.
type Kind int

const (
	KindOther          Kind = iota // anything not listed below
	KindNetwork                    // no response: refused, reset, timed out, canceled
	KindInvalidToken               // 401
	KindQuotaExhausted             // 429 for the token's 5-minute quota
	KindRoomLimit                  // 429 for the per-room posting limit (10 per 10 s)
	KindServer                     // 5xx
	KindBadRequest                 // 4xx other than 401/429, or a request the client refused to send
	KindBadResponse                // 2xx whose body could not be understood
	KindToken                      // the token source failed
)

var kindNames = [...]string{"other", "network", "invalid_token", "quota_exhausted", "room_limit", "server", "bad_request", "bad_response", "token_source"}

// String is the machine-readable name used in records ("invalid_token", ...).
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Error is the error every Client method returns. It never holds the token.
type Error struct {
	Op     string // "read quota", "post message"
	Kind   Kind
	Status int    // HTTP status, 0 when there was no response
	Quota  *Quota // the quota the failing response carried, if any (a 429 does)
	Err    error  // underlying cause, safe to print
}

func (e *Error) Error() string {
	msg := "chatwork " + e.Op + ": " + e.Kind.String()
	if e.Status != 0 {
		msg += fmt.Sprintf(" (HTTP %d)", e.Status)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the Kind of err, KindOther when err is not a *Error.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindOther
}

// QuotaOf returns the quota a failing call's response carried, if any.
func QuotaOf(err error) *Quota {
	var e *Error
	if errors.As(err, &e) {
		return e.Quota
	}
	return nil
}
