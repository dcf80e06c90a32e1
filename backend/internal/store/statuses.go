package store

import (
	"context"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aura-ci/aura/backend/internal/event"
)

// statusMarks collects the commit entities a transaction changed, so the same
// transaction bumps their rows in status_outbox: a status to report is never
// lost between a committed change and the sender.
type statusMarks struct {
	projects, shas []string
	seen           map[[2]string]bool
}

func (m *statusMarks) add(project, key, val string) {
	if key != "commit" {
		return // only commit entities come from forges
	}
	k := [2]string{project, val}
	if m.seen[k] {
		return
	}
	if m.seen == nil {
		m.seen = map[[2]string]bool{}
	}
	m.seen[k] = true
	m.projects = append(m.projects, project)
	m.shas = append(m.shas, val)
}

func (m *statusMarks) merge(other *statusMarks) {
	for i := range other.projects {
		m.add(other.projects[i], "commit", other.shas[i])
	}
}

// statusMarkQuery bumps the outbox row of every reporting integration of the
// changed commits. Rows are taken in a fixed order so concurrent transitions
// never deadlock on them; a row in retry backoff keeps its schedule.
const statusMarkQuery = `
	INSERT INTO status_outbox AS o (integration_id, project_id, sha)
	SELECT DISTINCT fc.integration_id, fc.project_id, fc.sha
	FROM unnest($1::text[], $2::text[]) AS t(project, sha)
	JOIN projects p ON p.slug = t.project
	JOIN forge_commits fc ON fc.project_id = p.id AND fc.sha = t.sha
	JOIN integrations i ON i.id = fc.integration_id AND i.api_url <> '' AND i.token_sealed IS NOT NULL
	ORDER BY 1, 2, 3
	ON CONFLICT (integration_id, project_id, sha) DO UPDATE SET
		version = o.version + 1,
		next_attempt_at = CASE WHEN o.attempts > 0 THEN o.next_attempt_at ELSE now() END`

// claimedStatusMarkSQL is statusMarkQuery as a CTE of the claim statement: a
// job starting changes its commit's summary ("1 running"), and the claim makes
// no other notes.
const claimedStatusMarkSQL = `marked AS (
	INSERT INTO status_outbox AS o (integration_id, project_id, sha)
	SELECT DISTINCT fc.integration_id, fc.project_id, fc.sha
	FROM claimed c
	JOIN projects p ON p.slug = c.project
	JOIN forge_commits fc ON fc.project_id = p.id AND fc.sha = c.entity_val
	JOIN integrations i ON i.id = fc.integration_id AND i.api_url <> '' AND i.token_sealed IS NOT NULL
	WHERE c.entity_key = 'commit'
	ORDER BY 1, 2, 3
	ON CONFLICT (integration_id, project_id, sha) DO UPDATE SET
		version = o.version + 1,
		next_attempt_at = CASE WHEN o.attempts > 0 THEN o.next_attempt_at ELSE now() END
)`

func (m *statusMarks) queue(b *pgx.Batch) {
	if len(m.projects) > 0 {
		b.Queue(statusMarkQuery, m.projects, m.shas)
	}
}

// StatusToSend is an outbox row claimed for sending, with its integration.
type StatusToSend struct {
	ID                  int64             `db:"id"`
	IntegrationID       int64             `db:"integration_id"`
	ProjectID           int64             `db:"project_id"`
	Project             string            `db:"project"`
	SHA                 string            `db:"sha"`
	Version             int64             `db:"version"`
	Sent                map[string]string `db:"sent"`
	Attempts            int               `db:"attempts"`
	Kind                string            `db:"kind"`
	APIURL              string            `db:"api_url"`
	Repository          string            `db:"repository"`
	ContextPerJob       bool              `db:"context_per_job"`
	AllowPrivateNetwork bool              `db:"allow_private_network"`
	// Token is the integration's access token, opened ("" when it has none).
	Token string `db:"-"`
	// TokenErr says the token could not be opened: that row fails, not the claim.
	TokenErr error `db:"-"`
}

