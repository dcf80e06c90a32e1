package store

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aura-ci/aura/backend/internal/tracing"
)

// Job statuses, as in DESIGN.md's life cycle.
const (
	StatusWaiting   = "waiting"
	StatusQueued    = "queued"
	StatusRunning   = "running"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	StatusCancelled = "cancelled"
	StatusTimedOut  = "timed_out"
	StatusLost      = "lost"
)

// Ended reports whether status is final for the current attempt.
func Ended(status string) bool {
	switch status {
	case StatusSucceeded, StatusFailed, StatusCancelled, StatusTimedOut, StatusLost:
		return true
	}
	return false
}

// JobSpec is what a submitter says about one job. Each field is a jobs column
// that JobSubmit writes as given and Job reads back (by its db tag), and a field
// of the API's submit body and job answer (by its json tag, checked by its
// validate tag), so a new job setting is a field here, its column in a
// migration, and its place in openapi.yaml. A zero value takes the default (see
// withDefaults); the API reads a field whose zero is no valid input into a
// pointer of its own (jobSubmit) to tell it from an absent one.
type JobSpec struct {
	Name           string            `db:"name" json:"name" validate:"required,slug"`
	Cmd            string            `db:"cmd" json:"cmd" validate:"required,max=65536"`
	Env            map[string]string `db:"env" json:"env" validate:"max=500,dive,keys,envname,endkeys"`
	Tag            string            `db:"tag" json:"tag" validate:"required,tag"`
	Priority       int               `db:"priority" json:"priority" validate:"min=-1000,max=1000"`
	EarliestStart  *time.Time        `db:"earliest_start" json:"earliestStart,omitempty"`
	TimeoutSeconds int               `db:"timeout_seconds" json:"timeoutSeconds"`
	MaxAttempts    int               `db:"max_attempts" json:"maxAttempts"`
}

// Defaults of a job's settings, for a submission that leaves them out.
const (
	DefaultTimeoutSeconds = 3600
	DefaultMaxAttempts    = 3
)

// withDefaults returns the spec with the defaults in place of zero values.
func (s JobSpec) withDefaults() JobSpec {
	if s.TimeoutSeconds == 0 {
		s.TimeoutSeconds = DefaultTimeoutSeconds
	}
	if s.MaxAttempts == 0 {
		s.MaxAttempts = DefaultMaxAttempts
	}
	s.Env = nonNil(s.Env)
	return s
}

// Job is a job row with its project, entity, runner name and preceding job ids.
type Job struct {
	JobSpec
	ID               int64      `db:"id"`
	ProjectID        int64      `db:"project_id"`
	Project          string     `db:"project"`
	ProjectPrivate   bool       `db:"project_private"`
	ProjectDeleted   bool       `db:"project_deleted"`
	EntityID         int64      `db:"entity_id"`
	EntityKey        string     `db:"entity_key"`
	EntityVal        string     `db:"entity_val"`
	ParentJobID      *int64     `db:"parent_job_id"`
	SecretNames      []string   `db:"secret_names"`
	Status           string     `db:"status"`
	Reason           string     `db:"reason"`
	PendingPreceding int        `db:"pending_preceding"`
	CreatedAt        time.Time  `db:"created_at"`
	QueuedAt         *time.Time `db:"queued_at"`
	StartedAt        *time.Time `db:"started_at"`
	EndedAt          *time.Time `db:"ended_at"`
	ExitCode         *int       `db:"exit_code"`
	RunnerID         *int64     `db:"runner_id"`
	RunnerName       *string    `db:"runner_name"`
	Attempt          int        `db:"attempt"`
	LeaseExpiresAt   *time.Time `db:"lease_expires_at"`
	CancelRequested  *time.Time `db:"cancel_requested_at"`
	LogLength        int64      `db:"log_length"` // bytes stored: past the log limit, fewer than received
	LogMismatch      bool       `db:"log_mismatch"`
	LogExpiredAt     *time.Time `db:"log_expired_at"` // the retention sweep deleted the attempt's log
	PrecedingJobs    []int64    `db:"preceding_jobs"`
	// WaitingFor is what the job waits for, when WaitingKnown: JobSubmit
	// knows it without another query (JobsWaitingFor).
	WaitingFor   []JobRef `db:"-"`
	WaitingKnown bool     `db:"-"`
	// TagCheckIn is when a runner last asked for the job's tag (nil: none
	// ever did), when CheckInKnown: a submission reads it for its queued
	// jobs with its own statements, without another query (TagCheckIns).
	TagCheckIn   *time.Time `db:"-"`
	CheckInKnown bool       `db:"-"`
	// Who submitted, cancelled, retried (last) and approved the job; nil: nobody
	// did, or the job predates the record.
	SubmittedBy *Actor `db:"submitted_by"`
	CancelledBy *Actor `db:"cancelled_by"`
	RetriedBy   *Actor `db:"retried_by"`
	ApprovedBy  *Actor `db:"approved_by"`
}

var jobSelect = `
	SELECT ` + jobSpecColumns + `, j.id, j.project_id, p.slug AS project, p.private AS project_private,
		p.deleted_at IS NOT NULL AS project_deleted,
		j.entity_id, e.key AS entity_key, e.value AS entity_val, j.parent_job_id,
		j.secret_names, j.status, j.reason,
		j.pending_preceding, j.created_at, j.queued_at, j.started_at,
		j.ended_at, j.exit_code, j.runner_id, r.name AS runner_name, j.attempt,
		j.lease_expires_at, j.cancel_requested_at, j.log_mismatch,
		j.submitted_by, j.cancelled_by, j.retried_by, j.approved_by,
		-- The bytes stored: past the log limit, fewer than received (jobs.log_length).
		CASE WHEN j.log_truncated THEN coalesce(la.stored, (SELECT coalesce(sum(octet_length(c.data)), 0) FROM log_chunks c
			WHERE c.job_id = j.id AND c.attempt = j.attempt)) ELSE j.log_length END AS log_length,
		la.expired_at AS log_expired_at,
		ARRAY(SELECT preceding_id FROM job_edges WHERE job_id = j.id ORDER BY preceding_id) AS preceding_jobs
	FROM jobs j
	JOIN projects p ON p.id = j.project_id
	JOIN entities e ON e.id = j.entity_id
	LEFT JOIN runners r ON r.id = j.runner_id
	LEFT JOIN log_archives la ON la.job_id = j.id AND la.attempt = j.attempt`

