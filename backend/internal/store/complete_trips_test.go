package store_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/dbtest"
	"github.com/aura-ci/aura/backend/internal/store"
)

// completeBundle is a store on one connection, whose statements rec records,
// with a runner holding claimed jobs.
type completeBundle struct {
	st     *store.Store
	pool   *pgxpool.Pool
	rec    *dbtest.SQLRecorder
	runner int64
	jobs   []*store.Job // submitted, in order
}

// setupCompletes submits params (project "proj"), then claims every queued job.
func setupCompletes(t *testing.T, params func(projectID int64) []*store.JobSubmitParams) *completeBundle {
	t.Helper()
	ctx := context.Background()
	b := &completeBundle{rec: &dbtest.SQLRecorder{}}
	cfg, err := pgxpool.ParseConfig(dbtest.NewURL(t))
	require.NoError(t, err)
	cfg.ConnConfig.Tracer = b.rec
	cfg.MaxConns = 1
	b.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(b.pool.Close)
	b.st = store.New(b.pool, newBox(t, make([]byte, 32)))
	p, err := b.st.ProjectCreate(ctx, "proj", "Proj", false, nil)
	require.NoError(t, err)
	r, err := b.st.RunnerCreate(ctx, &store.RunnerCreateParams{Name: "r1", Tags: []string{"linux"}, Hash: []byte("hash")}, nil)
	require.NoError(t, err)
	b.runner = r.ID
	b.jobs, err = b.st.JobSubmit(ctx, params(p.ID))
	require.NoError(t, err)
	_, err = b.st.JobClaim(ctx, &store.JobClaimParams{RunnerID: r.ID, Tag: "linux", Limit: 100, Lease: time.Minute})
	require.NoError(t, err)
	return b
}

func (b *completeBundle) complete(id int64, exit int) (*store.Job, error) {
	return b.st.JobComplete(context.Background(), &store.JobCompleteParams{
		Holder: store.Holder{JobID: id, Attempt: 1, RunnerID: b.runner}, ExitCode: exit})
}

// together completes each of ids (exit 0) at once, in as few transactions as
// the batches take: the pool's one connection is held until the runner of
// batches waits for it with the first completion, and the rest wait in the
// queue, so the rest share one transaction.
func (b *completeBundle) together(t *testing.T, first int64, rest []int64) []error {
	t.Helper()
	conn, err := b.pool.Acquire(context.Background())
	require.NoError(t, err)
	var once sync.Once
	release := func() { once.Do(conn.Release) }
	defer release() // when the test fails meanwhile: its completions must end too
	errs := make([]chan error, 0, 1+len(rest))
	start := func(id int64, queued, runners int) {
		ch := make(chan error, 1)
		errs = append(errs, ch)
		go func() {
			_, err := b.complete(id, 0)
			ch <- err
		}()
		require.Eventually(t, func() bool {
			q, r := b.st.CompletesQueued()
			return q == queued && r == runners
		}, 10*time.Second, time.Millisecond)
	}
	start(first, 0, 1) // the runner of batches took it, and waits for the connection
	for i, id := range rest {
		start(id, i+1, 1)
	}
	release()
	out := make([]error, len(errs))
	for i, ch := range errs {
		out[i] = <-ch
	}
	return out
}

func builds(n int) func(int64) []*store.JobSubmitParams {
	return func(projectID int64) []*store.JobSubmitParams {
		var params []*store.JobSubmitParams
		for i := range n {
			params = append(params, &store.JobSubmitParams{JobSpec: store.JobSpec{Name: "build", Cmd: "true", Tag: "linux"},
				ProjectID: projectID, ProjectSlug: "proj", EntityKey: "commit", EntityVal: fmt.Sprint("c", i)})
		}
		return params
	}
}

// TestJobCompleteAnswerInTransaction: a completion's answer, the ended job, is
// read in the completion's transaction, in the round trip of its update:
// nothing is sent after COMMIT, and a success takes two round trips in all
// (BEGIN, the update with its count-down, and the read; the notifications
// and COMMIT).
func TestJobCompleteAnswerInTransaction(t *testing.T) {
	t.Parallel()
	b := setupCompletes(t, builds(3))
	_, err := b.complete(b.jobs[0].ID, 0) // warm the connection's statement cache
	require.NoError(t, err)

	for i, exit := range []int{0, 3} {
		var done *store.Job
		stmts, trips := b.rec.During(func() {
			done, err = b.complete(b.jobs[1+i].ID, exit)
			require.NoError(t, err)
		})
		if exit == 0 {
			require.Len(t, trips, 2, "round trips: %q", trips)
		}
		require.Equal(t, "COMMIT", stmts[len(stmts)-1], "nothing after COMMIT: %q", stmts)
		require.Equal(t, b.jobs[1+i].ID, done.ID)
		require.Equal(t, map[int]string{0: store.StatusSucceeded, 3: store.StatusFailed}[exit], done.Status)
		require.Equal(t, exit, *done.ExitCode)
		require.NotNil(t, done.EndedAt)
		require.Equal(t, "r1", *done.RunnerName)
		read, err := b.st.JobGet(context.Background(), done.ID)
		require.NoError(t, err)
		require.Equal(t, read, done, "the answer is the job as stored")
	}
}