// StatusClaim takes up to limit due outbox rows for lease. SKIP LOCKED and the
// lease keep two senders (or two servers) off the same row; the claim commits
// before anything is sent, so no row lock is held while the forge answers and a
// job transition never waits for a forge.
func (s *Store) StatusClaim(ctx context.Context, limit int, lease time.Duration) ([]*StatusToSend, error) {
	// The picked rows are updated by key, from an array rather than a join
	// with picked: planned for any LIMIT (PostgreSQL soon settles on a
	// generic plan), the join read the whole outbox to hash it, 9 ms a claim
	// at 16,000 rows in the webhook bench.
	const q = `
		WITH picked AS (
			SELECT id FROM status_outbox
			WHERE version > sent_version AND next_attempt_at <= now()
				AND (locked_until IS NULL OR locked_until < now())
			ORDER BY next_attempt_at
			LIMIT $1
			FOR UPDATE SKIP LOCKED
		)
		UPDATE status_outbox o SET locked_until = now() + $2::interval
		FROM integrations i, projects p
		WHERE o.id = ANY (ARRAY(SELECT id FROM picked)) AND i.id = o.integration_id AND p.id = o.project_id
		RETURNING o.id, o.integration_id, o.project_id, p.slug AS project, o.sha, o.version, o.sent,
			o.attempts, i.kind, i.api_url, i.token_sealed, i.repository, i.context_per_job,
			i.allow_private_network`
	rows, _ := s.pool.Query(ctx, q, limit, lease)
	type sealedStatus struct {
		StatusToSend
		TokenSealed []byte `db:"token_sealed"`
	}
	claimed, err := pgx.CollectRows(rows, pgx.RowToStructByName[sealedStatus])
	if err != nil {
		return nil, interpret(err, "claim statuses")
	}
	out := make([]*StatusToSend, len(claimed))
	for i, c := range claimed {
		out[i] = &c.StatusToSend
		out[i].Token, out[i].TokenErr = s.openString(c.TokenSealed)
	}
	return out, nil
}

// StatusSentRow is an outbox row whose statuses the forge took: version (or
// newer) was delivered, and Sent maps each context to what it now shows.
type StatusSentRow struct {
	ID            int64
	Version       int64
	Sent          map[string]string
	IntegrationID int64
	Project       string // the integration's project slug, for its event
}

// statusesSentQuery records rows as sent and their integrations' last status,
// in one statement: the outbox rows locked in the order the status marks take
// them, then the integrations in id order (so no two writers deadlock), and
// only those whose last recorded success is older than statusReportedEvery,
// or older than a failure (IntegrationStatusReported's rule).
const statusesSentQuery = `
	WITH v AS (
		SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::jsonb[]) AS v(id, version, sent)
	), locked AS (
		SELECT o.id FROM status_outbox o JOIN v ON v.id = o.id
		ORDER BY o.integration_id, o.project_id, o.sha
		FOR NO KEY UPDATE OF o
	), done AS (
		UPDATE status_outbox o SET sent_version = greatest(o.sent_version, v.version), sent = v.sent,
			attempts = 0, locked_until = NULL, last_error = ''
		FROM locked JOIN v ON v.id = locked.id
		WHERE o.id = locked.id
		RETURNING o.integration_id
	), due AS (
		SELECT i.id FROM integrations i
		WHERE i.id IN (SELECT integration_id FROM done)
			AND NOT (coalesce(i.last_status_at > now() - make_interval(secs => $4), false)
				AND (i.last_failure_at IS NULL OR i.last_failure_at < i.last_status_at))
		ORDER BY i.id
		FOR NO KEY UPDATE OF i
	), reported AS (
		UPDATE integrations i SET last_status_at = now()
		FROM due WHERE i.id = due.id
		RETURNING i.id
	)
	SELECT count(pg_notify($5, e.payload))
	FROM reported JOIN unnest($6::bigint[], $7::text[]) AS e(id, payload) ON e.id = reported.id`

// StatusesSent records rows as sent and, as IntegrationStatusReported does for
// a success, their integrations' last status, in one statement: a sender's
// batch costs one round trip and one commit, not three of each per row.
func (s *Store) StatusesSent(ctx context.Context, rows []StatusSentRow) error {
	if len(rows) == 0 {
		return nil
	}
	ids, versions, sents := make([]int64, len(rows)), make([]int64, len(rows)), make([]map[string]string, len(rows))
	var integrationIDs []int64
	var payloads []string
	for i, r := range rows {
		ids[i], versions[i], sents[i] = r.ID, r.Version, r.Sent
		if sents[i] == nil {
			sents[i] = map[string]string{}
		}
		if !slices.Contains(integrationIDs, r.IntegrationID) {
			integrationIDs = append(integrationIDs, r.IntegrationID)
			payloads = append(payloads, string(event.Marshal(event.Integration{IntegrationID: r.IntegrationID, Project: r.Project})))
		}
	}
	_, err := s.pool.Exec(ctx, statusesSentQuery, ids, versions, sents, statusReportedEvery.Seconds(),
		ChannelEvents, integrationIDs, payloads)
	return interpret(err, "statuses sent")
}

// StatusFailed schedules another try at retryAt; sent keeps the contexts that did get through.
func (s *Store) StatusFailed(ctx context.Context, id int64, retryAt time.Time, failure string, sent map[string]string) error {
	const q = `
		UPDATE status_outbox SET attempts = attempts + 1, next_attempt_at = $2, locked_until = NULL,
			last_error = $3, sent = $4
		WHERE id = $1`
	_, err := s.pool.Exec(ctx, q, id, retryAt, failure, sent)
	return interpret(err, "status failed")
}

// CommitState is what a commit status context shows.
type CommitState struct {
	State       string // pending, success, failure
	Description string
}

// CommitKey names a commit entity whose statuses to derive: PerJob asks for
// each job name's status rather than the entity's.
type CommitKey struct {
	ProjectID int64
	SHA       string
	PerJob    bool
}

