package store

import (
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ClaimedJob is a job handed to a runner, with everything it needs to run it.
type ClaimedJob struct {
	ID             int64             `db:"id"`
	Attempt        int               `db:"attempt"`
	Claim          int               `db:"claim"` // this hand-out's number among the job's; its job token signs it
	Project        string            `db:"project"`
	EntityKey      string            `db:"entity_key"`
	EntityVal      string            `db:"entity_val"`
	Name           string            `db:"name"`
	Cmd            string            `db:"cmd"`
	Env            map[string]string `db:"env"`
	SecretEnv      map[string]string `db:"-"`
	SecretSealed   []byte            `db:"secret_sealed"`
	Tag            string            `db:"tag"`
	TimeoutSeconds int               `db:"timeout_seconds"`
	Priority       int               `db:"priority"`
	// QueuedFor is how long the job waited queued before this claim, in seconds.
	QueuedFor float64 `db:"queued_for"`
	// TraceParent is the job's job.queued span, when traces are exported.
	TraceParent *string `db:"trace_parent"`
	// MoreQueued tells whether the claim found a job of its tag beyond those
	// it took, free to claim (not held by another claim meanwhile): only then
	// need another long poll be woken for it.
	MoreQueued bool `db:"more_queued"`
}

// JobClaimParams asks for up to Limit queued jobs with Tag.
type JobClaimParams struct {
	RunnerID int64
	Tag      string
	Limit    int
	// Lease is how long the claim holds without a heartbeat: the short ack timeout
	// for runners that heartbeat, the job's whole timeout for 0.4 runners that don't.
	Lease time.Duration
	// Acked marks the claim as confirmed at once (0.4 runners never heartbeat).
	Acked bool
	// LeaseIncludesTimeout adds the job's own timeout to Lease.
	LeaseIncludesTimeout bool
	// PolledSince is when the runner's long poll began: a runner that lost a lease
	// after that gets nothing from it (it may be frozen with the poll still open).
	PolledSince time.Time
}

// qClaimTemplate is JobClaim's statement, its LIMIT written in by claimQuery.
// It picks and locks one job more than it takes: whether it got one answers
// more_queued. A second walk of jobs_runnable from its start would cost as
// much as the first again, or more: the start holds the entries of every job
// claimed since the table's last vacuum (VacuumQueueIfDue). Its text up to
// FOR UPDATE SKIP LOCKED fits the 1,024 bytes pg_stat_activity keeps of a
// statement, where tests find a claim under way.
const qClaimTemplate = `
	WITH alive AS (
		SELECT project_bound FROM runners
		WHERE id = $1 AND (lost_at IS NULL OR lost_at < $3) AND $2 = ANY (tags)
	), picked AS (
		SELECT id, priority FROM jobs
		WHERE status = 'queued' AND tag = $2 AND EXISTS (SELECT 1 FROM alive)
			-- A deleted project's jobs wait for the purge, never for a runner.
			-- OFFSET 0 keeps this a check per job: as an anti-join it made the
			-- planner read and sort the tag's whole queue (10 ms at 10,000
			-- queued) instead of walking jobs_runnable in claim order (0.2 ms).
			AND NOT EXISTS (SELECT 1 FROM projects d WHERE d.id = jobs.project_id AND d.deleted_at IS NOT NULL OFFSET 0)
			AND (NOT (SELECT project_bound FROM alive) OR EXISTS (
				SELECT 1 FROM runner_projects rp WHERE rp.runner_id = $1 AND rp.project_id = jobs.project_id))
		ORDER BY priority DESC, id
		LIMIT @limit + 1 -- one more than it takes: more_queued
		FOR UPDATE SKIP LOCKED
	), claimed AS (
		UPDATE jobs j SET status = 'running', runner_id = $1, started_at = now(), acked = $5,
			handouts = j.handouts + 1, claims = j.claims + 1, compat = $5 AND $6, cancel_requested_at = NULL,
			lease_expires_at = now() + $4::interval
				+ CASE WHEN $6 THEN j.timeout_seconds * interval '1 second' ELSE interval '0' END
		-- An array rather than a join with picked: planned once for any
		-- LIMIT (genericPlans), a join reads jobs whole to hash them. The
		-- project and entity are read by key, row by row (returningChanged).
		WHERE j.id = ANY (ARRAY(SELECT id FROM picked ORDER BY priority DESC, id LIMIT @limit))
		RETURNING j.id, j.attempt, j.claims AS claim, (SELECT slug FROM projects WHERE id = j.project_id) AS project,
			(SELECT key FROM entities WHERE id = j.entity_id) AS entity_key,
			(SELECT value FROM entities WHERE id = j.entity_id) AS entity_val,
			j.name, j.cmd, j.env, j.secret_sealed, j.tag, j.timeout_seconds, j.priority,
			extract(epoch FROM now() - coalesce(j.queued_at, j.created_at))::float8 AS queued_for,
			j.trace_parent
	), notified AS (
		SELECT count(pg_notify('` + ChannelEvents + `', ` + claimedJobEventSQL + `)) AS n
		FROM claimed
	), ` + claimedStatusMarkSQL + `, ` + claimDurabilitySQL + `
	SELECT claimed.*, (SELECT count(*) FROM picked) > @limit AS more_queued
	FROM claimed, notified, durability ORDER BY priority DESC, id`

// claimDurabilitySQL commits a claim without waiting for its WAL to reach the
// disk (synchronous_commit off, for its transaction only), unless the claim
// is acknowledged at once ($5: a 0.4 runner, which never heartbeats) or shares
// its transaction with one that is (aura.claim_sync). A claim is not final
// until its runner's first heartbeat acknowledges it, and that heartbeat's
// commit waits for the disk, this claim's WAL included. Should PostgreSQL
// crash in between and lose the claim, the job is queued again as it was, and
// the runner's acknowledgement is refused (410 Gone): it drops the job. In
// exchange, a job's hand-out does not wait for an fsync, and notifying
// commits, which PostgreSQL serialises through its notification queue lock
// until their WAL is flushed, hold that lock for no disk write.
const claimDurabilitySQL = `durability AS (
		SELECT set_config('synchronous_commit',
				CASE WHEN $5 OR current_setting('aura.claim_sync', true) = 'on' THEN 'on' ELSE 'off' END, true),
			CASE WHEN $5 THEN set_config('aura.claim_sync', 'on', true) END
	)`

// claimQueries holds the claim statement of each limit.
var claimQueries sync.Map

// claimQuery is the claim statement for up to limit jobs. The limit is
// written into its text, not passed: planned for a LIMIT it does not know,
// PostgreSQL estimates a tenth of the queue and keeps planning the claim anew
// at each call (its plan for the known limit looks far cheaper), which cost
// more than running it. A runner asks for a few limits: its free capacity.
func claimQuery(limit int) string {
	if q, ok := claimQueries.Load(limit); ok {
		return q.(string)
	}
	q := strings.ReplaceAll(qClaimTemplate, "@limit", strconv.Itoa(limit))
	claimQueries.Store(limit, q)
	return q
}

// genericPlans has the statements after it, to the end of their transaction,
// planned once per connection (a generic plan) rather than at each call.
// Claims and completions run thousands of times a second with arguments that
// do not change their best plan; by default PostgreSQL plans such a statement
// anew at each call because the plan it makes knowing the arguments (the
// claim's LIMIT, for one) looks cheaper than the generic one. In the claim
// bench that planning cost more than running them: 2.8 ms a claim.
// TestClaimAndCompletePlans checks that the generic plans use the intended
// indexes.
const genericPlans = `SELECT set_config('plan_cache_mode', 'force_generic_plan', true)`

// JobClaim claims queued jobs of one tag in priority order. It is one statement:
// the SKIP LOCKED pick over the partial index, the state change and its events,
// so no job is ever handed out twice, however many runners and servers claim.
// A runner gets only jobs of a tag it was registered with and, when it was
// limited to some projects, of those projects. Every hand-out takes the next
// claim number of its job, which its job token signs.
func (s *Store) JobClaim(ctx context.Context, p *JobClaimParams) ([]*ClaimedJob, error) {
	polled := p.PolledSince
	if polled.IsZero() {
		polled = time.Now()
	}
	start := time.Now()
	q := claimQuery(p.Limit)
	args := []any{p.RunnerID, p.Tag, polled, p.Lease, p.Acked, p.LeaseIncludesTimeout}
	it := &groupItem{ctx: ctx, key: p.RunnerID, arg: append([]any{q}, args...)}
	// Claims that arrive together (runners coming back for more) share a
	// commit: each claim statement sees what the earlier ones in the
	// transaction claimed, and skips what other transactions hold, so no job
	// is handed out twice. A claim alone is one statement, as ever: it keeps
	// the plans made for its arguments rather than cost an idle runner's poll
	// a statement more (genericPlans).
	it.fn = func(ctx context.Context, tx pgx.Tx, _ *notes) error {
		rows, _ := tx.Query(ctx, q, args...)
		jobs, err := pgx.CollectRows(rows, pgx.RowToAddrOfStructByName[ClaimedJob])
		it.res = jobs
		return interpret(err, "claim jobs")
	}
	it.direct = func() error {
		rows, _ := s.pool.Query(ctx, q, args...)
		jobs, err := pgx.CollectRows(rows, pgx.RowToAddrOfStructByName[ClaimedJob])
		it.res = jobs
		return interpret(err, "claim jobs")
	}
	if err := s.groupDo(&s.claims, it); err != nil {
		return nil, err
	}
	jobs, _ := it.res.([]*ClaimedJob)
	return s.OpenClaimed(ctx, p, start, jobs)
}

// jobClaimBatch runs the claims of items in tx in one round trip: each claim
// statement sees what the ones before it claimed.
func (s *Store) jobClaimBatch(ctx context.Context, tx pgx.Tx, items []*groupItem) error {
	b := &pgx.Batch{}
	b.Queue(genericPlans)
	for _, it := range items {
		arg := it.arg.([]any) // the statement, then its arguments
		b.Queue(arg[0].(string), arg[1:]...)
	}
	results := tx.SendBatch(ctx, b)
	defer results.Close()
	if _, err := results.Exec(); err != nil {
		return interpret(err, "claim jobs")
	}
	for _, it := range items {
		rows, _ := results.Query()
		jobs, err := pgx.CollectRows(rows, pgx.RowToAddrOfStructByName[ClaimedJob])
		if err != nil {
			return interpret(err, "claim jobs")
		}
		it.res = jobs
	}
	return interpret(results.Close(), "claim jobs")
}

// JobUnclaim puts claims whose answer never reached the runner back in the queue.
func (s *Store) JobUnclaim(ctx context.Context, ids []int64) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var n notes
		back, err := s.jobsStartOver(ctx, tx, &n, qUnclaim, ids, nil)
		if err != nil {
			return err
		}
		if err := dropHandoutLogs(ctx, tx, back); err != nil {
			return err
		}
		return n.flush(ctx, tx)
	})
}

