package store

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// EntityMeta is what a forge delivery (or a submitter) says about an entity:
// the commit's message, its author, the branch or merge request it came from
// and where the forge shows them. Every field is optional; a later submission
// of the same entity overwrites the fields it sets and keeps the others.
type EntityMeta struct {
	Message       string `json:"message,omitempty" validate:"max=1000"`
	AuthorName    string `json:"authorName,omitempty" validate:"max=200"`
	AuthorLogin   string `json:"authorLogin,omitempty" validate:"max=200"`
	Branch        string `json:"branch,omitempty" validate:"max=260"`
	RequestNumber int    `json:"requestNumber,omitempty" validate:"min=0"`
	RequestTitle  string `json:"requestTitle,omitempty" validate:"max=1000"`
	CommitURL     string `json:"commitUrl,omitempty" validate:"omitempty,max=2000,http_url"`
	RequestURL    string `json:"requestUrl,omitempty" validate:"omitempty,max=2000,http_url"`
}

// IsZero reports whether the meta says nothing.
func (m *EntityMeta) IsZero() bool { return m == nil || *m == EntityMeta{} }

// FirstLine is the first line of a commit message, as a build's title.
func FirstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimLeft(s, "\r\n"), "\n")
	return strings.TrimRight(s, "\r \t")
}

// queueEntityMeta adds to b the update of the titles and meta of a
// submission's entities (ids in params' order), in the submitting
// transaction: one statement, whatever the number of jobs, each entity taking
// what its jobs say in their order (the last title given, each meta field
// from the last job that sets it).
func queueEntityMeta(b *pgx.Batch, params []*JobSubmitParams, ids []int64) {
	type change struct {
		title string
		meta  EntityMeta
	}
	changes := map[int64]*change{}
	var order []int64
	for i, p := range params {
		if p.EntityTitle == "" && p.EntityMeta.IsZero() {
			continue
		}
		c := changes[ids[i]]
		if c == nil {
			c = &change{}
			changes[ids[i]] = c
			order = append(order, ids[i])
		}
		if p.EntityTitle != "" {
			c.title = p.EntityTitle
		}
		if p.EntityMeta != nil {
			c.meta.overlay(p.EntityMeta)
		}
	}
	if len(order) == 0 {
		return
	}
	slices.Sort(order) // rows locked in one order by every submission
	titles, metas := make([]string, len(order)), make([]string, len(order))
	for i, id := range order {
		meta, _ := json.Marshal(&changes[id].meta) // strings and an int: never fails
		titles[i], metas[i] = changes[id].title, string(meta)
	}
	const q = `
		UPDATE entities e SET title = CASE WHEN v.title = '' THEN e.title ELSE v.title END, meta = e.meta || v.meta::jsonb
		FROM unnest($1::bigint[], $2::text[], $3::text[]) AS v(id, title, meta)
		WHERE e.id = v.id`
	b.Queue(q, order, titles, metas)
}

// overlay sets in m the fields o sets, as a later submission's meta does
// (the jsonb || of its JSON, whose empty fields are left out).
func (m *EntityMeta) overlay(o *EntityMeta) {
	for _, f := range []struct {
		dst *string
		src string
	}{
		{&m.Message, o.Message}, {&m.AuthorName, o.AuthorName}, {&m.AuthorLogin, o.AuthorLogin},
		{&m.Branch, o.Branch}, {&m.RequestTitle, o.RequestTitle}, {&m.CommitURL, o.CommitURL},
		{&m.RequestURL, o.RequestURL},
	} {
		if f.src != "" {
			*f.dst = f.src
		}
	}
	if o.RequestNumber != 0 {
		m.RequestNumber = o.RequestNumber
	}
}

// Build statuses: an entity's jobs as one, finer than JobCounts.Status: a build
// with a running job is running, one that has jobs still to run is pending.
const (
	BuildRunning = "running"
	BuildPending = "pending"
	BuildSuccess = "success"
	BuildFailure = "failure"
)