// CommitStates derives the statuses of commit entity sha: the entity's status and
// summary under "", or, when perJob, each job name's newest job under its name.
// It returns nil when the entity does not exist (yet).
func (s *Store) CommitStates(ctx context.Context, projectID int64, sha string, perJob bool) (map[string]CommitState, error) {
	out, err := s.CommitStatesMany(ctx, []CommitKey{{ProjectID: projectID, SHA: sha, PerJob: perJob}})
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// CommitStatesMany is CommitStates for each of keys, in one round trip: the
// answer holds each key's statuses at its index.
func (s *Store) CommitStatesMany(ctx context.Context, keys []CommitKey) ([]map[string]CommitState, error) {
	out := make([]map[string]CommitState, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	projects, shas := make([]int64, len(keys)), make([]string, len(keys))
	var perJob []int32 // 1-based, as WITH ORDINALITY counts
	for i, k := range keys {
		projects[i], shas[i] = k.ProjectID, k.SHA
		if k.PerJob {
			perJob = append(perJob, int32(i+1))
		}
	}
	const qCommits = `
		SELECT t.n, c.*
		FROM unnest($1::bigint[], $2::text[]) WITH ORDINALITY AS t(project_id, sha, n)
		JOIN entities e ON e.project_id = t.project_id AND e.key = 'commit' AND e.value = t.sha` + countsLateral
	const qJobs = `
		SELECT DISTINCT ON (t.n, j.name) t.n, j.name, j.status
		FROM unnest($1::bigint[], $2::text[]) WITH ORDINALITY AS t(project_id, sha, n)
		JOIN entities e ON e.project_id = t.project_id AND e.key = 'commit' AND e.value = t.sha
		JOIN jobs j ON j.entity_id = e.id
		WHERE t.n = ANY($3::int[])
		ORDER BY t.n, j.name, j.id DESC`
	b := &pgx.Batch{}
	b.Queue(qCommits, projects, shas).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var n int
			var c JobCounts
			if err := rows.Scan(append([]any{&n}, c.dest()...)...); err != nil {
				return err
			}
			if keys[n-1].PerJob {
				out[n-1] = map[string]CommitState{}
			} else {
				out[n-1] = map[string]CommitState{"": {State: c.Status(), Description: c.Summary()}}
			}
		}
		return rows.Err()
	})
	type jobState struct {
		n            int
		name, status string
	}
	var jobs []jobState
	if len(perJob) > 0 {
		b.Queue(qJobs, projects, shas, perJob).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var j jobState
				if err := rows.Scan(&j.n, &j.name, &j.status); err != nil {
					return err
				}
				jobs = append(jobs, j)
			}
			return rows.Err()
		})
	}
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, interpret(err, "commit statuses")
	}
	for _, j := range jobs {
		m := out[j.n-1]
		if m == nil {
			continue // the entity appeared between the two statements
		}
		state := "pending"
		switch {
		case j.status == StatusSucceeded:
			state = "success"
		case Ended(j.status):
			state = "failure"
		}
		m[j.name] = CommitState{State: state, Description: j.name + " " + statusWords(j.status)}
	}
	return out, nil
}

func statusWords(status string) string {
	switch status {
	case StatusSucceeded:
		return "succeeded"
	case StatusTimedOut:
		return "timed out"
	}
	return status
}

// Badge is what a badge shows: the derived status of an entity.
type Badge struct {
	EntityID int64
	Status   string
	Summary  string
}

// BadgeEntity reads an entity's status for its badge.
func (s *Store) BadgeEntity(ctx context.Context, projectID int64, key, val string) (*Badge, error) {
	const q = `
		SELECT e.id, c.*
		FROM entities e` + countsLateral + `
		WHERE e.project_id = $1 AND e.key = $2 AND e.value = $3`
	return s.badge(ctx, q, projectID, key, val)
}

// BadgeCollection reads the status of a collection's newest entity.
func (s *Store) BadgeCollection(ctx context.Context, projectID int64, key, val string) (*Badge, error) {
	const q = `
		SELECT e.id, c.*
		FROM collections col
		JOIN LATERAL (SELECT entity_id FROM collection_entities WHERE collection_id = col.id
			ORDER BY entity_id DESC LIMIT 1) ce ON true
		JOIN entities e ON e.id = ce.entity_id` + countsLateral + `
		WHERE col.project_id = $1 AND col.key = $2 AND col.value = $3`
	return s.badge(ctx, q, projectID, key, val)
}

func (s *Store) badge(ctx context.Context, q string, args ...any) (*Badge, error) {
	var b Badge
	var c JobCounts
	err := s.pool.QueryRow(ctx, q, args...).Scan(append([]any{&b.EntityID}, c.dest()...)...)
	if err != nil {
		return nil, interpret(err, "badge")
	}
	b.Status, b.Summary = c.Status(), c.Summary()
	return &b, nil
}
