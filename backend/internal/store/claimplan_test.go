package store_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/store"
)

// TestClaimPlanWithBacklog: with a long queue on the runner's tag, the claim
// walks jobs_runnable in claim order to the first free jobs. The check for
// deleted projects, as an anti-join, once made the planner read and sort the
// tag's whole queue instead: a claim cost grew with the backlog (10 ms at
// 10,000 queued jobs).
func TestClaimPlanWithBacklog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, raw, rec := recordedStore(t)

	execAll(t, raw,
		`INSERT INTO projects (slug, name) VALUES ('p', 'p')`,
		`INSERT INTO entities (project_id, key, value) SELECT 1, 'commit', 'c' || g FROM generate_series(1, 20000) g`,
		`INSERT INTO jobs (project_id, entity_id, name, cmd, tag, status, created_at, queued_at)
			SELECT 1, id, 'build', 'true', CASE WHEN id % 2 = 0 THEN 'linux' ELSE 'other' END, 'queued', now(), now() FROM entities`,
		`INSERT INTO jobs (project_id, entity_id, name, cmd, tag, status, created_at, ended_at)
			SELECT 1, id, 'done', 'true', 'linux', 'succeeded', now(), now() FROM entities`,
		`ANALYZE`,
	)
	runner, err := st.RunnerCreate(ctx, &store.RunnerCreateParams{Name: "r1", Tags: []string{"linux"}, Hash: []byte("plan-runner-token")}, &store.Audit{})
	require.NoError(t, err)
	for _, limit := range []int{1, 8} {
		stmts := rec.record(func() {
			jobs, err := st.JobClaim(ctx, &store.JobClaimParams{RunnerID: runner.ID, Tag: "linux", Limit: limit, Lease: time.Minute})
			require.NoError(t, err)
			require.Len(t, jobs, limit)
			require.True(t, jobs[len(jobs)-1].MoreQueued)
		})
		require.NotEmpty(t, stmts)
		for _, s := range stmts {
			scans := explain(t, raw, s)
			t.Logf("limit %d: %s", limit, strings.Join(scans, ", "))
			require.Contains(t, scans, "Index Scan using jobs_runnable")
			require.False(t, slices.ContainsFunc(scans, func(s string) bool { return strings.HasSuffix(s, "jobs_queued") || s == "Seq Scan on jobs" }),
				"the claim reads the queue whole: %v", scans)
			// Once: the start of jobs_runnable holds the entries of the jobs
			// claimed since the last vacuum, and each walk reads them all.
			require.Equal(t, 1, indexWalks(t, raw, s, "jobs_runnable"), "walks of jobs_runnable")
		}
	}
}

// indexWalks counts the scans of index in s's plan.
func indexWalks(t *testing.T, pool *pgxpool.Pool, s statement, index string) int {
	t.Helper()
	n := 0
	for _, scan := range planScans(t, pool, s) {
		if strings.HasSuffix(scan, " using "+index) {
			n++
		}
	}
	return n
}

// TestClaimMoreQueued: a claim that takes its limit says whether a job of its
// tag is left for another runner, and only then.
func TestClaimMoreQueued(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := newPool(t)
	st := store.New(pool, newBox(t, make([]byte, 32)))
	execAll(t, pool,
		`INSERT INTO projects (slug, name) VALUES ('p', 'p')`,
		`INSERT INTO entities (project_id, key, value) SELECT 1, 'commit', 'c' || g FROM generate_series(1, 12) g`,
		// 9 of tag linux (one of them urgent, the last), 3 of another tag.
		`INSERT INTO jobs (project_id, entity_id, name, cmd, tag, status, priority, created_at, queued_at)
			SELECT 1, id, 'build', 'true', CASE WHEN id <= 9 THEN 'linux' ELSE 'other' END, 'queued',
				CASE WHEN id = 9 THEN 5 ELSE 0 END, now(), now() FROM entities`,
	)
	r, err := st.RunnerCreate(ctx, &store.RunnerCreateParams{Name: "r1", Tags: []string{"linux"}, Hash: []byte("more-queued-token")}, &store.Audit{})
	require.NoError(t, err)
	claim := func(limit int) ([]int64, bool) {
		jobs, err := st.JobClaim(ctx, &store.JobClaimParams{RunnerID: r.ID, Tag: "linux", Limit: limit, Lease: time.Minute})
		require.NoError(t, err)
		ids := make([]int64, len(jobs))
		for i, j := range jobs {
			ids[i] = j.ID
		}
		return ids, len(jobs) > 0 && jobs[len(jobs)-1].MoreQueued
	}
	ids, more := claim(2)
	require.Equal(t, []int64{9, 1}, ids, "priority first, then in order")
	require.True(t, more)
	ids, more = claim(6)
	require.Equal(t, []int64{2, 3, 4, 5, 6, 7}, ids)
	require.True(t, more, "one is left")
	ids, more = claim(1)
	require.Equal(t, []int64{8}, ids)
	require.False(t, more, "the last of its tag")
	ids, _ = claim(1)
	require.Empty(t, ids)
}

