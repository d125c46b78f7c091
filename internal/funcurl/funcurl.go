// Package funcurl serves an http.Handler behind a Lambda Function URL in
// BUFFERED mode: it turns the invocation payload into an *http.Request and the
// handler's response into the payload Lambda expects. (aws-lambda-go's
// lambdaurl does this only for RESPONSE_STREAM.)
package funcurl

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// Request converts a Function URL event into an http.Request. A base64 body
// is decoded first, so a handler that checks a signature over the raw body
// sees exactly the bytes the sender signed.
func Request(ctx context.Context, ev events.LambdaFunctionURLRequest) (*http.Request, error) {
	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(ev.Body)
		if err != nil {
			return nil, fmt.Errorf("function URL request: body is not valid base64: %w", err)
		}
		body = b
	}
	method := cmp.Or(ev.RequestContext.HTTP.Method, http.MethodGet)
	target := cmp.Or(ev.RawPath, "/")
	if ev.RawQueryString != "" {
		target += "?" + ev.RawQueryString
	}
	req, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("function URL request: %w", err)
	}
	for k, v := range ev.Headers {
		// Lambda joins repeated headers with commas and lower-cases names;
		// http.Header.Set canonicalises them again.
		req.Header.Set(k, v)
	}
	if len(ev.Cookies) > 0 {
		req.Header.Set("Cookie", strings.Join(ev.Cookies, "; "))
	}
	req.Host = ev.RequestContext.DomainName
	req.RemoteAddr = ev.RequestContext.HTTP.SourceIP
	req.RequestURI = target
	req.ContentLength = int64(len(body))
	return req, nil
}

// recorder buffers a response: BUFFERED mode returns it whole.
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}

// response converts a recorded response into the Function URL payload.
func response(rec *recorder) events.LambdaFunctionURLResponse {
	if rec.code == 0 {
		rec.code = http.StatusOK
	}
	res := events.LambdaFunctionURLResponse{StatusCode: rec.code, Headers: map[string]string{}}
	for k, v := range rec.header {
		if strings.EqualFold(k, "Set-Cookie") {
			res.Cookies = append(res.Cookies, v...)
			continue
		}
		res.Headers[k] = strings.Join(v, ",")
	}
	b := rec.body.Bytes()
	if utf8.Valid(b) {
		res.Body = string(b)
	} else {
		res.Body = base64.StdEncoding.EncodeToString(b)
		res.IsBase64Encoded = true
	}
	return res
}

// Handler adapts h to a Function URL (BUFFERED) Lambda handler.
func Handler(h http.Handler) func(context.Context, events.LambdaFunctionURLRequest) (events.LambdaFunctionURLResponse, error) {
	return func(ctx context.Context, ev events.LambdaFunctionURLRequest) (events.LambdaFunctionURLResponse, error) {
		req, err := Request(ctx, ev)
		if err != nil {
			return events.LambdaFunctionURLResponse{
				StatusCode: http.StatusBadRequest,
				Headers:    map[string]string{"Content-Type": "text/plain; charset=utf-8"},
				Body:       "bad request\n",
			}, nil
		}
		rec := &recorder{header: http.Header{}}
		h.ServeHTTP(rec, req)
		return response(rec), nil
	}
}
