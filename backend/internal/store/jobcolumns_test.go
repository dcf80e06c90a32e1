package store_test

import (
	"context"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/store"
)

// TestJobsInsertReadsListsByCast: a list column (secret_names) travels as an
// array literal that the insert casts, not as JSON that a subquery per row
// unpacks, and reads back as given, whatever its names hold.
func TestJobsInsertReadsListsByCast(t *testing.T) {
	t.Parallel()
	require.NotContains(t, store.QJobsInsert, "SELECT jsonb_array_elements_text")
	require.Contains(t, store.QJobsInsert, "t.secret_names::text[]")

	st := store.New(newPool(t), newBox(t, make([]byte, 32)))
	ctx := context.Background()
	p, err := st.ProjectCreate(ctx, "proj", "Proj", false, nil)
	require.NoError(t, err)
	odd := map[string]string{`A"B`: "x", `C\D`: "x", "E,F": "x", "{G}": "x", "NULL": "x", "H I": "x", "": "x", "é": "x"}
	jobs, err := st.JobSubmit(ctx, []*store.JobSubmitParams{
		{JobSpec: store.JobSpec{Name: "build", Cmd: "true", Tag: "linux"}, ProjectID: p.ID, ProjectSlug: "proj",
			EntityKey: "commit", EntityVal: "abc", SecretEnv: odd},
		{JobSpec: store.JobSpec{Name: "test", Cmd: "true", Tag: "linux"}, ProjectID: p.ID, ProjectSlug: "proj",
			EntityKey: "commit", EntityVal: "abc", PrecedingNames: []string{"build"}},
	})
	require.NoError(t, err)
	var names []string
	for k := range odd {
		names = append(names, k)
	}
	slices.Sort(names)
	for i, want := range [][]string{names, {}} {
		read, err := st.JobGet(ctx, jobs[i].ID)
		require.NoError(t, err)
		require.Equal(t, want, read.SecretNames)
		require.Equal(t, want, jobs[i].SecretNames)
	}
}
