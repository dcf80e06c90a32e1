package store_test

import (
	"context"
	"encoding/json"
	"slices"
	"sort"
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

// statement is one SQL statement a store method sent, with its arguments.
type statement struct {
	sql  string
	args []any
}

// recorder is a pgx query and batch tracer that keeps the statements sent
// while it is on: the SQL of a page comes from the store method itself.
type recorder struct {
	mu    sync.Mutex
	on    bool
	stmts []statement
}

func (r *recorder) add(sql string, args []any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.on {
		r.stmts = append(r.stmts, statement{sql, slices.Clone(args)})
	}
}

func (r *recorder) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	r.add(d.SQL, d.Args)
	return ctx
}
func (r *recorder) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (r *recorder) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}
func (r *recorder) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	r.add(d.SQL, d.Args)
}
func (r *recorder) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// record runs fn and returns the statements it sent, but for transaction control.
func (r *recorder) record(fn func()) []statement {
	r.mu.Lock()
	r.on, r.stmts = true, nil
	r.mu.Unlock()
	fn()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.on = false
	var out []statement
	for _, s := range r.stmts {
		switch strings.ToLower(strings.TrimSpace(s.sql)) {
		case "begin", "commit", "rollback", "begin isolation level read committed":
			continue
		}
		out = append(out, s)
	}
	return out
}

// planNode is a node of EXPLAIN (FORMAT JSON), with the fields checked.
type planNode struct {
	NodeType     string     `json:"Node Type"`
	RelationName string     `json:"Relation Name"`
	IndexName    string     `json:"Index Name"`
	Plans        []planNode `json:"Plans"`
}

// scans lists a plan's scans as "Seq Scan on jobs" or "Index Scan using jobs_runnable".
func (n planNode) scans(out []string) []string {
	switch {
	case n.IndexName != "":
		out = append(out, n.NodeType+" using "+n.IndexName)
	case n.RelationName != "":
		out = append(out, n.NodeType+" on "+n.RelationName)
	}
	for _, c := range n.Plans {
		out = c.scans(out)
	}
	return out
}

// bigTables are those that grow with the jobs: a plan reads them only by an index.
var bigTables = []string{"jobs", "entities", "collection_entities", "log_chunks", "job_edges", "log_archives", "forge_commits"}

