// Package backoff spaces out retries: exponential delays with jitter, so that many
// runners that lost the same server do not come back in lockstep.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff hands out growing delays between Min and Max. The zero value is not
// usable; set Min and Max. It is not safe for concurrent use.
type Backoff struct {
	Min, Max time.Duration
	attempt  int
}

// Next returns the delay before the next retry: Min·2ⁿ capped at Max, of which a
// random part up to half is taken off ("equal jitter").
func (b *Backoff) Next() time.Duration {
	d := b.Min
	for i := 0; i < b.attempt && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	b.attempt++
	if half := int64(d / 2); half > 0 {
		d -= time.Duration(rand.Int64N(half + 1))
	}
	return d
}

// Reset starts over from Min, after a success.
func (b *Backoff) Reset() { b.attempt = 0 }

// Failures returns the number of Next calls since the last Reset.
func (b *Backoff) Failures() int { return b.attempt }

// Sleep waits for d or until ctx is done, and reports whether the full d passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
