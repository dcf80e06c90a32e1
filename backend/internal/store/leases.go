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

// reaperParked is the tick a reaper records when no job is running: no lease can
// run out, so its reaper sleeps until a claim wakes it. A time far ahead (rather
// than a word) reads as "no gap" to every server, older ones included:
// clock_timestamp() minus it is negative.
const reaperParked = "9999-12-31 00:00:00+00"

// ReaperTick is what LeasesTick found.
type ReaperTick struct {
	// Gap is the outage it renewed leases for, 0 when there was none.
	Gap time.Duration
	// Running says some job is running; when none is, the tick is parked and
	// the next tick after it sees no gap, however long the pause.
	Running bool
}

// LeasesRenewAfterGap is LeasesTick for callers that only want the gap.
func (s *Store) LeasesRenewAfterGap(ctx context.Context, p *LeasesRenewParams) (time.Duration, error) {
	t, err := s.LeasesTick(ctx, p)
	return t.Gap, err
}

// LeasesTick is the reaper's tick: it records in the database that a reaper
// ran, and when the previous tick (by any server) lies more than Grace ago,
// nobody could record heartbeats meanwhile (the database or every server was
// down), so every running job gets a fresh lease before anything is reaped. The
// tick row is locked, so of several servers coming back only one renews.
//
// When no job is running the tick is parked instead: a pause with nothing to
// reap is no outage, so reapers may sleep until a job starts (a claim's event
// wakes them) without costing a statement a second. A claim committed after
// this tick looked is seen by the tick its event causes, or, should no tick
// follow it in time (the database went away right after it), by the first
// tick after, which counts the time since the first such job started as the
// gap.
func (s *Store) LeasesTick(ctx context.Context, p *LeasesRenewParams) (ReaperTick, error) {
	var t ReaperTick
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		t = ReaperTick{}
		// clock_timestamp, not now(): a tick that waited for the lock must not look older.
		const qTick = `SELECT greatest(clock_timestamp() - value::timestamptz, interval '0'),
				value = '` + reaperParked + `', EXISTS (SELECT 1 FROM jobs WHERE status = 'running'),
				CASE WHEN value = '` + reaperParked + `' THEN
					(SELECT greatest(clock_timestamp() - min(started_at), interval '0') FROM jobs WHERE status = 'running') END
			FROM settings WHERE key = 'reaper_tick' FOR UPDATE`
		var parked bool
		var sinceStart *time.Duration
		err := tx.QueryRow(ctx, qTick).Scan(&t.Gap, &parked, &t.Running, &sinceStart)
		if err == pgx.ErrNoRows {
			t.Running = true // not known: tick again soon
			_, err = tx.Exec(ctx, `INSERT INTO settings (key, value) VALUES ('reaper_tick', clock_timestamp()::text)
				ON CONFLICT (key) DO NOTHING`)
			return interpret(err, "reaper tick")
		}
		if err != nil {
			return interpret(err, "reaper tick")
		}
		if parked && t.Running && sinceStart != nil {
			// Jobs started since the tick parked, and no tick has recorded them
			// yet (the one their claims' events cause normally follows at once):
			// nobody watched their leases since the first of them started. The
			// database went away right after a claim, say, and took the tick
			// with it; their heartbeats could not be recorded either.
			t.Gap = *sinceStart
		}
		if !t.Running {
			t.Gap = 0
			if parked {
				return nil
			}
			_, err := tx.Exec(ctx, `UPDATE settings SET value = '`+reaperParked+`' WHERE key = 'reaper_tick'`)
			return interpret(err, "reaper tick")
		}
		if _, err := tx.Exec(ctx, `UPDATE settings SET value = clock_timestamp()::text WHERE key = 'reaper_tick'`); err != nil {
			return interpret(err, "reaper tick")
		}
		if t.Gap <= p.Grace {
			t.Gap = 0
			return nil
		}
		const qRenew = `
			UPDATE jobs SET lease_expires_at = greatest(lease_expires_at + $1::interval,
				now() + CASE WHEN acked THEN $2::interval ELSE $3::interval END)
			WHERE status = 'running'`
		_, err = tx.Exec(ctx, qRenew, t.Gap, p.Lease, p.AckTimeout)
		return interpret(err, "renew leases")
	})
	return t, err
}
