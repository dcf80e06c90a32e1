package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/dbtest"
	"github.com/aura-ci/aura/backend/internal/store"
)

// tripCounter counts the round trips a pool's connections make: a query or an
// exec (BEGIN and COMMIT included) is one, a batch is one however many
// statements it holds. Preparing a statement the connection has not seen
// yet is not counted: a warmed-up connection does not.
type tripCounter struct {
	mu      sync.Mutex
	on      bool
	inBatch bool
	trips   []string
}

func (c *tripCounter) add(what string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.on {
		c.trips = append(c.trips, what)
	}
}

func (c *tripCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	c.add(d.SQL)
	return ctx
}
func (c *tripCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (c *tripCounter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchStartData) context.Context {
	c.add(fmt.Sprintf("batch of %d", d.Batch.Len()))
	return ctx
}
func (c *tripCounter) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (c *tripCounter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

// count returns the round trips fn made.
func (c *tripCounter) count(fn func()) []string {
	c.mu.Lock()
	c.on, c.trips = true, nil
	c.mu.Unlock()
	fn()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.on = false
	return c.trips
}

func countedStore(t *testing.T) (*store.Store, *tripCounter) {
	t.Helper()
	c := &tripCounter{}
	cfg, err := pgxpool.ParseConfig(dbtest.NewURL(t))
	require.NoError(t, err)
	cfg.ConnConfig.Tracer = c
	cfg.MaxConns = 1 // one connection, warmed by the first submissions
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return store.New(pool, newBox(t, make([]byte, 32))), c
}

// TestJobSubmitRoundTrips: one job with no preceding jobs is one round trip,
// its statements pipelined with the commit; a batch with dependencies is two
// (BEGIN rides with the first, COMMIT with the last).
func TestJobSubmitRoundTrips(t *testing.T) {
	t.Parallel()
	st, c := countedStore(t)
	ctx := context.Background()
	p, err := st.ProjectCreate(ctx, "proj", "Proj", false, nil)
	require.NoError(t, err)
	one := func(val string) []*store.JobSubmitParams {
		return []*store.JobSubmitParams{{JobSpec: store.JobSpec{Name: "build", Cmd: "true", Tag: "linux"},
			ProjectID: p.ID, ProjectSlug: "proj", EntityKey: "commit", EntityVal: val,
			SubmittedBy: &store.Actor{Kind: "token", Name: "ci"}}}
	}
	two := func(val string) []*store.JobSubmitParams {
		return []*store.JobSubmitParams{
			{JobSpec: store.JobSpec{Name: "build", Cmd: "true", Tag: "linux"}, ProjectID: p.ID, ProjectSlug: "proj",
				EntityKey: "commit", EntityVal: val, Collections: map[string]string{"ref": "main"}},
			{JobSpec: store.JobSpec{Name: "test", Cmd: "true", Tag: "linux"}, ProjectID: p.ID, ProjectSlug: "proj",
				EntityKey: "commit", EntityVal: val, PrecedingNames: []string{"build"}},
		}
	}
	for i := range 2 { // warm the connection's statement cache, new and known entities
		_, err := st.JobSubmit(ctx, one(fmt.Sprint("warm", i%1)))
		require.NoError(t, err)
		_, err = st.JobSubmit(ctx, two(fmt.Sprint("warm", i%1)))
		require.NoError(t, err)
	}
	for _, val := range []string{"new", "new"} { // a new entity, then a known one
		var jobs []*store.Job
		trips := c.count(func() {
			jobs, err = st.JobSubmit(ctx, one(val))
			require.NoError(t, err)
		})
		require.Len(t, trips, 2, "one job: %q", trips)
		read, err := st.JobGet(ctx, jobs[0].ID)
		require.NoError(t, err)
		require.Equal(t, store.StatusQueued, read.Status)

		trips = c.count(func() {
			_, err = st.JobSubmit(ctx, two(val+"-batch"))
			require.NoError(t, err)
		})
		require.Len(t, trips, 2, "a batch: %q", trips)
	}
}
