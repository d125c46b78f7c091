// Package recordtest holds the one in-memory sample store for tests and the
// contract test every sample.Recorder and sample.History implementation
// runs, in the manner of testing/fstest.
package recordtest

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/sample"
)

// Memory is an in-memory sample.Recorder and sample.History. The zero value
// is ready to use; it is safe for concurrent use.
type Memory struct {
	mu   sync.Mutex
	recs []sample.Record
	// Err, when set, is returned by every Record and Samples call.
	Err error
}

var (
	_ sample.Recorder = (*Memory)(nil)
	_ sample.History  = (*Memory)(nil)
)

// Record stores r.
func (m *Memory) Record(_ context.Context, r sample.Record) error {
	if err := r.Validate(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Err != nil {
		return m.Err
	}
	m.recs = append(m.recs, r)
	return nil
}

// Samples returns token's records in [since, until), oldest first.
func (m *Memory) Samples(_ context.Context, token string, since, until time.Time) ([]sample.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Err != nil {
		return nil, m.Err
	}
	var out []sample.Record
	for _, r := range m.recs {
		if r.Token == token && sample.InRange(r.Time, since, until) {
			out = append(out, r)
		}
	}
	slices.SortStableFunc(out, func(a, b sample.Record) int { return a.Time.Compare(b.Time) })
	return out, nil
}

// All returns every record stored, in the order written.
func (m *Memory) All() []sample.Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.recs)
}
