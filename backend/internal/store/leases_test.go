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