// qUnclaim puts an unacknowledged claim back, same attempt. The hand-out is not
// counted: this server knows its answer never went out (the long poll died),
// which says nothing about whether answers reach the runners.
var qUnclaim = startOverQuery(attemptReset("j.attempt", "greatest(j.handouts - 1, 0)"),
	`j.status = 'running' AND NOT j.acked
	AND j.cancel_requested_at IS NULL -- cancelled meanwhile: the reaper ends it`)

// qRequeueUnacked puts a claim no runner acknowledged before the ack timeout
// back, same attempt. Its hand-out counts: after MaxHandouts of them the job
// fails instead (qFailUnacked).
var qRequeueUnacked = startOverQuery(attemptReset("j.attempt", "j.handouts"),
	`j.status = 'running' AND NOT j.acked AND j.lease_expires_at < now() AND j.handouts < @max_handouts
	AND j.cancel_requested_at IS NULL -- ended as cancelled by qEnd instead`)

// qRequeueLost starts a new attempt of a job whose runner stopped sending
// heartbeats, while it has attempts left; its reason says what became of the last.
var qRequeueLost = startOverQuery(attemptReset("j.attempt + 1", "0")+`,
	reason = 'attempt ' || j.attempt || ' was lost: its runner stopped sending heartbeats'`,
	`j.status = 'running' AND j.acked AND j.lease_expires_at < now() AND j.attempt < j.max_attempts
	AND j.cancel_requested_at IS NULL`)

