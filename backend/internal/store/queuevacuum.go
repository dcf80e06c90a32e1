package store

import (
	"context"
	"errors"
	"fmt"
)

// A claim takes its jobs off jobs_runnable only in PostgreSQL's eyes: their
// entries stay in the index, dead, until a vacuum removes them, and every
// claim walks them from the index's start, where the oldest jobs are. After
// 200,000 claims that is a thousand pages a claim, most of the database's
// work in the claim bench. Autovacuum comes at most once a minute
// (autovacuum_naptime) and, on a large table, skips the indexes while fewer
// than 2% of its pages changed: a drained backlog of 100,000 jobs in a table
// of ten million leaves its entries there. So the server vacuums jobs itself,
// indexes included, once the claims made through it since the last time
// reach a fiftieth of the table: the vacuum's cost (it reads every index of
// jobs whole) stays proportional to the claims that made it due.

// QueueVacuumMinClaims is the fewest claimed jobs after which the server
// vacuums jobs: on a small table the walk is short anyway.
const QueueVacuumMinClaims = 20000

// queueVacuumTimeout bounds a vacuum of jobs, which may take longer than the
// statements the pool's statement_timeout is meant for.
const queueVacuumTimeout = "10min"

// VacuumQueueIfDue vacuums jobs, indexes included, if the jobs claimed
// through s since its last vacuum number at least min and a fiftieth of the
// table. The vacuum does nothing when another holds the table (another
// server's, or autovacuum, doing the same work). It returns whether it ran.
func (s *Store) VacuumQueueIfDue(ctx context.Context, min int64) (bool, error) {
	n := s.claimedSinceVacuum.Load()
	if n < max(min, s.vacuumAfter.Load()) {
		return false, nil
	}
	// The table's size is read only once the claims reach the last one read
	// allows: an idle server with a large table asks nothing every tick.
	var rows float64
	if err := s.pool.QueryRow(ctx, `SELECT reltuples FROM pg_class WHERE oid = 'jobs'::regclass`).Scan(&rows); err != nil {
		return false, interpret(err, "vacuum jobs")
	}
	after := max(min, int64(rows/50))
	s.vacuumAfter.Store(after)
	if n < after {
		return false, nil
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return false, interpret(err, "vacuum jobs")
	}
	s.claimedSinceVacuum.Add(-n)
	// The connection goes back to the pool with its statement_timeout reset,
	// or not at all.
	_, err = conn.Exec(ctx, `SET statement_timeout = '`+queueVacuumTimeout+`'`)
	if err == nil {
		// Not within a transaction (VACUUM cannot run in one), and not
		// waiting for a vacuum already running (SKIP_LOCKED).
		_, err = conn.Exec(ctx, `VACUUM (SKIP_LOCKED, INDEX_CLEANUP ON) jobs`)
		if _, reset := conn.Exec(ctx, `RESET statement_timeout`); reset != nil {
			err = errors.Join(err, fmt.Errorf("reset statement_timeout: %w", reset))
		}
	}
	if err != nil {
		_ = conn.Conn().Close(context.WithoutCancel(ctx))
		conn.Release()
		return false, interpret(err, "vacuum jobs")
	}
	conn.Release()
	return true, nil
}
