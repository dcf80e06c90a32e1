package store_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/dbtest"
	"github.com/aura-ci/aura/backend/internal/seal"
)

// newPool returns a pool on a fresh database of the test's own.
func newPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), dbtest.NewURL(t))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

// newBox returns a box sealing with keys[0] and opening with any of keys.
func newBox(t testing.TB, keys ...[]byte) *seal.Box {
	t.Helper()
	b, err := seal.New(keys...)
	require.NoError(t, err)
	return b
}

// execAll runs each of stmts on db, in order: a test's set-up in SQL.
func execAll(t testing.TB, db *pgxpool.Pool, stmts ...string) {
	t.Helper()
	for _, q := range stmts {
		_, err := db.Exec(context.Background(), q)
		require.NoError(t, err, q)
	}
}
