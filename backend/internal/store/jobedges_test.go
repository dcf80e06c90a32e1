package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/store"
)

// edgesBundle is a project with jobs a, b and c on one entity, b after a.
type edgesBundle struct {
	pool    *pgxpool.Pool
	a, b, c int64
}

func setupEdges(t *testing.T) edgesBundle {
	t.Helper()
	pool := newPool(t)
	st := store.New(pool, newBox(t, make([]byte, 32)))
	ctx := context.Background()
	p, err := st.ProjectCreate(ctx, "proj", "Proj", false, nil)
	require.NoError(t, err)
	job := func(name string, after ...string) *store.JobSubmitParams {
		return &store.JobSubmitParams{JobSpec: store.JobSpec{Name: name, Cmd: "true", Tag: "linux"}, ProjectID: p.ID,
			ProjectSlug: "proj", EntityKey: "commit", EntityVal: "abc", PrecedingNames: after}
	}
	jobs, err := st.JobSubmit(ctx, []*store.JobSubmitParams{job("a"), job("b", "a"), job("c")})
	require.NoError(t, err)
	return edgesBundle{pool: pool, a: jobs[0].ID, b: jobs[1].ID, c: jobs[2].ID}
}

func requireCode(t *testing.T, err error, code string) {
	t.Helper()
	var pgErr *pgconn.PgError
	require.True(t, errors.As(err, &pgErr), "%v", err)
	require.Equal(t, code, pgErr.Code, pgErr.Message)
}

func (b edgesBundle) edges(t *testing.T) [][2]int64 {
	t.Helper()
	rows, _ := b.pool.Query(context.Background(), `SELECT job_id, preceding_id FROM job_edges ORDER BY 1, 2`)
	edges, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([2]int64, error) {
		var e [2]int64
		return e, r.Scan(&e[0], &e[1])
	})
	require.NoError(t, err)
	return edges
}

// TestJobEdgesCheckedPerStatement: an insert of edges checks the jobs they
// name in one query for the statement, not a foreign key query per edge and
// key (migration 000028), locking those it did not write, and keeps the keys'
// rules: a missing job is refused, deleting a job deletes its edges, its id
// stays.
func TestJobEdgesCheckedPerStatement(t *testing.T) {
	t.Parallel()
	b := setupEdges(t)
	ctx := context.Background()

	tx, err := b.pool.Begin(ctx)
	require.NoError(t, err)
	rows, _ := tx.Query(ctx, `EXPLAIN (ANALYZE, TIMING OFF) INSERT INTO job_edges (job_id, preceding_id)
		SELECT * FROM unnest($1::bigint[], $2::bigint[])`, []int64{b.c, b.c}, []int64{b.a, b.b})
	plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.NoError(t, tx.Rollback(ctx))
	text := strings.Join(plan, "\n")
	require.NotContains(t, text, "Trigger for constraint", "no foreign key check per edge")
	require.Contains(t, text, "Trigger job_edges_insert: calls=1", "one check per statement")

	// A job the transaction wrote itself is not locked (its xmax stays 0);
	// another is, as a foreign key locks it.
	tx, err = b.pool.Begin(ctx)
	require.NoError(t, err)
	var own int64
	require.NoError(t, tx.QueryRow(ctx, `INSERT INTO jobs (project_id, entity_id, name, cmd, tag, status)
		SELECT project_id, entity_id, 'own', cmd, tag, 'waiting' FROM jobs WHERE id = $1 RETURNING id`, b.a).Scan(&own))
	_, err = tx.Exec(ctx, `INSERT INTO job_edges (job_id, preceding_id) VALUES ($1, $2)`, own, b.c)
	require.NoError(t, err)
	var ownXmax, cXmax, xid string
	require.NoError(t, tx.QueryRow(ctx, `SELECT (SELECT xmax::text FROM jobs WHERE id = $1), (SELECT xmax::text FROM jobs WHERE id = $2),
		pg_current_xact_id()::xid::text`, own, b.c).Scan(&ownXmax, &cXmax, &xid))
	require.NoError(t, tx.Rollback(ctx))
	require.Equal(t, "0", ownXmax, "its own job is not locked")
	require.Equal(t, xid, cXmax, "another job is locked")

	const insert = `INSERT INTO job_edges (job_id, preceding_id) VALUES ($1, $2)`
	_, err = b.pool.Exec(ctx, insert, b.c, b.c+100)
	requireCode(t, err, "23503")
	_, err = b.pool.Exec(ctx, insert, b.c+100, b.a)
	requireCode(t, err, "23503")
	_, err = b.pool.Exec(ctx, `UPDATE job_edges SET preceding_id = $1 WHERE job_id = $2`, b.c+100, b.b)
	requireCode(t, err, "23503")
	_, err = b.pool.Exec(ctx, `UPDATE jobs SET id = $1 WHERE id = $2`, b.c+100, b.a)
	requireCode(t, err, "23503")
	_, err = b.pool.Exec(ctx, `UPDATE jobs SET id = $1 WHERE id = $2`, b.c+100, b.c)
	require.NoError(t, err, "no edge names c")
	c := b.c + 100
	require.Equal(t, [][2]int64{{b.b, b.a}}, b.edges(t))

	_, err = b.pool.Exec(ctx, insert, c, b.b)
	require.NoError(t, err)
	require.Equal(t, [][2]int64{{b.b, b.a}, {c, b.b}}, b.edges(t))
	_, err = b.pool.Exec(ctx, `DELETE FROM jobs WHERE id = $1`, b.b)
	require.NoError(t, err)
	require.Empty(t, b.edges(t), "deleting b deleted the edges naming it, either way")

	// Another isolation level could not see edges committed while it
	// waited: refused.
	_, err = b.pool.Exec(ctx, insert, c, b.a)
	require.NoError(t, err)
	tx, err = b.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `DELETE FROM jobs WHERE id = $1`, b.a)
	requireCode(t, err, "0A000")
	require.NoError(t, tx.Rollback(ctx))
	require.Equal(t, [][2]int64{{c, b.a}}, b.edges(t))
}

