package store

import (
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ClaimedJob is a job handed to a runner, with everything it needs to run it.
type ClaimedJob struct {
	ID             int64             `db:"id"`
	Attempt        int               `db:"attempt"`
	Project        string            `db:"project"`
	EntityKey      string            `db:"entity_key"`
	EntityVal      string            `db:"entity_val"`
	Name           string            `db:"name"`
	Cmd            string            `db:"cmd"`
	Env            map[string]string `db:"env"`
	SecretEnv      map[string]string `db:"secret_env"`
	Tag            string            `db:"tag"`
	TimeoutSeconds int               `db:"timeout_seconds"`
	Priority       int               `db:"priority"`
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
}

// JobClaim claims queued jobs of one tag in priority order. It is one statement:
// the SKIP LOCKED pick over the partial index, the state change and its events,
// so no job is ever handed out twice, however many runners and servers claim.
func (s *Store) JobClaim(ctx context.Context, p *JobClaimParams) ([]*ClaimedJob, error) {
	const q = `
		WITH picked AS (
			SELECT id FROM jobs
			WHERE status = 'queued' AND tag = $2
			ORDER BY priority DESC, id
			LIMIT $3
			FOR UPDATE SKIP LOCKED
		), claimed AS (
			UPDATE jobs j SET status = 'running', runner_id = $1, started_at = now(), acked = $5,
				lease_expires_at = now() + $4::interval
					+ CASE WHEN $6 THEN j.timeout_seconds * interval '1 second' ELSE interval '0' END
			FROM picked, projects p, entities e
			WHERE j.id = picked.id AND p.id = j.project_id AND e.id = j.entity_id
			RETURNING j.id, j.attempt, p.slug AS project, e.key AS entity_key, e.value AS entity_val,
				j.name, j.cmd, j.env, j.secret_env, j.tag, j.timeout_seconds, j.priority
		), notified AS (
			SELECT count(pg_notify('` + ChannelEvents + `', ` + claimedJobEventSQL + `)) AS n
			FROM claimed
		)
		SELECT claimed.* FROM claimed, notified ORDER BY priority DESC, id`
	rows, _ := s.pool.Query(ctx, q, p.RunnerID, p.Tag, p.Limit, p.Lease, p.Acked, p.LeaseIncludesTimeout)
	jobs, err := pgx.CollectRows(rows, pgx.RowToAddrOfStructByName[ClaimedJob])
	return jobs, interpret(err, "claim jobs")
}

// JobUnclaim puts claims whose answer never reached the runner back in the queue.
func (s *Store) JobUnclaim(ctx context.Context, ids []int64) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var n notes
		const q = `
			UPDATE jobs j SET status = 'queued', runner_id = NULL, started_at = NULL,
				lease_expires_at = NULL, queued_at = now()
			FROM projects p, entities en
			WHERE j.id = ANY($1) AND j.status = 'running' AND NOT j.acked
				AND p.id = j.project_id AND en.id = j.entity_id
			` + returningChanged
		if _, err := s.collectChanges(ctx, tx, &n, q, ids); err != nil {
			return err
		}
		return n.flush(ctx, tx)
	})
}

// RunnerCheckIn records that a runner (and each of its tags) asked for work, and
// announces it.
func (s *Store) RunnerCheckIn(ctx context.Context, runnerID int64, tags []string, version, os, arch string) error {
	const q = `
		WITH r AS (
			UPDATE runners SET last_check_in = now(), tags = $2,
				version = coalesce(nullif($3, ''), version), os = coalesce(nullif($4, ''), os),
				arch = coalesce(nullif($5, ''), arch)
			WHERE id = $1
			RETURNING id, name, tags, last_check_in
		), t AS (
			INSERT INTO tag_check_ins (tag, last_check_in) SELECT unnest($2::text[]), now()
			ON CONFLICT (tag) DO UPDATE SET last_check_in = excluded.last_check_in
		)
		SELECT id, name, tags, last_check_in FROM r`
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var e RunnerEvent
		err := tx.QueryRow(ctx, q, runnerID, tags, version, os, arch).Scan(&e.RunnerID, &e.Name, &e.Tags, &e.LastCheckIn)
		if err == pgx.ErrNoRows {
			return nil // deleted meanwhile
		}
		if err != nil {
			return interpret(err, "runner check-in")
		}
		var n notes
		n.event(e)
		return n.flush(ctx, tx)
	})
}

// Holder identifies who acts on a running job: the runner holding it (RunnerID)
// or the job's own token (RunnerID 0), always for one attempt.
type Holder struct {
	JobID    int64
	Attempt  int
	RunnerID int64
}

type heldJob struct {
	Status       string
	Attempt      int
	RunnerID     *int64
	LogLength    int64
	HashState    []byte
	LogTruncated bool
	SecretEnv    map[string]string
	PastDeadline bool
}