// fillSQL fills a database as a busy server's looks: three projects of
// 74, 25 and 1 percent of the work; 200,000 finished jobs, ten on each of
// 20,000 commits, a quarter of their logs archived; a backlog of 50,000 queued jobs
// on three tags; running and waiting jobs with their edges; an integration
// reporting the status of every commit; collections of
// all commits (main), a tenth of them (release) and 5,000 branches; log chunks. Foreign keys
// are not checked while it runs (session_replication_role), which makes it
// three times faster; the rows hold to them anyway.
const fillSQL = `
	SET LOCAL session_replication_role = replica;
	INSERT INTO projects (id, slug, name, private) VALUES (1, 'web', 'Web', false), (2, 'api', 'API', true), (3, 'docs', 'Docs', false);
	SELECT setval('projects_id_seq', 3);
	INSERT INTO entities (project_id, key, value, meta)
	SELECT CASE WHEN g % 100 = 0 THEN 3 WHEN g % 100 < 26 THEN 2 ELSE 1 END, 'commit', 'c' || g,
		jsonb_build_object('authorLogin', 'dev' || g % 40, 'message', 'change ' || g)
	FROM generate_series(1, 20000) g;
	INSERT INTO entities (project_id, key, value)
	SELECT CASE WHEN g % 100 = 0 THEN 3 WHEN g % 100 < 26 THEN 2 ELSE 1 END, 'pr', 'pr' || g FROM generate_series(1, 2000) g;
	INSERT INTO keys (project_id, kind, key, value_count)
	SELECT project_id, 'entity', key, count(*) FROM entities GROUP BY project_id, key;
	INSERT INTO jobs (project_id, entity_id, name, cmd, tag, status, created_at, queued_at, started_at, ended_at, exit_code)
	SELECT e.project_id, e.id, 'job' || g, 'make', (ARRAY['linux', 'windows', 'arm'])[1 + g % 3],
		CASE WHEN (e.id + g) % 7 = 0 THEN 'failed' ELSE 'succeeded' END,
		now() - interval '1 day', now() - interval '1 day', now() - interval '1 day', now() - interval '23 hours', 0
	FROM entities e, generate_series(0, 9) g WHERE e.key = 'commit';
	INSERT INTO jobs (project_id, entity_id, name, cmd, tag, status, priority, created_at, queued_at)
	SELECT e.project_id, e.id, 'build' || g, 'make', (ARRAY['linux', 'windows', 'arm'])[1 + (e.id + g) % 3], 'queued',
		g % 3, now(), now()
	FROM entities e, generate_series(0, 9) g WHERE e.key = 'pr' OR e.value ~ '^c1[0-2][0-9]{3}$';
	INSERT INTO jobs (project_id, entity_id, name, cmd, tag, status, created_at, queued_at, started_at, lease_expires_at)
	SELECT e.project_id, e.id, 'deploy', 'make', 'linux', 'running', now(), now(), now(), now() + interval '1 minute'
	FROM entities e WHERE e.key = 'pr' AND e.id % 20 = 0;
	INSERT INTO jobs (project_id, entity_id, name, cmd, tag, status, pending_preceding, created_at)
	SELECT e.project_id, e.id, 'after', 'make', 'linux', 'waiting', 1, now()
	FROM entities e WHERE e.key = 'pr' AND e.id % 10 = 0;
	INSERT INTO integrations (project_id, kind, repository, api_url, secret_sealed, token_sealed)
	SELECT id, 'gitea', 'o/' || slug, 'https://git.example', '\x00', '\x00' FROM projects;
	INSERT INTO forge_commits (project_id, sha, integration_id)
	SELECT e.project_id, e.value, i.id FROM entities e JOIN integrations i ON i.project_id = e.project_id WHERE e.key = 'commit';
	INSERT INTO job_edges (job_id, preceding_id)
	SELECT j.id, f.id FROM jobs j JOIN jobs f ON f.entity_id = j.entity_id AND f.name = 'job0' WHERE j.name = 'job1';
	INSERT INTO job_edges (job_id, preceding_id)
	SELECT w.id, q.id FROM jobs w JOIN jobs q ON q.entity_id = w.entity_id AND q.name = 'build0' WHERE w.status = 'waiting';
	INSERT INTO log_archives (job_id, attempt, blob_key, size, sha256, length, stored, ended_at)
	SELECT id, 1, 'logs/' || id, 100, '', 100, 100, ended_at FROM jobs WHERE ended_at IS NOT NULL AND id % 4 = 0;
	INSERT INTO collections (project_id, key, value, entity_count)
	SELECT p, 'ref', r, 0 FROM (VALUES (1), (2), (3)) v(p), (VALUES ('main'), ('release')) rr(r);
	INSERT INTO collections (project_id, key, value, entity_count)
	SELECT CASE WHEN g % 100 = 0 THEN 3 WHEN g % 100 < 26 THEN 2 ELSE 1 END, 'ref', 'feature-' || g, 0
	FROM generate_series(1, 5000) g;
	INSERT INTO collection_entities (collection_id, entity_id)
	SELECT c.id, e.id FROM collections c JOIN entities e ON e.project_id = c.project_id AND e.key = 'commit'
	WHERE c.value = 'main' OR e.id % 10 = 0;
	UPDATE collections c SET entity_count = (SELECT count(*) FROM collection_entities ce WHERE ce.collection_id = c.id);
	INSERT INTO keys (project_id, kind, key, value_count) SELECT project_id, 'collection', key, count(*) FROM collections GROUP BY project_id, key;
	INSERT INTO log_chunks (job_id, attempt, "offset", data)
	SELECT j, 1, o * 1024, convert_to(repeat('x', 1023) || E'\n', 'UTF8')
	FROM generate_series(1, 200) j, generate_series(0, 49) o;
	UPDATE jobs SET log_length = 50 * 1024 WHERE id <= 200;`