// TestJobEdgesConcurrentDelete: an edge inserted while its job is deleted
// either fails (the delete went first) or is deleted with the job (the
// insert went first), as with a foreign key.
func TestJobEdgesConcurrentDelete(t *testing.T) {
	t.Parallel()
	b := setupEdges(t)
	ctx := context.Background()
	const insert = `INSERT INTO job_edges (job_id, preceding_id) VALUES ($1, $2)`

	// The insert locks a first: the delete waits for its commit, then takes
	// the new edge with it.
	tx, err := b.pool.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, insert, b.c, b.a)
	require.NoError(t, err)
	deleted := make(chan error, 1)
	go func() {
		_, err := b.pool.Exec(ctx, `DELETE FROM jobs WHERE id = $1`, b.a)
		deleted <- err
	}()
	waitBlocked(t, b.pool, "DELETE FROM jobs")
	require.NoError(t, tx.Commit(ctx))
	require.NoError(t, <-deleted)
	require.Empty(t, b.edges(t), "a's edges went with it, the one committed while the delete waited too")

	// The delete goes first: the insert waits for it, then finds c gone.
	tx, err = b.pool.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `DELETE FROM jobs WHERE id = $1`, b.c)
	require.NoError(t, err)
	inserted := make(chan error, 1)
	go func() {
		_, err := b.pool.Exec(ctx, insert, b.b, b.c)
		inserted <- err
	}()
	waitBlocked(t, b.pool, "INSERT INTO job_edges")
	require.NoError(t, tx.Commit(ctx))
	requireCode(t, <-inserted, "23503")
	require.Empty(t, b.edges(t))
}

// waitBlocked waits until a statement starting with prefix waits for a lock.
func waitBlocked(t *testing.T, pool *pgxpool.Pool, prefix string) {
	t.Helper()
	require.Eventually(t, func() bool {
		var n int
		err := pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE $1 || '%'`, prefix).Scan(&n)
		return err == nil && n > 0
	}, 10*time.Second, 5*time.Millisecond)
}

// TestJobEntityProjectKey: a job's entity and project are one foreign key
// (migration 000029), checked once per job: a job cannot name an entity of
// another project.
func TestJobEntityProjectKey(t *testing.T) {
	t.Parallel()
	b := setupEdges(t)
	ctx := context.Background()
	var other int64
	require.NoError(t, b.pool.QueryRow(ctx, `INSERT INTO projects (slug, name) VALUES ('other', 'Other') RETURNING id`).Scan(&other))
	tx, err := b.pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	rows, _ := tx.Query(ctx, `EXPLAIN (ANALYZE, TIMING OFF)
		INSERT INTO jobs (project_id, entity_id, name, cmd, tag, status)
		SELECT project_id, entity_id, name || '2', cmd, tag, 'queued' FROM jobs`)
	plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	text := strings.Join(plan, "\n")
	require.Contains(t, text, "Trigger for constraint jobs_entity_project_fkey: calls=3")
	require.NotContains(t, text, "jobs_project_id_fkey")
	require.NotContains(t, text, "jobs_entity_id_fkey")
	_, err = tx.Exec(ctx, `INSERT INTO jobs (project_id, entity_id, name, cmd, tag, status)
		SELECT $1, entity_id, 'x', 'true', 'linux', 'queued' FROM jobs WHERE id = $2`, other, b.a)
	requireCode(t, err, "23503")
}