func collectJobs(rows pgx.Rows) ([]*Job, error) {
	return pgx.CollectRows(rows, pgx.RowToAddrOfStructByName[Job])
}

// JobGet returns one job.
func (s *Store) JobGet(ctx context.Context, id int64) (*Job, error) {
	rows, _ := s.pool.Query(ctx, jobSelect+` WHERE j.id = $1`, id)
	j, err := pgx.CollectExactlyOneRow(rows, pgx.RowToAddrOfStructByName[Job])
	return j, interpret(err, "get job")
}

// JobBrief is a job's project, status, attempt and claim count (its latest
// hand-out): what checking a job token or a 0.4 call about a job needs.
type JobBrief struct {
	ProjectID int64  `db:"project_id"`
	Project   string `db:"project"`
	Status    string `db:"status"`
	Attempt   int    `db:"attempt"`
	Claims    int    `db:"claims"`
}

// JobBriefGet reads a job's project, status and attempt.
func (s *Store) JobBriefGet(ctx context.Context, id int64) (*JobBrief, error) {
	const q = `
		SELECT j.project_id, p.slug AS project, j.status, j.attempt, j.claims
		FROM jobs j JOIN projects p ON p.id = j.project_id WHERE j.id = $1`
	rows, _ := s.pool.Query(ctx, q, id)
	info, err := pgx.CollectExactlyOneRow(rows, pgx.RowToAddrOfStructByName[JobBrief])
	return info, interpret(err, "job brief")
}

// JobRef names a job, for what another job waits for.
type JobRef struct {
	ID     int64  `db:"id"`
	Name   string `db:"name"`
	Status string `db:"status"`
	// Gate is set (by JobsWaitingFor) when the job is an approval gate.
	Gate bool `db:"-"`
}

// JobSubmitParams describes one job to submit: its spec, and where it goes.
type JobSubmitParams struct {
	JobSpec
	ProjectID      int64
	ProjectSlug    string // for the events
	ParentJobID    *int64
	EntityKey      string
	EntityVal      string
	SecretEnv      map[string]string
	Collections    map[string]string
	PrecedingJobs  []int64
	PrecedingNames []string // names of other jobs in the same batch
	// EntityTitle and EntityMeta, when set, describe the entity (builds.go).
	EntityTitle string
	EntityMeta  *EntityMeta
	// SubmittedBy is who submits the job: a user, a token, a parent job, a
	// forge delivery. Its At is set to the submission's time.
	SubmittedBy *Actor
	// Trace is the traceparent of the request that submitted the job, when the
	// submission runs apart from it (webhook deliveries submitted as a group);
	// otherwise the job joins the trace of the submission's context.
	Trace *string
}

// JobSubmit submits a batch of jobs atomically and returns them in request order.
// Jobs may name each other in PrecedingNames; a cycle is refused. A job whose
// preceding job already failed is cancelled at once: the preceding rows are locked
// FOR SHARE, so a concurrent failure either commits first (and is seen here) or
// waits for this transaction (and then cascades to the new job).
func (s *Store) JobSubmit(ctx context.Context, params []*JobSubmitParams) ([]*Job, error) {
	order, internal, err := batchOrder(params)
	if err != nil {
		return nil, err
	}
	if submitsAlone(params) {
		jobs, err := s.jobSubmitOne(ctx, params)
		if err != errNotAlone {
			return jobs, err
		}
	}
	var jobs []*Job
	err = s.inTxCommitting(ctx, func(tx pgx.Tx) error {
		var err error
		jobs, err = s.jobSubmitTx(ctx, tx, params, order, internal, &submitExtra{commit: true})
		return err
	})
	return jobs, err
}

// inTxCommitting runs fn in a transaction, as inTx does, for an fn whose last
// round trip may end with COMMIT itself (submitExtra.commit): the locks taken
// in that round trip are then released as soon as the commit is durable,
// without waiting for another round trip. It commits what fn did not. BEGIN
// goes out with fn's first statements (beginTx).
func (s *Store) inTxCommitting(ctx context.Context, fn func(pgx.Tx) error) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return interpret(err, "begin")
	}
	defer conn.Release()
	inner := &beginTx{conn: conn.Conn()}
	tx := &endsTx{Tx: inner}
	if err := fn(tx); err != nil {
		rollback(ctx, inner)
		return err
	}
	if conn.Conn().PgConn().TxStatus() != 'I' {
		if err := inner.Commit(ctx); err != nil {
			return interpret(err, "commit")
		}
	}
	s.observeEnds(tx.ends)
	return nil
}

// submitExtra is what a caller of jobSubmitTx adds to its round trips, so a
// submission that records more (a webhook delivery) costs no round trip more.
type submitExtra struct {
	// first is queued at the start of the first round trip; checked runs
	// once its answers are in (an error ends the submission).
	first   func(b *pgx.Batch)
	checked func() error
	// last is queued at the end of the last round trip: the place for
	// statements that lock rows every submission shares, which are then held
	// only until the commit that follows.
	last func(b *pgx.Batch)
	// commit ends the last round trip with COMMIT (inTxCommitting): the caller
	// does nothing more in the transaction.
	commit bool
}