// dropHandoutLogs deletes what the hand-outs of jobs put back in the queue wrote
// to their log: the attempt stays the same, so the next hand-out's log starts
// over at offset 0 in the same rows.
func dropHandoutLogs(ctx context.Context, tx pgx.Tx, back []changedJob) error {
	var ids []int64
	var attempts []int32
	for _, c := range back {
		ids, attempts = append(ids, c.ID), append(attempts, int32(c.Attempt))
	}
	if len(ids) == 0 {
		return nil
	}
	const q = `
		DELETE FROM log_chunks c USING unnest($1::bigint[], $2::int[]) AS h(job_id, attempt)
		WHERE c.job_id = h.job_id AND c.attempt = h.attempt`
	_, err := tx.Exec(ctx, q, ids, attempts)
	return interpret(err, "drop a hand-out's log")
}

// runnerEventSQL is the event.Runner of a runner that checked in, built in SQL
// from RunnerCheckIn's "r" CTE, spelled as event.Marshal spells it
// (TestRunnerCheckInEvent decodes it strictly).
const runnerEventSQL = `json_build_object('type', 'runner', 'runnerId', id, 'name', name,
	'tags', tags, 'lastCheckIn', last_check_in)::text`

// RunnerCheckIn records that a runner (and each of the tags it asked for) asked
// for work, and announces it. The runner's registered tags stay as they are: they
// bound what it may claim. It is one statement, its event built in SQL: a
// check-in alone costs no transaction of its own.
func (s *Store) RunnerCheckIn(ctx context.Context, runnerID int64, tags []string, version, os, arch string) error {
	const q = `
		WITH r AS (
			UPDATE runners SET last_check_in = now(),
				version = coalesce(nullif($3, ''), version), os = coalesce(nullif($4, ''), os),
				arch = coalesce(nullif($5, ''), arch)
			WHERE id = $1
			RETURNING id, name, tags, last_check_in
		), t AS (
			INSERT INTO tag_check_ins (tag, last_check_in) SELECT unnest($2::text[]), now()
			ON CONFLICT (tag) DO UPDATE SET last_check_in = excluded.last_check_in
		)
		SELECT count(pg_notify('` + ChannelEvents + `', ` + runnerEventSQL + `)) FROM r`
	checkIn := func(ctx context.Context, q2 interface {
		Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
	}) error {
		_, err := q2.Exec(ctx, q, runnerID, tags, version, os, arch)
		return interpret(err, "runner check-in") // a deleted runner notifies nothing
	}
	// Runners check in by the hundred when their long polls end together:
	// their check-ins share commits (groupcommit.go).
	return s.groupDo(&s.checkIns, &groupItem{ctx: ctx, key: runnerID,
		fn:     func(ctx context.Context, tx pgx.Tx, _ *notes) error { return checkIn(ctx, tx) },
		direct: func() error { return checkIn(ctx, s.pool) },
	})
}

// RunnersSeen records that runners still ask for work (a long poll of each is
// open, or just ended), and each of tags with them, and announces each runner:
// one statement for them all, however many there are.
func (s *Store) RunnersSeen(ctx context.Context, runnerIDs []int64, tags []string) error {
	const q = `
		WITH r AS (
			UPDATE runners SET last_check_in = now() WHERE id = ANY($1)
			RETURNING id, name, tags, last_check_in
		), t AS (
			INSERT INTO tag_check_ins (tag, last_check_in) SELECT unnest($2::text[]), now()
			ON CONFLICT (tag) DO UPDATE SET last_check_in = excluded.last_check_in
		)
		SELECT count(pg_notify('` + ChannelEvents + `', ` + runnerEventSQL + `)) FROM r`
	_, err := s.pool.Exec(ctx, q, runnerIDs, tags)
	return interpret(err, "runners seen")
}

// isRunning tests that a job runs, in statements that read one job by its
// key, written so that no plan answers it from jobs_running. A few running
// jobs among many finished ones rarely show in ANALYZE's sample; to a planner
// that believes none runs, reading jobs_running whole looked as cheap as the
// primary key, and each heartbeat, log append and completion read every
// running job's row to find its own (TestRunningJobStatementsReadByKey).
const isRunning = `(status = 'running') IS TRUE`

// Holder identifies who acts on a running job: the runner holding it (RunnerID)
// or the job's own token (RunnerID 0), always for one attempt. Claim is the
// hand-out a job token was made for (0: any hand-out of the attempt to RunnerID;
// a runner token names the runner, not a hand-out, and a runner that is handed
// a job it already runs keeps the first and ignores the second).
type Holder struct {
	JobID    int64
	Attempt  int
	RunnerID int64
	Claim    int
}

