package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/store"
)

// TestJobSubmitWritesItsAnswer: every setting of a JobSpec is written as given
// (or as its default), and the answer of a submit is what a read returns.
func TestJobSubmitWritesItsAnswer(t *testing.T) {
	t.Parallel()
	st := store.New(newPool(t), newBox(t, make([]byte, 32)))
	ctx := context.Background()
	p, err := st.ProjectCreate(ctx, "proj", "Proj", false, nil)
	require.NoError(t, err)
	later := time.Now().Add(time.Hour).Truncate(time.Microsecond)
	given := store.JobSpec{Name: "build", Cmd: "echo \"quoted\" \\ é\n\ttab <&>", Env: map[string]string{"A": "1", "B": "ü\""},
		Tag: "native,linux", Priority: -7, EarliestStart: &later, TimeoutSeconds: 60, MaxAttempts: 2}
	jobs, err := st.JobSubmit(ctx, []*store.JobSubmitParams{
		{JobSpec: given, ProjectID: p.ID, ProjectSlug: "proj", EntityKey: "commit", EntityVal: "abc",
			SecretEnv: map[string]string{"TOKEN": "s3cret-value"}, Collections: map[string]string{"ref": "main"}},
		{JobSpec: store.JobSpec{Name: "test", Cmd: "true", Tag: "linux"}, ProjectID: p.ID, ProjectSlug: "proj",
			EntityKey: "commit", EntityVal: "abc", PrecedingNames: []string{"build"}},
	})
	require.NoError(t, err)
	require.Equal(t, given, jobs[0].JobSpec)
	require.Equal(t, store.JobSpec{Name: "test", Cmd: "true", Tag: "linux", Env: map[string]string{},
		TimeoutSeconds: store.DefaultTimeoutSeconds, MaxAttempts: store.DefaultMaxAttempts}, jobs[1].JobSpec, "the store's defaults")
	for _, j := range jobs {
		read, err := st.JobGet(ctx, j.ID)
		require.NoError(t, err)
		require.True(t, read.CreatedAt.Equal(j.CreatedAt))
		read.CreatedAt = j.CreatedAt
		if read.EarliestStart != nil {
			require.True(t, read.EarliestStart.Equal(*j.EarliestStart))
			read.EarliestStart = j.EarliestStart
		}
		if len(read.PrecedingJobs) == 0 {
			read.PrecedingJobs = j.PrecedingJobs // nil in the answer, empty when read
		}
		// What it waits for is in the answer, as JobsWaitingFor reads it.
		require.True(t, j.WaitingKnown)
		waiting, err := st.JobsWaitingFor(ctx, []int64{j.ID})
		require.NoError(t, err)
		require.Equal(t, append([]store.JobRef{}, waiting[j.ID]...), j.WaitingFor)
		read.WaitingFor, read.WaitingKnown = j.WaitingFor, true
		require.Equal(t, j, read)
	}
	require.Equal(t, []string{"TOKEN"}, jobs[0].SecretNames)
	require.Equal(t, store.StatusWaiting, jobs[0].Status, "its earliest start lies ahead")
	require.Equal(t, 1, jobs[1].PendingPreceding)
}