// batchOrder resolves PrecedingNames to batch indexes and returns a topological order.
func batchOrder(params []*JobSubmitParams) (order []int, internal [][]int, err error) {
	byName := map[string]int{}
	dup := map[string]bool{}
	for i, p := range params {
		if _, ok := byName[p.Name]; ok {
			dup[p.Name] = true
		}
		byName[p.Name] = i
	}
	internal = make([][]int, len(params))
	indegree := make([]int, len(params))
	dependents := make([][]int, len(params))
	for i, p := range params {
		for _, name := range p.PrecedingNames {
			field := fmt.Sprintf("jobs[%d].precedingNames", i)
			j, ok := byName[name]
			switch {
			case !ok:
				return nil, nil, &Error{Kind: Invalid, Field: field, Message: "no job named " + name + " in this batch"}
			case dup[name]:
				return nil, nil, &Error{Kind: Invalid, Field: field, Message: "more than one job in this batch is named " + name}
			case j == i:
				return nil, nil, &Error{Kind: Invalid, Field: field, Message: "job " + name + " cannot precede itself"}
			}
			if slices.Contains(internal[i], j) {
				continue
			}
			internal[i] = append(internal[i], j)
			indegree[i]++
			dependents[j] = append(dependents[j], i)
		}
	}
	for i := range params {
		if indegree[i] == 0 {
			order = append(order, i)
		}
	}
	for k := 0; k < len(order); k++ {
		for _, d := range dependents[order[k]] {
			if indegree[d]--; indegree[d] == 0 {
				order = append(order, d)
			}
		}
	}
	if len(order) != len(params) {
		return nil, nil, &Error{Kind: Invalid, Field: "jobs", Message: "precedingNames form a cycle"}
	}
	return order, internal, nil
}

type precedingRow struct {
	ID        int64  `db:"id"`
	ProjectID int64  `db:"project_id"`
	Status    string `db:"status"`
	Tag       string `db:"tag"`
	Name      string `db:"name"`
}

