package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/dbtest"
	"github.com/aura-ci/aura/backend/internal/store"
)

// TestTransactionKeepsConnectionWhenCallerLeaves: a transaction whose caller
// went away between its statements is rolled back all the same, and its
// connection stays in the pool. Rolled back under the caller's ended context,
// the rollback failed and pgx closed the connection.
func TestTransactionKeepsConnectionWhenCallerLeaves(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(dbtest.NewURL(t))
	require.NoError(t, err)
	cfg.MaxConns = 1
	cfg.ConnConfig.BuildContextWatcherHandler = store.KeepConnectionOnCancel
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	st := store.New(pool, newBox(t, make([]byte, 32)))
	pid := func() (pid int) {
		require.NoError(t, pool.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid))
		return pid
	}
	first := pid()

	left, leave := context.WithCancel(ctx)
	err = st.InTx(left, func(tx pgx.Tx) error {
		if _, err := tx.Exec(left, `INSERT INTO projects (slug, name) VALUES ('p', 'p')`); err != nil {
			return err
		}
		leave()
		_, err := tx.Exec(left, `SELECT 1`)
		return err
	})
	require.True(t, errors.Is(err, context.Canceled), "%v", err)
	require.Equal(t, first, pid(), "the connection was closed")
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM projects`).Scan(&n))
	require.Zero(t, n, "the transaction was not rolled back")
}
