package store_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/dbtest"
	"github.com/aura-ci/aura/backend/internal/store"
)

// roundTrips records what each round trip to the database sent: one
// statement, or a batch's statements.
type roundTrips struct {
	mu    sync.Mutex
	on    bool
	trips [][]string
}

func (r *roundTrips) add(sql string, batch bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.on {
		return
	}
	sql = strings.ToLower(strings.TrimSpace(sql))
	if batch && len(r.trips) > 0 {
		r.trips[len(r.trips)-1] = append(r.trips[len(r.trips)-1], sql)
		return
	}
	r.trips = append(r.trips, []string{sql})
}

func (r *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	r.add(d.SQL, false)
	return ctx
}
func (r *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (r *roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	r.add("", false) // a new round trip; its statements follow
	return ctx
}
func (r *roundTrips) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	r.add(d.SQL, true)
}
func (r *roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// inTx returns the round trips from the one that began a transaction to the
// one that committed it.
func (r *roundTrips) inTx(t *testing.T) [][]string {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	begin, commit := -1, -1
	for i, trip := range r.trips {
		for _, sql := range trip {
			switch {
			case begin < 0 && strings.HasPrefix(sql, "begin"):
				begin = i
			case begin >= 0 && commit < 0 && sql == "commit":
				commit = i
			}
		}
	}
	require.True(t, begin >= 0 && commit >= begin, "no transaction in %q", r.trips)
	return r.trips[begin : commit+1]
}

// TestCompleteRoundTrips: a job's completion, alone, with a dependant it
// queues, takes three round trips from BEGIN to COMMIT: BEGIN and the lock;
// the update and the count-down; the notifications and COMMIT. Its end time
// is the transaction's start, and the dependant's runner waits for the commit.
func TestCompleteRoundTrips(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rec := &roundTrips{}
	cfg, err := pgxpool.ParseConfig(dbtest.NewURL(t))
	require.NoError(t, err)
	cfg.ConnConfig.Tracer = rec
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	st := store.New(pool, newBox(t, make([]byte, 32)))

	pr, err := st.ProjectCreate(ctx, "proj", "Proj", false, nil)
	require.NoError(t, err)
	r, err := st.RunnerCreate(ctx, &store.RunnerCreateParams{Name: "r1", Tags: []string{"linux"}, Hash: []byte("hash")}, nil)
	require.NoError(t, err)
	jobs, err := st.JobSubmit(ctx, []*store.JobSubmitParams{
		{JobSpec: store.JobSpec{Name: "build", Cmd: "true", Tag: "linux"},
			ProjectID: pr.ID, ProjectSlug: "proj", EntityKey: "commit", EntityVal: "abc"},
		{JobSpec: store.JobSpec{Name: "test", Cmd: "true", Tag: "linux"},
			ProjectID: pr.ID, ProjectSlug: "proj", EntityKey: "commit", EntityVal: "abc", PrecedingNames: []string{"build"}},
	})
	require.NoError(t, err)
	claimed, err := st.JobClaim(ctx, &store.JobClaimParams{RunnerID: r.ID, Tag: "linux", Limit: 1, Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	require.Equal(t, jobs[0].ID, claimed[0].ID)

	rec.mu.Lock()
	rec.on = true
	rec.mu.Unlock()
	done, err := st.JobComplete(ctx, &store.JobCompleteParams{
		Holder: store.Holder{JobID: claimed[0].ID, Attempt: 1, RunnerID: r.ID}, ExitCode: 0})
	require.NoError(t, err)
	require.Equal(t, store.StatusSucceeded, done.Status)
	trips := rec.inTx(t)
	require.LessOrEqual(t, len(trips), 3, "round trips from BEGIN to COMMIT: %q", trips)

	next, err := st.JobGet(ctx, jobs[1].ID)
	require.NoError(t, err)
	require.Equal(t, store.StatusQueued, next.Status, "the dependant was queued")
}