func (s *Store) jobSubmitTx(ctx context.Context, tx pgx.Tx, params []*JobSubmitParams, order []int, internal [][]int, extra *submitExtra) ([]*Job, error) {
	if extra == nil {
		extra = &submitExtra{}
	}
	// Tracing: a job.queued span per job, whose context the job
	// keeps (trace_parent) so its later phases join the submitter's trace.
	// Nil, and free, when tracing is off.
	queued := tracing.StartQueued(len(params))
	var external []int64
	for _, p := range params {
		// A preceding job named twice is one edge, counted once.
		p.PrecedingJobs = slices.Compact(slices.Sorted(slices.Values(p.PrecedingJobs)))
		external = append(external, p.PrecedingJobs...)
	}
	slices.Sort(external)
	external = slices.Compact(external)
	entities := newKeyedSet()
	collections := newKeyedSet()
	for _, p := range params {
		entities.add(p.ProjectID, p.EntityKey, p.EntityVal)
		for k, v := range p.Collections {
			collections.add(p.ProjectID, k, v)
		}
	}

	// The first round trip locks the preceding jobs, allocates ids and finds or
	// creates every entity and collection: none needs another's answer.
	var now time.Time
	var ids []int64
	preceding := map[int64]precedingRow{}
	batch := &pgx.Batch{}
	if extra.first != nil {
		extra.first(batch)
	}
	if len(external) > 0 {
		const q = `SELECT id, project_id, status, tag, name FROM jobs WHERE id = ANY($1) ORDER BY id FOR SHARE`
		batch.Queue(q, external).Query(func(rows pgx.Rows) error {
			found, err := pgx.CollectRows(rows, pgx.RowToStructByName[precedingRow])
			for _, r := range found {
				preceding[r.ID] = r
			}
			return err
		})
	}
	// A job's token submits children: count them on the parent and check the limits.
	parents := map[int64]int{}
	for _, p := range params {
		if p.ParentJobID != nil {
			parents[*p.ParentJobID]++
		}
	}
	type parentRow struct {
		depth, children int
		traceParent     *string // tracing
	}
	parentRows := map[int64]*parentRow{}
	for id, count := range parents {
		r := &parentRow{}
		parentRows[id] = r
		const q = `UPDATE jobs SET children = children + $2 WHERE id = $1 RETURNING depth, children, trace_parent`
		batch.Queue(q, id, count).QueryRow(func(row pgx.Row) error { return row.Scan(&r.depth, &r.children, &r.traceParent) })
	}
	const qIDs = `SELECT now(), ARRAY(SELECT nextval('jobs_id_seq') FROM generate_series(1, $1))`
	batch.Queue(qIDs, len(params)).QueryRow(func(row pgx.Row) error { return row.Scan(&now, &ids) })
	entities.queue(batch, "entity")
	collections.queue(batch, "collection")
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return nil, interpret(err, "submit jobs")
	}
	if extra.checked != nil {
		if err := extra.checked(); err != nil {
			return nil, err
		}
	}
	for _, r := range parentRows {
		if s.limits.ChildrenPerJob > 0 && r.children > s.limits.ChildrenPerJob {
			return nil, &Error{Kind: TooMany, Setting: "AURA_MAX_CHILDREN", Message: fmt.Sprintf(
				"a job may submit at most %d jobs (AURA_MAX_CHILDREN); this one has reached it", s.limits.ChildrenPerJob)}
		}
		if s.limits.Depth > 0 && r.depth+1 > s.limits.Depth {
			return nil, &Error{Kind: TooLarge, Setting: "AURA_MAX_DEPTH", Message: fmt.Sprintf(
				"jobs submitting jobs may nest at most %d deep (AURA_MAX_DEPTH)", s.limits.Depth)}
		}
	}
	if err := entities.fillMissing(ctx, tx, "entity"); err != nil {
		return nil, err
	}
	if err := collections.fillMissing(ctx, tx, "collection"); err != nil {
		return nil, err
	}
	for i, p := range params {
		for _, id := range p.PrecedingJobs {
			field := "precedingJobs"
			if len(params) > 1 {
				field = fmt.Sprintf("jobs[%d].precedingJobs", i)
			}
			r, ok := preceding[id]
			if !ok {
				return nil, &Error{Kind: Invalid, Field: field, Message: fmt.Sprintf("job %d does not exist", id)}
			}
			if r.ProjectID != p.ProjectID {
				return nil, &Error{Kind: Invalid, Field: field, Message: fmt.Sprintf("job %d belongs to another project", id)}
			}
		}
	}

	entityIDs := make([]int64, len(params))
	var memberC, memberE []int64
	for i, p := range params {
		entityIDs[i] = entities.id(p.ProjectID, p.EntityKey, p.EntityVal)
		for _, key := range sortedKeys(p.Collections) {
			memberC = append(memberC, collections.id(p.ProjectID, key, p.Collections[key]))
			memberE = append(memberE, entityIDs[i])
		}
	}

	// Decide each job's status in dependency order: a job of the batch is
	// decided before the jobs that wait for it.
	n := len(params)
	rows := make([]jobRow, n)
	waits := make([][]JobRef, n)
	var edgeJob, edgePre []int64
	var n2 notes
	var by *Actor
	for _, i := range order {
		p := params[i]
		var before []precedingState
		for _, id := range p.PrecedingJobs {
			edgeJob, edgePre = append(edgeJob, ids[i]), append(edgePre, id)
			before = append(before, precedingState{ID: id, Name: preceding[id].Name, Status: preceding[id].Status,
				Tag: preceding[id].Tag})
		}
		for _, j := range internal[i] {
			edgeJob, edgePre = append(edgeJob, ids[i]), append(edgePre, ids[j])
			before = append(before, precedingState{ID: ids[j], Name: params[j].Name, Status: rows[j].Status, Tag: params[j].Tag})
		}
		waits[i] = waitingFor(before)
		d := submitStatus(before, p.EarliestStart, now)
		secret, err := s.sealSecrets(p.SecretEnv)
		if err != nil {
			return nil, err
		}
		r := jobRow{
			JobSpec: p.JobSpec.withDefaults(), ID: ids[i], ProjectID: p.ProjectID, EntityID: entityIDs[i],
			ParentJobID: p.ParentJobID, SecretSealed: secret, SecretNames: sortedKeys(p.SecretEnv),
			Status: d.Status, Reason: d.Reason, PendingPreceding: d.Pending, CreatedAt: now,
		}
		if p.SubmittedBy != nil {
			// One value for the jobs of one submitter, written once (jsonMemo).
			if by == nil || by.Kind != p.SubmittedBy.Kind || by.Name != p.SubmittedBy.Name {
				by = &Actor{Kind: p.SubmittedBy.Kind, Name: p.SubmittedBy.Name, At: now}
			}
			r.SubmittedBy = by
		}
		parentTrace := p.Trace // Tracing: a child job joins its parent's trace
		if p.ParentJobID != nil {
			r.Depth = parentRows[*p.ParentJobID].depth + 1
			parentTrace = parentRows[*p.ParentJobID].traceParent
		}
		r.TraceParent = queued.Start(ctx, i, parentTrace) // tracing
		switch d.Status {
		case StatusQueued:
			r.QueuedAt = &now
		case StatusCancelled:
			r.EndedAt, r.Cascaded = &now, true
		}
		rows[i] = r
	}
	// The rest depends on nothing it returns: send it in one round trip, but
	// for the jobs of a large batch, which COPY writes faster before it (in
	// the transaction the first round trip began, never in one of its own).
	batch = &pgx.Batch{}
	if len(rows) >= copyJobsFrom && tx.Conn().PgConn().TxStatus() == 'T' {
		if _, err := tx.Conn().CopyFrom(ctx, pgx.Identifier{"jobs"}, jobRowColumns, jobsCopySource(rows)); err != nil {
			return nil, interpret(err, "insert jobs")
		}
	} else {
		insertArgs, err := jobsInsertArgs(rows)
		if err != nil {
			return nil, err
		}
		batch.Queue(qJobsInsert, insertArgs...)
	}
	if len(edgeJob) > 0 {
		// Each edge once (PrecedingJobs compacted, internal ones distinct,
		// the two sets apart): no ON CONFLICT, whose speculative insertion
		// costs a third of the statement.
		const q = `INSERT INTO job_edges (job_id, preceding_id) SELECT * FROM unnest($1::bigint[], $2::bigint[])`
		batch.Queue(q, edgeJob, edgePre)
	}
	queueEntityMeta(batch, params, entityIDs)
	// A claim skips rows locked here (SKIP LOCKED), so a queued preceding job
	// must be announced again once this transaction lets go of it.
	for _, r := range preceding {
		if r.Status == StatusQueued {
			n2.queued(r.Tag)
		}
	}
	first := len(n2.events)
	for i, p := range params {
		n2.jobChanged(changedJob{ID: ids[i], Project: p.ProjectSlug, Key: p.EntityKey, Val: p.EntityVal,
			Status: rows[i].Status, Tag: p.Tag, Attempt: 1, Earliest: p.EarliestStart, Now: now})
	}
	// An event per kind of change, not per job.
	n2.groupJobEvents(first)
	n2.handEnds(tx) // jobs skipped at once
	n2.queue(batch)
	// Last, the rows other submissions share (a key's value count, a
	// collection's entity count): their locks are held from here to the
	// commit only. Keys before collections, in every submission, so that two
	// cannot deadlock.
	if extra.last != nil {
		extra.last(batch)
	}
	// One shard for both, so that two submissions on the same shard take
	// their rows in the same order, and two on different ones share none.
	shard := rand.IntN(counterShards)
	queueKeyCounts(batch, entities, collections, shard)
	if len(memberC) > 0 {
		batch.Queue(qMembers, memberC, memberE, shard)
	}
	// When a runner last asked for the queued jobs' tags, for the answer.
	var queuedTags []string
	for i := range rows {
		if rows[i].Status == StatusQueued && !slices.Contains(queuedTags, rows[i].Tag) {
			queuedTags = append(queuedTags, rows[i].Tag)
		}
	}
	checkIns := map[string]time.Time{}
	if len(queuedTags) > 0 {
		batch.Queue(qTagCheckIns, queuedTags).Query(func(rows pgx.Rows) error {
			return collectCheckIns(rows, checkIns)
		})
	}
	if extra.commit {
		batch.Queue("COMMIT")
	}
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return nil, interpret(err, "insert jobs")
	}

	// The answer is what was just written; no need to read it back.
	jobs := make([]*Job, len(params))
	for i, p := range params {
		r := &rows[i]
		j := &Job{
			JobSpec: r.JobSpec, ID: r.ID, ProjectID: r.ProjectID, Project: p.ProjectSlug, EntityID: r.EntityID,
			EntityKey: p.EntityKey, EntityVal: p.EntityVal, ParentJobID: r.ParentJobID, SecretNames: r.SecretNames,
			Status: r.Status, Reason: r.Reason, PendingPreceding: r.PendingPreceding, CreatedAt: now,
			QueuedAt: r.QueuedAt, EndedAt: r.EndedAt, Attempt: 1, PrecedingJobs: slices.Clone(p.PrecedingJobs),
			WaitingFor: waits[i], WaitingKnown: true,
		}
		if j.Status == StatusQueued {
			j.CheckInKnown = true
			if at, ok := checkIns[j.Tag]; ok {
				j.TagCheckIn = &at
			}
		}
		for _, k := range internal[i] {
			j.PrecedingJobs = append(j.PrecedingJobs, ids[k])
		}
		slices.Sort(j.PrecedingJobs)
		j.PrecedingJobs = slices.Compact(j.PrecedingJobs)
		jobs[i] = j
		queued.End(i, tracing.Job{ID: j.ID, Project: j.Project, Attempt: 1, Status: j.Status}, // tracing
			tracing.AttrName.String(j.Name), tracing.AttrTag.String(j.Tag))
	}
	return jobs, nil
}

