package chatworksim

import (
	"errors"
	"net/http"
	"net/http/httptest"
)

// Transport serves requests in this process, with no network between the
// client and the Server: tests can then run both inside a testing/synctest
// bubble, where Config.Latency, hangs and the client's timeouts pass in
// virtual time. As over a network, a request whose context ends before the
// answer gets the context's error, and FaultDrop is a connection reset.
func (s *Server) Transport() http.RoundTripper { return inProcess{s} }

type inProcess struct{ s *Server }

var errReset = errors.New("chatworksim: connection reset by peer")

func (t inProcess) RoundTrip(req *http.Request) (resp *http.Response, err error) {
	if req.Body != nil {
		defer req.Body.Close()
	}
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler { // what drop panics with here
				panic(v)
			}
			resp, err = nil, errReset
		}
	}()
	rec := httptest.NewRecorder()
	t.s.ServeHTTP(rec, req)
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	res := rec.Result()
	res.Request = req
	return res, nil
}
