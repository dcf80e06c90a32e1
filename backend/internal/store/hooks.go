package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// Approval gates: a job named ApprovalJobName precedes the jobs of a delivery
// that needs a person's approval (a pull request from a fork). Its tag holds a
// space, which no runner can ask for, so it never runs: approving it ends it as
// succeeded and its dependents become runnable; cancelling it cancels them.
const (
	ApprovalJobName = "approval"
	ApprovalTag     = "aura approval"
)

// HookSubmitParams is what one webhook delivery submits.
type HookSubmitParams struct {
	IntegrationID int64
	ProjectID     int64
	// DedupeKeys name the delivery; if any was seen before, nothing is submitted.
	DedupeKeys []string
	// ReportSHA, when set, makes the integration report this commit's status.
	ReportSHA string
	Jobs      []*JobSubmitParams
	// Approval, when set, makes the jobs wait for approval; it is the gate's reason.
	Approval string
	// Project is the integration's project slug.
	Project string
	// By is who submits the jobs: the forge delivery.
	By *Actor
	// Message, when set, becomes the integration's last delivery (as
	// IntegrationsDelivered records it, at ReceivedAt) in the submission's
	// transaction, so that the integration shows it once the jobs are in.
	Message    string
	ReceivedAt time.Time
	// IntegrationVersion, when set, submits the delivery only if its
	// integration's settings are still those it was handled on
	// (IntegrationOpened.Version); else the answer is ErrIntegrationChanged.
	IntegrationVersion string
}

var errDuplicate = errors.New("duplicate delivery")

// qDeliverySeen records a delivery's dedupe keys and answers whether all were
// new, and whether its integration still has the settings it was handled on
// ($5, when not empty); only then does it note the commit to report.
const qDeliverySeen = `
	WITH cur AS (
		SELECT $5 = '' OR EXISTS (
			SELECT FROM integrations i JOIN projects p ON p.id = i.project_id
			WHERE i.id = $1 AND ` + integrationVersion + ` = $5) AS ok
	), seen AS (
		INSERT INTO webhook_deliveries (integration_id, dedupe_key)
		SELECT $1, k FROM unnest($2::text[]) AS k ON CONFLICT DO NOTHING
		RETURNING 1
	), fresh AS (
		SELECT count(*) = cardinality($2::text[]) AS ok FROM seen
	), reported AS (
		INSERT INTO forge_commits (project_id, sha, integration_id)
		SELECT $3, $4, $1 FROM fresh, cur WHERE fresh.ok AND cur.ok AND $4 <> ''
		ON CONFLICT DO NOTHING
	)
	SELECT fresh.ok, cur.ok FROM fresh, cur`

// seenCheck is the answer of qDeliverySeen, or of qDeliveriesSeen for one delivery.
type seenCheck struct{ fresh, current bool }

func (c seenCheck) err() error {
	switch {
	case !c.current: // first: on the current settings, it may not even be a delivery to submit
		return ErrIntegrationChanged
	case !c.fresh:
		return errDuplicate
	}
	return nil
}

// qDeliveriesSeen is qDeliverySeen for a group of deliveries, numbered n
// from 1: it records their dedupe keys (in key order, so that two groups
// repeating each other's keys cannot deadlock) and answers, per delivery,
// whether all its keys were new (a key the group holds twice counts for its
// first delivery only) and its integration unchanged. Those note their
// commits to report.
const qDeliveriesSeen = `
	WITH d AS (
		SELECT * FROM unnest($1::int[], $2::bigint[], $3::text[]) AS d(n, integration_id, dedupe_key)
	), seen AS (
		INSERT INTO webhook_deliveries (integration_id, dedupe_key)
		SELECT DISTINCT integration_id, dedupe_key FROM d ORDER BY 1, 2
		ON CONFLICT DO NOTHING
		RETURNING integration_id, dedupe_key
	), firsts AS (
		SELECT min(d.n) AS n FROM seen JOIN d USING (integration_id, dedupe_key)
		GROUP BY seen.integration_id, seen.dedupe_key
	), w AS (
		SELECT * FROM unnest($4::int[], $5::int[], $6::bigint[], $7::bigint[], $8::text[], $9::text[])
			AS w(n, keys, integration_id, project_id, sha, version)
	), cur AS (
		SELECT v.integration_id, v.version, v.version = '' OR EXISTS (
				SELECT FROM integrations i JOIN projects p ON p.id = i.project_id
				WHERE i.id = v.integration_id AND ` + integrationVersion + ` = v.version) AS current
		FROM (SELECT DISTINCT integration_id, version FROM w) v
	), fresh AS (
		SELECT w.n, w.integration_id, w.project_id, w.sha,
			(SELECT count(*) FROM firsts f WHERE f.n = w.n) = w.keys AS ok, cur.current
		FROM w JOIN cur USING (integration_id, version)
	), reported AS (
		INSERT INTO forge_commits (project_id, sha, integration_id)
		SELECT project_id, sha, integration_id FROM fresh WHERE ok AND current AND sha <> ''
		ORDER BY 1, 2, 3
		ON CONFLICT DO NOTHING
	)
	SELECT ok, current FROM fresh ORDER BY n`