// TestPagePlans checks with EXPLAIN, on a database filled by fillSQL, that
// every statement of each page the dashboard and the runners read walks the
// index meant for it and reads no big table whole. The statements are
// recorded from the store methods themselves (a pgx tracer), with their
// arguments, so a change of a query is checked as it is. The indexes meant
// are required of the small project's pages, where another index would read
// a hundred times the rows; the big project's pages only read no big table whole.
func TestPagePlans(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("fills a database with 250,000 jobs")
	}
	ctx := context.Background()
	st, raw, rec := recordedStore(t)

	start := time.Now()
	require.NoError(t, pgx.BeginFunc(ctx, raw, func(tx pgx.Tx) error {
		// The big tables' indexes (but those of keys and constraints) are made
		// again after the fill, from their own definitions: building an index
		// once is faster than keeping it up row by row.
		rows, _ := tx.Query(ctx, `
			SELECT indexname, indexdef FROM pg_indexes i
			WHERE schemaname = 'public' AND tablename = ANY($1)
				AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = format('%I', i.indexname)::regclass)`, bigTables)
		indexes, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct{ Name, Def string }])
		if err != nil {
			return err
		}
		for _, ix := range indexes {
			if _, err := tx.Exec(ctx, `DROP INDEX `+pgx.Identifier{ix.Name}.Sanitize()); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, fillSQL); err != nil {
			return err
		}
		for _, ix := range indexes {
			if _, err := tx.Exec(ctx, ix.Def); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `ANALYZE`)
		return err
	}))
	var jobs int
	require.NoError(t, raw.QueryRow(ctx, `SELECT count(*) FROM jobs`).Scan(&jobs))
	t.Logf("seeded %d jobs in %s", jobs, time.Since(start).Round(time.Millisecond))

	runner, err := st.RunnerCreate(ctx, &store.RunnerCreateParams{Name: "r1", Tags: []string{"linux"}, Hash: []byte("plan-runner-token")}, &store.Audit{})
	require.NoError(t, err)
	const api = 2 // private
	page := store.Page{Limit: 50}
	visible := store.ProjectScope{Private: []int64{api}}

	type pageCase struct {
		name string
		run  func() error
		// want are the indexes (a|b: either) the statements' plans must use.
		want []string
	}
	pages := func(project int64) []pageCase {
		var mainID int64
		var commit, pr string
		require.NoError(t, raw.QueryRow(ctx, `SELECT id FROM collections WHERE project_id = $1 AND value = 'main'`, project).Scan(&mainID))
		require.NoError(t, raw.QueryRow(ctx, `SELECT value FROM entities WHERE project_id = $1 AND key = 'commit' ORDER BY id LIMIT 1`, project).Scan(&commit))
		require.NoError(t, raw.QueryRow(ctx, `SELECT value FROM entities WHERE project_id = $1 AND key = 'pr' ORDER BY id LIMIT 1`, project).Scan(&pr))
		var job int64
		require.NoError(t, raw.QueryRow(ctx, `SELECT max(id) FROM jobs WHERE project_id = $1 AND status = 'succeeded'`, project).Scan(&job))
		return []pageCase{
			{"queue of the project", func() error {
				_, _, err := st.QueueList(ctx, &store.QueueParams{ProjectID: project, Scope: visible, Page: page})
				return err
			}, []string{"jobs_queued", "jobs_waiting"}},
			{"queued jobs of the project", func() error {
				_, _, err := st.QueueList(ctx, &store.QueueParams{ProjectID: project, Status: "queued", Scope: store.ProjectScope{All: true}, Page: page})
				return err
			}, []string{"jobs_queued"}},
			{"builds", func() error {
				_, _, err := st.BuildList(ctx, &store.BuildParams{ProjectID: project, Page: page})
				return err
			},
				[]string{"entities_builds", "jobs_entity|jobs_entity_counts"}},
			{"failed builds", func() error {
				_, _, err := st.BuildList(ctx, &store.BuildParams{ProjectID: project, Status: store.BuildFailure, Page: page})
				return err
			}, []string{"entities_builds", "jobs_entity_failed"}},
			{"running builds", func() error {
				_, _, err := st.BuildList(ctx, &store.BuildParams{ProjectID: project, Status: store.BuildRunning, Page: page})
				return err
			}, []string{"jobs_running"}},
			{"builds by author", func() error {
				_, _, err := st.BuildList(ctx, &store.BuildParams{ProjectID: project, Author: "dev7", Page: page})
				return err
			}, []string{"entities_builds_author"}},
			{"builds of a collection", func() error {
				_, _, err := st.BuildList(ctx, &store.BuildParams{ProjectID: project, CollectionID: mainID, Page: page})
				return err
			}, []string{"collection_entities_pkey"}},
			{"entity keys", func() error { _, err := st.KeyList(ctx, project, "entity"); return err }, nil},
			{"entities", func() error { _, _, err := st.EntityList(ctx, project, "commit", page); return err },
				[]string{"entities_newest"}},
			{"entity page", func() error { _, err := st.EntityGet(ctx, project, "commit", commit, page); return err },
				[]string{"entities_project_id_key_value_key", "jobs_entity|jobs_entity_counts"}},
			{"entity page of a pull request", func() error { _, err := st.EntityGet(ctx, project, "pr", pr, page); return err },
				[]string{"entities_project_id_key_value_key"}},
			{"collections", func() error { _, _, err := st.CollectionList(ctx, project, "ref", page); return err },
				[]string{"collections_newest"}},
			{"collection page", func() error { _, err := st.CollectionGet(ctx, project, "ref", "main", page); return err },
				[]string{"collections_project_id_key_value_key", "collection_entities_pkey"}},
			{"job", func() error { _, err := st.JobGet(ctx, job); return err }, []string{"jobs_pkey"}},
		}
	}
	cases := []pageCase{
		{"queue", func() error {
			_, _, err := st.QueueList(ctx, &store.QueueParams{Scope: visible, Page: page})
			return err
		},
			[]string{"jobs_queued", "jobs_waiting"}},
		{"queue per tag", func() error {
			_, _, err := st.QueueList(ctx, &store.QueueParams{Tag: "windows", Scope: visible, Page: page})
			return err
		}, []string{"jobs_queued"}},
		{"running jobs", func() error {
			_, _, err := st.QueueList(ctx, &store.QueueParams{Status: "running", Scope: store.ProjectScope{All: true}, Page: page})
			return err
		}, []string{"jobs_running"}},
		{"log chunks", func() error { _, _, err := st.LogChunksRead(ctx, 100, 1, 20000, 40000, 64, 1<<20); return err },
			[]string{"log_chunks_pkey"}},
		{"claim", func() error {
			_, err := st.JobClaim(ctx, &store.JobClaimParams{RunnerID: runner.ID, Tag: "linux", Limit: 1, Lease: time.Minute})
			return err
		}, []string{"jobs_runnable"}},
		{"runners", func() error { _, _, err := st.RunnerList(ctx, page); return err }, nil},
		{"tags", func() error { _, err := st.TagList(ctx, 100); return err }, nil},
	}
	const docs, web = 3, 1
	for _, c := range pages(docs) {
		c.name = "docs: " + c.name
		cases = append(cases, c)
	}
	for _, c := range pages(web) {
		c.name, c.want = "web: "+c.name, nil
		cases = append(cases, c)
	}
	for _, c := range cases {
		stmts := rec.record(func() { require.NoError(t, c.run(), c.name) })
		require.NotEmpty(t, stmts, c.name)
		var used []string
		for _, s := range stmts {
			scans := explain(t, raw, s)
			t.Logf("%s: %s\n\t%s", c.name, oneLine(s.sql), strings.Join(scans, ", "))
			for _, scan := range scans {
				for _, big := range bigTables {
					require.NotEqual(t, "Seq Scan on "+big, scan, "%s reads %s whole:\n%s", c.name, big, s.sql)
				}
			}
			used = append(used, scans...)
		}
		for _, want := range c.want {
			require.True(t, slices.ContainsFunc(used, func(s string) bool {
				return slices.ContainsFunc(strings.Split(want, "|"), func(idx string) bool { return strings.HasSuffix(s, " using "+idx) })
			}), "%s does not use %s; its scans: %v", c.name, want, used)
		}
	}
}

