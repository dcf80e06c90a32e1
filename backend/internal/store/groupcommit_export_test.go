package store

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// GroupTx is groupTx, for the tests of package store_test.
func (s *Store) GroupTx(ctx context.Context, fn func(tx pgx.Tx, last *pgx.Batch) error) error {
	return s.groupTx(ctx, fn)
}
