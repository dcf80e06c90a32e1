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
