package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// JobCounts counts an entity's jobs by status.
type JobCounts struct {
	Waiting   int `db:"waiting" json:"waiting"`
	Queued    int `db:"queued" json:"queued"`
	Running   int `db:"running" json:"running"`
	Succeeded int `db:"succeeded" json:"succeeded"`
	Failed    int `db:"failed" json:"failed"`
	Cancelled int `db:"cancelled" json:"cancelled"`
	TimedOut  int `db:"timed_out" json:"timedOut"`
	Lost      int `db:"lost" json:"lost"`
	// Skipped counts the cancelled jobs that never ran because a preceding job
	// did not succeed (they are in Cancelled too).
	Skipped int `db:"skipped" json:"skipped"`
}

// dest is where a row of countsLateral's columns scans to, in their order.
func (c *JobCounts) dest() []any {
	return []any{&c.Waiting, &c.Queued, &c.Running, &c.Succeeded, &c.Failed, &c.Cancelled, &c.TimedOut, &c.Lost, &c.Skipped}
}

// Status derives an entity's status: pending while any job may still run (or there
// are none yet), failure when any did not succeed, success otherwise.
func (c JobCounts) Status() string {
	switch {
	case c.Waiting+c.Queued+c.Running > 0 || c.total() == 0:
		return "pending"
	case c.Failed+c.Cancelled+c.TimedOut+c.Lost > 0:
		return "failure"
	}
	return "success"
}

func (c JobCounts) total() int {
	return c.Waiting + c.Queued + c.Running + c.Succeeded + c.Failed + c.Cancelled + c.TimedOut + c.Lost
}

// Summary is the one-line summary, such as "2 running, 3 succeeded".
func (c JobCounts) Summary() string {
	var parts []string
	for _, p := range []struct {
		n    int
		word string
	}{
		{c.Running, "running"}, {c.Queued, "queued"}, {c.Waiting, "waiting"}, {c.Failed, "failed"},
		{c.TimedOut, "timed out"}, {c.Lost, "lost"}, {c.Skipped, "skipped"}, {c.Cancelled - c.Skipped, "cancelled"},
		{c.Succeeded, "succeeded"},
	} {
		if p.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", p.n, p.word))
		}
	}
	if len(parts) == 0 {
		return "no jobs"
	}
	return strings.Join(parts, ", ")
}

// EntitySummary is an entity with its job counts.
type EntitySummary struct {
	ID        int64     `db:"id"`
	Key       string    `db:"key"`
	Value     string    `db:"value"`
	CreatedAt time.Time `db:"created_at"`
	JobCounts
}

// countsLateral counts the jobs of entity alias e, from the covering index on (entity_id, id) INCLUDE (status, cascaded).
const countsLateral = `
	CROSS JOIN LATERAL (
		SELECT count(*) FILTER (WHERE status = 'waiting') AS waiting,
			count(*) FILTER (WHERE status = 'queued') AS queued,
			count(*) FILTER (WHERE status = 'running') AS running,
			count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
			count(*) FILTER (WHERE status = 'failed') AS failed,
			count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
			count(*) FILTER (WHERE status = 'timed_out') AS timed_out,
			count(*) FILTER (WHERE status = 'lost') AS lost,
			count(*) FILTER (WHERE status = 'cancelled' AND cascaded) AS skipped
		FROM jobs WHERE entity_id = e.id) c`

// KeyCount is an entity or collection key with how many values it has.
type KeyCount struct {
	Key   string `db:"key"`
	Count int64  `db:"value_count"`
}

// KeyList lists a project's entity keys (kind "entity") or collection keys ("collection").
func (s *Store) KeyList(ctx context.Context, projectID int64, kind string) ([]KeyCount, error) {
	// A key's count is spread over shards (qKeyCounts).
	const q = `
		SELECT key, sum(value_count)::bigint AS value_count FROM keys
		WHERE project_id = $1 AND kind = $2 GROUP BY key ORDER BY key`
	rows, _ := s.pool.Query(ctx, q, projectID, kind)
	keys, err := pgx.CollectRows(rows, pgx.RowToStructByName[KeyCount])
	return keys, interpret(err, "list keys")
}

