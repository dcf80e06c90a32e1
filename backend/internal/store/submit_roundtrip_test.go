package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/dbtest"
	"github.com/aura-ci/aura/backend/internal/store"
)

// countedStore is a store on one connection whose round trips c counts.
// Preparing a statement the connection has not seen yet is not counted: a
// warmed-up connection does not.
func countedStore(t *testing.T) (*store.Store, *dbtest.SQLRecorder) {
	t.Helper()
	c := &dbtest.SQLRecorder{}
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
			Collections: map[string]string{"ref": "main", "pr": val}, SubmittedBy: &store.Actor{Kind: "token", Name: "ci"}}}
	}
	two := func(val string) []*store.JobSubmitParams {
		return []*store.JobSubmitParams{
			{JobSpec: store.JobSpec{Name: "build", Cmd: "true", Tag: "linux"}, ProjectID: p.ID, ProjectSlug: "proj",
				EntityKey: "commit", EntityVal: val, Collections: map[string]string{"ref": "main"}},
			{JobSpec: store.JobSpec{Name: "test", Cmd: "true", Tag: "linux"}, ProjectID: p.ID, ProjectSlug: "proj",
				EntityKey: "commit", EntityVal: val, PrecedingNames: []string{"build"}},
		}
	}
	for range 2 { // warm the connection's statement cache, new and known entities
		_, err := st.JobSubmit(ctx, one("warm"))
		require.NoError(t, err)
		_, err = st.JobSubmit(ctx, two("warm"))
		require.NoError(t, err)
	}
	for _, val := range []string{"new", "new"} { // a new entity, then a known one
		var jobs []*store.Job
		trips := c.Trips(func() {
			jobs, err = st.JobSubmit(ctx, one(val))
			require.NoError(t, err)
		})
		require.Len(t, trips, 1, "one job: %q", trips)
		read, err := st.JobGet(ctx, jobs[0].ID)
		require.NoError(t, err)
		require.Equal(t, store.StatusQueued, read.Status)

		trips = c.Trips(func() {
			_, err = st.JobSubmit(ctx, two(val+"-batch"))
			require.NoError(t, err)
		})
		require.Len(t, trips, 2, "a batch: %q", trips)
	}
}

// TestJobSubmitOneWritesItsAnswer: a job submitted in one round trip is
// written as the batch path writes it (its submitter stamped with its time),
// its new entity counted once, a known one not again.
func TestJobSubmitOneWritesItsAnswer(t *testing.T) {
	t.Parallel()
	st, raw, _ := recordedStore(t)
	ctx := context.Background()
	p, err := st.ProjectCreate(ctx, "proj", "Proj", false, nil)
	require.NoError(t, err)
	for range 2 {
		jobs, err := st.JobSubmit(ctx, []*store.JobSubmitParams{{
			JobSpec:   store.JobSpec{Name: "build", Cmd: "make", Tag: "linux", Env: map[string]string{"A": "1"}, Priority: 3},
			ProjectID: p.ID, ProjectSlug: "proj", EntityKey: "commit", EntityVal: "abc",
			SecretEnv: map[string]string{"TOKEN": "s3cret"}, SubmittedBy: &store.Actor{Kind: "token", Name: "ci"},
			Collections: map[string]string{"ref": "main", "pr": "7"}}})
		require.NoError(t, err)
		j := jobs[0]
		require.Equal(t, store.StatusQueued, j.Status)
		require.True(t, j.QueuedAt.Equal(j.CreatedAt))
		require.Equal(t, []string{"TOKEN"}, j.SecretNames)
		read, err := st.JobGet(ctx, j.ID)
		require.NoError(t, err)
		require.True(t, read.CreatedAt.Equal(j.CreatedAt))
		require.True(t, read.QueuedAt.Equal(*j.QueuedAt))
		require.Equal(t, "ci", read.SubmittedBy.Name)
		require.True(t, read.SubmittedBy.At.Equal(j.CreatedAt), "stamped with the submission's time")
		read.CreatedAt, read.QueuedAt, read.SubmittedBy = j.CreatedAt, j.QueuedAt, nil
		read.PrecedingJobs = j.PrecedingJobs
		read.WaitingFor, read.WaitingKnown = j.WaitingFor, true
		require.True(t, j.CheckInKnown)
		require.Nil(t, j.TagCheckIn, "no runner asked for linux")
		read.CheckInKnown = true
		require.Equal(t, j, read)
		var sealed []byte
		require.NoError(t, raw.QueryRow(ctx, `SELECT secret_sealed FROM jobs WHERE id = $1`, j.ID).Scan(&sealed))
		require.NotEmpty(t, sealed)
		require.NotContains(t, string(sealed), "s3cret")
	}
	keys, err := st.KeyList(ctx, p.ID, "entity")
	require.NoError(t, err)
	require.Equal(t, []store.KeyCount{{Key: "commit", Count: 1}}, keys)
	keys, err = st.KeyList(ctx, p.ID, "collection")
	require.NoError(t, err)
	require.Equal(t, []store.KeyCount{{Key: "pr", Count: 1}, {Key: "ref", Count: 1}}, keys)
	col, err := st.CollectionGet(ctx, p.ID, "ref", "main", store.Page{Limit: 10})
	require.NoError(t, err)
	require.EqualValues(t, 1, col.EntityCount, "the entity joined once")
	require.Len(t, col.Entities, 1)
	require.Equal(t, "abc", col.Entities[0].Value)
	ent, err := st.EntityGet(ctx, p.ID, "commit", "abc", store.Page{Limit: 10})
	require.NoError(t, err)
	require.Equal(t, []store.CollectionRef{{Key: "pr", Value: "7"}, {Key: "ref", Value: "main"}}, ent.Collections)
}

