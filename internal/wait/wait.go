// Package wait holds the one context-aware sleep the monitor, the bot and
// the ChatWork client share.
package wait

import (
	"context"
	"time"
)

// Sleep waits for d, or until ctx is done, and then returns ctx's error (nil
// when the whole wait passed). A d of zero or less returns at once.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
