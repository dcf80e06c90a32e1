package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/store"
)

// TestSubmitCountsConcurrently: submissions that create entities of one key
// and add them to one collection at the same time (webhook deliveries of one
// branch) count every one of them, though the counts are sharded, and a
// collection counted before the shards keeps its count.
func TestSubmitCountsConcurrently(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := newPool(t)
	st := store.New(pool, newBox(t, make([]byte, 32)))
	p, err := st.ProjectCreate(ctx, "proj", "Proj", false, nil)
	require.NoError(t, err)
	submit := func(val string) error {
		_, err := st.JobSubmit(ctx, []*store.JobSubmitParams{{
			JobSpec: store.JobSpec{Name: "build", Cmd: "true", Tag: "linux"}, ProjectID: p.ID, ProjectSlug: "proj",
			EntityKey: "commit", EntityVal: val, Collections: map[string]string{"ref": "main"},
		}})
		return err
	}
	require.NoError(t, submit("first"))
	// As a collection counted before migration 000027 left it.
	_, err = pool.Exec(ctx, `UPDATE collections SET entity_count = entity_count + 1 WHERE key = 'ref';
		DELETE FROM collection_counts; UPDATE keys SET value_count = 1 WHERE kind = 'entity'`)
	require.NoError(t, err)

	const clients, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, 2*clients*each)
	for c := range clients {
		wg.Go(func() {
			for i := range each {
				errs <- submit(fmt.Sprintf("c%d-%d", c, i))
				errs <- submit(fmt.Sprintf("c%d-%d", c, i)) // the same entity again: counted once
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	keys, err := st.KeyList(ctx, p.ID, "entity")
	require.NoError(t, err)
	require.Equal(t, []store.KeyCount{{Key: "commit", Count: 1 + clients*each}}, keys)
	keys, err = st.KeyList(ctx, p.ID, "collection")
	require.NoError(t, err)
	require.Equal(t, []store.KeyCount{{Key: "ref", Count: 1}}, keys)
	col, err := st.CollectionGet(ctx, p.ID, "ref", "main", store.Page{Limit: 10})
	require.NoError(t, err)
	require.EqualValues(t, 1+clients*each, col.EntityCount, "one counted before the shards")
	list, _, err := st.CollectionList(ctx, p.ID, "ref", store.Page{Limit: 10})
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.EqualValues(t, 1+clients*each, list[0].EntityCount)
	var shards int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM keys WHERE kind = 'entity'`).Scan(&shards))
	require.LessOrEqual(t, shards, 16)
}

// TestIntegrationsDelivered: outcomes are written in one statement, each the
// integration's last delivery, unless a newer one is recorded already.
func TestIntegrationsDelivered(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := store.New(newPool(t), newBox(t, make([]byte, 32)))
	p, err := st.ProjectCreate(ctx, "proj", "Proj", false, nil)
	require.NoError(t, err)
	repo := "owner/repo"
	var ids []int64
	for range 2 {
		in, err := st.IntegrationCreate(ctx, p.ID, &store.IntegrationParams{Kind: "gitea", Repository: &repo, Secret: "hook-secret"}, nil)
		require.NoError(t, err)
		ids = append(ids, in.ID)
	}
	now := time.Now().Truncate(time.Microsecond)
	require.NoError(t, st.IntegrationsDelivered(ctx, []store.Delivered{
		{IntegrationID: ids[0], Project: "proj", Message: "push 1", At: now},
		{IntegrationID: ids[1], Project: "proj", Message: "push 2", At: now},
	}))
	require.NoError(t, st.IntegrationsDelivered(ctx, []store.Delivered{
		{IntegrationID: ids[0], Project: "proj", Message: "older", At: now.Add(-time.Second)},
		{IntegrationID: ids[1], Project: "proj", Message: "newer", At: now.Add(time.Second)},
	}))
	for id, want := range map[int64]string{ids[0]: "push 1", ids[1]: "newer"} {
		in, err := st.IntegrationGet(ctx, id)
		require.NoError(t, err)
		require.Equal(t, want, in.LastDelivery)
		require.NotNil(t, in.LastDeliveryAt)
	}
	require.NoError(t, st.IntegrationsDelivered(ctx, nil))
}

// TestIntegrationStatusReportedThrottled: a success right after a recorded one
// writes nothing; a failure always does, and the success after it too.
func TestIntegrationStatusReportedThrottled(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := store.New(newPool(t), newBox(t, make([]byte, 32)))
	p, err := st.ProjectCreate(ctx, "proj", "Proj", false, nil)
	require.NoError(t, err)
	repo := "owner/repo"
	in, err := st.IntegrationCreate(ctx, p.ID, &store.IntegrationParams{Kind: "gitea", Repository: &repo, Secret: "hook-secret"}, nil)
	require.NoError(t, err)
	get := func() *store.Integration {
		in, err := st.IntegrationGet(ctx, in.ID)
		require.NoError(t, err)
		return in
	}
	require.NoError(t, st.IntegrationStatusReported(ctx, in.ID, ""))
	first := get().LastStatusAt
	require.NotNil(t, first)
	require.NoError(t, st.IntegrationStatusReported(ctx, in.ID, ""))
	require.Equal(t, first, get().LastStatusAt, "within a second of the last: unchanged")
	require.NoError(t, st.IntegrationStatusReported(ctx, in.ID, "forge said no"))
	failed := get()
	require.Equal(t, "forge said no", failed.LastFailure)
	require.NotNil(t, failed.LastFailureAt)
	require.NoError(t, st.IntegrationStatusReported(ctx, in.ID, ""))
	require.True(t, get().LastStatusAt.After(*failed.LastFailureAt), "a success after a failure is recorded")
}

// TestHookSubmitGroup: deliveries submitted as one group each get their own
// jobs; one repeating another (in the group or before it) is a duplicate; one
// that cannot be submitted fails alone, and leaves nothing written.
func TestHookSubmitGroup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := newPool(t)
	st := store.New(pool, newBox(t, make([]byte, 32)))
	p, err := st.ProjectCreate(ctx, "proj", "Proj", false, nil)
	require.NoError(t, err)
	repo := "owner/repo"
	in, err := st.IntegrationCreate(ctx, p.ID, &store.IntegrationParams{Kind: "gitea", Repository: &repo, Secret: "hook-secret"}, nil)
	require.NoError(t, err)
	delivery := func(key, sha string, names ...string) *store.HookSubmitParams {
		hp := &store.HookSubmitParams{IntegrationID: in.ID, ProjectID: p.ID, Project: "proj", DedupeKeys: []string{key},
			ReportSHA: sha, By: &store.Actor{Kind: store.ActorForge, Name: "gitea delivery " + key}}
		for i, name := range names {
			j := &store.JobSubmitParams{JobSpec: store.JobSpec{Name: name, Cmd: "true", Tag: "linux"}, ProjectID: p.ID,
				ProjectSlug: "proj", EntityKey: "commit", EntityVal: sha, Collections: map[string]string{"ref": "main"}}
			if i > 0 {
				j.PrecedingNames = []string{names[0]}
			}
			hp.Jobs = append(hp.Jobs, j)
		}
		return hp
	}
	_, dup, err := st.HookSubmit(ctx, delivery("seen", "s0", "build"))
	require.NoError(t, err)
	require.False(t, dup)

	res := st.HookSubmitGroup(ctx, []*store.HookSubmitParams{
		delivery("a", "s1", "build", "test"), delivery("b", "s2", "build", "test"), delivery("a", "s3", "build"),
		delivery("seen", "s4", "build"),
	})
	require.Len(t, res, 4)
	for i, want := range []bool{false, false, true, true} {
		require.NoError(t, res[i].Err)
		require.Equal(t, want, res[i].Duplicate, "delivery %d", i)
	}
	for i, sha := range []string{"s1", "s2"} {
		require.Len(t, res[i].Jobs, 2)
		require.Equal(t, "build", res[i].Jobs[0].Name)
		require.Equal(t, sha, res[i].Jobs[0].EntityVal)
		require.Equal(t, []int64{res[i].Jobs[0].ID}, res[i].Jobs[1].PrecedingJobs, "names resolve within the delivery")
		require.Equal(t, store.StatusWaiting, res[i].Jobs[1].Status)
	}

	// A delivery that cannot be submitted fails itself only.
	bad := delivery("c", "s5", "build")
	bad.Jobs[0].PrecedingNames = []string{"missing"}
	res = st.HookSubmitGroup(ctx, []*store.HookSubmitParams{delivery("d", "s6", "build"), bad})
	require.NoError(t, res[0].Err)
	require.Len(t, res[0].Jobs, 1)
	require.Error(t, res[1].Err)
	var jobs, deliveries, commits int
	require.NoError(t, pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM jobs), (SELECT count(*) FROM webhook_deliveries),
		(SELECT count(*) FROM forge_commits)`).Scan(&jobs, &deliveries, &commits))
	require.Equal(t, 1+2+2+1, jobs)
	require.Equal(t, 4, deliveries, "seen, a, b, d")
	require.Equal(t, 4, commits)
}