// TestJobSubmitOneEntityCreatedConcurrently: when another transaction creates
// the job's entity while the submission runs, the one-round-trip insert finds
// no entity it may see, and the job is submitted again as a batch, which does.
func TestJobSubmitOneEntityCreatedConcurrently(t *testing.T) {
	t.Parallel()
	st, raw, _ := recordedStore(t)
	ctx := context.Background()
	p, err := st.ProjectCreate(ctx, "proj", "Proj", false, nil)
	require.NoError(t, err)
	other, err := raw.Begin(ctx)
	require.NoError(t, err)
	defer other.Rollback(ctx)
	var entityID int64
	require.NoError(t, other.QueryRow(ctx, `INSERT INTO entities (project_id, key, value) VALUES ($1, 'commit', 'abc') RETURNING id`,
		p.ID).Scan(&entityID))
	done := make(chan []*store.Job, 1)
	go func() {
		jobs, err := st.JobSubmit(ctx, []*store.JobSubmitParams{{JobSpec: store.JobSpec{Name: "build", Cmd: "true", Tag: "linux"},
			ProjectID: p.ID, ProjectSlug: "proj", EntityKey: "commit", EntityVal: "abc"}})
		assert.NoError(t, err)
		done <- jobs
	}()
	// The submission waits on the other transaction's row.
	require.Eventually(t, func() bool {
		var waiting bool
		require.NoError(t, raw.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_stat_activity WHERE wait_event_type = 'Lock'
			AND datname = current_database())`).Scan(&waiting))
		return waiting
	}, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, other.Commit(ctx))
	jobs := <-done
	require.Len(t, jobs, 1)
	require.Equal(t, entityID, jobs[0].EntityID)
	read, err := st.JobGet(ctx, jobs[0].ID)
	require.NoError(t, err)
	require.Equal(t, entityID, read.EntityID)
	require.Equal(t, store.StatusQueued, read.Status)
	var jobCount int
	require.NoError(t, raw.QueryRow(ctx, `SELECT count(*) FROM jobs`).Scan(&jobCount))
	require.Equal(t, 1, jobCount, "the refused insert wrote nothing")
	keys, err := st.KeyList(ctx, p.ID, "entity")
	require.NoError(t, err)
	require.Empty(t, keys, "the entity was not this submission's to count")
}

// TestJobSubmitEdgesOnce: a preceding job or name given twice is one edge
// (the edges are inserted without ON CONFLICT).
func TestJobSubmitEdgesOnce(t *testing.T) {
	t.Parallel()
	st, raw, _ := recordedStore(t)
	ctx := context.Background()
	p, err := st.ProjectCreate(ctx, "proj", "Proj", false, nil)
	require.NoError(t, err)
	spec := func(name string) store.JobSpec { return store.JobSpec{Name: name, Cmd: "true", Tag: "linux"} }
	first, err := st.JobSubmit(ctx, []*store.JobSubmitParams{{JobSpec: spec("first"), ProjectID: p.ID, ProjectSlug: "proj",
		EntityKey: "commit", EntityVal: "abc"}})
	require.NoError(t, err)
	jobs, err := st.JobSubmit(ctx, []*store.JobSubmitParams{
		{JobSpec: spec("build"), ProjectID: p.ID, ProjectSlug: "proj", EntityKey: "commit", EntityVal: "abc",
			PrecedingJobs: []int64{first[0].ID, first[0].ID}},
		{JobSpec: spec("test"), ProjectID: p.ID, ProjectSlug: "proj", EntityKey: "commit", EntityVal: "abc",
			PrecedingJobs: []int64{first[0].ID}, PrecedingNames: []string{"build", "build"}},
	})
	require.NoError(t, err)
	require.Equal(t, []int64{first[0].ID}, jobs[0].PrecedingJobs)
	require.Equal(t, []int64{first[0].ID, jobs[0].ID}, jobs[1].PrecedingJobs)
	require.Equal(t, 2, jobs[1].PendingPreceding)
	var edges int
	require.NoError(t, raw.QueryRow(ctx, `SELECT count(*) FROM job_edges`).Scan(&edges))
	require.Equal(t, 3, edges)
}

// TestJobSubmitOneCollectionCreatedConcurrently: a collection another
// transaction creates while the submission runs is joined all the same (the
// membership's statement sees it), and counted by its creator only.
func TestJobSubmitOneCollectionCreatedConcurrently(t *testing.T) {
	t.Parallel()
	st, raw, _ := recordedStore(t)
	ctx := context.Background()
	p, err := st.ProjectCreate(ctx, "proj", "Proj", false, nil)
	require.NoError(t, err)
	other, err := raw.Begin(ctx)
	require.NoError(t, err)
	defer other.Rollback(ctx)
	var colID int64
	require.NoError(t, other.QueryRow(ctx, `INSERT INTO collections (project_id, key, value) VALUES ($1, 'ref', 'main') RETURNING id`,
		p.ID).Scan(&colID))
	done := make(chan []*store.Job, 1)
	go func() {
		jobs, err := st.JobSubmit(ctx, []*store.JobSubmitParams{{JobSpec: store.JobSpec{Name: "build", Cmd: "true", Tag: "linux"},
			ProjectID: p.ID, ProjectSlug: "proj", EntityKey: "commit", EntityVal: "abc", Collections: map[string]string{"ref": "main"}}})
		assert.NoError(t, err)
		done <- jobs
	}()
	require.Eventually(t, func() bool {
		var waiting bool
		require.NoError(t, raw.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_stat_activity WHERE wait_event_type = 'Lock'
			AND datname = current_database())`).Scan(&waiting))
		return waiting
	}, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, other.Commit(ctx))
	jobs := <-done
	require.Len(t, jobs, 1)
	col, err := st.CollectionGet(ctx, p.ID, "ref", "main", store.Page{Limit: 10})
	require.NoError(t, err)
	require.Equal(t, colID, col.ID)
	require.EqualValues(t, 1, col.EntityCount)
	require.Len(t, col.Entities, 1)
	require.Equal(t, jobs[0].EntityID, col.Entities[0].ID)
	keys, err := st.KeyList(ctx, p.ID, "collection")
	require.NoError(t, err)
	require.Empty(t, keys, "the collection was not this submission's to count")
	keys, err = st.KeyList(ctx, p.ID, "entity")
	require.NoError(t, err)
	require.Equal(t, []store.KeyCount{{Key: "commit", Count: 1}}, keys)
}