// EntityList lists the values of an entity key, newest first, with their job counts.
func (s *Store) EntityList(ctx context.Context, projectID int64, key string, page Page) ([]*EntitySummary, string, error) {
	before, err := DecodeCursor(page.Cursor)
	if err != nil {
		return nil, "", err
	}
	const q = `
		SELECT e.id, e.key, e.value, e.created_at, c.*
		FROM entities e` + countsLateral + `
		WHERE e.project_id = $1 AND e.key = $2 AND ($3 = 0 OR e.id < $3)
		ORDER BY e.id DESC
		LIMIT $4`
	rows, _ := s.pool.Query(ctx, q, projectID, key, before, page.Limit)
	return collectSummaries(rows, page.Limit)
}

func collectSummaries(rows pgx.Rows, limit int) ([]*EntitySummary, string, error) {
	es, err := pgx.CollectRows(rows, pgx.RowToAddrOfStructByName[EntitySummary])
	if err != nil {
		return nil, "", interpret(err, "list entities")
	}
	var last int64
	if len(es) > 0 {
		last = es[len(es)-1].ID
	}
	return es, nextCursor(len(es), limit, last), nil
}

// CollectionRef names a collection.
type CollectionRef struct {
	Key   string `db:"key"`
	Value string `db:"value"`
}

// Entity is one entity with a page of its jobs and its collections.
type Entity struct {
	EntitySummary
	Collections []CollectionRef
	Title       string
	Meta        EntityMeta
	Jobs        []*Job
	NextCursor  string // of the next page of jobs
}

// EntityGet returns an entity with its collections and one page of its jobs,
// oldest first.
func (s *Store) EntityGet(ctx context.Context, projectID int64, key, value string, page Page) (*Entity, error) {
	after, err := DecodeCursor(page.Cursor)
	if err != nil {
		return nil, err
	}
	const q = `
		SELECT e.id, e.key, e.value, e.created_at, c.*
		FROM entities e` + countsLateral + `
		WHERE e.project_id = $1 AND e.key = $2 AND e.value = $3`
	rows, _ := s.pool.Query(ctx, q, projectID, key, value)
	sum, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[EntitySummary])
	if err != nil {
		return nil, interpret(err, "get entity")
	}
	ent := &Entity{EntitySummary: sum}
	if err := s.pool.QueryRow(ctx, `SELECT title, meta FROM entities WHERE id = $1`, sum.ID).Scan(&ent.Title, &ent.Meta); err != nil {
		return nil, interpret(err, "entity meta")
	}
	const qCol = `
		SELECT c.key, c.value FROM collection_entities ce JOIN collections c ON c.id = ce.collection_id
		WHERE ce.entity_id = $1 ORDER BY c.key, c.value`
	rows, _ = s.pool.Query(ctx, qCol, sum.ID)
	if ent.Collections, err = pgx.CollectRows(rows, pgx.RowToStructByName[CollectionRef]); err != nil {
		return nil, interpret(err, "entity collections")
	}
	rows, _ = s.pool.Query(ctx, jobSelect+` WHERE j.entity_id = $1 AND j.id > $2 ORDER BY j.id LIMIT $3`, sum.ID, after, page.Limit)
	if ent.Jobs, err = collectJobs(rows); err != nil {
		return nil, interpret(err, "entity jobs")
	}
	var last int64
	if len(ent.Jobs) > 0 {
		last = ent.Jobs[len(ent.Jobs)-1].ID
	}
	ent.NextCursor = nextCursor(len(ent.Jobs), page.Limit, last)
	return ent, nil
}

// CollectionSummary is a collection with how many entities it holds.
type CollectionSummary struct {
	ID          int64     `db:"id"`
	Key         string    `db:"key"`
	Value       string    `db:"value"`
	CreatedAt   time.Time `db:"created_at"`
	EntityCount int64     `db:"entity_count"`
}

