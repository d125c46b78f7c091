package sample

import (
	"errors"
	"fmt"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/chatwork"
)

// FromCall turns the outcome of one ChatWork call into a record, the same
// way for the monitor and the bot: a sample when the call succeeded with
// usable rate-limit headers (q), a failure record otherwise.
//
// A 429 is a reading: remaining is 0 until the reset. A failing response that
// still carried the headers keeps its figures. A token source failure spent
// no request, unless it came from refreshing a token ChatWork refused (its
// Status is then that 401). Detail is built from the operation, the kind and
// the HTTP status only: nothing the server sent reaches a record.
func FromCall(token string, src Source, at time.Time, q *chatwork.Quota, err error, calls int) Record {
	r := Record{Time: at, Token: token, Source: src, Calls: calls}
	if err == nil {
		if q == nil {
			r.Error = chatwork.KindBadResponse.String()
			r.Detail = "no usable rate-limit headers"
			return r
		}
		setQuota(&r, q)
		return r
	}
	kind := chatwork.KindOf(err)
	r.Error = kind.String()
	r.Detail = kind.String()
	var ce *chatwork.Error
	if errors.As(err, &ce) {
		r.Detail = ce.Op + ": " + kind.String()
		if ce.Status != 0 {
			r.Detail += fmt.Sprintf(" (HTTP %d)", ce.Status)
		}
	}
	if kind == chatwork.KindToken && (ce == nil || ce.Status == 0) {
		r.Calls = 0 // the token never arrived, so no request was sent
	}
	if fq := chatwork.QuotaOf(err); fq != nil {
		setQuota(&r, fq)
		if kind == chatwork.KindQuotaExhausted {
			r.Remaining = 0
		}
	}
	return r
}

func setQuota(r *Record, q *chatwork.Quota) {
	r.HasQuota = true
	r.Remaining, r.Limit, r.Reset = q.Remaining, q.Limit, q.Reset.Unix()
}
