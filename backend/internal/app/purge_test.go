package app

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/dbtest"
	"github.com/aura-ci/aura/backend/internal/events"
	"github.com/aura-ci/aura/backend/internal/seal"
	"github.com/aura-ci/aura/backend/internal/store"
)

// TestPurgeWakesOnDelete: the purge sleeps (here for an hour) until a project is
// deleted, on this server or another: the deletion's notification wakes it, and
// the project's rows go at once. A project deleted before it started goes at its start.
func TestPurgeWakesOnDelete(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.NewURL(t)
	pool, err := pgxpool.New(context.Background(), dbURL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	box, err := seal.New(make([]byte, 32))
	require.NoError(t, err)
	st := store.New(pool, box)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	projects := func() int {
		var n int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM projects`).Scan(&n))
		return n
	}
	for _, slug := range []string{"early", "late", "kept"} {
		_, err := st.ProjectCreate(ctx, slug, slug, false, nil)
		require.NoError(t, err)
	}
	require.NoError(t, st.ProjectDelete(ctx, "early", nil))

	p := newPurger(st, slog.Default())
	p.safety = time.Hour
	l := events.NewListener(store.ConnURL(dbURL))
	p.Listen(l)
	wg.Go(func() { l.Run(ctx) })
	<-l.Ready()
	wg.Go(func() { p.Run(ctx) })
	require.Eventually(t, func() bool { return projects() == 2 }, 10*time.Second, 10*time.Millisecond,
		"deleted before the purge started: purged at its start")

	require.NoError(t, st.ProjectDelete(ctx, "late", nil))
	require.Eventually(t, func() bool { return projects() == 1 }, 10*time.Second, 10*time.Millisecond,
		"the deletion woke the purge")
}
