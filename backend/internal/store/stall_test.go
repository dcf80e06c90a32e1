package store_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/store"
)

// TestStallSlowWorkGoesOn: work on a database that answers is not cut, however
// long it takes, and Probe says the database answers.
func TestStallSlowWorkGoesOn(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	st := store.New(pool, newBox(t, make([]byte, 32)))
	require.NoError(t, st.Probe(context.Background()))
	ctx, release := st.StallBound(context.Background())
	defer release()
	start := time.Now()
	_, err := pool.Exec(ctx, "SELECT pg_sleep($1)", (store.StallAfter + time.Second).Seconds())
	require.NoError(t, err, "slow work on a database that answers")
	require.Greater(t, time.Since(start), store.StallAfter)
}

// TestStallEndsWork: work on a database that takes connections and never
// answers (a frozen one) ends with ErrStalled soon after StallAfter.
func TestStallEndsWork(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	pool, err := pgxpool.New(context.Background(), "postgres://aura@"+ln.Addr().String()+"/aura?sslmode=disable")
	require.NoError(t, err)
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
		pool.Close()
	})
	st := store.New(pool, newBox(t, make([]byte, 32)))
	require.Error(t, st.Probe(context.Background()))

	ctx, release := st.StallBound(context.Background())
	defer release()
	start := time.Now()
	_, err = pool.Exec(ctx, "SELECT 1")
	took := time.Since(start)
	require.Error(t, err)
	require.ErrorIs(t, context.Cause(ctx), store.ErrStalled)
	require.GreaterOrEqual(t, took, store.StallAfter)
	require.Less(t, took, store.StallAfter+store.ProbeTimeout+time.Second)
}
