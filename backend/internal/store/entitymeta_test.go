package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/store"
)

// TestEntityMetaOneStatement: a submission's entity titles and meta are one
// statement, however many of its jobs set them, and each entity takes what
// its jobs say in their order: the last title given, each meta field from
// the last job that sets it, the fields no job sets kept.
func TestEntityMetaOneStatement(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, raw, rec := recordedStore(t)
	p, err := st.ProjectCreate(ctx, "proj", "Proj", false, nil)
	require.NoError(t, err)
	n := 0
	job := func(val, title string, meta *store.EntityMeta) *store.JobSubmitParams {
		n++
		return &store.JobSubmitParams{JobSpec: store.JobSpec{Name: fmt.Sprint("j", n), Cmd: "true", Tag: "linux"},
			ProjectID: p.ID, ProjectSlug: "proj", EntityKey: "commit", EntityVal: val, EntityTitle: title, EntityMeta: meta}
	}
	_, err = st.JobSubmit(ctx, []*store.JobSubmitParams{job("a", "first title", &store.EntityMeta{Message: "m0", Branch: "dev", AuthorName: "Ann"})})
	require.NoError(t, err)

	stmts := rec.record(func() {
		_, err := st.JobSubmit(ctx, []*store.JobSubmitParams{
			job("a", "", &store.EntityMeta{Message: "m1"}),
			job("b", "b title", nil),
			job("a", "second title", &store.EntityMeta{Branch: "main", RequestNumber: 7}),
			job("c", "", nil),
			job("a", "", &store.EntityMeta{Message: "m3"}),
		})
		require.NoError(t, err)
	})
	updates := 0
	for _, s := range stmts {
		if strings.Contains(s.sql, "UPDATE entities") {
			updates++
		}
	}
	require.Equal(t, 1, updates, "one statement for the batch's titles and meta")

	read := func(val string) (string, map[string]any) {
		var title string
		var meta []byte
		require.NoError(t, raw.QueryRow(ctx, `SELECT title, meta FROM entities WHERE value = $1`, val).Scan(&title, &meta))
		var m map[string]any
		require.NoError(t, json.Unmarshal(meta, &m))
		return title, m
	}
	title, meta := read("a")
	require.Equal(t, "second title", title)
	require.Equal(t, map[string]any{"message": "m3", "branch": "main", "authorName": "Ann", "requestNumber": float64(7)}, meta)
	title, meta = read("b")
	require.Equal(t, "b title", title)
	require.Empty(t, meta)
	title, _ = read("c")
	require.Empty(t, title)
}