type heldJob struct {
	Status          string
	Attempt         int
	Claims          int
	RunnerID        *int64
	LogLength       int64
	HashState       []byte
	LogTruncated    bool
	SecretSealed    []byte
	CancelRequested bool
	Compat          bool
	EndedRecently   bool
	ExitCode        *int
	TraceParent     *string // tracing
}

// lockJob locks the job row and checks that h's attempt is the job's current one
// (for a runner, that it is the runner of that attempt; for a job token, that
// its hand-out is the current one), whatever its state.
func lockJob(ctx context.Context, tx pgx.Tx, h Holder) (*heldJob, error) {
	return scanHeldJob(tx.QueryRow(ctx, qLockJob, h.JobID), h)
}

const qLockJob = `SELECT ` + heldJobColumns + ` FROM jobs WHERE id = $1 FOR UPDATE`

// heldJobColumns are the columns of a heldJob, in heldJob.fields' order.
const heldJobColumns = `status, attempt, claims, runner_id, log_length, log_hash_state, log_truncated, secret_sealed,
	cancel_requested_at IS NOT NULL, compat, coalesce(ended_at > now() - interval '10 minutes', false), exit_code,
	trace_parent`

func (j *heldJob) fields() []any {
	return []any{&j.Status, &j.Attempt, &j.Claims, &j.RunnerID, &j.LogLength,
		&j.HashState, &j.LogTruncated, &j.SecretSealed, &j.CancelRequested, &j.Compat,
		&j.EndedRecently, &j.ExitCode, &j.TraceParent}
}

// scanHeldJob reads qLockJob's row and checks that it is h's attempt.
func scanHeldJob(row pgx.Row, h Holder) (*heldJob, error) {
	var j heldJob
	if err := row.Scan(j.fields()...); err != nil {
		return nil, interpret(err, "lock job")
	}
	return j.heldBy(h)
}

// heldBy returns j when it is h's attempt, and ErrGone otherwise.
func (j *heldJob) heldBy(h Holder) (*heldJob, error) {
	if j.Attempt != h.Attempt || (h.RunnerID != 0 && (j.RunnerID == nil || *j.RunnerID != h.RunnerID)) ||
		(h.Claim != 0 && j.Claims != h.Claim) {
		return nil, ErrGone
	}
	return j, nil
}

// Heartbeat is the answer to a heartbeat.
type Heartbeat struct {
	Status string
	Cancel bool
}

// JobHeartbeat extends the lease of a running job and acknowledges its claim; a
// runner heartbeating shows it is alive, so it may be given work again. The
// answer tells the runner to stop when the job was cancelled meanwhile. An
// attempt that is over (or not the holder's) gets ErrGone.
func (s *Store) JobHeartbeat(ctx context.Context, h Holder, lease time.Duration) (*Heartbeat, error) {
	const q = `
		WITH beat AS (
			UPDATE jobs SET lease_expires_at = now() + $4::interval, acked = true, handouts = 0
			WHERE id = $1 AND attempt = $2 AND ` + isRunning + ` AND ($3 = 0 OR runner_id = $3)
				AND ($5 = 0 OR claims = $5)
			RETURNING status, cancel_requested_at IS NOT NULL AS cancel, runner_id
		), alive AS (
			UPDATE runners SET lost_at = NULL WHERE id = (SELECT runner_id FROM beat) AND lost_at IS NOT NULL
		)
		SELECT status, cancel FROM beat`
	var hb Heartbeat
	err := s.pool.QueryRow(ctx, q, h.JobID, h.Attempt, h.RunnerID, lease, h.Claim).Scan(&hb.Status, &hb.Cancel)
	if err == pgx.ErrNoRows {
		if _, err := s.JobBriefGet(ctx, h.JobID); err != nil {
			return nil, err
		}
		return nil, ErrGone
	}
	if err != nil {
		return nil, interpret(err, "heartbeat")
	}
	return &hb, nil
}

// JobCompleteParams reports how a job's process ended.
type JobCompleteParams struct {
	Holder
	ExitCode  int
	LogLength *int64
	LogSHA256 *string
}

// JobComplete ends the holder's running attempt as succeeded (exit 0) or failed,
// or as cancelled when a cancel was asked for: the runner confirms the process
// is gone. An attempt that is over (completed, lost, timed out, cancelled past
// its grace) takes no complete: ErrGone, nothing changed. The log length and
// checksum the runner sent are compared with what was stored; a mismatch is
// recorded on the job.
func (s *Store) JobComplete(ctx context.Context, p *JobCompleteParams) (*Job, error) {
	it := &groupItem{ctx: ctx, key: p.JobID, arg: p}
	it.fn = func(ctx context.Context, tx pgx.Tx, n *notes) error {
		ended, err := s.jobCompleteAlone(ctx, tx, n, p)
		if ended != nil {
			it.res = ended
		}
		return err
	}
	if err := s.groupDo(&s.completes, it); err != nil {
		return nil, err
	}
	ended, _ := it.res.(*completedJob)
	if ended == nil {
		// The same complete again: answered with the job as it is.
		return s.JobGet(ctx, p.JobID)
	}
	traceEnded(ctx, ended.job, ended.traceParent)
	return ended.job, nil
}

// completedJob is a job a completion ended: its event, the trace it belongs
// to, and the answer (the job as the completion left it, read in the
// completion's transaction rather than in a round trip after it).
type completedJob struct {
	changed     changedJob
	traceParent *string
	job         *Job
}

// qCompletedJobs reads the jobs completions ended, for their answers.
var qCompletedJobs = jobSelect + ` WHERE j.id = ANY($1)`

