package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/store"
)

// TestLeasesTickParks: with no job running the tick parks, and a pause after a
// parked tick is no outage (a reaper slept, nothing could run out); once a job
// runs, ticks are recorded again and a pause past the grace renews its lease.
func TestLeasesTickParks(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	st := store.New(pool, newBox(t, make([]byte, 32)))
	ctx := context.Background()
	p := &store.LeasesRenewParams{Lease: time.Minute, AckTimeout: time.Minute, Grace: 100 * time.Millisecond}
	tickValue := func() string {
		var v string
		require.NoError(t, pool.QueryRow(ctx, `SELECT value FROM settings WHERE key = 'reaper_tick'`).Scan(&v))
		return v
	}

	_, err := st.LeasesTick(ctx, p) // the first records the row
	require.NoError(t, err)
	tick, err := st.LeasesTick(ctx, p)
	require.NoError(t, err)
	require.Equal(t, store.ReaperTick{}, tick, "nothing runs: parked, no gap")
	parked := tickValue()
	time.Sleep(300 * time.Millisecond)
	tick, err = st.LeasesTick(ctx, p)
	require.NoError(t, err)
	require.Equal(t, store.ReaperTick{}, tick)
	require.Equal(t, parked, tickValue(), "a parked tick is not written again")

	pr, err := st.ProjectCreate(ctx, "proj", "Proj", false, nil)
	require.NoError(t, err)
	r, err := st.RunnerCreate(ctx, &store.RunnerCreateParams{Name: "r1", Tags: []string{"linux"}, Hash: []byte("hash")}, nil)
	require.NoError(t, err)
	_, err = st.JobSubmit(ctx, []*store.JobSubmitParams{{JobSpec: store.JobSpec{Name: "build", Cmd: "true", Tag: "linux"},
		ProjectID: pr.ID, ProjectSlug: "proj", EntityKey: "commit", EntityVal: "abc"}})
	require.NoError(t, err)
	claimed, err := st.JobClaim(ctx, &store.JobClaimParams{RunnerID: r.ID, Tag: "linux", Limit: 1, Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	var lease time.Time
	require.NoError(t, pool.QueryRow(ctx, `SELECT lease_expires_at FROM jobs WHERE id = $1`, claimed[0].ID).Scan(&lease))

	tick, err = st.LeasesTick(ctx, p)
	require.NoError(t, err)
	require.Equal(t, store.ReaperTick{Running: true}, tick, "a pause after a parked tick is no gap")
	require.NotEqual(t, parked, tickValue())
	var after time.Time
	require.NoError(t, pool.QueryRow(ctx, `SELECT lease_expires_at FROM jobs WHERE id = $1`, claimed[0].ID).Scan(&after))
	require.True(t, after.Equal(lease), "no lease renewed")

	time.Sleep(300 * time.Millisecond)
	tick, err = st.LeasesTick(ctx, p)
	require.NoError(t, err)
	require.True(t, tick.Running)
	require.Greater(t, tick.Gap, p.Grace, "a pause between real ticks is an outage")
	require.NoError(t, pool.QueryRow(ctx, `SELECT lease_expires_at FROM jobs WHERE id = $1`, claimed[0].ID).Scan(&after))
	require.True(t, after.After(lease), "the lease was renewed by the gap")
}

// TestLeasesTickAfterOutageRightAfterClaim: the database goes away right after
// a claim, before any tick recorded the running job (the tick was parked, and
// the one the claim's event causes was cut off): the first tick after it
// counts the time since the job started as an outage and renews its lease,
// rather than leave the lease to run out as if nobody had been away.
func TestLeasesTickAfterOutageRightAfterClaim(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	st := store.New(pool, newBox(t, make([]byte, 32)))
	ctx := context.Background()
	p := &store.LeasesRenewParams{Lease: time.Minute, AckTimeout: time.Minute, Grace: 100 * time.Millisecond}
	for range 2 { // the first records the row, the second parks it
		tick, err := st.LeasesTick(ctx, p)
		require.NoError(t, err)
		require.Zero(t, tick.Gap)
	}
	pr, err := st.ProjectCreate(ctx, "proj", "Proj", false, nil)
	require.NoError(t, err)
	r, err := st.RunnerCreate(ctx, &store.RunnerCreateParams{Name: "r1", Tags: []string{"linux"}, Hash: []byte("hash")}, nil)
	require.NoError(t, err)
	_, err = st.JobSubmit(ctx, []*store.JobSubmitParams{{JobSpec: store.JobSpec{Name: "build", Cmd: "true", Tag: "linux"},
		ProjectID: pr.ID, ProjectSlug: "proj", EntityKey: "commit", EntityVal: "abc"}})
	require.NoError(t, err)
	claimed, err := st.JobClaim(ctx, &store.JobClaimParams{RunnerID: r.ID, Tag: "linux", Limit: 1, Lease: 200 * time.Millisecond})
	require.NoError(t, err)
	require.Len(t, claimed, 1)

	time.Sleep(400 * time.Millisecond) // the outage: no tick, and the claim's lease ran out
	tick, err := st.LeasesTick(ctx, p)
	require.NoError(t, err)
	require.True(t, tick.Running)
	require.Greater(t, tick.Gap, 300*time.Millisecond, "the time since the claim is the gap")
	var renewed bool
	require.NoError(t, pool.QueryRow(ctx, `SELECT lease_expires_at > now() FROM jobs WHERE id = $1`, claimed[0].ID).Scan(&renewed))
	require.True(t, renewed, "the lease was renewed")
	n, err := st.JobsReap(ctx, time.Minute)
	require.NoError(t, err)
	require.Zero(t, n, "nothing reaped")
}