// TestGroupedClaimsHandOutOnce: claims that arrive together share
// transactions (groupCommit); however they are grouped, every queued job is
// handed out exactly once, and only to a runner of its tag.
func TestGroupedClaimsHandOutOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := newPool(t)
	st := store.New(pool, newBox(t, make([]byte, 32)))
	execAll(t, pool,
		`INSERT INTO projects (slug, name) VALUES ('p', 'p')`,
		`INSERT INTO entities (project_id, key, value) SELECT 1, 'commit', 'c' || g FROM generate_series(1, 3000) g`,
		`INSERT INTO jobs (project_id, entity_id, name, cmd, tag, status, created_at, queued_at)
			SELECT 1, id, 'build', 'true', CASE WHEN id % 3 = 0 THEN 'arm' ELSE 'linux' END, 'queued', now(), now() FROM entities`,
	)
	const runners = 40
	type handout struct {
		runner int64
		tag    string
	}
	var mu sync.Mutex
	got := map[int64][]handout{}
	var wg sync.WaitGroup
	for i := range runners {
		tag := []string{"linux", "arm"}[i%2]
		r, err := st.RunnerCreate(ctx, &store.RunnerCreateParams{Name: fmt.Sprint("r", i), Tags: []string{tag}, Hash: []byte(fmt.Sprint("token", i))}, &store.Audit{})
		require.NoError(t, err)
		wg.Go(func() {
			for {
				jobs, err := st.JobClaim(ctx, &store.JobClaimParams{RunnerID: r.ID, Tag: tag, Limit: 1 + i%4, Lease: time.Minute})
				if err != nil {
					t.Error(err)
					return
				}
				if len(jobs) == 0 {
					return
				}
				mu.Lock()
				for _, j := range jobs {
					got[j.ID] = append(got[j.ID], handout{r.ID, j.Tag})
					if j.Tag != tag {
						t.Errorf("job %d of tag %s went to a runner of %s", j.ID, j.Tag, tag)
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.Len(t, got, 3000)
	for id, hs := range got {
		require.Len(t, hs, 1, "job %d was handed out %d times: %v", id, len(hs), hs)
	}
	var running int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM jobs WHERE status = 'running' AND claims = 1`).Scan(&running))
	require.Equal(t, 3000, running)
}

// TestTransitionsReadEntitiesByKey: a claim and a completion read their jobs'
// project and entity by key. Joined, with a few thousand entities and no
// statistics yet (a new installation), the planner hashed the whole entities
// table for each of them: a scan of every entity in every claim (0.27 ms of
// a 0.8 ms claim with 3,000 entities).
func TestTransitionsReadEntitiesByKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, raw, rec := recordedStore(t)
	execAll(t, raw,
		`INSERT INTO projects (slug, name) VALUES ('p', 'p')`,
		`INSERT INTO entities (project_id, key, value) SELECT 1, 'commit', 'c' || g FROM generate_series(1, 3000) g`,
		`INSERT INTO jobs (project_id, entity_id, name, cmd, tag, status, created_at, queued_at)
			SELECT 1, id, 'build', 'true', 'linux', 'queued', now(), now() FROM entities`,
	)
	runner, err := st.RunnerCreate(ctx, &store.RunnerCreateParams{Name: "r1", Tags: []string{"linux"}, Hash: []byte("entity-plan-runner")}, &store.Audit{})
	require.NoError(t, err)
	stmts := rec.record(func() {
		jobs, err := st.JobClaim(ctx, &store.JobClaimParams{RunnerID: runner.ID, Tag: "linux", Limit: 1, Lease: time.Minute})
		require.NoError(t, err)
		require.Len(t, jobs, 1)
		_, err = st.JobComplete(ctx, &store.JobCompleteParams{Holder: store.Holder{JobID: jobs[0].ID, Attempt: jobs[0].Attempt,
			Claim: jobs[0].Claim, RunnerID: runner.ID}})
		require.NoError(t, err)
	})
	updates := 0
	for _, s := range stmts {
		if !strings.Contains(s.sql, "jobs j") {
			continue
		}
		if strings.Contains(s.sql, "UPDATE jobs j") {
			updates++
		}
		scans := explain(t, raw, s)
		require.NotContains(t, scans, "Seq Scan on entities", oneLine(s.sql))
	}
	require.GreaterOrEqual(t, updates, 2, "the claim's and the completion's")
}
