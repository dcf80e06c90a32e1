package store

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// HeldAttempt is where a job stands for a runner that believes it runs one attempt of it.
type HeldAttempt struct {
	ID       int64
	Attempt  int
	Status   string
	RunnerID *int64
	// StopAsked: the server asked the running attempt to stop (a cancel, a log
	// over its limit); the runner stops it and confirms with its complete.
	StopAsked bool
}

// JobsHeldGet returns the status, current attempt and holder of each job in ids
// that exists; a runner's cancel watch compares them with what it runs.
func (s *Store) JobsHeldGet(ctx context.Context, ids []int64) ([]HeldAttempt, error) {
	const q = `SELECT id, attempt, status, runner_id, cancel_requested_at IS NOT NULL FROM jobs WHERE id = ANY($1)`
	rows, err := s.pool.Query(ctx, q, ids)
	if err != nil {
		return nil, interpret(err, "jobs held")
	}
	held, err := pgx.CollectRows(rows, pgx.RowToStructByPos[HeldAttempt])
	return held, interpret(err, "jobs held")
}