// explain returns the scans of the plan of s, with its own arguments, each once.
func explain(t *testing.T, pool *pgxpool.Pool, s statement) []string {
	t.Helper()
	scans := planScans(t, pool, s)
	sort.Strings(scans)
	return slices.Compact(scans)
}

// planScans lists the scans of the plan of s, planned for its own arguments (scansOf).
func planScans(t *testing.T, pool *pgxpool.Pool, s statement) []string {
	t.Helper()
	var out []byte
	require.NoError(t, pool.QueryRow(context.Background(), "EXPLAIN (FORMAT JSON) "+s.sql, s.args...).Scan(&out), s.sql)
	return scansOf(t, out)
}

// genericScans lists the scans of sql's generic plan, the one PostgreSQL
// settles on for a statement it runs often (EXPLAIN with arguments would plan
// for them): on conn, whose plan_cache_mode it forces, sql is prepared as
// name and its execution with args, such as "(1, 'linux')", explained.
func genericScans(t *testing.T, conn *pgxpool.Conn, name, sql, args string) []string {
	t.Helper()
	ctx := context.Background()
	_, err := conn.Exec(ctx, `SET plan_cache_mode = force_generic_plan`)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "PREPARE "+name+" AS "+sql)
	require.NoError(t, err, name)
	var out []byte
	require.NoError(t, conn.QueryRow(ctx, "EXPLAIN (FORMAT JSON) EXECUTE "+name+args).Scan(&out), name)
	return scansOf(t, out)
}

