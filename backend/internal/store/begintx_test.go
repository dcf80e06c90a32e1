package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/dbtest"
	"github.com/aura-ci/aura/backend/internal/store"
)

// TestGroupTxBeginsWithItsFirstStatements: a grouped transaction's BEGIN
// goes out with its first statements, whichever way they are sent (a query,
// a row, a batch, an exec); its statements are one transaction (one now()),
// a failure rolls all of it back, and the connection serves the next one.
func TestGroupTxBeginsWithItsFirstStatements(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(dbtest.NewURL(t))
	require.NoError(t, err)
	cfg.MaxConns = 1 // every transaction on the same connection
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	s := store.New(pool, nil)
	_, err = pool.Exec(ctx, `CREATE TABLE gc_test (v int)`)
	require.NoError(t, err)
	count := func() int {
		var n int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM gc_test`).Scan(&n))
		return n
	}

	first := map[string]func(tx pgx.Tx) (time.Time, error){
		"query row": func(tx pgx.Tx) (at time.Time, err error) {
			return at, tx.QueryRow(ctx, `SELECT now()`).Scan(&at)
		},
		"query": func(tx pgx.Tx) (time.Time, error) {
			rows, _ := tx.Query(ctx, `SELECT now()`)
			return pgx.CollectExactlyOneRow(rows, pgx.RowTo[time.Time])
		},
		"batch": func(tx pgx.Tx) (at time.Time, err error) {
			b := &pgx.Batch{}
			b.Queue(`SELECT now()`)
			results := tx.SendBatch(ctx, b)
			err = results.QueryRow().Scan(&at)
			if cerr := results.Close(); err == nil {
				err = cerr
			}
			return at, err
		},
		"exec": func(tx pgx.Tx) (at time.Time, err error) {
			if _, err = tx.Exec(ctx, `INSERT INTO gc_test VALUES (0)`); err != nil {
				return at, err
			}
			return at, tx.QueryRow(ctx, `SELECT now()`).Scan(&at)
		},
	}
	want := count()
	for name, begin := range first {
		err := s.GroupTx(ctx, func(tx pgx.Tx, last *pgx.Batch) error {
			began, err := begin(tx)
			if err != nil {
				return err
			}
			time.Sleep(5 * time.Millisecond)
			var later time.Time
			if err := tx.QueryRow(ctx, `SELECT now()`).Scan(&later); err != nil {
				return err
			}
			require.True(t, later.Equal(began), "%s: the statements are not one transaction", name)
			last.Queue(`INSERT INTO gc_test VALUES (1)`)
			return nil
		})
		require.NoError(t, err, name)
		want += 1
		if name == "exec" {
			want++
		}
		require.Equal(t, want, count(), name)

		// The first statements fail: nothing is left, the connection serves on.
		err = s.GroupTx(ctx, func(tx pgx.Tx, last *pgx.Batch) error {
			if _, err := begin(tx); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO gc_test VALUES (1/0)`)
			return err
		})
		require.ErrorContains(t, err, "division by zero", name)
		require.Equal(t, want, count(), name)

		// A statement in the commit's round trip fails: all of it is rolled back.
		err = s.GroupTx(ctx, func(tx pgx.Tx, last *pgx.Batch) error {
			if _, err := begin(tx); err != nil {
				return err
			}
			last.Queue(`INSERT INTO gc_test VALUES (1/0)`)
			return nil
		})
		require.ErrorContains(t, err, "division by zero", name)
		require.Equal(t, want, count(), name)
	}

	// A transaction whose statements all go with the commit.
	require.NoError(t, s.GroupTx(ctx, func(tx pgx.Tx, last *pgx.Batch) error {
		last.Queue(`INSERT INTO gc_test VALUES (2)`)
		return nil
	}))
	require.Equal(t, want+1, count())
}
