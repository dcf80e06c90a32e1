package dispatch_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/dbtest"
	"github.com/aura-ci/aura/backend/internal/dispatch"
	"github.com/aura-ci/aura/backend/internal/events"
	"github.com/aura-ci/aura/backend/internal/seal"
	"github.com/aura-ci/aura/backend/internal/store"
)

// TestReaperWakesFromPark: with no job running the reaper parks (it would sleep
// a minute), and a claim on another server (its event) wakes it, so a claim
// never acknowledged goes back to the queue after the ack timeout, not a minute later.
func TestReaperWakesFromPark(t *testing.T) {
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
	d := dispatch.New(st, dispatch.Config{Lease: 30 * time.Second, AckTimeout: time.Second})
	l := events.NewListener(store.ConnURL(dbURL))
	d.Listen(l)
	wg.Go(func() { l.Run(ctx) })
	<-l.Ready()
	require.NoError(t, d.RenewAfterGap(ctx))
	wg.Go(func() { d.Run(ctx) })

	tick := func() string {
		var v string
		require.NoError(t, pool.QueryRow(ctx, `SELECT value FROM settings WHERE key = 'reaper_tick'`).Scan(&v))
		return v
	}
	var parked string
	require.Eventually(t, func() bool { parked = tick(); return strings.HasPrefix(parked, "9999") }, 5*time.Second,
		10*time.Millisecond, "nothing runs: the tick is parked")

	p, err := st.ProjectCreate(ctx, "proj", "Proj", false, nil)
	require.NoError(t, err)
	r, err := st.RunnerCreate(ctx, &store.RunnerCreateParams{Name: "r1", Tags: []string{"linux"}, Hash: []byte("hash")}, nil)
	require.NoError(t, err)
	_, err = st.JobSubmit(ctx, []*store.JobSubmitParams{{JobSpec: store.JobSpec{Name: "build", Cmd: "true", Tag: "linux"},
		ProjectID: p.ID, ProjectSlug: "proj", EntityKey: "commit", EntityVal: "abc"}})
	require.NoError(t, err)
	// Claimed through the store, as another server would: only the event tells this one.
	claimed, err := st.JobClaim(ctx, &store.JobClaimParams{RunnerID: r.ID, Tag: "linux", Limit: 1, Lease: time.Second})
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	require.Eventually(t, func() bool { return tick() != parked }, 5*time.Second, 10*time.Millisecond,
		"the claim's event woke the reaper, which ticks again")

	require.Eventually(t, func() bool {
		j, err := st.JobGet(ctx, claimed[0].ID)
		require.NoError(t, err)
		return j.Status == store.StatusQueued
	}, 10*time.Second, 20*time.Millisecond, "the unacknowledged claim went back to the queue")
	require.Eventually(t, func() bool { return tick() == parked }, 5*time.Second, 10*time.Millisecond,
		"nothing runs again: parked again")
}