// lockHeld locks the job row and checks that h still holds it: ErrGone when the
// attempt was superseded or another runner holds it now.
func lockHeld(ctx context.Context, tx pgx.Tx, h Holder) (*heldJob, error) {
	const q = `
		SELECT status, attempt, runner_id, log_length, log_hash_state, log_truncated, secret_env,
			coalesce(started_at + timeout_seconds * interval '1 second' <= now(), false)
		FROM jobs WHERE id = $1 FOR UPDATE`
	var j heldJob
	err := tx.QueryRow(ctx, q, h.JobID).Scan(&j.Status, &j.Attempt, &j.RunnerID, &j.LogLength,
		&j.HashState, &j.LogTruncated, &j.SecretEnv, &j.PastDeadline)
	if err != nil {
		return nil, interpret(err, "lock job")
	}
	if j.Attempt != h.Attempt || (h.RunnerID != 0 && (j.RunnerID == nil || *j.RunnerID != h.RunnerID)) {
		return nil, ErrGone
	}
	return &j, nil
}

// Heartbeat is the answer to a heartbeat.
type Heartbeat struct {
	Status string
	Cancel bool
}

// JobHeartbeat extends the lease of a running job and acknowledges its claim. The
// answer tells the runner to stop when the job was cancelled or timed out meanwhile.
func (s *Store) JobHeartbeat(ctx context.Context, h Holder, lease time.Duration) (*Heartbeat, error) {
	const q = `
		UPDATE jobs SET lease_expires_at = now() + $4::interval, acked = true
		WHERE id = $1 AND attempt = $2 AND status = 'running' AND ($3 = 0 OR runner_id = $3)
		RETURNING status`
	var status string
	err := s.pool.QueryRow(ctx, q, h.JobID, h.Attempt, h.RunnerID, lease).Scan(&status)
	if err == nil {
		return &Heartbeat{Status: status}, nil
	}
	if err != pgx.ErrNoRows {
		return nil, interpret(err, "heartbeat")
	}
	// Not running under this attempt: tell the holder why.
	var attempt int
	var runnerID *int64
	if err := s.pool.QueryRow(ctx, `SELECT status, attempt, runner_id FROM jobs WHERE id = $1`, h.JobID).Scan(&status, &attempt, &runnerID); err != nil {
		return nil, interpret(err, "heartbeat")
	}
	if attempt != h.Attempt || (h.RunnerID != 0 && (runnerID == nil || *runnerID != h.RunnerID)) || status == StatusQueued {
		return nil, ErrGone
	}
	return &Heartbeat{Status: status, Cancel: true}, nil
}

// JobCompleteParams reports how a job's process ended.
type JobCompleteParams struct {
	Holder
	ExitCode  int
	LogLength *int64
	LogSHA256 *string
	// Compat lets a 0.4 runner finish a job it never claimed (0.4 allowed it).
	Compat bool
}

// JobComplete ends a running job as succeeded (exit 0) or failed. Completing an
// attempt that already ended (twice, or after a cancel) changes nothing. The log
// length and checksum the runner sent are compared with what was stored; a
// mismatch is recorded on the job.
func (s *Store) JobComplete(ctx context.Context, p *JobCompleteParams) (*Job, error) {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		hold := p.Holder
		if p.Compat {
			hold.RunnerID = 0 // any 0.4 runner may finish a job, claimed or not
		}
		j, err := lockHeld(ctx, tx, hold)
		if err != nil {
			return err
		}
		running := j.Status == StatusRunning || (p.Compat && !Ended(j.Status))
		if !running {
			// Ended meanwhile (cancelled, timed out): keep the verdict, note how the process ended.
			_, err := tx.Exec(ctx, `UPDATE jobs SET exit_code = $2 WHERE id = $1 AND exit_code IS NULL`, p.JobID, p.ExitCode)
			return interpret(err, "complete job")
		}
		status := StatusSucceeded
		if p.ExitCode != 0 {
			status = StatusFailed
			if j.PastDeadline {
				// The runner's own timer fired before the reaper's: same verdict.
				status = StatusTimedOut
			}
		}
		mismatch := false
		if !j.LogTruncated {
			if p.LogLength != nil && *p.LogLength != j.LogLength {
				mismatch = true
			}
			if p.LogSHA256 != nil && *p.LogSHA256 != logDigest(j.HashState) {
				mismatch = true
			}
		}
		const q = `
			UPDATE jobs j SET status = $2, exit_code = $3, ended_at = now(), lease_expires_at = NULL,
				log_mismatch = $4, started_at = coalesce(j.started_at, now()), runner_id = coalesce(j.runner_id, nullif($5, 0)),
				reason = CASE WHEN $2 = 'timed_out' THEN 'timed out after ' || j.timeout_seconds || ' s'
					WHEN $4 THEN 'the log the server stored differs from what the runner sent' ELSE '' END
			FROM projects p, entities en
			WHERE j.id = $1 AND p.id = j.project_id AND en.id = j.entity_id
			` + returningChanged
		var n notes
		if _, err := s.collectChanges(ctx, tx, &n, q, p.JobID, status, p.ExitCode, mismatch, p.RunnerID); err != nil {
			return err
		}
		if err := s.jobEnded(ctx, tx, &n, p.JobID, status); err != nil {
			return err
		}
		return n.flush(ctx, tx)
	})
	if err != nil {
		return nil, err
	}
	return s.JobGet(ctx, p.JobID)
}