// precedingState is what a new job's status depends on about one preceding job.
type precedingState struct {
	ID     int64
	Name   string
	Status string
	Tag    string
}

// waitingFor is what a new job waits for among its preceding jobs, as
// JobsWaitingFor would read it once committed: those not succeeded, by id.
func waitingFor(preceding []precedingState) []JobRef {
	refs := []JobRef{}
	for _, p := range preceding {
		if p.Status != StatusSucceeded {
			refs = append(refs, JobRef{ID: p.ID, Name: p.Name, Status: p.Status, Gate: p.Tag == ApprovalTag})
		}
	}
	slices.SortFunc(refs, func(a, b JobRef) int { return cmp.Compare(a.ID, b.ID) })
	return slices.CompactFunc(refs, func(a, b JobRef) bool { return a.ID == b.ID })
}

// submitDecision is the status a submitted job starts in, why, and how many
// preceding jobs it waits for (jobs.pending_preceding).
type submitDecision struct {
	Status  string
	Reason  string
	Pending int
}

// submitStatus decides a submitted job's status from its preceding jobs and its
// earliest start: cancelled (skipped, naming the first in preceding that ended
// without success) when one did, waiting while one has not ended or the earliest
// start lies ahead, else queued. Pending counts the preceding jobs not ended,
// also for a skipped job (a retry counts again).
func submitStatus(preceding []precedingState, earliest *time.Time, now time.Time) submitDecision {
	d := submitDecision{Status: StatusQueued}
	for _, p := range preceding {
		switch {
		case p.Status == StatusSucceeded:
		case !Ended(p.Status):
			d.Pending++
		case d.Reason == "":
			d.Reason = skipReason(p.Name, p.ID, p.Status)
		}
	}
	switch {
	case d.Reason != "":
		d.Status = StatusCancelled
	case d.Pending > 0 || (earliest != nil && earliest.After(now)):
		d.Status = StatusWaiting
	}
	return d
}

// qMembers adds entities to collections and counts the new members in shard
// $3 of their collection_counts (collectionEntityCount), in collection order,
// so two batches adding to the same collections cannot deadlock.
const qMembers = `
	WITH added AS (
		INSERT INTO collection_entities (collection_id, entity_id)
		SELECT * FROM unnest($1::bigint[], $2::bigint[])
		ON CONFLICT DO NOTHING
		RETURNING collection_id
	)
	INSERT INTO collection_counts AS cc (collection_id, shard, entity_count)
	SELECT collection_id, $3, count(*) FROM added GROUP BY collection_id ORDER BY collection_id
	ON CONFLICT (collection_id, shard) DO UPDATE SET entity_count = cc.entity_count + excluded.entity_count`

// counterShards is how many rows a shared count is spread over (keys,
// collection_counts): a submission adds to one, picked at random, so that
// concurrent submissions rarely wait on one row until the other commits.
const counterShards = 16

// skipReason is the reason of a job cancelled (skipped) because its preceding job
// id, named name, ended in status: "preceding job build #3 failed". The web app
// labels a cancelled job "skipped" by this "preceding job " prefix (openapi.yaml).
func skipReason(name string, id int64, status string) string {
	return fmt.Sprintf("preceding job %s #%d %s", name, id, endedVerb(status))
}