// collectionEntityCount is the entity count of collection c: what was counted
// before the count was sharded, and its shards (qMembers).
const collectionEntityCount = `c.entity_count + coalesce((SELECT sum(cc.entity_count) FROM collection_counts cc
	WHERE cc.collection_id = c.id), 0)::bigint AS entity_count`

// CollectionList lists the values of a collection key, newest first.
func (s *Store) CollectionList(ctx context.Context, projectID int64, key string, page Page) ([]*CollectionSummary, string, error) {
	before, err := DecodeCursor(page.Cursor)
	if err != nil {
		return nil, "", err
	}
	const q = `
		SELECT c.id, c.key, c.value, c.created_at, ` + collectionEntityCount + `
		FROM collections c
		WHERE c.project_id = $1 AND c.key = $2 AND ($3 = 0 OR c.id < $3)
		ORDER BY c.id DESC
		LIMIT $4`
	rows, _ := s.pool.Query(ctx, q, projectID, key, before, page.Limit)
	cs, err := pgx.CollectRows(rows, pgx.RowToAddrOfStructByName[CollectionSummary])
	if err != nil {
		return nil, "", interpret(err, "list collections")
	}
	var last int64
	if len(cs) > 0 {
		last = cs[len(cs)-1].ID
	}
	return cs, nextCursor(len(cs), page.Limit, last), nil
}

// Collection is one collection with a page of its entities.
type Collection struct {
	CollectionSummary
	Entities   []*EntitySummary
	NextCursor string
}

// CollectionGet returns a collection with its entities, newest first, paginated.
func (s *Store) CollectionGet(ctx context.Context, projectID int64, key, value string, page Page) (*Collection, error) {
	before, err := DecodeCursor(page.Cursor)
	if err != nil {
		return nil, err
	}
	const q = `
		SELECT c.id, c.key, c.value, c.created_at, ` + collectionEntityCount + `
		FROM collections c WHERE c.project_id = $1 AND c.key = $2 AND c.value = $3`
	rows, _ := s.pool.Query(ctx, q, projectID, key, value)
	sum, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[CollectionSummary])
	if err != nil {
		return nil, interpret(err, "get collection")
	}
	const qEnt = `
		SELECT e.id, e.key, e.value, e.created_at, c.*
		FROM collection_entities ce JOIN entities e ON e.id = ce.entity_id` + countsLateral + `
		WHERE ce.collection_id = $1 AND ($2 = 0 OR e.id < $2)
		ORDER BY e.id DESC
		LIMIT $3`
	rows, _ = s.pool.Query(ctx, qEnt, sum.ID, before, page.Limit)
	col := &Collection{CollectionSummary: sum}
	col.Entities, col.NextCursor, err = collectSummaries(rows, page.Limit)
	return col, err
}

// JobCell is one job as a history grid shows it.
type JobCell struct {
	EntityID int64  `db:"entity_id"`
	ID       int64  `db:"id"`
	Name     string `db:"name"`
	Status   string `db:"status"`
	Reason   string `db:"reason"`
}

// LatestJobs returns the newest job of each name on each of the entities, by
// entity and then name: one query for a whole history grid.
func (s *Store) LatestJobs(ctx context.Context, entityIDs []int64) (map[int64][]JobCell, error) {
	const q = `
		SELECT DISTINCT ON (entity_id, name) entity_id, id, name, status, reason
		FROM jobs WHERE entity_id = ANY($1)
		ORDER BY entity_id, name, id DESC`
	rows, _ := s.pool.Query(ctx, q, entityIDs)
	cells, err := pgx.CollectRows(rows, pgx.RowToStructByName[JobCell])
	if err != nil {
		return nil, interpret(err, "latest jobs")
	}
	out := make(map[int64][]JobCell, len(entityIDs))
	for _, c := range cells {
		out[c.EntityID] = append(out[c.EntityID], c)
	}
	return out, nil
}
