package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/store"
)

// TestJobCompleteAnswerInTransaction: a completion's answer, the ended job, is
// read in the completion's transaction, in the round trip of its update:
// nothing is sent after COMMIT, and a success takes three round trips in all
// (BEGIN and the lock; the update, the count-down and the read; the
// notifications and COMMIT). Completions that share a transaction read their
// answers in one statement.
func TestJobCompleteAnswerInTransaction(t *testing.T) {
	t.Parallel()
	st, c := countedStore(t)
	ctx := context.Background()
	p, err := st.ProjectCreate(ctx, "proj", "Proj", false, nil)
	require.NoError(t, err)
	r, err := st.RunnerCreate(ctx, &store.RunnerCreateParams{Name: "r1", Tags: []string{"linux"}, Hash: []byte("hash")}, nil)
	require.NoError(t, err)
	var params []*store.JobSubmitParams
	for i := range 6 {
		params = append(params, &store.JobSubmitParams{JobSpec: store.JobSpec{Name: "build", Cmd: "true", Tag: "linux"},
			ProjectID: p.ID, ProjectSlug: "proj", EntityKey: "commit", EntityVal: fmt.Sprint("c", i)})
	}
	_, err = st.JobSubmit(ctx, params)
	require.NoError(t, err)
	claimed, err := st.JobClaim(ctx, &store.JobClaimParams{RunnerID: r.ID, Tag: "linux", Limit: 6, Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, claimed, 6)
	complete := func(j *store.ClaimedJob, exit int) *store.Job {
		done, err := st.JobComplete(ctx, &store.JobCompleteParams{
			Holder: store.Holder{JobID: j.ID, Attempt: j.Attempt, RunnerID: r.ID}, ExitCode: exit})
		require.NoError(t, err)
		return done
	}
	complete(claimed[0], 0) // warm the connection's statement cache

	for i, exit := range []int{0, 3} {
		var done *store.Job
		stmts, trips := c.During(func() { done = complete(claimed[1+i], exit) })
		if exit == 0 {
			require.Len(t, trips, 3, "round trips: %q", trips)
		}
		require.Equal(t, "COMMIT", stmts[len(stmts)-1], "nothing after COMMIT: %q", stmts)
		require.Equal(t, claimed[1+i].ID, done.ID)
		require.Equal(t, map[int]string{0: store.StatusSucceeded, 3: store.StatusFailed}[exit], done.Status)
		require.Equal(t, exit, *done.ExitCode)
		require.NotNil(t, done.EndedAt)
		require.Equal(t, "r1", *done.RunnerName)
		read, err := st.JobGet(ctx, done.ID)
		require.NoError(t, err)
		require.Equal(t, read, done, "the answer is the job as stored")
	}

	// Completions arriving together share a transaction (the pool has one
	// connection): their answers take one statement, however many they are.
	rest := claimed[3:]
	stmts := c.Statements(func() {
		errs := make(chan error, len(rest))
		for _, j := range rest {
			go func() {
				_, err := st.JobComplete(ctx, &store.JobCompleteParams{
					Holder: store.Holder{JobID: j.ID, Attempt: j.Attempt, RunnerID: r.ID}, ExitCode: 0})
				errs <- err
			}()
		}
		for range rest {
			require.NoError(t, <-errs)
		}
	})
	reads, commits := 0, 0
	for _, s := range stmts {
		if strings.Contains(s, "LEFT JOIN log_archives") {
			reads++
		}
		if s == "COMMIT" {
			commits++
		}
	}
	require.Equal(t, commits, reads, "one read of the answers per transaction: %q", stmts)
	for _, j := range rest {
		read, err := st.JobGet(ctx, j.ID)
		require.NoError(t, err)
		require.Equal(t, store.StatusSucceeded, read.Status)
	}
}
