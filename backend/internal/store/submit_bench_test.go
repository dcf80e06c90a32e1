package store_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/store"
)

// BenchmarkJobSubmitOne is the store's part of POST /api/v1/jobs: one job
// that waits for nothing, on an entity of its own, with and without
// collections. Run it against a cluster with fsync on to see a commit's cost.
func BenchmarkJobSubmitOne(b *testing.B) {
	for _, collections := range []map[string]string{nil, {"ref": "main"}} {
		b.Run(fmt.Sprintf("collections=%d", len(collections)), func(b *testing.B) {
			st := store.New(newPool(b), newBox(b, make([]byte, 32)))
			ctx := context.Background()
			p, err := st.ProjectCreate(ctx, "proj", "Proj", false, nil)
			require.NoError(b, err)
			var ds []time.Duration
			i := 0
			for b.Loop() {
				i++
				start := time.Now()
				_, err := st.JobSubmit(ctx, []*store.JobSubmitParams{{JobSpec: store.JobSpec{Name: "build", Cmd: "make", Tag: "linux"},
					ProjectID: p.ID, ProjectSlug: "proj", EntityKey: "commit", EntityVal: fmt.Sprint(i), Collections: collections,
					SubmittedBy: &store.Actor{Kind: "token", Name: "ci"}}})
				ds = append(ds, time.Since(start))
				require.NoError(b, err)
			}
			reportLatencies(b, ds)
		})
	}
}

// BenchmarkJobSubmitOneHandedOff is BenchmarkJobSubmitOne with a runner's
// long poll parked for the job's tag: the submission claims the job for it
// in its round trip (handoff.go).
func BenchmarkJobSubmitOneHandedOff(b *testing.B) {
	st, _, p, _, parked := handOffBench(b)
	ctx := context.Background()
	var ds []time.Duration
	i := 0
	for b.Loop() {
		i++
		start := time.Now()
		_, err := st.JobSubmit(ctx, []*store.JobSubmitParams{{JobSpec: store.JobSpec{Name: "build", Cmd: "make", Tag: "linux"},
			ProjectID: p.ID, ProjectSlug: "proj", EntityKey: "commit", EntityVal: fmt.Sprint(i),
			SubmittedBy: &store.Actor{Kind: "token", Name: "ci"}}})
		ds = append(ds, time.Since(start))
		require.NoError(b, err)
		require.NoError(b, parked.err)
		require.Len(b, parked.jobs, 1, "handed off")
	}
	reportLatencies(b, ds)
}

// BenchmarkJobCompleteHandsOff: a runner completes a job that one other job
// waits for, while a runner's long poll is parked for its tag: the completion
// queues the dependant and claims it for the poll in its transaction (a
// chain's server side, from the complete to the hand-off). The statistics
// are gathered after a warm-up, as autovacuum soon does on a server: plans
// made on tables PostgreSQL has never analyzed read them whole.
func BenchmarkJobCompleteHandsOff(b *testing.B) {
	st, pool, p, r, parked := handOffBench(b)
	ctx := context.Background()
	i := 0
	chain := func() time.Duration {
		i++
		parked.jobs = nil
		jobs, err := st.JobSubmit(ctx, []*store.JobSubmitParams{
			{JobSpec: store.JobSpec{Name: "build", Cmd: "make", Tag: "linux"},
				ProjectID: p.ID, ProjectSlug: "proj", EntityKey: "commit", EntityVal: fmt.Sprint(i)},
			{JobSpec: store.JobSpec{Name: "test", Cmd: "make test", Tag: "linux"}, PrecedingNames: []string{"build"},
				ProjectID: p.ID, ProjectSlug: "proj", EntityKey: "commit", EntityVal: fmt.Sprint(i)}})
		require.NoError(b, err)
		if len(parked.jobs) == 0 {
			_, err := st.JobClaim(ctx, &store.JobClaimParams{RunnerID: r.ID, Tag: "linux", Limit: 1, Lease: time.Minute})
			require.NoError(b, err)
		}
		parked.jobs = nil
		start := time.Now()
		_, err = st.JobComplete(ctx, &store.JobCompleteParams{Holder: store.Holder{JobID: jobs[0].ID, Attempt: 1, RunnerID: r.ID}})
		took := time.Since(start)
		require.NoError(b, err)
		require.NoError(b, parked.err)
		require.Len(b, parked.jobs, 1, "handed off")
		require.Equal(b, jobs[1].ID, parked.jobs[0].ID)
		return took
	}
	for range 200 {
		chain()
	}
	_, err := pool.Exec(ctx, `ANALYZE`)
	require.NoError(b, err)
	var ds []time.Duration
	for b.Loop() {
		ds = append(ds, chain())
	}
	reportLatencies(b, ds)
}

// reportLatencies reports the p50 and p99 of ds, in milliseconds.
func reportLatencies(b *testing.B, ds []time.Duration) {
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(ds[len(ds)*99/100].Microseconds())/1000, "p99_ms")
}

// handOffBench is a store with project "proj" and a runner r1 of tag linux
// whose long poll is always parked on it.
func handOffBench(b *testing.B) (*store.Store, *pgxpool.Pool, *store.Project, *store.Runner, *parkedPoll) {
	pool := newPool(b)
	st := store.New(pool, newBox(b, make([]byte, 32)))
	ctx := context.Background()
	p, err := st.ProjectCreate(ctx, "proj", "Proj", false, nil)
	require.NoError(b, err)
	r, err := st.RunnerCreate(ctx, &store.RunnerCreateParams{Name: "r1", Tags: []string{"linux"}, Hash: []byte("bench-runner")}, &store.Audit{})
	require.NoError(b, err)
	parked := &parkedPoll{p: store.JobClaimParams{RunnerID: r.ID, Tag: "linux", Limit: 1, Lease: time.Minute, PolledSince: time.Now()}}
	st.SetHandoff(parked)
	return st, pool, p, r, parked
}

// parkedPoll is a long poll always parked, for store.Handoff.
type parkedPoll struct {
	p    store.JobClaimParams
	jobs []*store.ClaimedJob
	err  error
}

func (pp *parkedPoll) Reserve(string) store.HandoffReservation { return pp }

func (pp *parkedPoll) Params() *store.JobClaimParams { return &pp.p }

func (pp *parkedPoll) Deliver(jobs []*store.ClaimedJob, err error) { pp.jobs, pp.err = jobs, err }
