package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// LeasesRenewParams says what a fresh lease is and how long a pause between two
// reaper ticks may be before it counts as an outage.
type LeasesRenewParams struct {
	Lease      time.Duration // of a running job whose claim was acknowledged
	AckTimeout time.Duration // of a claim not acknowledged yet
	Grace      time.Duration // a longer pause between ticks is an outage
}

// LeasesRenewAfterGap is the reaper's tick: it records in the database that a
// reaper ran, and when the previous tick (by any server) lies more than Grace
// ago, nobody could record heartbeats meanwhile (the database or every server was
// down), so every running job gets a fresh lease before anything is reaped. The
// tick row is locked, so of several servers coming back only one renews. It
// returns the gap it renewed for, 0 when there was none.
func (s *Store) LeasesRenewAfterGap(ctx context.Context, p *LeasesRenewParams) (time.Duration, error) {
	var gap time.Duration
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// clock_timestamp, not now(): a tick that waited for the lock must not look older.
		const qTick = `SELECT greatest(clock_timestamp() - value::timestamptz, interval '0')
			FROM settings WHERE key = 'reaper_tick' FOR UPDATE`
		err := tx.QueryRow(ctx, qTick).Scan(&gap)
		if err == pgx.ErrNoRows {
			_, err = tx.Exec(ctx, `INSERT INTO settings (key, value) VALUES ('reaper_tick', clock_timestamp()::text)
				ON CONFLICT (key) DO NOTHING`)
			return interpret(err, "reaper tick")
		}
		if err != nil {
			return interpret(err, "reaper tick")
		}
		if _, err := tx.Exec(ctx, `UPDATE settings SET value = clock_timestamp()::text WHERE key = 'reaper_tick'`); err != nil {
			return interpret(err, "reaper tick")
		}
		if gap <= p.Grace {
			gap = 0
			return nil
		}
		const qRenew = `
			UPDATE jobs SET lease_expires_at = greatest(lease_expires_at + $1::interval,
				now() + CASE WHEN acked THEN $2::interval ELSE $3::interval END)
			WHERE status = 'running'`
		_, err = tx.Exec(ctx, qRenew, gap, p.Lease, p.AckTimeout)
		return interpret(err, "renew leases")
	})
	return gap, err
}
