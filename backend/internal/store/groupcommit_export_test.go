package store

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// GroupTx is groupTx, for the tests of package store_test.
func (s *Store) GroupTx(ctx context.Context, fn func(tx pgx.Tx, last *pgx.Batch) error) error {
	return s.groupTx(ctx, fn)
}

// CompletesQueued is how many completions wait for a batch to take them, and
// how many runners of batches there are.
func (s *Store) CompletesQueued() (queued, runners int) {
	s.completes.mu.Lock()
	defer s.completes.mu.Unlock()
	return len(s.completes.queue), s.completes.running
}