// completeStatus is how a running job ends, as qCompleteRunning decides it
// from the job (j) and the runner's report (c): as its stop asked when it was
// cancelled, timed out when it failed past its deadline (the runner's own
// timer fired before the reaper's: the same verdict), failed on any other
// exit code but 0, and succeeded.
const completeStatus = `CASE WHEN j.cancel_requested_at IS NOT NULL THEN j.stop_status
		WHEN c.exit_code <> 0 AND j.started_at + j.timeout_seconds * interval '1 second' <= now() THEN 'timed_out'
		WHEN c.exit_code <> 0 THEN 'failed' ELSE 'succeeded' END`

// lengthMismatch is whether the log the server stored is not as long as the
// runner says it sent (a truncated log is shorter by design). The checksum is
// compared in Go (completeChecksums): SQL cannot finish a stored SHA-256 state.
const lengthMismatch = `coalesce(NOT j.log_truncated AND c.log_length <> j.log_length, false)`

// mismatchReason is a job's reason when its log differs from the runner's.
const mismatchReason = `the log the server stored differs from what the runner sent`

// qCompleteRunning ends the attempts of @ids that are running and held as
// their @attempts, @runners and @claims say (0: any runner or hand-out), each
// with its exit code (unnest keeps them in step): a completion's whole
// decision in one statement, so that it takes one round trip before its
// commit. It returns the jobs it ended; a job it did not end was not running
// as its report says (completeAgain decides those).
const qCompleteRunning = `
	UPDATE jobs j SET status = ` + completeStatus + `, exit_code = c.exit_code, ended_at = now(),
		lease_expires_at = NULL, log_mismatch = ` + lengthMismatch + `,
		reason = CASE WHEN ` + completeStatus + ` = 'timed_out' THEN 'timed out after ' || j.timeout_seconds || ' s'
			WHEN j.cancel_requested_at IS NOT NULL THEN j.reason
			WHEN ` + lengthMismatch + ` THEN '` + mismatchReason + `' ELSE '' END
	FROM unnest(@ids::bigint[], @attempts::int[], @runners::bigint[], @claims::int[], @exit_codes::int[],
			@log_lengths::bigint[]) AS c(id, attempt, runner_id, claims, exit_code, log_length)
	WHERE j.id = c.id AND ` + isRunning + ` AND j.attempt = c.attempt
		AND (c.runner_id = 0 OR j.runner_id = c.runner_id) AND (c.claims = 0 OR j.claims = c.claims)
	` + returningChanged + `, j.log_truncated, j.log_hash_state, j.log_mismatch, j.trace_parent`

// qCountDownSucceeded counts the jobs of $1 that this transaction made
// succeeded (their row versions carry its id: it makes no savepoint, whose
// row versions would carry their own) down in the jobs waiting for
// them, and queues those that wait for nothing else: a job waiting for several
// of them is counted down by as many. It is a statement after
// qCompleteRunning's, not a part of it: its snapshot, taken once that one has
// its locks, holds the jobs a retry or a submission made wait for them
// meanwhile (they lock what they wait for first).
const qCountDownSucceeded = `
	UPDATE jobs j SET
		pending_preceding = j.pending_preceding - d.n,
		status = CASE WHEN j.pending_preceding = d.n AND (j.earliest_start IS NULL OR j.earliest_start <= now())
			THEN 'queued' ELSE 'waiting' END,
		queued_at = CASE WHEN j.pending_preceding = d.n AND (j.earliest_start IS NULL OR j.earliest_start <= now())
			THEN now() END
	FROM (SELECT job_id, count(*)::int AS n FROM job_edges
		WHERE preceding_id IN (SELECT id FROM jobs
			WHERE id = ANY($1) AND status = 'succeeded' AND xmin = pg_current_xact_id()::xid)
		GROUP BY job_id ORDER BY job_id) d
	WHERE j.id = d.job_id AND j.status = 'waiting'
	` + returningChanged

// qCountDown counts a succeeded job down in the jobs waiting for it, and
// queues those that wait for nothing else (jobEnded).
const qCountDown = `
	UPDATE jobs j SET
		pending_preceding = j.pending_preceding - 1,
		status = CASE WHEN j.pending_preceding = 1 AND (j.earliest_start IS NULL OR j.earliest_start <= now())
			THEN 'queued' ELSE 'waiting' END,
		queued_at = CASE WHEN j.pending_preceding = 1 AND (j.earliest_start IS NULL OR j.earliest_start <= now())
			THEN now() END
	FROM job_edges e
	WHERE e.preceding_id = $1 AND j.id = e.job_id AND j.status = 'waiting'
	` + returningChanged

// completeArgs are qCompleteRunning's arguments.
type completeArgs struct {
	ids        []int64
	attempts   []int32
	runners    []int64
	claims     []int32
	exitCodes  []int32
	logLengths []*int64
}

func (a *completeArgs) add(p *JobCompleteParams) {
	a.ids, a.attempts = append(a.ids, p.JobID), append(a.attempts, int32(p.Attempt))
	a.runners, a.claims = append(a.runners, p.RunnerID), append(a.claims, int32(p.Claim))
	a.exitCodes, a.logLengths = append(a.exitCodes, int32(p.ExitCode)), append(a.logLengths, p.LogLength)
}

func (a *completeArgs) named() pgx.NamedArgs {
	return pgx.NamedArgs{"ids": a.ids, "attempts": a.attempts, "runners": a.runners, "claims": a.claims,
		"exit_codes": a.exitCodes, "log_lengths": a.logLengths}
}

