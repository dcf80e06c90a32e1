package store

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// LogCarryLength is the log length the server's carry for the attempt is at,
// -1 when it keeps none: which path the next chunk takes.
func (s *Store) LogCarryLength(jobID int64, attempt int) int64 {
	if c := s.carries.get(logKey{jobID, attempt}); c != nil {
		return c.length
	}
	return -1
}

// Statements the plan tests prepare.
var (
	QClaim     = claimQuery(8)
	ClaimQuery = claimQuery
	QComplete  = qCompleteRunning
	QCountDown = qCountDownSucceeded
	QCompleted = qCompletedJobs
)

// InTx runs fn in a transaction of the store's (Store.inTx).
func (s *Store) InTx(ctx context.Context, fn func(pgx.Tx) error) error { return s.inTx(ctx, fn) }