func endedVerb(status string) string {
	switch status {
	case StatusFailed:
		return "failed"
	case StatusCancelled:
		return "was cancelled"
	case StatusTimedOut:
		return "timed out"
	case StatusLost:
		return "was lost"
	}
	return status
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// keyedSet collects distinct (project, key, value) entities or collections.
type keyedSet struct {
	index        map[[3]string]int
	projects     []int64
	keys, values []string
	ids          []int64
	created      []bool // the upsert inserted the member: its key has one value more
}

func newKeyedSet() *keyedSet { return &keyedSet{index: map[[3]string]int{}} }

func keyedKey(projectID int64, key, value string) [3]string {
	return [3]string{strconv.FormatInt(projectID, 10), key, value}
}

func (s *keyedSet) add(projectID int64, key, value string) {
	k := keyedKey(projectID, key, value)
	if _, ok := s.index[k]; ok {
		return
	}
	s.index[k] = len(s.keys)
	s.projects = append(s.projects, projectID)
	s.keys = append(s.keys, key)
	s.values = append(s.values, value)
}

func (s *keyedSet) id(projectID int64, key, value string) int64 {
	return s.ids[s.index[keyedKey(projectID, key, value)]]
}

// upsertQuery finds or creates every member of a set of entities or
// collections (table) in one statement, and says which it created: their keys
// are counted (queueKeyCounts) at the end of the submission, since a key's row
// is shared by every submission of its project.
func upsertQuery(table string) string {
	return `
		WITH input AS (
			SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[]) WITH ORDINALITY AS t(project_id, key, value, n)
		), ins AS (
			INSERT INTO ` + table + ` (project_id, key, value)
			SELECT project_id, key, value FROM input ORDER BY n
			ON CONFLICT DO NOTHING
			RETURNING id, project_id, key, value
		)
		SELECT coalesce(ins.id, t.id, 0), ins.id IS NOT NULL
		FROM input i
		LEFT JOIN ins ON ins.project_id = i.project_id AND ins.key = i.key AND ins.value = i.value
		LEFT JOIN ` + table + ` t ON t.project_id = i.project_id AND t.key = i.key AND t.value = i.value
		ORDER BY i.n`
}

var (
	upsertEntities    = upsertQuery("entities")
	upsertCollections = upsertQuery("collections")
)

// queue adds the upsert of the set (kind "entity" or "collection") to b.
func (s *keyedSet) queue(b *pgx.Batch, kind string) {
	if len(s.keys) == 0 {
		return
	}
	q := upsertEntities
	if kind == "collection" {
		q = upsertCollections
	}
	b.Queue(q, s.projects, s.keys, s.values).Query(func(rows pgx.Rows) error {
		if s.ids == nil {
			s.ids, s.created = make([]int64, len(s.keys)), make([]bool, len(s.keys))
		}
		k := 0
		var id int64
		var created bool
		_, err := pgx.ForEachRow(rows, []any{&id, &created}, func() error {
			if k < len(s.ids) && s.ids[k] == 0 {
				s.ids[k], s.created[k] = id, created
			}
			k++
			return nil
		})
		return err
	})
}

// qKeyCounts adds the values a submission created to shard $4 of their keys'
// counts (KeyList sums them), the rows in a fixed order so that concurrent
// submissions cannot deadlock.
const qKeyCounts = `
	INSERT INTO keys (project_id, kind, key, shard, value_count)
	SELECT project_id, kind, key, $4, count(*) FROM unnest($1::bigint[], $2::text[], $3::text[]) AS t(project_id, kind, key)
	GROUP BY project_id, kind, key
	ORDER BY project_id, kind, key
	ON CONFLICT (project_id, kind, key, shard) DO UPDATE SET value_count = keys.value_count + excluded.value_count`

// queueKeyCounts counts the entities and collections the submission created
// in shard.
func queueKeyCounts(b *pgx.Batch, entities, collections *keyedSet, shard int) {
	var projects []int64
	var kinds, keys []string
	for kind, set := range map[string]*keyedSet{"entity": entities, "collection": collections} {
		for k, created := range set.created {
			if created {
				projects, kinds, keys = append(projects, set.projects[k]), append(kinds, kind), append(keys, set.keys[k])
			}
		}
	}
	if len(keys) > 0 {
		b.Queue(qKeyCounts, projects, kinds, keys, shard)
	}
}

// fillMissing runs the upsert again while some member has no id: a concurrent
// transaction inserting the same row makes ON CONFLICT skip it while this
// statement's snapshot cannot see it yet; a later statement can.
func (s *keyedSet) fillMissing(ctx context.Context, tx pgx.Tx, kind string) error {
	for try := 0; slices.Contains(s.ids, 0) && try < 3; try++ {
		b := &pgx.Batch{}
		s.queue(b, kind)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return interpret(err, "upsert "+kind)
		}
	}
	return nil
}

// JobCancel cancels a job that has not ended, and transitively its waiting dependents.
// A running job's runner learns it on its next heartbeat.
// by is who cancels it (nil: not recorded).
func (s *Store) JobCancel(ctx context.Context, id int64, reason string, by *Actor) (*Job, error) {
	var finished []changedJob // Tracing: the job, when cancelled at once
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var n notes
		// A job that is not running yet is cancelled at once. A running one is asked
		// to stop, even when its claim is not acknowledged yet (its runner may well
		// have started it): it stays running until its runner confirms the process
		// is gone, or the grace passes, or an unacknowledged claim's ack timeout
		// does, so the page never shows "cancelled" while the process still runs.
		const q = `
			UPDATE jobs j SET
				status = CASE WHEN j.status = 'running' THEN 'running' ELSE 'cancelled' END,
				cancel_requested_at = CASE WHEN j.status = 'running' THEN now() END,
				stop_status = 'cancelled',
				ended_at = CASE WHEN j.status = 'running' THEN NULL ELSE now() END,
				lease_expires_at = CASE WHEN j.status = 'running' THEN j.lease_expires_at END,
				reason = $2,
				cancelled_by = jsonb_set($3::jsonb, '{at}', to_jsonb(now()))
			WHERE j.id = $1 AND j.status IN ('waiting', 'queued', 'running') AND j.cancel_requested_at IS NULL
			` + returningChanged
		changed, err := s.collectChanges(ctx, tx, &n, q, id, reason, actorJSON(by))
		if err != nil {
			return err
		}
		if len(changed) == 0 {
			var requested bool
			err := tx.QueryRow(ctx, `SELECT cancel_requested_at IS NOT NULL FROM jobs WHERE id = $1`, id).Scan(&requested)
			if err == nil && requested {
				return nil // asked already: the runner is stopping it
			}
			return s.notEndedError(ctx, tx, id, "cancel")
		}
		if changed[0].Status == StatusCancelled {
			if err := s.jobEnded(ctx, tx, &n, id, StatusCancelled); err != nil {
				return err
			}
			finished = changed[:1]
		}
		return n.flush(ctx, tx)
	})
	if err != nil {
		return nil, err
	}
	s.traceFinished(ctx, finished)
	return s.JobGet(ctx, id)
}

// notEndedError explains why a transition found no row: the job is missing or in another state.
func (s *Store) notEndedError(ctx context.Context, tx pgx.Tx, id int64, verb string) error {
	var status string
	if err := tx.QueryRow(ctx, `SELECT status FROM jobs WHERE id = $1`, id).Scan(&status); err != nil {
		return interpret(err, verb+" job")
	}
	return &Error{Kind: Conflict, Message: fmt.Sprintf("job %d is %s and cannot be %s", id, status, pastTense(verb))}
}

func pastTense(verb string) string {
	if verb == "cancel" {
		return "cancelled"
	}
	return verb + "ed"
}

