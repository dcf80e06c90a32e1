package store_test

import (
	"context"
	"flag"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/dbtest"
	"github.com/aura-ci/aura/backend/internal/store"
)

var benchFinished = flag.Int("gauges-finished", 1_000_000, "finished jobs behind BenchmarkGauges")

// seedGauges fills db with finished jobs, queued ones on 10 tags, running ones
// and 50 runners (40 of them checked in lately), as /metrics finds them on a
// busy instance.
func seedGauges(tb testing.TB, pool *pgxpool.Pool, finished, queued, running int) {
	tb.Helper()
	ctx := context.Background()
	_, err := pool.Exec(ctx, `
		INSERT INTO projects (slug, name) VALUES ('p', 'p');
		INSERT INTO entities (project_id, key, value) SELECT id, 'commit', 'abc' FROM projects;
		INSERT INTO runners (name, tags, last_check_in)
		SELECT 'r' || i, ARRAY['t' || (i % 10), 'all'], CASE WHEN i <= 40 THEN now() - interval '20 seconds' END
		FROM generate_series(1, 50) i;`)
	require.NoError(tb, err)
	_, err = pool.Exec(ctx, `
		INSERT INTO jobs (project_id, entity_id, name, cmd, tag, status, queued_at, started_at, ended_at, runner_id)
		SELECT 1, 1, 'j', 'true', 't' || (i % 10), s, now() - interval '1 minute', started, ended, runner
		FROM generate_series(1, $1::int + $2::int + $3::int) i,
		LATERAL (SELECT CASE WHEN i <= $1 THEN 'succeeded' WHEN i <= $1 + $2 THEN 'queued' ELSE 'running' END AS s) st,
		LATERAL (SELECT CASE WHEN st.s = 'queued' THEN NULL ELSE now() - interval '30 seconds' END AS started,
		                CASE WHEN st.s = 'succeeded' THEN now() ELSE NULL END AS ended,
		                CASE WHEN st.s = 'running' THEN 1 + i % 50 ELSE NULL END AS runner) x`, finished, queued, running)
	require.NoError(tb, err)
	_, err = pool.Exec(ctx, `ANALYZE`)
	require.NoError(tb, err)
}

// TestGauges: the figures /metrics reads count live jobs by status, the queue
// per tag and runners per tag, busy, idle (checked in lately) or offline.
func TestGauges(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	seedGauges(t, pool, 100, 20, 3)
	st := store.New(pool, newBox(t, make([]byte, 32)))
	gs, err := st.Gauges(context.Background())
	require.NoError(t, err)
	got := map[[3]string]float64{}
	for _, g := range gs {
		got[[3]string{g.Kind, g.A, g.B}] = g.Value
		if g.Kind == "queue" {
			require.InDelta(t, 60, g.Oldest, 30, "the oldest waited about a minute")
		}
	}
	require.Equal(t, 20.0, got[[3]string{"jobs", "queued", ""}])
	require.Equal(t, 3.0, got[[3]string{"jobs", "running", ""}])
	require.NotContains(t, got, [3]string{"jobs", "succeeded", ""}, "finished jobs are never counted")
	require.Equal(t, 2.0, got[[3]string{"queue", "t0", ""}])
	// Three runners hold the running jobs (runners 1 + i % 50 for i 121..123).
	require.Equal(t, 3.0, got[[3]string{"runners", "all", "busy"}])
	require.Equal(t, 37.0, got[[3]string{"runners", "all", "idle"}])
	require.Equal(t, 10.0, got[[3]string{"runners", "all", "offline"}], "never checked in")
	require.Equal(t, 0.0, got[[3]string{"outbox", "status", ""}])
}

// BenchmarkGauges measures the one query of a /metrics scrape with a large
// history (-gauges-finished, 1,000,000 by default), 10,000 queued and 200
// running jobs: go test ./backend/internal/store -run '^$' -bench Gauges
func BenchmarkGauges(b *testing.B) {
	pool, err := pgxpool.New(context.Background(), dbtest.NewURL(b))
	require.NoError(b, err)
	b.Cleanup(pool.Close)
	seedGauges(b, pool, *benchFinished, 10_000, 200)
	st := store.New(pool, nil)
	ctx := context.Background()
	for b.Loop() {
		if _, err := st.Gauges(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