// TestJobCompleteBatchStatements: completions that share a transaction take
// the same statements however many they are: one update that counts their
// dependents down too, one read of their answers, and no lock of their own.
func TestJobCompleteBatchStatements(t *testing.T) {
	t.Parallel()
	const n = 12
	b := setupCompletes(t, builds(n))
	ids := make([]int64, n)
	for i, j := range b.jobs {
		ids[i] = j.ID
	}
	var errs []error
	stmts := b.rec.Statements(func() { errs = b.together(t, ids[0], ids[1:]) })
	for _, err := range errs {
		require.NoError(t, err)
	}
	count := func(part string) int {
		c := 0
		for _, s := range stmts {
			if strings.Contains(s, part) {
				c++
			}
		}
		return c
	}
	commits := count("COMMIT")
	require.Equal(t, 2, commits, "one alone, the other eleven together: %q", stmts)
	require.Zero(t, count("FOR UPDATE"), "locks: %q", stmts)
	require.Equal(t, commits, count("UPDATE jobs j SET status"), "updates: %q", stmts)
	require.Equal(t, commits, count("pending_preceding = j.pending_preceding"), "count-downs in the update: %q", stmts)
	require.Equal(t, commits, count("LEFT JOIN log_archives"), "answers: %q", stmts)
	for _, id := range ids {
		read, err := b.st.JobGet(context.Background(), id)
		require.NoError(t, err)
		require.Equal(t, store.StatusSucceeded, read.Status)
	}
}

// TestJobCompleteTwiceInOneBatch: a job completed twice in one transaction
// (a retried complete) ends once: the jobs waiting for it are counted down
// once, the second complete is answered as a repeat, and a job waiting for
// two that complete together is queued.
func TestJobCompleteTwiceInOneBatch(t *testing.T) {
	t.Parallel()
	b := setupCompletes(t, func(projectID int64) []*store.JobSubmitParams {
		job := func(name string, preceding ...string) *store.JobSubmitParams {
			return &store.JobSubmitParams{JobSpec: store.JobSpec{Name: name, Cmd: "true", Tag: "linux"},
				ProjectID: projectID, ProjectSlug: "proj", EntityKey: "commit", EntityVal: "abc", PrecedingNames: preceding}
		}
		return []*store.JobSubmitParams{job("a"), job("x"), job("y"), job("z"),
			job("after-x-and-z", "x", "z"), job("after-x-and-y", "x", "y")}
	})
	x, y := b.jobs[1].ID, b.jobs[2].ID
	errs := b.together(t, b.jobs[0].ID, []int64{x, x, y})
	for _, err := range errs {
		require.NoError(t, err)
	}
	ctx := context.Background()
	xz, err := b.st.JobGet(ctx, b.jobs[4].ID)
	require.NoError(t, err)
	require.Equal(t, store.StatusWaiting, xz.Status)
	require.Equal(t, 1, xz.PendingPreceding, "x counted once")
	xy, err := b.st.JobGet(ctx, b.jobs[5].ID)
	require.NoError(t, err)
	require.Equal(t, store.StatusQueued, xy.Status)
	require.Equal(t, 0, xy.PendingPreceding)
}

// TestJobCompleteChecksums: a completion whose log checksum differs from the
// stored log's is recorded as a mismatch, like one whose length differs, and
// answered as stored; one that matches is not.
func TestJobCompleteChecksums(t *testing.T) {
	t.Parallel()
	b := setupCompletes(t, builds(3))
	ctx := context.Background()
	empty := sha256.Sum256(nil)
	right, wrong := hex.EncodeToString(empty[:]), strings.Repeat("0", 64)
	zero, five := int64(0), int64(5)
	for i, c := range []struct {
		length   *int64
		sum      *string
		mismatch bool
	}{
		{&zero, &right, false},
		{&zero, &wrong, true},
		{&five, &right, true},
	} {
		done, err := b.st.JobComplete(ctx, &store.JobCompleteParams{
			Holder: store.Holder{JobID: b.jobs[i].ID, Attempt: 1, RunnerID: b.runner}, LogLength: c.length, LogSHA256: c.sum})
		require.NoError(t, err)
		require.Equal(t, store.StatusSucceeded, done.Status)
		require.Equal(t, c.mismatch, done.LogMismatch, "case %d", i)
		if c.mismatch {
			require.Equal(t, "the log the server stored differs from what the runner sent", done.Reason)
		}
		read, err := b.st.JobGet(ctx, done.ID)
		require.NoError(t, err)
		require.Equal(t, read, done, "the answer is the job as stored")
	}
}
