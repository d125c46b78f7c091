package chatworksim

import (
	"cmp"
	"context"
	"net/http"
	"strconv"
	"strings"
)

// FaultKind is how a faulted request misbehaves.
type FaultKind int

const (
	// FaultStatus answers Fault.Status (default 500) with an error body and
	// the rate-limit headers.
	FaultStatus FaultKind = iota
	// FaultHang never answers: the request blocks until the client gives up
	// (or the Server is closed).
	FaultHang
	// FaultDrop closes the connection without a response.
	FaultDrop
	// FaultNoHeaders answers normally but without the rate-limit headers.
	FaultNoHeaders
	// FaultGarbageHeaders answers normally with non-numeric rate-limit headers.
	FaultGarbageHeaders
	// FaultRoomLimit refuses with the per-room posting limit's 429 (and the
	// token's rate-limit headers), as a room that every bot posts to does.
	FaultRoomLimit
)

var faultNames = [...]string{"status", "hang", "drop", "no-headers", "garbage-headers", "room-limit"}

func (k FaultKind) String() string {
	if k >= 0 && int(k) < len(faultNames) {
		return faultNames[k]
	}
	return "FaultKind(" + strconv.Itoa(int(k)) + ")"
}

// Fault is a misbehaviour for the next Count requests (0: until
// ClearFaults) whose URL path starts with Path (empty: every path).
type Fault struct {
	Kind   FaultKind
	Status int // FaultStatus only; default 500
	Count  int
	Path   string
}

// InjectFault adds f after any faults already injected; the first fault
// that matches a request applies to it.
func (s *Server) InjectFault(f Fault) {
	if f.Kind == FaultStatus && f.Status == 0 {
		f.Status = http.StatusInternalServerError
	}
	s.mu.Lock()
	s.faults = append(s.faults, &f)
	s.mu.Unlock()
}

// ClearFaults removes every injected fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	s.faults = nil
	s.mu.Unlock()
}

// matchFaultLocked finds the fault for path, uses up one of its count and
// copies it to out.
func (s *Server) matchFaultLocked(path string, out *Fault) bool {
	for i, f := range s.faults {
		if !strings.HasPrefix(path, f.Path) {
			continue
		}
		*out = *f
		if f.Count > 0 {
			if f.Count--; f.Count == 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
		}
		return true
	}
	return false
}

func faultReply(status int) reply {
	return errorReply(status, cmp.Or(http.StatusText(status), "Status "+strconv.Itoa(status)))
}

// hang blocks until the client cancels the request or the Server closes.
func (s *Server) hang(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-s.ctx.Done():
	}
}

// drop closes the connection without writing a response.
func drop(w http.ResponseWriter) {
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		conn.Close()
		return
	}
	// Not hijackable (HTTP/2, a recorder): net/http aborts the response
	// and closes the connection or stream on this panic, without logging.
	panic(http.ErrAbortHandler)
}