// queueDeliveriesSeen queues qDeliveriesSeen for ps; checks gets each one's answer.
func queueDeliveriesSeen(b *pgx.Batch, ps []*HookSubmitParams, checks []seenCheck) {
	var dn []int32
	var dIntegration []int64
	var dKey []string
	wn, wKeys := make([]int32, len(ps)), make([]int32, len(ps))
	wIntegration, wProject, wSHA, wVersion := make([]int64, len(ps)), make([]int64, len(ps)), make([]string, len(ps)), make([]string, len(ps))
	for i, p := range ps {
		for _, k := range p.DedupeKeys {
			dn, dIntegration, dKey = append(dn, int32(i+1)), append(dIntegration, p.IntegrationID), append(dKey, k)
		}
		wn[i], wKeys[i] = int32(i+1), int32(len(p.DedupeKeys))
		wIntegration[i], wProject[i], wSHA[i], wVersion[i] = p.IntegrationID, p.ProjectID, p.ReportSHA, p.IntegrationVersion
	}
	b.Queue(qDeliveriesSeen, dn, dIntegration, dKey, wn, wKeys, wIntegration, wProject, wSHA, wVersion).Query(func(rows pgx.Rows) error {
		i := 0
		for rows.Next() {
			if i == len(checks) {
				return fmt.Errorf("more answers than deliveries")
			}
			if err := rows.Scan(&checks[i].fresh, &checks[i].current); err != nil {
				return err
			}
			i++
		}
		return rows.Err()
	})
}

// queueDelivered queues the write of ps' messages as their integrations'
// last deliveries (IntegrationsDelivered's statement), if any has one.
func queueDelivered(b *pgx.Batch, ps []*HookSubmitParams) {
	latest := map[int64]Delivered{}
	for _, p := range ps {
		if p.Message == "" {
			continue
		}
		at := p.ReceivedAt
		if at.IsZero() {
			at = time.Now()
		}
		if d, ok := latest[p.IntegrationID]; !ok || !at.Before(d.At) {
			latest[p.IntegrationID] = Delivered{IntegrationID: p.IntegrationID, Project: p.Project, Message: p.Message, At: at}
		}
	}
	if len(latest) == 0 {
		return
	}
	ds := slices.SortedFunc(maps.Values(latest), func(a, b Delivered) int { return cmp.Compare(a.IntegrationID, b.IntegrationID) })
	b.Queue(qIntegrationsDelivered, deliveredArgs(ds)...)
}

// HookSubmitResult is what HookSubmitGroup did with one delivery, as
// HookSubmit answers it.
type HookSubmitResult struct {
	Jobs      []*Job
	Duplicate bool
	Err       error
}

// HookSubmitGroup submits deliveries (none waiting for approval) in one
// transaction, so that concurrent deliveries share one commit: each
// PostgreSQL commit that notifies waits for the one before it to be durable,
// one by one. The group costs the round trips of one submission: its
// deliveries are recorded in the first, with the jobs' entities, and the
// integrations' last deliveries written in the last, with the commit. Each
// delivery is refused as a duplicate on its own (also when it repeats
// another of the group): then the transaction is rolled back and the group
// submitted again without its duplicates, which leave nothing written, as
// HookSubmit's do. Should the group fail otherwise, every delivery is
// submitted alone (HookSubmit): one that cannot be submitted fails itself
// only, and nothing of the group stays written.
func (s *Store) HookSubmitGroup(ctx context.Context, ps []*HookSubmitParams) []HookSubmitResult {
	out := make([]HookSubmitResult, len(ps))
	alone := func(idx []int) []HookSubmitResult {
		for _, i := range idx {
			out[i].Jobs, out[i].Duplicate, out[i].Err = s.HookSubmit(ctx, ps[i])
		}
		return out
	}
	idx := make([]int, len(ps))
	for i := range ps {
		idx[i] = i
	}
	if len(ps) == 1 {
		return alone(idx)
	}
	for _, p := range ps {
		if p.Approval != "" || len(p.Jobs) == 0 {
			return alone(idx)
		}
		for _, j := range p.Jobs {
			j.SubmittedBy = p.By
		}
	}
	for len(idx) > 0 {
		group := make([]*HookSubmitParams, len(idx))
		for k, i := range idx {
			group[k] = ps[i]
		}
		checks, jobs, err := s.hookSubmitGroupTx(ctx, group)
		if errors.Is(err, errDuplicate) {
			var next []int
			for k, i := range idx {
				switch err := checks[k].err(); {
				case err == nil:
					next = append(next, i)
				case errors.Is(err, errDuplicate):
					out[i].Duplicate = true
				default:
					out[i].Err = err
				}
			}
			idx = next
			continue
		}
		if err != nil {
			return alone(idx)
		}
		for _, i := range idx {
			n := len(ps[i].Jobs)
			out[i].Jobs, jobs = jobs[:n:n], jobs[n:]
		}
		break
	}
	return out
}

