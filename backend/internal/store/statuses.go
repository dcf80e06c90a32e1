package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
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
		FROM picked, integrations i, projects p
		WHERE o.id = picked.id AND i.id = o.integration_id AND p.id = o.project_id
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

// StatusSent records that version (or newer) was delivered; sent maps each
// context to what it now shows.
func (s *Store) StatusSent(ctx context.Context, id, version int64, sent map[string]string) error {
	const q = `
		UPDATE status_outbox SET sent_version = greatest(sent_version, $2), sent = $3, attempts = 0,
			locked_until = NULL, last_error = ''
		WHERE id = $1`
	_, err := s.pool.Exec(ctx, q, id, version, sent)
	return interpret(err, "status sent")
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

// CommitStates derives the statuses of commit entity sha: the entity's status and
// summary under "", or, when perJob, each job name's newest job under its name.
// It returns nil when the entity does not exist (yet).
func (s *Store) CommitStates(ctx context.Context, projectID int64, sha string, perJob bool) (map[string]CommitState, error) {
	const q = `
		SELECT e.id, c.*
		FROM entities e` + countsLateral + `
		WHERE e.project_id = $1 AND e.key = 'commit' AND e.value = $2`
	var entityID int64
	var c JobCounts
	err := s.pool.QueryRow(ctx, q, projectID, sha).Scan(append([]any{&entityID}, c.dest()...)...)
	if err == pgx.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, interpret(err, "commit status")
	}
	if !perJob {
		return map[string]CommitState{"": {State: c.Status(), Description: c.Summary()}}, nil
	}
	out := map[string]CommitState{}
	const qJobs = `SELECT DISTINCT ON (name) name, status FROM jobs WHERE entity_id = $1 ORDER BY name, id DESC`
	rows, err := s.pool.Query(ctx, qJobs, entityID)
	if err != nil {
		return nil, interpret(err, "commit job statuses")
	}
	defer rows.Close()
	for rows.Next() {
		var name, status string
		if err := rows.Scan(&name, &status); err != nil {
			return nil, interpret(err, "commit job statuses")
		}
		state := "pending"
		switch {
		case status == StatusSucceeded:
			state = "success"
		case Ended(status):
			state = "failure"
		}
		out[name] = CommitState{State: state, Description: name + " " + statusWords(status)}
	}
	return out, interpret(rows.Err(), "commit job statuses")
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