// completions is what completeRunning did: the jobs it ended, by id, and the
// jobs it counted down, whose events come after every end's.
type completions struct {
	ended   map[int64]*completedJob
	counted []changedJob
}

// completeRunning ends the running attempts ps report on, counts the
// succeeded ones down in their dependants and reads the answers, in one round
// trip (BEGIN's, when it is the transaction's first); then it compares the
// log checksums. ps holds each job once, in id order: the order the update's
// nested loop over them locks their rows in, as other transitions lock
// several jobs (should another plan deadlock with one of them, the batch
// fails and its items run alone).
func (s *Store) completeRunning(ctx context.Context, tx pgx.Tx, ps []*JobCompleteParams) (*completions, error) {
	var args completeArgs
	for _, p := range ps {
		args.add(p)
	}
	b := &pgx.Batch{}
	b.Queue(genericPlans)
	b.Queue(qCompleteRunning, args.named())
	b.Queue(qCountDownSucceeded, args.ids)
	b.Queue(qCompletedJobs, args.ids)
	results := tx.SendBatch(ctx, b)
	defer results.Close()
	if _, err := results.Exec(); err != nil {
		return nil, interpret(err, "complete jobs")
	}
	done := &completions{ended: make(map[int64]*completedJob, len(ps))}
	digests := map[int64][]byte{}
	rows, _ := results.Query()
	for rows.Next() {
		var truncated, mismatch bool
		var c changedJob
		var hashState []byte
		var traceParent *string
		if err := rows.Scan(&c.ID, &c.Project, &c.Key, &c.Val, &c.Status, &c.Tag, &c.Attempt, &c.Earliest,
			&c.Now, &c.StartedAt, &truncated, &hashState, &mismatch, &traceParent); err != nil {
			rows.Close()
			return nil, interpret(err, "complete jobs")
		}
		done.ended[c.ID] = &completedJob{changed: c, traceParent: traceParent}
		if !truncated && !mismatch {
			digests[c.ID] = hashState
		}
	}
	if err := rows.Err(); err != nil {
		return nil, interpret(err, "complete jobs")
	}
	rows, _ = results.Query()
	counted, err := collectChanged(rows)
	if err != nil {
		return nil, interpret(err, "count down dependants")
	}
	done.counted = counted
	rows, _ = results.Query()
	jobs, err := collectJobs(rows)
	if err != nil {
		return nil, interpret(err, "read completed jobs")
	}
	if err := results.Close(); err != nil {
		return nil, interpret(err, "complete jobs")
	}
	for _, j := range jobs {
		if c := done.ended[j.ID]; c != nil {
			c.job = j
		}
	}
	var differ []int64
	for _, p := range ps {
		if state, ok := digests[p.JobID]; ok && p.LogSHA256 != nil && *p.LogSHA256 != logDigest(state) {
			differ = append(differ, p.JobID)
		}
	}
	if len(differ) > 0 {
		if err := s.completeChecksums(ctx, tx, done, differ); err != nil {
			return nil, err
		}
	}
	for _, c := range done.ended {
		if c.job == nil {
			return nil, errors.New("store: a completed job was not read back")
		}
	}
	return done, nil
}

// completeChecksums records on the jobs of ids, just ended, that their logs'
// checksums differ from the runners', and reads their answers again.
func (s *Store) completeChecksums(ctx context.Context, tx pgx.Tx, done *completions, ids []int64) error {
	const q = `
		UPDATE jobs SET log_mismatch = true,
			reason = CASE WHEN status = 'timed_out' OR cancel_requested_at IS NOT NULL THEN reason
				ELSE '` + mismatchReason + `' END
		WHERE id = ANY($1)`
	if _, err := tx.Exec(ctx, q, ids); err != nil {
		return interpret(err, "record log mismatch")
	}
	rows, _ := tx.Query(ctx, qCompletedJobs, ids)
	jobs, err := collectJobs(rows)
	if err != nil {
		return interpret(err, "read completed jobs")
	}
	for _, j := range jobs {
		done.ended[j.ID].job = j
	}
	return nil
}

// completeEnded records the event of a job a completion ended, in n, and
// cancels the jobs waiting for it unless it succeeded.
func (s *Store) completeEnded(ctx context.Context, tx pgx.Tx, n *notes, c *completedJob) error {
	n.jobChanged(c.changed)
	if c.changed.Status == StatusSucceeded {
		return nil
	}
	return s.jobEnded(ctx, tx, n, c.changed.ID, c.changed.Status)
}

// completeAgain decides a complete of a job qCompleteRunning did not end, with
// the job locked: the same complete again (its answer was lost) is answered
// again (nil, nothing changed); any other is refused.
func completeAgain(ctx context.Context, tx pgx.Tx, p *JobCompleteParams) error {
	j, err := lockJob(ctx, tx, p.Holder)
	if err != nil {
		var se *Error
		if errors.As(err, &se) {
			return refusal{err}
		}
		return err
	}
	if Ended(j.Status) && j.ExitCode != nil && *j.ExitCode == p.ExitCode && p.RunnerID != 0 {
		return nil
	}
	return refusal{ErrGone}
}

// jobCompleteAlone is JobComplete's transition in tx. It returns the job it
// ended, if it ended one.
func (s *Store) jobCompleteAlone(ctx context.Context, tx pgx.Tx, n *notes, p *JobCompleteParams) (*completedJob, error) {
	done, err := s.completeRunning(ctx, tx, []*JobCompleteParams{p})
	if err != nil {
		return nil, err
	}
	c := done.ended[p.JobID]
	if c == nil {
		return nil, completeAgain(ctx, tx, p)
	}
	if err := s.completeEnded(ctx, tx, n, c); err != nil {
		return nil, err
	}
	for _, d := range done.counted {
		n.jobChanged(d)
	}
	return c, nil
}