// hookSubmitGroupTx submits the jobs of ps in one transaction, or, if any of
// ps is a duplicate or handled on settings that changed, rolls it back and
// returns errDuplicate with the check of each.
func (s *Store) hookSubmitGroupTx(ctx context.Context, ps []*HookSubmitParams) (checks []seenCheck, jobs []*Job, err error) {
	// One submission of the deliveries' jobs, each delivery's names
	// resolved among its own jobs.
	var params []*JobSubmitParams
	var order []int
	var internal [][]int
	for _, p := range ps {
		o, in, err := batchOrder(p.Jobs)
		if err != nil {
			return nil, nil, err
		}
		base := len(params)
		for _, k := range o {
			order = append(order, base+k)
		}
		for _, pre := range in {
			shifted := make([]int, len(pre))
			for k, j := range pre {
				shifted[k] = base + j
			}
			internal = append(internal, shifted)
		}
		params = append(params, p.Jobs...)
	}
	checks = make([]seenCheck, len(ps))
	extra := &submitExtra{
		first: func(b *pgx.Batch) { queueDeliveriesSeen(b, ps, checks) },
		checked: func() error {
			for _, c := range checks {
				if c.err() != nil {
					return errDuplicate
				}
			}
			return nil
		},
		last:   func(b *pgx.Batch) { queueDelivered(b, ps) },
		commit: true,
	}
	err = s.inTxCommitting(ctx, func(tx pgx.Tx) error {
		var err error
		jobs, err = s.jobSubmitTx(ctx, tx, params, order, internal, extra)
		return err
	})
	return checks, jobs, err
}

// HookSubmit submits a delivery's jobs in one transaction with its dedupe keys:
// duplicate is true (and nothing is written) when a key was seen before.
func (s *Store) HookSubmit(ctx context.Context, p *HookSubmitParams) (jobs []*Job, duplicate bool, err error) {
	params := p.Jobs
	if p.Approval != "" && len(params) > 0 {
		first := params[0]
		gate := &JobSubmitParams{
			JobSpec: JobSpec{Name: ApprovalJobName, Cmd: "approve", Tag: ApprovalTag,
				TimeoutSeconds: first.TimeoutSeconds, MaxAttempts: 1},
			ProjectID: first.ProjectID, ProjectSlug: first.ProjectSlug, EntityKey: first.EntityKey,
			EntityVal: first.EntityVal, Collections: first.Collections,
		}
		for _, j := range params {
			j.PrecedingNames = append(j.PrecedingNames, ApprovalJobName)
		}
		params = append([]*JobSubmitParams{gate}, params...)
	}
	for _, j := range params {
		j.SubmittedBy = p.By
	}
	order, internal, err := batchOrder(params)
	if err != nil {
		return nil, false, err
	}
	// The delivery is recorded (refused if any key was seen) and the commit to
	// report noted in the first round trip of the submission; the
	// integration's last delivery, a row every delivery shares, is written
	// in the last, so that its lock is held only until the commit.
	var check seenCheck
	extra := &submitExtra{
		first: func(b *pgx.Batch) {
			b.Queue(qDeliverySeen, p.IntegrationID, p.DedupeKeys, p.ProjectID, p.ReportSHA, p.IntegrationVersion).QueryRow(func(row pgx.Row) error {
				return row.Scan(&check.fresh, &check.current)
			})
		},
		checked: func() error { return check.err() },
		last:    func(b *pgx.Batch) { queueDelivered(b, []*HookSubmitParams{p}) },
		// Nothing follows the submission but the approval's gate.
		commit: p.Approval == "",
	}
	err = s.inTxCommitting(ctx, func(tx pgx.Tx) error {
		if len(params) == 0 {
			b := &pgx.Batch{}
			extra.first(b)
			if err := tx.SendBatch(ctx, b).Close(); err != nil {
				return interpret(err, "record delivery")
			}
			if err := extra.checked(); err != nil {
				return err
			}
			b = &pgx.Batch{}
			extra.last(b)
			return interpret(tx.SendBatch(ctx, b).Close(), "record delivery")
		}
		var err error
		if jobs, err = s.jobSubmitTx(ctx, tx, params, order, internal, extra); err != nil {
			return err
		}
		if p.Approval != "" {
			var n notes
			const q = `
				UPDATE jobs j SET status = 'waiting', queued_at = NULL, reason = $2
				WHERE j.id = $1
				` + returningChanged
			if _, err := s.collectChanges(ctx, tx, &n, q, jobs[0].ID, p.Approval); err != nil {
				return err
			}
			if err := n.flush(ctx, tx); err != nil {
				return err
			}
			jobs[0].Status, jobs[0].Reason, jobs[0].QueuedAt = StatusWaiting, p.Approval, nil
			jobs[0].WaitingFor = []JobRef{}
			for _, j := range jobs[1:] {
				for k := range j.WaitingFor {
					if j.WaitingFor[k].ID == jobs[0].ID {
						j.WaitingFor[k].Status = StatusWaiting
					}
				}
			}
		}
		return nil
	})
	if errors.Is(err, errDuplicate) {
		return nil, true, nil
	}
	return jobs, false, err
}