// BuildJob is one job of a build, as its status square shows it.
type BuildJob struct {
	ID     int64  `json:"id"`
	Name   string `json:"name"`
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

// Build is an entity as the project page lists it.
type Build struct {
	ID        int64      `db:"id"`
	Key       string     `db:"key"`
	Value     string     `db:"value"`
	Title     string     `db:"title"`
	Meta      EntityMeta `db:"meta"`
	CreatedAt time.Time  `db:"created_at"`
	Status    string     `db:"status"`
	StartedAt *time.Time `db:"started_at"`
	// EndedAt is when its last job ended, once none may still run.
	EndedAt *time.Time `db:"ended_at"`
	// Jobs are the first buildJobsMax jobs, oldest first; JobCount counts all.
	Jobs     []BuildJob `db:"jobs"`
	JobCount int        `db:"job_count"`
}

// buildJobsMax bounds the squares one build carries.
const buildJobsMax = 100

// BuildParams filters a project's builds.
type BuildParams struct {
	ProjectID    int64
	CollectionID int64  // 0: every entity
	Status       string // "": any; else one of the Build statuses
	Author       string // "": any; else the author's login, or name where there is no login
	Page
}

// BuildAuthor is the expression the author filter compares (and its index holds).
const buildAuthor = `coalesce(nullif(e.meta->>'authorLogin', ''), e.meta->>'authorName')`

// buildLateral sums up the jobs of entity e in one pass over them.
var buildLateral = `
	CROSS JOIN LATERAL (
		SELECT CASE
				WHEN count(*) FILTER (WHERE status = 'running') > 0 THEN 'running'
				WHEN count(*) = 0 OR count(*) FILTER (WHERE status IN ('waiting', 'queued')) > 0 THEN 'pending'
				WHEN count(*) FILTER (WHERE status IN ('failed', 'cancelled', 'timed_out', 'lost')) > 0 THEN 'failure'
				ELSE 'success' END AS status,
			min(started_at) AS started_at,
			CASE WHEN count(*) FILTER (WHERE status IN ('waiting', 'queued', 'running')) = 0 THEN max(ended_at) END AS ended_at,
			coalesce(jsonb_agg(jsonb_build_object('id', id, 'name', name, 'status', status, 'reason', reason) ORDER BY id)
				FILTER (WHERE n <= ` + strconv.Itoa(buildJobsMax) + `), '[]') AS jobs,
			count(*) AS job_count
		FROM (SELECT id, name, status, reason, started_at, ended_at, row_number() OVER (ORDER BY id) AS n
			FROM jobs WHERE entity_id = e.id) j) b`

// BuildList lists a project's entities newest first, each with its jobs summed
// up, in one statement. Only the filters asked for are in the statement, so
// each walks an index newest first: entities_builds, the author index, or a
// collection's members.
func (s *Store) BuildList(ctx context.Context, p *BuildParams) ([]*Build, string, error) {
	before, err := DecodeCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	args := pgx.NamedArgs{"project": p.ProjectID, "limit": p.Limit}
	from := `entities e`
	where := []string{`e.project_id = @project`}
	if p.CollectionID != 0 {
		from = `collection_entities ce JOIN entities e ON e.id = ce.entity_id`
		where = append(where, `ce.collection_id = @collection`)
		args["collection"] = p.CollectionID
	}
	if before != 0 {
		where = append(where, `e.id < @before`)
		args["before"] = before
	}
	// A status that only some builds have is first looked up among the jobs
	// that give it (partial indexes), so a rare one is not found by summing
	// up every build; b.status below decides.
	switch p.Status {
	case BuildFailure:
		where = append(where, `EXISTS (SELECT 1 FROM jobs f WHERE f.entity_id = e.id
			AND f.status IN ('failed', 'cancelled', 'timed_out', 'lost'))`)
	case BuildRunning:
		where = append(where, `e.id IN (SELECT f.entity_id FROM jobs f WHERE f.status = 'running')`)
	}
	if p.Author != "" {
		where = append(where, buildAuthor+` = @author`)
		args["author"] = p.Author
	}
	order := `e.id DESC`
	if p.CollectionID != 0 {
		order = `ce.entity_id DESC`
	}
	q := `SELECT e.id, e.key, e.value, e.title, e.meta, e.created_at, b.*
		FROM ` + from + buildLateral + `
		WHERE ` + strings.Join(where, ` AND `)
	if p.Status != "" {
		q += ` AND b.status = @status`
		args["status"] = p.Status
	}
	q += ` ORDER BY ` + order + ` LIMIT @limit`
	rows, _ := s.pool.Query(ctx, q, args)
	builds, err := pgx.CollectRows(rows, pgx.RowToAddrOfStructByName[Build])
	if err != nil {
		return nil, "", interpret(err, "list builds")
	}
	var last int64
	if len(builds) > 0 {
		last = builds[len(builds)-1].ID
	}
	return builds, nextCursor(len(builds), p.Limit, last), nil
}

// CollectionID returns the id of a project's collection key/value.
func (s *Store) CollectionID(ctx context.Context, projectID int64, key, value string) (int64, error) {
	var id int64
	err := s.pool.QueryRow(ctx, `SELECT id FROM collections WHERE project_id = $1 AND key = $2 AND value = $3`,
		projectID, key, value).Scan(&id)
	return id, interpret(err, "get collection")
}

// EntityRef is an entity of a project.
type EntityRef struct {
	ID    int64
	Title string
	Meta  EntityMeta
}

// EntityRefGet finds a project's entity key/value.
func (s *Store) EntityRefGet(ctx context.Context, projectID int64, key, value string) (*EntityRef, error) {
	var e EntityRef
	err := s.pool.QueryRow(ctx, `SELECT id, title, meta FROM entities WHERE project_id = $1 AND key = $2 AND value = $3`,
		projectID, key, value).Scan(&e.ID, &e.Title, &e.Meta)
	if err != nil {
		return nil, interpret(err, "get entity")
	}
	return &e, nil
}

// EntityRetryFailed retries the jobs of an entity that failed, timed out or
// were lost, and those skipped because a preceding job did not succeed, in id
// order, so a preceding job starts over before the jobs that wait for it. Each
// retry is JobRetry's own transaction; a job another request changed
// meanwhile (retried already, or revived by its preceding job's retry) is left
// as it is. It returns the ids of the jobs it retried.
func (s *Store) EntityRetryFailed(ctx context.Context, entityID int64, by *Actor) ([]int64, error) {
	const q = `
		SELECT id FROM jobs
		WHERE entity_id = $1 AND (status IN ('failed', 'timed_out', 'lost') OR (status = 'cancelled' AND cascaded))
		ORDER BY id`
	rows, _ := s.pool.Query(ctx, q, entityID)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, interpret(err, "retry failed jobs")
	}
	retried := []int64{}
	for _, id := range ids {
		j, err := s.JobGet(ctx, id)
		if err != nil {
			return retried, err
		}
		// A skipped job its preceding job's retry brought back is waiting now.
		if j.Status != StatusFailed && j.Status != StatusTimedOut && j.Status != StatusLost && j.Status != StatusCancelled {
			continue
		}
		if _, err := s.JobRetry(ctx, id, by); err != nil {
			var se *Error
			if errors.As(err, &se) && se.Kind == Conflict {
				continue
			}
			return retried, err
		}
		retried = append(retried, id)
	}
	return retried, nil
}

