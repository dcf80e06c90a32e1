package store_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/store"
)

// TestEntityCancelCancelsEveryJob: cancelling a build cancels each of its
// jobs that has not ended, and says so of each. A preceding job that ends at
// its cancel no longer skips its dependant before the cancel reaches it (the
// answer said "1 job cancelled" for two, and the dependant read as skipped).
func TestEntityCancelCancelsEveryJob(t *testing.T) {
	t.Parallel()
	st := store.New(newPool(t), newBox(t, make([]byte, 32)))
	ctx := context.Background()
	p, err := st.ProjectCreate(ctx, "proj", "Proj", false, nil)
	require.NoError(t, err)
	jobs, err := st.JobSubmit(ctx, []*store.JobSubmitParams{
		{JobSpec: store.JobSpec{Name: "first", Cmd: "true", Tag: "linux"}, ProjectID: p.ID, ProjectSlug: "proj", EntityKey: "commit", EntityVal: "abc"},
		{JobSpec: store.JobSpec{Name: "then", Cmd: "true", Tag: "linux"}, ProjectID: p.ID, ProjectSlug: "proj", EntityKey: "commit", EntityVal: "abc",
			PrecedingNames: []string{"first"}},
	})
	require.NoError(t, err)
	cancelled, err := st.EntityCancel(ctx, jobs[0].EntityID, "cancelled by user", nil)
	require.NoError(t, err)
	require.ElementsMatch(t, []int64{jobs[0].ID, jobs[1].ID}, cancelled)
	for _, j := range jobs {
		got, err := st.JobGet(ctx, j.ID)
		require.NoError(t, err)
		require.Equal(t, store.StatusCancelled, got.Status)
		require.Equal(t, "cancelled by user", got.Reason, "job %s was cancelled by the person, not skipped", got.Name)
	}
}
