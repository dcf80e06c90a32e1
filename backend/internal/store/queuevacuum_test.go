package store_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/store"
)

// TestVacuumQueueIfDue: the jobs a claim took stay in jobs_runnable, dead,
// and each claim walks them from the index's start, until a vacuum; once
// enough were claimed through the store, it vacuums jobs and the walk is
// short again.
func TestVacuumQueueIfDue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := newPool(t)
	st := store.New(pool, newBox(t, make([]byte, 32)))
	execAll(t, pool,
		// Autovacuum would do the same work at a moment of its own choosing.
		`ALTER TABLE jobs SET (autovacuum_enabled = false)`,
		`INSERT INTO projects (slug, name) VALUES ('p', 'p')`,
		`INSERT INTO entities (project_id, key, value) SELECT 1, 'commit', 'c' || g FROM generate_series(1, 12000) g`,
		`INSERT INTO jobs (project_id, entity_id, name, cmd, tag, status, created_at, queued_at)
			SELECT 1, id, 'build', 'true', 'linux', 'queued', now(), now() FROM entities`,
	)
	r, err := st.RunnerCreate(ctx, &store.RunnerCreateParams{Name: "r1", Tags: []string{"linux"}, Hash: []byte("vacuum-token")}, &store.Audit{})
	require.NoError(t, err)
	for range 20 {
		jobs, err := st.JobClaim(ctx, &store.JobClaimParams{RunnerID: r.ID, Tag: "linux", Limit: 500, Lease: time.Minute})
		require.NoError(t, err)
		require.Len(t, jobs, 500)
	}
	before := runnableWalk(t, pool)

	done, err := st.VacuumQueueIfDue(ctx, 20000)
	require.NoError(t, err)
	require.False(t, done, "10,000 claims are fewer than the least")
	done, err = st.VacuumQueueIfDue(ctx, 1000)
	require.NoError(t, err)
	require.True(t, done)
	after := runnableWalk(t, pool)
	t.Logf("pages read to the first queued job: %d before the vacuum, %d after", before, after)
	require.Greater(t, before, 20, "the claimed jobs' entries are walked")
	require.Less(t, after, 5, "the vacuum removed them")

	done, err = st.VacuumQueueIfDue(ctx, 1000)
	require.NoError(t, err)
	require.False(t, done, "no claim since")
}

// runnableWalk is the pages a claim's walk of jobs_runnable reads to its
// first jobs: the second of two walks, once the first marked the entries of
// claimed jobs dead (as every claim after the first finds them).
func runnableWalk(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	const q = `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)
		SELECT id FROM jobs WHERE status = 'queued' AND tag = 'linux' ORDER BY priority DESC, id LIMIT 9`
	var pages int
	for range 2 {
		var out []byte
		require.NoError(t, pool.QueryRow(context.Background(), q).Scan(&out))
		var plans []struct {
			Plan struct {
				Hit  int `json:"Shared Hit Blocks"`
				Read int `json:"Shared Read Blocks"`
			} `json:"Plan"`
		}
		require.NoError(t, json.Unmarshal(out, &plans))
		pages = plans[0].Plan.Hit + plans[0].Plan.Read
	}
	return pages
}
