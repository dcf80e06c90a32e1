package api_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// BenchmarkBuilds times the project page's list of builds over 10,000
// entities of three jobs each (written in bulk by SQL), unfiltered and with
// each filter, and logs the plan of the unfiltered query with
// AURA_BENCH_EXPLAIN=1:
//
//	AURA_BENCH_EXPLAIN=1 go test ./backend/internal/api -run '^$' -bench BenchmarkBuilds -v
func BenchmarkBuilds(b *testing.B) {
	tb := setupBench(b)
	tb.project("proj", false)
	ctx := context.Background()
	const fill = `
		WITH p AS (SELECT id FROM projects WHERE slug = 'proj'),
		e AS (
			INSERT INTO entities (project_id, key, value, title, meta)
			SELECT p.id, 'commit', 'c' || n, 'commit ' || n,
				jsonb_build_object('authorLogin', 'dev' || (n % 20), 'message', 'commit ' || n, 'branch', 'main')
			FROM p, generate_series(1, 10000) n
			RETURNING id, project_id, value
		), c AS (
			INSERT INTO collections (project_id, key, value) SELECT id, 'ref', 'main' FROM p RETURNING id
		), ce AS (
			INSERT INTO collection_entities (collection_id, entity_id)
			SELECT c.id, e.id FROM c, e WHERE substring(e.value FROM 2)::int % 2 = 0
		)
		INSERT INTO jobs (project_id, entity_id, name, cmd, tag, status, started_at, ended_at)
		SELECT e.project_id, e.id, j, 'true', 'linux',
			CASE WHEN substring(e.value FROM 2)::int % 97 = 0 AND j = 'test' THEN 'failed' ELSE 'succeeded' END,
			now() - interval '1 hour', now()
		FROM e, unnest(ARRAY['build', 'test', 'lint']) j`
	_, err := tb.pool.Exec(ctx, fill)
	require.NoError(b, err)
	_, err = tb.pool.Exec(ctx, `ANALYZE`)
	require.NoError(b, err)
	if os.Getenv("AURA_BENCH_EXPLAIN") != "" {
		for _, where := range []string{"", ` AND coalesce(nullif(e.meta->>'authorLogin', ''), e.meta->>'authorName') = 'dev7'`,
			` AND EXISTS (SELECT 1 FROM jobs f WHERE f.entity_id = e.id AND f.status IN ('failed', 'cancelled', 'timed_out', 'lost'))`} {
			rows, err := tb.pool.Query(ctx, `EXPLAIN (ANALYZE, BUFFERS) SELECT e.id FROM entities e`+buildLateralForExplain+`
				WHERE e.project_id = (SELECT id FROM projects WHERE slug = 'proj')`+where+` ORDER BY e.id DESC LIMIT 30`)
			require.NoError(b, err)
			var plan []string
			for rows.Next() {
				var line string
				require.NoError(b, rows.Scan(&line))
				plan = append(plan, line)
			}
			b.Log("\n" + strings.Join(plan, "\n"))
		}
	}
	for _, q := range []struct{ name, query string }{
		{"builds", ""},
		{"builds_collection", "?collection=ref/main"},
		{"builds_author", "?author=dev7"},
		{"builds_failure", "?status=failure"},
		{"builds_page_50", "?before=" + "NTAwMA"}, // before entity 5000
	} {
		b.Run(q.name, func(b *testing.B) {
			timed(b, q.name, func() { get(b, tb.client, tb.url+"/api/v1/projects/proj/builds"+q.query) })
		})
	}
}

// buildLateralForExplain is store.BuildList's per-entity summary, for the plan.
const buildLateralForExplain = `
	CROSS JOIN LATERAL (
		SELECT count(*) FILTER (WHERE status = 'running') AS running, min(started_at), max(ended_at),
			coalesce(jsonb_agg(jsonb_build_object('id', id, 'name', name, 'status', status) ORDER BY id)
				FILTER (WHERE n <= 100), '[]') AS jobs
		FROM (SELECT id, name, status, started_at, ended_at, row_number() OVER (ORDER BY id) AS n
			FROM jobs WHERE entity_id = e.id) j) b`
