package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// ChannelSchedules is notified when a schedule was created, changed, deleted or
// fired: every server's scheduler re-reads the earliest next run.
const ChannelSchedules = "aura_schedules"

// Schedule is a schedules row: job templates submitted on a cron expression in
// a time zone, to the entity EntityKey/<the run's local date and time>.
type Schedule struct {
	ID         int64         `db:"id"`
	ProjectID  int64         `db:"project_id"`
	Project    string        `db:"project"`
	Name       string        `db:"name"`
	Cron       string        `db:"cron"`
	Timezone   string        `db:"timezone"`
	EntityKey  string        `db:"entity_key"`
	Jobs       []JobTemplate `db:"jobs"`
	NextRunAt  time.Time     `db:"next_run_at"`
	LastRunAt  *time.Time    `db:"last_run_at"`
	LastEntity string        `db:"last_entity"`
	LastResult string        `db:"last_result"`
	CreatedAt  time.Time     `db:"created_at"`
	// LastStatus is the last run's entity status: pending, running, success,
	// failure; "" without a run or jobs.
	LastStatus string `db:"last_status"`
}

// scheduleSelect reads schedules with the status of their last run's entity,
// summed up as the list of builds does (builds.go).
const scheduleSelect = `
	SELECT s.id, s.project_id, p.slug AS project, s.name, s.cron, s.timezone, s.entity_key, s.jobs,
		s.next_run_at, s.last_run_at, s.last_entity, s.last_result, s.created_at,
		coalesce(ls.status, '') AS last_status
	FROM schedules s JOIN projects p ON p.id = s.project_id
	LEFT JOIN LATERAL (
		SELECT CASE
				WHEN count(*) = 0 THEN NULL
				WHEN count(*) FILTER (WHERE j.status = 'running') > 0 THEN 'running'
				WHEN count(*) FILTER (WHERE j.status IN ('waiting', 'queued')) > 0 THEN 'pending'
				WHEN count(*) FILTER (WHERE j.status IN ('failed', 'cancelled', 'timed_out', 'lost')) > 0 THEN 'failure'
				ELSE 'success' END AS status
		FROM entities e JOIN jobs j ON j.entity_id = e.id
		WHERE e.project_id = s.project_id AND e.key = s.entity_key AND e.value = s.last_entity
	) ls ON s.last_entity <> ''`

// ScheduleParams are a schedule's settings; on update, nil fields keep their
// value. NextRunAt is computed by the caller from Cron and Timezone.
type ScheduleParams struct {
	Name      *string
	Cron      *string
	Timezone  *string
	EntityKey *string
	Jobs      []JobTemplate
	NextRunAt *time.Time
}

// ScheduleCreate inserts a schedule of a project.
func (s *Store) ScheduleCreate(ctx context.Context, projectID int64, p *ScheduleParams) (*Schedule, error) {
	jobs, _ := json.Marshal(p.Jobs)
	var id int64
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		const q = `
			INSERT INTO schedules (project_id, name, cron, timezone, entity_key, jobs, next_run_at)
			VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7)
			RETURNING id, (SELECT pg_notify($8, '')) IS NULL`
		var ignored bool
		return interpret(tx.QueryRow(ctx, q, projectID, p.Name, p.Cron, p.Timezone, p.EntityKey, string(jobs),
			p.NextRunAt, ChannelSchedules).Scan(&id, &ignored), "create schedule")
	})
	if errors.Is(err, ErrConflict) {
		return nil, &Error{Kind: Conflict, Field: "name", Message: "this project has a schedule of that name already"}
	}
	if err != nil {
		return nil, err
	}
	return s.ScheduleGet(ctx, id)
}

// ScheduleGet returns one schedule.
func (s *Store) ScheduleGet(ctx context.Context, id int64) (*Schedule, error) {
	rows, _ := s.pool.Query(ctx, scheduleSelect+` WHERE s.id = $1`, id)
	sc, err := pgx.CollectExactlyOneRow(rows, pgx.RowToAddrOfStructByName[Schedule])
	return sc, interpret(err, "get schedule")
}

// ScheduleList returns a project's schedules by name.
func (s *Store) ScheduleList(ctx context.Context, projectID int64) ([]*Schedule, error) {
	rows, _ := s.pool.Query(ctx, scheduleSelect+` WHERE s.project_id = $1 ORDER BY s.name`, projectID)
	out, err := pgx.CollectRows(rows, pgx.RowToAddrOfStructByName[Schedule])
	return out, interpret(err, "list schedules")
}

