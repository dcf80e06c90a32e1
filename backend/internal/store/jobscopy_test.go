package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/dbtest"
	"github.com/aura-ci/aura/backend/internal/store"
)

// copyTracer records the tables COPY wrote to.
type copyTracer struct {
	mu     sync.Mutex
	tables []string
}

func (c *copyTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}
func (c *copyTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (c *copyTracer) TraceCopyFromStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceCopyFromStartData) context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tables = append(c.tables, d.TableName.Sanitize())
	return ctx
}
func (c *copyTracer) TraceCopyFromEnd(context.Context, *pgx.Conn, pgx.TraceCopyFromEndData) {}

func (c *copyTracer) copied() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.tables
	c.tables = nil
	return out
}

// TestJobSubmitCopiesLargeBatches: the jobs of a batch of CopyJobsFrom or
// more are written by COPY, a smaller batch's by its insert, and either way
// every setting is written as given (or as its default), as the answer says,
// each job's submitter too, however many the batch has.
func TestJobSubmitCopiesLargeBatches(t *testing.T) {
	t.Parallel()
	tracer := &copyTracer{}
	cfg, err := pgxpool.ParseConfig(dbtest.NewURL(t))
	require.NoError(t, err)
	cfg.ConnConfig.Tracer = tracer
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	st := store.New(pool, newBox(t, make([]byte, 32)))
	ctx := context.Background()
	p, err := st.ProjectCreate(ctx, "proj", "Proj", false, nil)
	require.NoError(t, err)
	parent, err := st.JobSubmit(ctx, []*store.JobSubmitParams{{JobSpec: store.JobSpec{Name: "parent", Cmd: "true", Tag: "linux"},
		ProjectID: p.ID, ProjectSlug: "proj", EntityKey: "commit", EntityVal: "abc"}})
	require.NoError(t, err)

	later := time.Now().Add(time.Hour).Truncate(time.Microsecond)
	// Two submitters, taking turns: each job keeps its own.
	submitter := func(i int) string { return []string{"ci", "bot"}[i/4%2] }
	batch := func(n int, val string) []*store.JobSubmitParams {
		params := make([]*store.JobSubmitParams, n)
		for i := range params {
			params[i] = &store.JobSubmitParams{JobSpec: store.JobSpec{Name: fmt.Sprint("job", i), Cmd: "make", Tag: "linux"},
				ProjectID: p.ID, ProjectSlug: "proj", EntityKey: "commit", EntityVal: val}
			switch i % 4 {
			case 0:
				params[i].JobSpec = store.JobSpec{Name: fmt.Sprint("job", i), Cmd: "echo \"quoted\" \\ é\n\ttab <&>",
					Env: map[string]string{"A": "1", "B": "ü\""}, Tag: "native,linux", Priority: -7, EarliestStart: &later,
					TimeoutSeconds: 60, MaxAttempts: 2}
				params[i].SecretEnv = map[string]string{"TOKEN": "s3cret-value"}
				params[i].Collections = map[string]string{"ref": "main"}
				params[i].SubmittedBy = &store.Actor{Kind: "token", Name: submitter(i)}
			case 1:
				params[i].PrecedingNames = []string{fmt.Sprint("job", i-1)}
				params[i].PrecedingJobs = []int64{parent[0].ID}
			case 2:
				params[i].ParentJobID = &parent[0].ID
			}
		}
		return params
	}
	for _, tc := range []struct {
		n      int
		copied []string
	}{{store.CopyJobsFrom - 1, nil}, {store.CopyJobsFrom, []string{`"jobs"`}}} {
		tracer.copied()
		jobs, err := st.JobSubmit(ctx, batch(tc.n, fmt.Sprint("v", tc.n)))
		require.NoError(t, err)
		require.Equal(t, tc.copied, tracer.copied())
		for i, j := range jobs {
			read, err := st.JobGet(ctx, j.ID)
			require.NoError(t, err)
			require.True(t, read.CreatedAt.Equal(j.CreatedAt))
			read.CreatedAt = j.CreatedAt
			if read.EarliestStart != nil {
				require.True(t, read.EarliestStart.Equal(*j.EarliestStart))
				read.EarliestStart = j.EarliestStart
			}
			if len(read.PrecedingJobs) == 0 {
				read.PrecedingJobs = j.PrecedingJobs
			}
			require.Equal(t, i%4 == 0, read.SubmittedBy != nil)
			if read.SubmittedBy != nil {
				require.Equal(t, store.Actor{Kind: "token", Name: submitter(i)}, store.Actor{Kind: read.SubmittedBy.Kind, Name: read.SubmittedBy.Name})
				require.True(t, read.SubmittedBy.At.Equal(j.CreatedAt))
				read.SubmittedBy = j.SubmittedBy
			}
			read.WaitingFor, read.WaitingKnown = j.WaitingFor, j.WaitingKnown
			read.TagCheckIn, read.CheckInKnown = j.TagCheckIn, j.CheckInKnown
			require.Equal(t, j, read)
		}
	}
}
