package store

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// A job starts over in four places: a retry and a lost attempt start a new
// attempt; a claim whose answer never reached its runner (JobUnclaim when the
// long poll died, the reaper at the ack timeout) goes back with the same one.
// They all write attemptReset, and differ only where the reset's arguments and
// their own extra assignments (each with its reason) say so.

// attemptReset is the SET list, for an UPDATE of jobs j joined with s (the
// job's pending count), that starts job j over: it clears every column that
// belongs to an attempt or to a hand-out, and makes the job wait again for its
// preceding jobs that have not succeeded (one may have been retried meanwhile)
// and its earliest start, like a submitted job. attempt and handouts are SQL
// expressions: a new attempt (j.attempt + 1) starts counting hand-outs from 0,
// the same attempt says how its hand-out counts.
//
// claims is never reset: a job token signs its hand-out's number, so numbers
// are never used twice. stop_status is meaningful only with cancel_requested_at,
// which is cleared.
func attemptReset(attempt, handouts string) string {
	return `
		attempt = ` + attempt + `, handouts = ` + handouts + `,
		status = ` + startStatus + `,
		queued_at = CASE WHEN ` + startStatus + ` = 'queued' THEN now() END,
		pending_preceding = s.pending,
		started_at = NULL, ended_at = NULL, exit_code = NULL, runner_id = NULL, lease_expires_at = NULL,
		acked = false, compat = false, cascaded = false, cancel_requested_at = NULL,
		log_length = 0, log_hash_state = NULL, log_truncated = false, log_mismatch = false`
}

// startStatus is the status a job gets when it starts over: waiting while a
// preceding job has not succeeded or its earliest start lies ahead.
const startStatus = `(CASE WHEN s.pending > 0 OR (j.earliest_start IS NOT NULL AND j.earliest_start > now())
	THEN 'waiting' ELSE 'queued' END)`

// startOverQuery is the UPDATE that runs set (built on attemptReset) on the jobs
// in @ids that still match guard; @pending holds their pending counts.
func startOverQuery(set, guard string) string {
	return `
		UPDATE jobs j SET ` + set + `
		FROM unnest(@ids::bigint[], @pending::int[]) AS s(id, pending)
		WHERE j.id = s.id AND ` + guard + `
		` + returningChanged
}

// jobsStartOver runs q (a startOverQuery) on ids inside tx, locked as a submit
// locks: the jobs in id order, then their preceding jobs FOR SHARE, so a
// preceding job that completes meanwhile either committed first (and is
// counted as done) or waits for tx (and then finds the job waiting and counts
// itself down). It records the events and returns the jobs changed.
func (s *Store) jobsStartOver(ctx context.Context, tx pgx.Tx, n *notes, q string, ids []int64, args pgx.NamedArgs) ([]changedJob, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, _ := tx.Query(ctx, `SELECT id FROM jobs WHERE id = ANY($1) ORDER BY id FOR UPDATE`, ids)
	if _, err := pgx.CollectRows(rows, pgx.RowTo[int64]); err != nil {
		return nil, interpret(err, "lock jobs")
	}
	// Counted here rather than in the UPDATE: its subqueries, planned on a new
	// database's missing statistics, cost seconds of JIT compilation.
	const qPending = `
		SELECT e.job_id, p.status FROM job_edges e JOIN jobs p ON p.id = e.preceding_id
		WHERE e.job_id = ANY($1)
		ORDER BY p.id FOR SHARE OF p`
	rows, _ = tx.Query(ctx, qPending, ids)
	count := map[int64]int32{}
	var job int64
	var status string
	_, err := pgx.ForEachRow(rows, []any{&job, &status}, func() error {
		if status != StatusSucceeded {
			count[job]++
		}
		return nil
	})
	if err != nil {
		return nil, interpret(err, "lock preceding jobs")
	}
	pending := make([]int32, len(ids))
	for i, id := range ids {
		pending[i] = count[id]
	}
	named := pgx.NamedArgs{"ids": ids, "pending": pending}
	for k, v := range args {
		named[k] = v
	}
	return s.collectChanges(ctx, tx, n, q, named)
}