// EntityCancel cancels every job of an entity that has not ended, as JobCancel
// does one, and returns the ids it cancelled (or asked to stop). Dependants go
// first (a job's id is above those of the jobs it waits for): a preceding job
// that ends at its cancel would otherwise skip them before their turn, and
// they would read as skipped rather than cancelled.
func (s *Store) EntityCancel(ctx context.Context, entityID int64, reason string, by *Actor) ([]int64, error) {
	const q = `
		SELECT id FROM jobs
		WHERE entity_id = $1 AND status IN ('waiting', 'queued', 'running') AND cancel_requested_at IS NULL
		ORDER BY id DESC`
	rows, _ := s.pool.Query(ctx, q, entityID)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, interpret(err, "cancel jobs")
	}
	cancelled := []int64{}
	for _, id := range ids {
		if _, err := s.JobCancel(ctx, id, reason, by); err != nil {
			var se *Error
			if errors.As(err, &se) && se.Kind == Conflict {
				continue // ended meanwhile, or cancelled with a job before it
			}
			return cancelled, err
		}
		cancelled = append(cancelled, id)
	}
	return cancelled, nil
}

// RunningJob is a running job as the runners page shows it.
type RunningJob struct {
	ID        int64      `db:"id"`
	Name      string     `db:"name"`
	RunnerID  int64      `db:"runner_id"`
	Project   string     `db:"project"`
	EntityKey string     `db:"entity_key"`
	EntityVal string     `db:"entity_val"`
	StartedAt *time.Time `db:"started_at"`
}

// RunningJobs lists the running jobs the scope may see, by runner.
func (s *Store) RunningJobs(ctx context.Context, scope ProjectScope) (map[int64][]RunningJob, error) {
	const q = `
		SELECT j.id, j.name, j.runner_id, p.slug AS project, e.key AS entity_key, e.value AS entity_val, j.started_at
		FROM jobs j JOIN projects p ON p.id = j.project_id JOIN entities e ON e.id = j.entity_id
		WHERE j.status = 'running' AND j.runner_id IS NOT NULL AND p.deleted_at IS NULL
			AND ($1 OR NOT p.private OR p.id = ANY($2))
		ORDER BY j.id`
	rows, _ := s.pool.Query(ctx, q, scope.All, scope.ids())
	jobs, err := pgx.CollectRows(rows, pgx.RowToStructByName[RunningJob])
	if err != nil {
		return nil, interpret(err, "running jobs")
	}
	out := map[int64][]RunningJob{}
	for _, j := range jobs {
		out[j.RunnerID] = append(out[j.RunnerID], j)
	}
	return out, nil
}