// JobApprove approves the approval gate of job id (the gate itself or a job
// waiting for it): the gate succeeds and the jobs behind it become runnable.
// The gate and the jobs behind it record by as their approver.
func (s *Store) JobApprove(ctx context.Context, id int64, by *Actor) (*Job, error) {
	if by == nil {
		by = SystemActor
	}
	var gateID int64
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		const qGate = `
			SELECT id FROM jobs
			WHERE tag = $2 AND status = 'waiting'
				AND (id = $1 OR id IN (SELECT preceding_id FROM job_edges WHERE job_id = $1))
			ORDER BY id LIMIT 1 FOR UPDATE`
		switch err := tx.QueryRow(ctx, qGate, id, ApprovalTag).Scan(&gateID); {
		case errors.Is(err, pgx.ErrNoRows):
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT true FROM jobs WHERE id = $1`, id).Scan(&exists); err != nil {
				return interpret(err, "approve job")
			}
			return &Error{Kind: Conflict, Message: fmt.Sprintf("job %d waits for no approval", id)}
		case err != nil:
			return interpret(err, "approve job")
		}
		var n notes
		const q = `
			UPDATE jobs j SET status = 'succeeded', reason = $2, started_at = now(), ended_at = now(), exit_code = 0,
				approved_by = jsonb_set($3::jsonb, '{at}', to_jsonb(now()))
			WHERE j.id = $1
			` + returningChanged
		if _, err := s.collectChanges(ctx, tx, &n, q, gateID, "approved by "+by.Name, actorJSON(by)); err != nil {
			return err
		}
		const qBehind = `
			UPDATE jobs SET approved_by = jsonb_set($2::jsonb, '{at}', to_jsonb(now()))
			WHERE id IN (SELECT job_id FROM job_edges WHERE preceding_id = $1)`
		if _, err := tx.Exec(ctx, qBehind, gateID, actorJSON(by)); err != nil {
			return interpret(err, "approve job")
		}
		if err := s.jobEnded(ctx, tx, &n, gateID, StatusSucceeded); err != nil {
			return err
		}
		return n.flush(ctx, tx)
	})
	if err != nil {
		return nil, err
	}
	return s.JobGet(ctx, gateID)
}

// DeliveryRetention is how long a delivery is remembered to refuse its
// redelivery: forges redeliver within days, so a month is plenty.
const DeliveryRetention = 30 * 24 * time.Hour

// pruneBatch bounds the rows one prune statement deletes, so each is short.
const pruneBatch = 10000

// WebhookDeliveriesPrune forgets deliveries received before now − age, in
// short batches, and returns how many it forgot.
func (s *Store) WebhookDeliveriesPrune(ctx context.Context, age time.Duration) (int64, error) {
	const q = `
		DELETE FROM webhook_deliveries WHERE ctid IN (
			SELECT ctid FROM webhook_deliveries WHERE received_at < now() - make_interval(secs => $1) LIMIT $2)`
	var total int64
	for {
		tag, err := s.pool.Exec(ctx, q, age.Seconds(), pruneBatch)
		if err != nil {
			return total, interpret(err, "prune webhook deliveries")
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < pruneBatch {
			return total, nil
		}
	}
}