// jobCompleteBatch runs the completions of items (in job id order) in tx in
// one round trip and the same statements, however many they are
// (completeRunning). A
// failed or cancelled job's dependants are cancelled one job at a time, as
// alone; a completion qCompleteRunning did not end (refused, or the same
// again) is decided after with its job locked, and a second completion of a
// job in the batch as alone.
func (s *Store) jobCompleteBatch(ctx context.Context, tx pgx.Tx, items []*groupItem) error {
	var ps []*JobCompleteParams
	var refused, again []*groupItem
	first := make(map[int64]*groupItem, len(items))
	for _, it := range items {
		p := it.arg.(*JobCompleteParams)
		if first[p.JobID] != nil {
			again = append(again, it)
			continue
		}
		first[p.JobID] = it
		ps = append(ps, p)
	}
	done, err := s.completeRunning(ctx, tx, ps)
	if err != nil {
		return err
	}
	var last *groupItem
	for _, p := range ps {
		it := first[p.JobID]
		c := done.ended[p.JobID]
		if c == nil {
			refused = append(refused, it)
			continue
		}
		if err := s.completeEnded(ctx, tx, &it.notes, c); err != nil {
			return err
		}
		it.res, last = c, it
	}
	for _, d := range done.counted {
		last.notes.jobChanged(d)
	}
	for _, it := range refused {
		// Nothing this transaction does can make its job end as it reports.
		if it.err = completeAgain(ctx, tx, it.arg.(*JobCompleteParams)); !isRefusal(it.err) {
			return it.err
		}
	}
	for _, it := range again {
		p := it.arg.(*JobCompleteParams)
		if done.ended[p.JobID] != nil {
			// Its job just ended (and counted down its dependants).
			if it.err = completeAgain(ctx, tx, p); !isRefusal(it.err) {
				return it.err
			}
			continue
		}
		// The first completion of its job was another holder's, refused.
		c, err := s.jobCompleteAlone(ctx, tx, &it.notes, p)
		if !isRefusal(err) {
			return err
		}
		it.err = err
		if c != nil {
			it.res = c
		}
	}
	return nil
}

// isRefusal is whether err is nil or a refusal: the shared transaction is intact.
func isRefusal(err error) bool {
	var r refusal
	return err == nil || errors.As(err, &r)
}

// logDigest finishes a stored SHA-256 state into its hex digest.
func logDigest(state []byte) string {
	h := sha256.New()
	if len(state) > 0 {
		_ = h.(encoding.BinaryUnmarshaler).UnmarshalBinary(state)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// MaxHandouts is how often a job may be handed to runners without any of them
// acknowledging it before it fails: a claim answer that never arrives is not an
// attempt, but one that never arrives again and again is a broken set-up.
const MaxHandouts = 5

// JobsReap ends what ran out of time, as guarded updates, so several server
// processes may reap at once: claims never acknowledged go back to the queue
// (without costing an attempt), jobs whose lease expired are lost (and queued
// again while attempts remain), cancels the runner never confirmed end as
// cancelled after cancelGrace, jobs past their timeout are timed out. A runner
// that lost a lease is marked, so it gets no new work until it shows it is alive.
// It returns how many jobs it changed.
func (s *Store) JobsReap(ctx context.Context, cancelGrace time.Duration) (int, error) {
	changed := 0
	var finished []changedJob // Tracing: attempts this reap ended
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		finished = finished[:0]
		var n notes
		const qRunnersLost = `
			UPDATE runners r SET lost_at = now()
			FROM jobs j
			WHERE j.runner_id = r.id AND j.status = 'running' AND j.acked AND j.lease_expires_at < now()`
		if _, err := tx.Exec(ctx, qRunnersLost); err != nil {
			return interpret(err, "reap jobs")
		}
		const qFailUnacked = `
			UPDATE jobs j SET status = 'failed', ended_at = now(), runner_id = NULL, started_at = NULL,
				lease_expires_at = NULL, log_length = 0, log_hash_state = NULL, log_truncated = false,
				reason = 'handed to a runner ' || j.handouts ||
					' times and never acknowledged: the claim answers do not reach the runners'
			WHERE j.status = 'running' AND NOT j.acked AND j.lease_expires_at < now() AND j.handouts >= @max_handouts
				AND j.cancel_requested_at IS NULL -- ended as cancelled by qEnd instead
			` + returningChanged
		failed, err := s.collectChanges(ctx, tx, &n, qFailUnacked, pgx.NamedArgs{"max_handouts": MaxHandouts})
		if err != nil {
			return err
		}
		for _, c := range failed {
			if err := s.jobEnded(ctx, tx, &n, c.ID, c.Status); err != nil {
				return err
			}
		}
		const qUnacked = `
			SELECT id FROM jobs WHERE status = 'running' AND NOT acked AND lease_expires_at < now()
				AND cancel_requested_at IS NULL ORDER BY id FOR UPDATE`
		unackedIDs, err := lockedIDs(ctx, tx, qUnacked)
		if err != nil {
			return err
		}
		unacked, err := s.jobsStartOver(ctx, tx, &n, qRequeueUnacked, unackedIDs, pgx.NamedArgs{"max_handouts": MaxHandouts})
		if err != nil {
			return err
		}
		if err := dropHandoutLogs(ctx, tx, unacked); err != nil {
			return err
		}
		const qLost = `
			SELECT id, started_at FROM jobs WHERE status = 'running' AND acked AND lease_expires_at < now()
				AND attempt < max_attempts AND cancel_requested_at IS NULL ORDER BY id FOR UPDATE`
		var lostIDs []int64
		lostStarted := map[int64]*time.Time{}
		var lostID int64
		var lostAt *time.Time
		rows, _ := tx.Query(ctx, qLost)
		if _, err := pgx.ForEachRow(rows, []any{&lostID, &lostAt}, func() error {
			lostIDs = append(lostIDs, lostID)
			lostStarted[lostID] = lostAt
			return nil
		}); err != nil {
			return interpret(err, "reap jobs")
		}
		// The attempt that was lost is an event of its own, before the new one's.
		var lost notes
		retried, err := s.jobsStartOver(ctx, tx, &lost, qRequeueLost, lostIDs, nil)
		if err != nil {
			return err
		}
		for _, c := range retried {
			n.event(c.event(StatusLost, c.Attempt-1))
			lostAttempt := c
			lostAttempt.Status, lostAttempt.Attempt = StatusLost, c.Attempt-1
			finished = append(finished, lostAttempt)
			// The new attempt cleared the start: the lost one ran from the start read above.
			n.ended(c, StatusLost, false, lostStarted[c.ID])
		}
		n.merge(&lost)
		const qEnd = `
			UPDATE jobs j SET
				status = CASE WHEN j.cancel_requested_at IS NOT NULL THEN j.stop_status
					WHEN j.lease_expires_at < now() THEN 'lost' ELSE 'timed_out' END,
				reason = CASE WHEN j.cancel_requested_at IS NOT NULL
						THEN j.reason || ' (its runner did not confirm the process ended)'
					WHEN j.lease_expires_at < now()
						THEN 'lost on its last attempt: its runner stopped sending heartbeats'
					ELSE 'timed out after ' || j.timeout_seconds || ' s' END,
				ended_at = now(), lease_expires_at = NULL
			WHERE j.status = 'running' AND (j.lease_expires_at < now()
				OR j.started_at + j.timeout_seconds * interval '1 second' < now()
				OR j.cancel_requested_at < now() - $1::interval)
			` + returningChanged
		ends, err := s.collectChanges(ctx, tx, &n, qEnd, cancelGrace)
		if err != nil {
			return err
		}
		for _, e := range ends {
			if err := s.jobEnded(ctx, tx, &n, e.ID, e.Status); err != nil {
				return err
			}
		}
		changed = len(failed) + len(unacked) + len(retried) + len(ends)
		finished = append(append(finished, failed...), ends...)
		return n.flush(ctx, tx)
	})
	if err == nil {
		s.traceFinished(ctx, finished)
	}
	return changed, err
}