// ScheduleUpdate changes a schedule; the schedulers re-plan.
func (s *Store) ScheduleUpdate(ctx context.Context, id int64, p *ScheduleParams) (*Schedule, error) {
	var jobs *string
	if p.Jobs != nil {
		b, _ := json.Marshal(p.Jobs)
		js := string(b)
		jobs = &js
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		const q = `
			UPDATE schedules SET name = coalesce($2, name), cron = coalesce($3, cron),
				timezone = coalesce($4, timezone), entity_key = coalesce($5, entity_key),
				jobs = coalesce($6::jsonb, jobs), next_run_at = coalesce($7, next_run_at)
			WHERE id = $1
			RETURNING (SELECT pg_notify($8, '')) IS NULL`
		var ignored bool
		return interpret(tx.QueryRow(ctx, q, id, p.Name, p.Cron, p.Timezone, p.EntityKey, jobs, p.NextRunAt,
			ChannelSchedules).Scan(&ignored), "update schedule")
	})
	if errors.Is(err, ErrConflict) {
		return nil, &Error{Kind: Conflict, Field: "name", Message: "this project has a schedule of that name already"}
	}
	if err != nil {
		return nil, err
	}
	return s.ScheduleGet(ctx, id)
}

// ScheduleDelete deletes a schedule.
func (s *Store) ScheduleDelete(ctx context.Context, id int64) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM schedules WHERE id = $1`, id)
		if err != nil {
			return interpret(err, "delete schedule")
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		_, err = tx.Exec(ctx, `SELECT pg_notify($1, '')`, ChannelSchedules)
		return interpret(err, "delete schedule")
	})
}

// ScheduleNextRun returns the earliest next run of all schedules, or nil when
// there is none.
func (s *Store) ScheduleNextRun(ctx context.Context) (*time.Time, error) {
	var next *time.Time
	const q = `
		SELECT min(s.next_run_at) FROM schedules s JOIN projects p ON p.id = s.project_id
		WHERE p.deleted_at IS NULL`
	err := s.pool.QueryRow(ctx, q).Scan(&next)
	return next, interpret(err, "next schedule run")
}

// ScheduleDue returns the schedules whose next run is at or before now,
// earliest first, at most limit of them.
func (s *Store) ScheduleDue(ctx context.Context, now time.Time, limit int) ([]*Schedule, error) {
	// A deleted project's schedules (until its purge) fire no more.
	const q = scheduleSelect + `
		WHERE s.next_run_at <= $1 AND p.deleted_at IS NULL
		ORDER BY s.next_run_at, s.id LIMIT $2`
	rows, _ := s.pool.Query(ctx, q, now, limit)
	out, err := pgx.CollectRows(rows, pgx.RowToAddrOfStructByName[Schedule])
	return out, interpret(err, "due schedules")
}

// ScheduleFireParams is one run of a schedule.
type ScheduleFireParams struct {
	ScheduleID int64
	// Due is the next_run_at the caller read; with Claim, the run happens only
	// if the schedule still has it, and moves it to Next in the same
	// transaction as the jobs are submitted. Without Claim (Run now), the
	// schedule's next run stays as it is.
	Claim     bool
	Due, Next time.Time
	RunAt     time.Time
	EntityVal string
	Jobs      []*JobSubmitParams
	Result    string
}

// ErrNotDue is ScheduleFire's answer when another server fired the run first,
// or the schedule changed since it was read.
var ErrNotDue = errors.New("store: the schedule run was taken or changed")

// ScheduleFire submits one run's jobs and records it as the schedule's last
// run, in one transaction. With Claim, it answers ErrNotDue (and writes
// nothing) unless the schedule's next run is still p.Due.
func (s *Store) ScheduleFire(ctx context.Context, p *ScheduleFireParams) ([]*Job, error) {
	order, internal, err := batchOrder(p.Jobs)
	if err != nil {
		return nil, err
	}
	var jobs []*Job
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if err := s.scheduleRecord(ctx, tx, p); err != nil {
			return err
		}
		jobs, err = s.jobSubmitTx(ctx, tx, p.Jobs, order, internal, nil)
		return err
	})
	return jobs, err
}

// ScheduleFailed records a run whose jobs could not be submitted (a template
// the store refuses): the schedule moves on instead of failing at every wake.
func (s *Store) ScheduleFailed(ctx context.Context, p *ScheduleFireParams) error {
	return s.inTx(ctx, func(tx pgx.Tx) error { return s.scheduleRecord(ctx, tx, p) })
}

func (s *Store) scheduleRecord(ctx context.Context, tx pgx.Tx, p *ScheduleFireParams) error {
	const q = `
		UPDATE schedules SET next_run_at = CASE WHEN $2 THEN $4 ELSE next_run_at END,
			last_run_at = $5, last_entity = $6, last_result = $7
		WHERE id = $1 AND (NOT $2 OR next_run_at = $3)`
	tag, err := tx.Exec(ctx, q, p.ScheduleID, p.Claim, p.Due, p.Next, p.RunAt, p.EntityVal, p.Result)
	if err != nil {
		return interpret(err, "fire schedule")
	}
	if tag.RowsAffected() == 0 {
		if p.Claim {
			return ErrNotDue
		}
		return ErrNotFound
	}
	_, err = tx.Exec(ctx, `SELECT pg_notify($1, '')`, ChannelSchedules)
	return interpret(err, "fire schedule")
}