// scansOf lists the scans of EXPLAIN (FORMAT JSON) output, in plan order,
// each as often as the plan makes it.
func scansOf(t *testing.T, out []byte) []string {
	t.Helper()
	var plans []struct {
		Plan planNode `json:"Plan"`
	}
	require.NoError(t, json.Unmarshal(out, &plans))
	var scans []string
	for _, p := range plans {
		scans = p.Plan.scans(scans)
	}
	return scans
}

func oneLine(sql string) string {
	s := strings.Join(strings.Fields(sql), " ")
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

// recordedStore is a store on a fresh database whose statements rec records (to
// EXPLAIN them as they ran), and a pool beside it that records nothing.
func recordedStore(t *testing.T) (*store.Store, *pgxpool.Pool, *recorder) {
	t.Helper()
	ctx := context.Background()
	rec := &recorder{}
	cfg, err := pgxpool.ParseConfig(dbtest.NewURL(t))
	require.NoError(t, err)
	plain := cfg.Copy()
	cfg.ConnConfig.Tracer = rec
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	raw, err := pgxpool.NewWithConfig(ctx, plain)
	require.NoError(t, err)
	t.Cleanup(raw.Close)
	return store.New(pool, newBox(t, make([]byte, 32))), raw, rec
}

// TestRunningJobStatementsReadByKey: the statements that act on one running
// job (a heartbeat, a log append, a completion) read it by primary key, also
// when the statistics say no job runs. They do say so: a few running jobs
// among many finished ones rarely show in ANALYZE's sample, and then a plan
// through jobs_running looked as cheap as the key, and read every running
// job's row to find the one.
func TestRunningJobStatementsReadByKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, raw, rec := recordedStore(t)
	execAll(t, raw,
		`INSERT INTO projects (slug, name) VALUES ('p', 'p')`,
		`INSERT INTO entities (project_id, key, value) SELECT 1, 'commit', 'c' || g FROM generate_series(1, 2000) g`,
		`INSERT INTO jobs (project_id, entity_id, name, cmd, tag, status, created_at, ended_at)
			SELECT 1, e.id, 'done' || g, 'true', 'linux', 'succeeded', now(), now() FROM entities e, generate_series(1, 10) g`,
		`INSERT INTO jobs (project_id, entity_id, name, cmd, tag, status, created_at, queued_at)
			SELECT 1, id, 'build', 'true', 'linux', 'queued', now(), now() FROM entities WHERE id <= 100`,
		`ANALYZE`, // no job runs
	)
	runner, err := st.RunnerCreate(ctx, &store.RunnerCreateParams{Name: "r1", Tags: []string{"linux"}, Hash: []byte("hash")}, &store.Audit{})
	require.NoError(t, err)
	claimed, err := st.JobClaim(ctx, &store.JobClaimParams{RunnerID: runner.ID, Tag: "linux", Limit: 50, Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, claimed, 50)
	h := store.Holder{JobID: claimed[0].ID, Attempt: 1, RunnerID: runner.ID}
	for _, c := range []struct {
		name string
		run  func() error
	}{
		{"heartbeat", func() error { _, err := st.JobHeartbeat(ctx, h, time.Minute); return err }},
		{"log append", func() error {
			_, err := st.LogAppend(ctx, &store.LogAppendParams{Holder: h, Data: []byte("hello\n"), Limit: 1 << 20})
			return err
		}},
		{"complete", func() error {
			_, err := st.JobComplete(ctx, &store.JobCompleteParams{Holder: h})
			return err
		}},
	} {
		stmts := rec.record(func() { require.NoError(t, c.run(), c.name) })
		require.NotEmpty(t, stmts, c.name)
		for _, s := range stmts {
			scans := explain(t, raw, s)
			t.Logf("%s: %s\n\t%s", c.name, oneLine(s.sql), strings.Join(scans, ", "))
			require.NotContains(t, scans, "Index Scan using jobs_running", "%s reads every running job:\n%s", c.name, s.sql)
		}
	}
}