// lockedIDs runs q, a SELECT id … FOR UPDATE, and returns the ids.
func lockedIDs(ctx context.Context, tx pgx.Tx, q string) ([]int64, error) {
	rows, _ := tx.Query(ctx, q)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	return ids, interpret(err, "reap jobs")
}

// RunnerLostSince reports whether the runner lost a lease after since: it must
// show it is alive (a new poll, a heartbeat) before it gets work again.
func (s *Store) RunnerLostSince(ctx context.Context, runnerID int64, since time.Time) (bool, error) {
	var lost bool
	err := s.pool.QueryRow(ctx, `SELECT coalesce(lost_at >= $2, false) FROM runners WHERE id = $1`, runnerID, since).Scan(&lost)
	return lost, interpret(err, "runner lost")
}

// promoteLock is the advisory lock that serialises promotions across servers.
const promoteLock = 0x61757261_0001 // "aura", 1

// JobsPromoteDue queues the waiting jobs whose earliest start has come and whose
// preceding jobs all succeeded. Every server's timer fires at the same moment, so
// promotions take turns under an advisory lock: otherwise a second promoter still
// holds (and then skips) rows the first has queued and announced, and a claim
// woken by that announcement skips them as locked, leaving them to the next poll.
func (s *Store) JobsPromoteDue(ctx context.Context) (int, error) {
	var count int
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(promoteLock)); err != nil {
			return interpret(err, "promote lock")
		}
		// A statement after the lock sees what the previous holder committed.
		var n notes
		const q = `
			UPDATE jobs j SET status = 'queued', queued_at = statement_timestamp()
			WHERE j.status = 'waiting' AND j.pending_preceding = 0 AND j.earliest_start <= statement_timestamp()
			` + returningChanged
		changed, err := s.collectChanges(ctx, tx, &n, q)
		if err != nil {
			return err
		}
		count = len(changed)
		return n.flush(ctx, tx)
	})
	return count, err
}

// NextEarliestStartWait returns how long until the next waiting job becomes due,
// by the database's clock (server clocks may be skewed), or nil when none waits.
func (s *Store) NextEarliestStartWait(ctx context.Context) (*time.Duration, error) {
	const q = `SELECT min(earliest_start) - clock_timestamp() FROM jobs WHERE status = 'waiting' AND pending_preceding = 0`
	var d *time.Duration
	err := s.pool.QueryRow(ctx, q).Scan(&d)
	if d != nil && *d < 0 {
		*d = 0
	}
	return d, interpret(err, "next earliest start")
}

// jobStopRunning asks a running attempt to stop inside tx (its log outgrew the
// limit): the runner is told through its heartbeats and log appends, may still
// send the end of its log, and the job ends as failed with reason when the runner
// confirms (or the cancel grace passes).
func (s *Store) jobStopRunning(ctx context.Context, tx pgx.Tx, n *notes, id int64, attempt int, reason string) error {
	const q = `
		UPDATE jobs j SET cancel_requested_at = now(), stop_status = 'failed', reason = $3
		WHERE j.id = $1 AND j.attempt = $2 AND ` + isRunning + ` AND j.cancel_requested_at IS NULL
		` + returningChanged
	_, err := s.collectChanges(ctx, tx, n, q, id, attempt, reason)
	return err
}