// jobEnded runs the consequences of job id reaching status inside tx (its own
// event was recorded by the update that ended it): dependents are promoted when
// it succeeded and cancelled (transitively) when it did not. Each level is its
// own statement, so it sees dependents submitted (and committed) while this
// transaction waited for their FOR SHARE locks.
func (s *Store) jobEnded(ctx context.Context, tx pgx.Tx, n *notes, id int64, status string) error {
	if status == StatusSucceeded {
		_, err := s.collectChanges(ctx, tx, n, qCountDown, id)
		return err
	}
	var name string
	if err := tx.QueryRow(ctx, `SELECT name FROM jobs WHERE id = $1`, id).Scan(&name); err != nil {
		return interpret(err, "read ended job")
	}
	reason := skipReason(name, id, status)
	frontier := []int64{id}
	for len(frontier) > 0 {
		const q = `
			UPDATE jobs j SET status = 'cancelled', reason = $2, ended_at = now(), cascaded = true
			FROM job_edges e
			WHERE e.preceding_id = ANY($1) AND j.id = e.job_id AND j.status = 'waiting'
			` + returningChanged
		changed, err := s.collectChanges(ctx, tx, n, q, frontier, reason)
		if err != nil {
			return err
		}
		frontier = frontier[:0]
		for _, c := range changed {
			frontier = append(frontier, c.ID)
		}
	}
	return nil
}

// returningChanged ends a transition's UPDATE of jobs j so that it returns
// changedJob rows for collectChanges. The job's project and entity are read
// by their keys, row by row, not joined: for the few jobs a transition
// changes, the planner hashed a join with the whole entities table (a scan of
// every entity in every claim and completion).
const returningChanged = `RETURNING j.id, (SELECT slug FROM projects WHERE id = j.project_id),
	(SELECT key FROM entities WHERE id = j.entity_id), (SELECT value FROM entities WHERE id = j.entity_id),
	j.status, j.tag, j.attempt, j.earliest_start, now(), j.started_at`

// changedJob is a job a transition changed: what its event needs.
type changedJob struct {
	ID       int64
	Project  string
	Key      string
	Val      string
	Status   string
	Tag      string
	Attempt  int
	Earliest *time.Time
	Now      time.Time
	// StartedAt is when the attempt started, as the update left it (nil when
	// it never ran, or the update cleared it).
	StartedAt *time.Time
}

func collectChanged(rows pgx.Rows) ([]changedJob, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (changedJob, error) {
		var c changedJob
		err := row.Scan(&c.ID, &c.Project, &c.Key, &c.Val, &c.Status, &c.Tag, &c.Attempt, &c.Earliest, &c.Now, &c.StartedAt)
		return c, err
	})
}

// collectChanges runs a transition query returning changed jobs, records their
// events and returns them.
func (s *Store) collectChanges(ctx context.Context, tx pgx.Tx, n *notes, q string, args ...any) ([]changedJob, error) {
	rows, _ := tx.Query(ctx, q, args...)
	changed, err := collectChanged(rows)
	if err != nil {
		return nil, interpret(err, "job transition")
	}
	for _, c := range changed {
		n.jobChanged(c)
	}
	return changed, nil
}

// JobRetry starts a new attempt of an ended job. Dependents that were cancelled
// because it failed come back to waiting, transitively.
// by is who retries it (nil: not recorded); the job's cancel, if any, is
// forgotten with the attempt it ended.
func (s *Store) JobRetry(ctx context.Context, id int64, by *Actor) (*Job, error) {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var status string
		if err := tx.QueryRow(ctx, `SELECT status FROM jobs WHERE id = $1 FOR UPDATE`, id).Scan(&status); err != nil {
			return interpret(err, "retry job")
		}
		if !Ended(status) {
			return &Error{Kind: Conflict, Message: fmt.Sprintf("job %d is %s; only an ended job can be retried", id, status)}
		}
		// Lock every preceding job, as a submit does: one completing meanwhile either
		// committed before (and is counted as done below) or waits for this
		// transaction (and then finds this job waiting and counts itself down).
		if err := lockPreceding(ctx, tx, []int64{id}); err != nil {
			return err
		}
		var failed int64
		const qFailed = `
			SELECT p.id FROM job_edges e JOIN jobs p ON p.id = e.preceding_id
			WHERE e.job_id = $1 AND p.status IN ('failed', 'cancelled', 'timed_out', 'lost')
			ORDER BY p.id LIMIT 1 FOR SHARE OF p`
		switch err := tx.QueryRow(ctx, qFailed, id).Scan(&failed); err {
		case nil:
			return &Error{Kind: Conflict, Message: fmt.Sprintf("preceding job %d did not succeed; retry it first", failed)}
		case pgx.ErrNoRows:
		default:
			return interpret(err, "retry job")
		}
		if status == StatusSucceeded {
			// Its waiting dependents counted it as done; now they must wait for it again.
			const q = `
				UPDATE jobs SET pending_preceding = pending_preceding + 1
				WHERE status = 'waiting' AND id IN (SELECT job_id FROM job_edges WHERE preceding_id = $1)`
			if _, err := tx.Exec(ctx, q, id); err != nil {
				return interpret(err, "retry job")
			}
		}
		var n notes
		if _, err := s.jobsStartOver(ctx, tx, &n, qRetry, []int64{id}, nil); err != nil {
			return err
		}
		const qBy = `UPDATE jobs SET retried_by = jsonb_set($2::jsonb, '{at}', to_jsonb(now())), cancelled_by = NULL WHERE id = $1`
		if _, err := tx.Exec(ctx, qBy, id, actorJSON(by)); err != nil {
			return interpret(err, "retry job")
		}
		// Bring back the jobs the failure cascaded to, unless another preceding job failed too.
		frontier := []int64{id}
		for len(frontier) > 0 {
			const qRevive = `
				SELECT j.id FROM jobs j JOIN job_edges e ON e.job_id = j.id
				WHERE e.preceding_id = ANY($1) AND j.status = 'cancelled' AND j.cascaded
					AND NOT EXISTS (SELECT 1 FROM job_edges e2 JOIN jobs p ON p.id = e2.preceding_id
						WHERE e2.job_id = j.id AND p.status IN ('failed', 'cancelled', 'timed_out', 'lost'))
				FOR UPDATE OF j`
			rows, _ := tx.Query(ctx, qRevive, frontier)
			revive, err := pgx.CollectRows(rows, pgx.RowTo[int64])
			if err != nil {
				return interpret(err, "revive dependents")
			}
			if len(revive) == 0 {
				break
			}
			if _, err := s.jobsStartOver(ctx, tx, &n, qRetry, revive, nil); err != nil {
				return err
			}
			frontier = revive
		}
		return n.flush(ctx, tx)
	})
	if err != nil {
		return nil, err
	}
	return s.JobGet(ctx, id)
}

