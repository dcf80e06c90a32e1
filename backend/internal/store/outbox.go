package store

import (
	"context"
	"time"
)

// OutboxNextDue returns how long until the next row of the status or notify
// outbox is due, by the database's clock (server clocks may be skewed), or nil
// when none waits: a row in retry backoff is due at its next attempt, one
// claimed by a sender when that sender's lease runs out. The partial indexes
// hold only the rows still to send.
func (s *Store) OutboxNextDue(ctx context.Context) (*time.Duration, error) {
	const q = `
		SELECT least(
			(SELECT min(greatest(next_attempt_at, locked_until)) FROM status_outbox WHERE version > sent_version),
			(SELECT min(greatest(next_attempt_at, locked_until)) FROM notify_outbox WHERE version > sent_version)
		) - clock_timestamp()`
	var d *time.Duration
	err := s.pool.QueryRow(ctx, q).Scan(&d)
	if d != nil && *d < 0 {
		*d = 0
	}
	return d, interpret(err, "next outbox row due")
}