// TestJobSubmitOnePlans: the statements of a one-round-trip submission read
// the job they inserted (currval) and its entity and collections by index,
// never a whole table.
func TestJobSubmitOnePlans(t *testing.T) {
	t.Parallel()
	st, raw, rec := recordedStore(t)
	ctx := context.Background()
	p, err := st.ProjectCreate(ctx, "proj", "Proj", false, nil)
	require.NoError(t, err)
	_, err = raw.Exec(ctx, fmt.Sprintf(`
		INSERT INTO entities (project_id, key, value) SELECT %[1]d, 'commit', 'c' || g FROM generate_series(1, 5000) g;
		INSERT INTO collections (project_id, key, value) SELECT %[1]d, 'ref', 'r' || g FROM generate_series(1, 5000) g;
		INSERT INTO jobs (project_id, entity_id, name, cmd, tag, status)
		SELECT e.project_id, e.id, 'job' || g, 'make', 'linux', 'succeeded' FROM entities e, generate_series(1, 4) g;
		INSERT INTO collection_entities (collection_id, entity_id) SELECT c.id, e.id FROM collections c JOIN entities e ON e.value = 'c' || substr(c.value, 2);
		ANALYZE`, p.ID))
	require.NoError(t, err)
	submit := func() {
		_, err := st.JobSubmit(ctx, []*store.JobSubmitParams{{JobSpec: store.JobSpec{Name: "build", Cmd: "true", Tag: "linux"},
			ProjectID: p.ID, ProjectSlug: "proj", EntityKey: "commit", EntityVal: "new", Collections: map[string]string{"ref": "main"}}})
		require.NoError(t, err)
	}
	stmts := rec.record(submit)
	require.GreaterOrEqual(t, len(stmts), 5)
	var all []string
	for _, s := range stmts {
		scans := explain(t, raw, s)
		for _, scan := range scans {
			for _, table := range []string{"jobs", "entities", "collections", "collection_entities", "keys"} {
				require.NotEqual(t, "Seq Scan on "+table, scan, "%s", oneLine(s.sql))
			}
		}
		all = append(all, scans...)
	}
	// An entity or collection is found by its value, not among its key's.
	require.Contains(t, all, "Index Scan using entities_project_id_key_value_key")
	require.Contains(t, all, "Index Scan using collections_project_id_key_value_key")
	require.NotContains(t, all, "Index Scan using entities_newest")
	require.NotContains(t, all, "Index Scan using collections_newest")
}
