package store_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/dbtest"
	"github.com/aura-ci/aura/backend/internal/store"
)

// TestClaimAndCompletePlans: completions and claims run on plans made once
// per connection (generic plans: planning them at each call cost more than
// running them), and those plans use the intended indexes whatever the
// arguments: the claim walks jobs_runnable and updates what it picked by
// primary key (a generic plan of it that joined the picked jobs read jobs
// whole to hash them).
func TestClaimAndCompletePlans(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(dbtest.NewURL(t))
	require.NoError(t, err)
	cfg.MaxConns = 1 // so pg_prepared_statements shows the store's statements
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	st := store.New(pool, newBox(t, make([]byte, 32)))
	execAll(t, pool,
		`INSERT INTO projects (slug, name) VALUES ('p', 'p')`,
		`INSERT INTO entities (project_id, key, value) SELECT 1, 'commit', 'c' || g FROM generate_series(1, 5000) g`,
		`INSERT INTO jobs (project_id, entity_id, name, cmd, tag, status, created_at, queued_at)
			SELECT 1, id, 'build', 'true', 'linux', 'queued', now(), now() FROM entities`,
		`INSERT INTO jobs (project_id, entity_id, name, cmd, tag, status, created_at, ended_at)
			SELECT 1, id, 'done', 'true', 'linux', 'succeeded', now(), now() FROM entities`,
		`INSERT INTO jobs (project_id, entity_id, name, cmd, tag, status, created_at, pending_preceding)
			SELECT 1, id, 'after', 'true', 'linux', 'waiting', now(), 1 FROM entities`,
		`INSERT INTO job_edges (job_id, preceding_id) SELECT id, id - 5000 FROM jobs WHERE name = 'after'`,
		`ANALYZE`,
	)
	runner, err := st.RunnerCreate(ctx, &store.RunnerCreateParams{Name: "r1", Tags: []string{"linux"}, Hash: []byte("hash")}, &store.Audit{})
	require.NoError(t, err)

	// Completions, alone and several in one transaction, make no plan of
	// their own for a call; claims alone, planned by PostgreSQL's own choice,
	// soon run on a generic plan too.
	for range 8 {
		jobs, err := st.JobClaim(ctx, &store.JobClaimParams{RunnerID: runner.ID, Tag: "linux", Limit: 4, Lease: time.Minute})
		require.NoError(t, err)
		require.Len(t, jobs, 4)
		errs := make(chan error, len(jobs))
		for _, j := range jobs {
			go func() {
				_, err := st.JobComplete(ctx, &store.JobCompleteParams{Holder: store.Holder{JobID: j.ID, Attempt: 1, RunnerID: runner.ID}})
				errs <- err
			}()
		}
		for range jobs {
			require.NoError(t, <-errs)
		}
	}
	named := strings.NewReplacer("@ids", "$1", "@attempts", "$2", "@runners", "$3", "@claims", "$4",
		"@exit_codes", "$5", "@log_lengths", "$6")
	rows, err := pool.Query(ctx, `SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements`)
	require.NoError(t, err)
	plans := map[string][2]int64{}
	for rows.Next() {
		var sql string
		var generic, custom int64
		require.NoError(t, rows.Scan(&sql, &generic, &custom))
		plans[strings.Join(strings.Fields(sql), " ")] = [2]int64{generic, custom}
	}
	require.NoError(t, rows.Err())
	for name, sql := range map[string]string{"complete": store.QComplete, "count-down": store.QCountDown, "answers": store.QCompleted} {
		p, ok := plans[strings.Join(strings.Fields(named.Replace(sql)), " ")]
		require.True(t, ok, "%s was not prepared: %v", name, plans)
		require.Zero(t, p[1], "%s: %d custom plans", name, p[1])
		require.NotZero(t, p[0], "%s: no generic plan", name)
	}

	claim := plans[strings.Join(strings.Fields(store.ClaimQuery(4)), " ")]
	require.NotZero(t, claim[0], "the claim runs on plans made for each call: %v", claim)

	// The generic plans, as each connection makes them.
	conn, err := pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	for i, c := range []struct {
		name, sql, args string
		want            string
	}{
		{"claim", store.QClaim, fmt.Sprintf("(%d, 'linux', now(), '1 minute', false, false)", runner.ID), "Index Scan using jobs_runnable"},
		{"complete", store.QComplete, "('{1,2}', '{1,1}', '{0,0}', '{0,0}', '{0,1}', '{NULL,NULL}')", "Index Scan using jobs_pkey"},
		{"count-down", store.QCountDown, "('{1,2,3}')", "Index Scan using job_edges_preceding"},
		{"answers", store.QCompleted, "('{1,2,3}')", "Index Scan using jobs_pkey"},
	} {
		scans := genericScans(t, conn, fmt.Sprintf("plan%d", i), named.Replace(c.sql), c.args)
		t.Logf("%s: %s", c.name, strings.Join(scans, ", "))
		require.NotContains(t, scans, "Seq Scan on jobs", "%s reads jobs whole", c.name)
		require.False(t, slices.Contains(scans, "Seq Scan on job_edges"), "%s reads job_edges whole", c.name)
		if c.want != "" {
			require.Contains(t, scans, c.want, c.name)
		}
	}
}
