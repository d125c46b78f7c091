package bot

import (
	"sync"
	"time"
)

const (
	recentCapacity = 512
	recentTTL      = 10 * time.Minute
)

// recentSet remembers recently answered messages so that one message
// delivered twice (a room webhook's message_created and an account
// webhook's mention_to_me, or a repeated delivery) is answered once. It is
// per process: two Lambda containers answering the same message at the same
// moment are not caught, so one room is best given only one of the two
// webhooks.
type recentSet struct {
	mu   sync.Mutex
	cap  int
	ttl  time.Duration
	seen map[string]time.Time
}

func newRecentSet(capacity int, ttl time.Duration) *recentSet {
	return &recentSet{cap: capacity, ttl: ttl, seen: make(map[string]time.Time)}
}

// add records key at now and reports whether it was new.
func (s *recentSet) add(key string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if at, ok := s.seen[key]; ok && now.Sub(at) < s.ttl {
		return false
	}
	if len(s.seen) >= s.cap {
		s.evict(now)
	}
	s.seen[key] = now
	return true
}

// evict drops expired keys, and if the set is still full, the oldest one.
// The set is small, so a scan is cheaper than keeping an ordered structure.
func (s *recentSet) evict(now time.Time) {
	var oldest string
	var oldestAt time.Time
	for k, at := range s.seen {
		if now.Sub(at) >= s.ttl {
			delete(s.seen, k)
			continue
		}
		if oldest == "" || at.Before(oldestAt) {
			oldest, oldestAt = k, at
		}
	}
	if len(s.seen) >= s.cap {
		delete(s.seen, oldest)
	}
}

// get reports when key was added, if it is there and fresh at now.
func (s *recentSet) get(key string, now time.Time) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	at, ok := s.seen[key]
	return at, ok && now.Sub(at) < s.ttl
}

// forget drops key, so that a retried delivery of it counts as new.
func (s *recentSet) forget(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.seen, key)
}
