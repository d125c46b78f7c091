// Package localstore keeps quota samples in a JSON-lines file for the local
// sandbox: one sample.Record per line in exactly the form the samples log
// group holds (the EMF JSON of sample.Record.MarshalEMF), so tools and
// tests read both alike.
package localstore

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/quotabot/chatwork-quota-bot/internal/sample"
)

// Store appends records to a file. It is safe for concurrent use within one
// process; records are not synced to disk on every write, since the sandbox
// can afford to lose the last lines in a crash and Samples tolerates a torn
// last line.
type Store struct {
	Metrics sample.Metrics // what each line declares, as cwlogs.Recorder.Metrics; set before the first Record

	path string

	mu sync.Mutex
	f  *os.File // nil once closed
}

// Open opens the file at path for appending, creating it and its directory
// when missing.
func Open(path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("open sample store: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open sample store: %w", err)
	}
	// A writer that died mid-line left a torn last line; end it, or the next
	// record would be glued to it and lost as well.
	if err := endLine(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("open sample store %s: %w", path, err)
	}
	return &Store{path: path, f: f}, nil
}

func endLine(f *os.File) error {
	info, err := f.Stat()
	if err != nil || info.Size() == 0 {
		return err
	}
	last := make([]byte, 1)
	if _, err := f.ReadAt(last, info.Size()-1); err != nil {
		return err
	}
	if last[0] != '\n' {
		_, err = f.Write([]byte{'\n'})
	}
	return err
}

// Path is the file's path.
func (s *Store) Path() string { return s.path }

// Record appends one record as one line.
func (s *Store) Record(_ context.Context, r sample.Record) error {
	if err := r.Validate(); err != nil {
		return fmt.Errorf("record sample: %w", err)
	}
	line, err := r.MarshalEMF(s.Metrics)
	if err != nil {
		return fmt.Errorf("record sample: encode: %w", err)
	}
	line = append(line, '\n')
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return errors.New("record sample: store closed")
	}
	// One write per line: with O_APPEND each lands whole at the end.
	if _, err := s.f.Write(line); err != nil {
		return fmt.Errorf("record sample to %s: %w", s.path, err)
	}
	return nil
}

// Samples implements sample.History. Lines that are not records (a torn
// last line, stray text) are skipped.
func (s *Store) Samples(ctx context.Context, token string, since, until time.Time) ([]sample.Record, error) {
	s.mu.Lock()
	closed := s.f == nil
	s.mu.Unlock()
	if closed {
		return nil, errors.New("read samples: store closed")
	}
	// A reader of its own, so reading does not hold up writers; a line being
	// written meanwhile shows up torn and is skipped.
	f, err := os.Open(s.path)
	if err != nil {
		return nil, fmt.Errorf("read samples: %w", err)
	}
	defer f.Close()
	var out []sample.Record
	_, _, err = Scan(ctx, f, func(r sample.Record) {
		if r.Token == token && sample.InRange(r.Time, since, until) {
			out = append(out, r)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("read samples from %s: %w", s.path, err)
	}
	slices.SortStableFunc(out, func(a, b sample.Record) int { return a.Time.Compare(b.Time) })
	return out, nil
}

// Scan reads records from r, one per line, and passes each to keep. lines
// counts the lines that are not blank, skipped those that are not records
// (a torn last line, stray text).
func Scan(ctx context.Context, r io.Reader, keep func(sample.Record)) (lines, skipped int, err error) {
	br := bufio.NewReader(r)
	for n := 0; ; n++ {
		if n%1024 == 0 && ctx.Err() != nil {
			return lines, skipped, ctx.Err()
		}
		line, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			lines++
			if rec, perr := sample.Parse(line); perr == nil {
				keep(rec)
			} else {
				skipped++
			}
		}
		if err == io.EOF {
			return lines, skipped, nil
		}
		if err != nil {
			return lines, skipped, err
		}
	}
}

// Close closes the file.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	if err != nil {
		return fmt.Errorf("close sample store %s: %w", s.path, err)
	}
	return nil
}
