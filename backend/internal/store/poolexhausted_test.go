package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/dbtest"
	"github.com/aura-ci/aura/backend/internal/store"
)

// TestStallPoolExhausted: with the pool's only connection held, work waiting
// for one ends with ErrPoolExhausted soon after StallAfter, and PoolFree says
// so; a pool without the AcquireWaits tracer keeps waiting as before, and
// slow work alone on a pool nobody waits for goes on (TestStallSlowWorkGoesOn).
func TestStallPoolExhausted(t *testing.T) {
	t.Parallel()
	pc, err := pgxpool.ParseConfig(dbtest.NewURL(t))
	require.NoError(t, err)
	pc.MaxConns = 1
	pc.ConnConfig.Tracer = &store.AcquireWaits{}
	pool, err := pgxpool.NewWithConfig(context.Background(), pc)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	st := store.New(pool, newBox(t, make([]byte, 32)))

	held, err := pool.Acquire(context.Background())
	require.NoError(t, err)
	require.ErrorIs(t, st.PoolFree(context.Background()), store.ErrPoolExhausted)

	ctx, release := st.StallBound(context.Background())
	defer release()
	start := time.Now()
	_, err = pool.Exec(ctx, "SELECT 1")
	took := time.Since(start)
	require.Error(t, err)
	require.True(t, errors.Is(context.Cause(ctx), store.ErrPoolExhausted), "cause: %v", context.Cause(ctx))
	require.ErrorIs(t, context.Cause(ctx), store.ErrStalled, "an exhausted pool is a stall")
	require.Less(t, took, store.StallAfter+time.Second)
	held.Release()
	require.NoError(t, st.PoolFree(context.Background()))
}