// logDigest finishes a stored SHA-256 state into its hex digest.
func logDigest(state []byte) string {
	h := sha256.New()
	if len(state) > 0 {
		_ = h.(encoding.BinaryUnmarshaler).UnmarshalBinary(state)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// JobsReap ends what ran out of time, as guarded updates, so several server
// processes may reap at once: claims never acknowledged go back to the queue,
// jobs whose lease expired are lost (and queued again while attempts remain),
// jobs past their timeout are timed out. It returns how many jobs it changed.
func (s *Store) JobsReap(ctx context.Context) (int, error) {
	changed := 0
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var n notes
		// A fresh attempt number fences off the claim that never arrived; it does not count as a try.
		const qUnacked = `
			UPDATE jobs j SET status = 'queued', attempt = j.attempt + 1, max_attempts = j.max_attempts + 1,
				runner_id = NULL, started_at = NULL, lease_expires_at = NULL, queued_at = now(),
				log_length = 0, log_hash_state = NULL
			FROM projects p, entities en
			WHERE j.status = 'running' AND NOT j.acked AND j.lease_expires_at < now()
				AND p.id = j.project_id AND en.id = j.entity_id
			` + returningChanged
		requeued, err := s.collectChanges(ctx, tx, &n, qUnacked)
		if err != nil {
			return err
		}
		const qRetryLost = `
			UPDATE jobs j SET status = 'queued', attempt = j.attempt + 1, runner_id = NULL,
				started_at = NULL, lease_expires_at = NULL, queued_at = now(), acked = false,
				log_length = 0, log_hash_state = NULL, log_truncated = false,
				reason = 'attempt ' || j.attempt || ' was lost: its runner stopped sending heartbeats'
			FROM projects p, entities en
			WHERE j.status = 'running' AND j.acked AND j.lease_expires_at < now() AND j.attempt < j.max_attempts
				AND p.id = j.project_id AND en.id = j.entity_id
			` + returningChanged
		// The attempt that was lost is an event of its own, before the new one's.
		var lost notes
		retried, err := s.collectChanges(ctx, tx, &lost, qRetryLost)
		if err != nil {
			return err
		}
		for _, c := range retried {
			n.event(c.event(StatusLost, c.Attempt-1))
		}
		n.merge(&lost)
		const qEnd = `
			UPDATE jobs j SET
				status = CASE WHEN j.lease_expires_at < now() THEN 'lost' ELSE 'timed_out' END,
				reason = CASE WHEN j.lease_expires_at < now()
					THEN 'lost on its last attempt: its runner stopped sending heartbeats'
					ELSE 'timed out after ' || j.timeout_seconds || ' s' END,
				ended_at = now(), lease_expires_at = NULL
			FROM projects p, entities en
			WHERE j.status = 'running' AND (j.lease_expires_at < now()
				OR j.started_at + j.timeout_seconds * interval '1 second' < now())
				AND p.id = j.project_id AND en.id = j.entity_id
			` + returningChanged
		ends, err := s.collectChanges(ctx, tx, &n, qEnd)
		if err != nil {
			return err
		}
		for _, e := range ends {
			if err := s.jobEnded(ctx, tx, &n, e.ID, e.Status); err != nil {
				return err
			}
		}
		changed = len(requeued) + len(retried) + len(ends)
		return n.flush(ctx, tx)
	})
	return changed, err
}

// JobsPromoteDue queues the waiting jobs whose earliest start has come and whose
// preceding jobs all succeeded.
func (s *Store) JobsPromoteDue(ctx context.Context) (int, error) {
	var count int
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var n notes
		const q = `
			UPDATE jobs j SET status = 'queued', queued_at = now()
			FROM projects p, entities en
			WHERE j.status = 'waiting' AND j.pending_preceding = 0 AND j.earliest_start <= now()
				AND p.id = j.project_id AND en.id = j.entity_id
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

// NextEarliestStart returns when the next waiting job becomes due, or nil.
func (s *Store) NextEarliestStart(ctx context.Context) (*time.Time, error) {
	const q = `SELECT min(earliest_start) FROM jobs WHERE status = 'waiting' AND pending_preceding = 0`
	var t *time.Time
	err := s.pool.QueryRow(ctx, q).Scan(&t)
	return t, interpret(err, "next earliest start")
}

// jobFailRunning fails a running attempt with reason inside tx (a log over its limit).
func (s *Store) jobFailRunning(ctx context.Context, tx pgx.Tx, n *notes, id int64, attempt int, reason string) error {
	const q = `
		UPDATE jobs j SET status = 'failed', reason = $3, ended_at = now(), lease_expires_at = NULL
		FROM projects p, entities en
		WHERE j.id = $1 AND j.attempt = $2 AND j.status = 'running'
			AND p.id = j.project_id AND en.id = j.entity_id
		` + returningChanged
	changed, err := s.collectChanges(ctx, tx, n, q, id, attempt, reason)
	if err != nil || len(changed) == 0 {
		return err
	}
	if err := s.jobEnded(ctx, tx, n, id, StatusFailed); err != nil {
		return fmt.Errorf("store: fail job: %w", err)
	}
	return nil
}