// lockPreceding locks the preceding jobs of ids FOR SHARE, in id order.
func lockPreceding(ctx context.Context, tx pgx.Tx, ids []int64) error {
	const q = `
		SELECT p.id FROM jobs p
		WHERE p.id IN (SELECT preceding_id FROM job_edges WHERE job_id = ANY($1))
		ORDER BY p.id FOR SHARE`
	rows, _ := tx.Query(ctx, q, ids)
	_, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	return interpret(err, "lock preceding jobs")
}

// qRetry starts a new attempt of an ended job. The job's reason is cleared,
// and its attempts are raised to let it run even when they were used up: a
// person asked for it.
var qRetry = startOverQuery(attemptReset("j.attempt + 1", "0")+`,
	reason = '', max_attempts = greatest(j.max_attempts, j.attempt + 1)`, "true")

// QueueParams filters the queue listing.
type QueueParams struct {
	Tag       string
	ProjectID int64        // 0: all visible projects
	Status    string       // "": queued and waiting; or one of queued, waiting, running
	Scope     ProjectScope // the private projects that may show
	Page
}

// QueueList lists queued and waiting jobs, oldest first.
func (s *Store) QueueList(ctx context.Context, p *QueueParams) ([]*Job, string, error) {
	after, err := DecodeCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	// Two index range scans over the partial indexes on id (jobs_queued, jobs_waiting),
	// merged: finished jobs are never read, however long the backlog.
	q := jobSelect + `
		WHERE j.id IN (
			(SELECT id FROM jobs WHERE status = 'queued' AND $1 IN ('', 'queued') AND id > $2
				AND ($3 = '' OR tag = $3) AND ($4 = 0 OR project_id = $4)
				AND ($6 OR project_id = ANY($7) OR project_id NOT IN (SELECT id FROM projects WHERE private))
				AND project_id NOT IN (SELECT id FROM projects WHERE deleted_at IS NOT NULL) ORDER BY id LIMIT $5)
			UNION ALL
			(SELECT id FROM jobs WHERE status = 'waiting' AND $1 IN ('', 'waiting') AND id > $2
				AND ($3 = '' OR tag = $3) AND ($4 = 0 OR project_id = $4)
				AND ($6 OR project_id = ANY($7) OR project_id NOT IN (SELECT id FROM projects WHERE private))
				AND project_id NOT IN (SELECT id FROM projects WHERE deleted_at IS NOT NULL) ORDER BY id LIMIT $5)
			UNION ALL
			-- Running jobs only when asked for: the queue page shows them apart.
			(SELECT id FROM jobs WHERE status = 'running' AND $1 = 'running' AND id > $2
				AND ($3 = '' OR tag = $3) AND ($4 = 0 OR project_id = $4)
				AND ($6 OR project_id = ANY($7) OR project_id NOT IN (SELECT id FROM projects WHERE private))
				AND project_id NOT IN (SELECT id FROM projects WHERE deleted_at IS NOT NULL) ORDER BY id LIMIT $5))
		ORDER BY j.id
		LIMIT $5`
	rows, _ := s.pool.Query(ctx, q, p.Status, after, p.Tag, p.ProjectID, p.Limit, p.Scope.All, p.Scope.ids())
	jobs, err := collectJobs(rows)
	if err != nil {
		return nil, "", interpret(err, "list queue")
	}
	var last int64
	if len(jobs) > 0 {
		last = jobs[len(jobs)-1].ID
	}
	return jobs, nextCursor(len(jobs), p.Limit, last), nil
}

// JobsWaitingFor maps each waiting job in ids to the preceding jobs that have not succeeded yet.
func (s *Store) JobsWaitingFor(ctx context.Context, ids []int64) (map[int64][]JobRef, error) {
	out := map[int64][]JobRef{}
	if len(ids) == 0 {
		return out, nil
	}
	const q = `
		SELECT e.job_id, p.id, p.name, p.status, p.tag = '` + ApprovalTag + `'
		FROM job_edges e JOIN jobs p ON p.id = e.preceding_id
		WHERE e.job_id = ANY($1) AND p.status <> 'succeeded'
		ORDER BY e.job_id, p.id`
	rows, err := s.pool.Query(ctx, q, ids)
	if err != nil {
		return nil, interpret(err, "jobs waiting for")
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var ref JobRef
		if err := rows.Scan(&id, &ref.ID, &ref.Name, &ref.Status, &ref.Gate); err != nil {
			return nil, interpret(err, "jobs waiting for")
		}
		out[id] = append(out[id], ref)
	}
	return out, interpret(rows.Err(), "jobs waiting for")
}

// JobDescends reports whether job id was submitted by ancestor, directly or
// through a chain of jobs submitting jobs.
func (s *Store) JobDescends(ctx context.Context, id, ancestor int64) (bool, error) {
	const q = `
		WITH RECURSIVE up(id, depth) AS (
			SELECT parent_job_id, 1 FROM jobs WHERE id = $1
			UNION ALL
			SELECT j.parent_job_id, up.depth + 1 FROM jobs j JOIN up ON j.id = up.id
			WHERE up.id IS NOT NULL AND up.id <> $2 AND up.depth < 1000
		)
		SELECT EXISTS (SELECT 1 FROM up WHERE id = $2)`
	var ok bool
	err := s.pool.QueryRow(ctx, q, id, ancestor).Scan(&ok)
	return ok, interpret(err, "job ancestry")
}
