package store

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// NotificationRule is a project's rule to tell people about build results.
type NotificationRule struct {
	ID                  int64
	ProjectID           int64
	Kind                string // webhook, slack, matrix, discord, email
	URL                 string // opened; "" for email
	To                  []string
	On                  []string // failure, fixed, success
	Collections         map[string]string
	AllowPrivateNetwork bool
	HasSecret           bool
	CreatedAt           time.Time
	LastSentAt          *time.Time
	LastFailureAt       *time.Time
	LastFailure         string
}

// NotificationParams are a rule's fields to create or change; nil leaves a field as it is.
type NotificationParams struct {
	Kind                string
	URL                 *string
	To                  []string
	On                  []string
	Collections         map[string]string
	AllowPrivateNetwork *bool
	// Secret, when set, replaces the signing secret of a webhook rule.
	Secret string
}

func (p *NotificationParams) auditDetail() map[string]any {
	d := map[string]any{}
	if p.Kind != "" {
		d["kind"] = p.Kind
	}
	if p.On != nil {
		d["on"] = p.On
	}
	if p.URL != nil {
		d["url"] = "changed"
	}
	if p.To != nil {
		d["to"] = p.To
	}
	if p.Secret != "" {
		d["secret"] = "changed"
	}
	return d
}

const notificationSelect = `
	SELECT id, project_id, kind, url_sealed, recipients, on_results, collections, allow_private_network,
		secret_sealed IS NOT NULL, created_at, last_sent_at, last_failure_at, last_failure
	FROM notification_rules`

func (s *Store) collectRules(rows pgx.Rows, what string) ([]*NotificationRule, error) {
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*NotificationRule, error) {
		var r NotificationRule
		var sealed []byte
		err := row.Scan(&r.ID, &r.ProjectID, &r.Kind, &sealed, &r.To, &r.On, &r.Collections, &r.AllowPrivateNetwork,
			&r.HasSecret, &r.CreatedAt, &r.LastSentAt, &r.LastFailureAt, &r.LastFailure)
		if err != nil {
			return nil, err
		}
		if r.URL, err = s.openString(sealed); err != nil {
			r.URL = "" // a rule sealed with another key shows no URL; its sends fail and say so
			r.LastFailure = "the URL cannot be opened with the server key"
		}
		if r.Collections == nil {
			r.Collections = map[string]string{}
		}
		return &r, nil
	})
	return out, interpret(err, what)
}

// NotificationList lists a project's rules, oldest first.
func (s *Store) NotificationList(ctx context.Context, projectID int64) ([]*NotificationRule, error) {
	rows, _ := s.pool.Query(ctx, notificationSelect+` WHERE project_id = $1 ORDER BY id`, projectID)
	return s.collectRules(rows, "list notification rules")
}

// NotificationGet returns one rule.
func (s *Store) NotificationGet(ctx context.Context, id int64) (*NotificationRule, error) {
	rows, _ := s.pool.Query(ctx, notificationSelect+` WHERE id = $1`, id)
	rules, err := s.collectRules(rows, "get notification rule")
	if err != nil {
		return nil, err
	}
	if len(rules) == 0 {
		return nil, ErrNotFound
	}
	return rules[0], nil
}

// NotificationCreate adds a rule to a project.
func (s *Store) NotificationCreate(ctx context.Context, projectID int64, p *NotificationParams, a *Audit) (*NotificationRule, error) {
	const q = `
		INSERT INTO notification_rules (project_id, kind, url_sealed, recipients, secret_sealed, on_results,
			collections, allow_private_network)
		VALUES ($1, $2, $3, coalesce($4::text[], '{}'), $5, $6, coalesce($7::jsonb, '{}'), coalesce($8::boolean, false))
		RETURNING id`
	var id int64
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, q, projectID, p.Kind, s.sealToken(p.URL), p.To, s.sealString(p.Secret), p.On,
			jsonOrNil(p.Collections), p.AllowPrivateNetwork).Scan(&id)
		if err != nil {
			return interpret(err, "create notification rule")
		}
		return a.Record(ctx, tx, "notification.create", projectID, strconv.FormatInt(id, 10), p.auditDetail())
	})
	if err != nil {
		return nil, err
	}
	return s.NotificationGet(ctx, id)
}

func jsonOrNil(m map[string]string) any {
	if m == nil {
		return nil
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// NotificationUpdate changes the fields p sets.
func (s *Store) NotificationUpdate(ctx context.Context, id int64, p *NotificationParams, a *Audit) (*NotificationRule, error) {
	const q = `
		UPDATE notification_rules SET
			url_sealed = CASE WHEN $2::boolean THEN $3 ELSE url_sealed END,
			recipients = coalesce($4::text[], recipients),
			on_results = coalesce($5::text[], on_results),
			collections = coalesce($6::jsonb, collections),
			allow_private_network = coalesce($7::boolean, allow_private_network),
			secret_sealed = coalesce($8, secret_sealed)
		WHERE id = $1
		RETURNING project_id`
	var secret []byte
	if p.Secret != "" {
		secret = s.sealString(p.Secret)
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var projectID int64
		err := tx.QueryRow(ctx, q, id, p.URL != nil, s.sealToken(p.URL), p.To, p.On, jsonOrNil(p.Collections),
			p.AllowPrivateNetwork, secret).Scan(&projectID)
		if err != nil {
			return interpret(err, "update notification rule")
		}
		return a.Record(ctx, tx, "notification.update", projectID, strconv.FormatInt(id, 10), p.auditDetail())
	})
	if err != nil {
		return nil, err
	}
	return s.NotificationGet(ctx, id)
}

// NotificationDelete removes a rule and what it had still to send.
func (s *Store) NotificationDelete(ctx context.Context, id int64, a *Audit) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var projectID int64
		err := tx.QueryRow(ctx, `DELETE FROM notification_rules WHERE id = $1 RETURNING project_id`, id).Scan(&projectID)
		if err != nil {
			return interpret(err, "delete notification rule")
		}
		return a.Record(ctx, tx, "notification.delete", projectID, strconv.FormatInt(id, 10), nil)
	})
}

// buildMarks collects the entities a transaction ended a job of, so the same
// transaction bumps their rows in notify_outbox (the status outbox's sibling).
type buildMarks struct {
	projects, keys, vals []string
	seen                 map[[3]string]bool
}

func (m *buildMarks) add(project, key, val string) {
	k := [3]string{project, key, val}
	if m.seen[k] {
		return
	}
	if m.seen == nil {
		m.seen = map[[3]string]bool{}
	}
	m.seen[k] = true
	m.projects = append(m.projects, project)
	m.keys = append(m.keys, key)
	m.vals = append(m.vals, val)
}

func (m *buildMarks) merge(other *buildMarks) {
	for i := range other.projects {
		m.add(other.projects[i], other.keys[i], other.vals[i])
	}
}

// buildMarkQuery bumps the outbox row of every rule of the project of each
// entity a job of ended. It does not ask whether the entity's other jobs
// ended too: two jobs ending in concurrent transactions would each see the
// other still running and neither would bump. The sender asks, after both
// committed (the row's lock orders them). Rows are taken in a fixed order so
// concurrent transitions never deadlock; a row in retry backoff keeps its schedule.
const buildMarkQuery = `
	INSERT INTO notify_outbox AS o (rule_id, entity_id)
	SELECT r.id, e.id
	FROM unnest($1::text[], $2::text[], $3::text[]) AS t(project, key, val)
	JOIN projects p ON p.slug = t.project
	JOIN notification_rules r ON r.project_id = p.id
	JOIN entities e ON e.project_id = p.id AND e.key = t.key AND e.value = t.val
	ORDER BY 1, 2
	ON CONFLICT (rule_id, entity_id) DO UPDATE SET
		version = o.version + 1,
		next_attempt_at = CASE WHEN o.attempts > 0 THEN o.next_attempt_at ELSE now() END`

func (m *buildMarks) queue(b *pgx.Batch) {
	if len(m.projects) > 0 {
		b.Queue(buildMarkQuery, m.projects, m.keys, m.vals)
	}
}

// NotificationToSend is a notify_outbox row claimed for sending, with its rule and build.
type NotificationToSend struct {
	ID       int64
	Version  int64
	Sent     map[string]string
	Attempts int
	Rule     NotificationRule
	// Secret is the webhook rule's signing secret, opened.
	Secret string
	// OpenErr says the rule's URL or secret could not be opened: that row fails, not the claim.
	OpenErr   error
	Project   string
	EntityID  int64
	EntityKey string
	EntityVal string
	Title     string
}

// NotificationClaim takes up to limit due rows for lease, as StatusClaim does.
func (s *Store) NotificationClaim(ctx context.Context, limit int, lease time.Duration) ([]*NotificationToSend, error) {
	const q = `
		WITH picked AS (
			SELECT id FROM notify_outbox
			WHERE version > sent_version AND next_attempt_at <= now()
				AND (locked_until IS NULL OR locked_until < now())
			ORDER BY next_attempt_at
			LIMIT $1
			FOR UPDATE SKIP LOCKED
		)
		UPDATE notify_outbox o SET locked_until = now() + $2::interval
		FROM picked, notification_rules r, entities e, projects p
		WHERE o.id = picked.id AND r.id = o.rule_id AND e.id = o.entity_id AND p.id = e.project_id
		RETURNING o.id, o.version, o.sent, o.attempts, r.id, r.project_id, r.kind, r.url_sealed, r.recipients,
			r.on_results, r.collections, r.allow_private_network, r.secret_sealed, p.slug, e.id, e.key, e.value, e.title`
	rows, _ := s.pool.Query(ctx, q, limit, lease)
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (*NotificationToSend, error) {
		var n NotificationToSend
		var urlSealed, secretSealed []byte
		err := row.Scan(&n.ID, &n.Version, &n.Sent, &n.Attempts, &n.Rule.ID, &n.Rule.ProjectID, &n.Rule.Kind, &urlSealed,
			&n.Rule.To, &n.Rule.On, &n.Rule.Collections, &n.Rule.AllowPrivateNetwork, &secretSealed, &n.Project,
			&n.EntityID, &n.EntityKey, &n.EntityVal, &n.Title)
		if err != nil {
			return nil, interpret(err, "claim notifications")
		}
		var e1, e2 error
		n.Rule.URL, e1 = s.openString(urlSealed)
		n.Secret, e2 = s.openString(secretSealed)
		if e1 != nil {
			n.OpenErr = e1
		} else if e2 != nil {
			n.OpenErr = e2
		}
		if n.Sent == nil {
			n.Sent = map[string]string{}
		}
		return &n, nil
	})
}

// NotificationSent records that version (or newer) was handled; sent is what was delivered.
func (s *Store) NotificationSent(ctx context.Context, id, version int64, sent map[string]string) error {
	const q = `
		UPDATE notify_outbox SET sent_version = greatest(sent_version, $2), sent = $3, attempts = 0,
			locked_until = NULL, last_error = ''
		WHERE id = $1`
	_, err := s.pool.Exec(ctx, q, id, version, sent)
	return interpret(err, "notification sent")
}

// NotificationFailed schedules another try at retryAt.
func (s *Store) NotificationFailed(ctx context.Context, id int64, retryAt time.Time, failure string) error {
	const q = `
		UPDATE notify_outbox SET attempts = attempts + 1, next_attempt_at = $2, locked_until = NULL, last_error = $3
		WHERE id = $1`
	_, err := s.pool.Exec(ctx, q, id, retryAt, failure)
	return interpret(err, "notification failed")
}

// NotificationReported records a rule's last delivery: failure "" is a success.
func (s *Store) NotificationReported(ctx context.Context, ruleID int64, failure string) error {
	const q = `
		UPDATE notification_rules SET
			last_sent_at = CASE WHEN $2 = '' THEN now() ELSE last_sent_at END,
			last_failure_at = CASE WHEN $2 = '' THEN last_failure_at ELSE now() END,
			last_failure = $2
		WHERE id = $1`
	_, err := s.pool.Exec(ctx, q, ruleID, failure)
	return interpret(err, "notification reported")
}

// BuildOutcome is what a notification says about a build: its result, the
// newest job it counted (a retry makes a newer one, so a result repeated after
// a retry is a new result), its collections and its jobs that did not succeed.
type BuildOutcome struct {
	Counts      JobCounts
	Result      string // pending, success, failure
	LastJobID   int64
	Collections map[string][]string
	FailedJobs  []string
}

// BuildOutcomeOf derives entity id's outcome.
func (s *Store) BuildOutcomeOf(ctx context.Context, id int64) (*BuildOutcome, error) {
	const q = `
		SELECT c.*, (SELECT coalesce(max(id), 0) FROM jobs WHERE entity_id = e.id)
		FROM entities e` + countsLateral + ` WHERE e.id = $1`
	var o BuildOutcome
	if err := s.pool.QueryRow(ctx, q, id).Scan(append(o.Counts.dest(), &o.LastJobID)...); err != nil {
		return nil, interpret(err, "build outcome")
	}
	o.Result = o.Counts.Status()
	o.Collections = map[string][]string{}
	rows, _ := s.pool.Query(ctx, `
		SELECT c.key, c.value FROM collection_entities ce JOIN collections c ON c.id = ce.collection_id
		WHERE ce.entity_id = $1 ORDER BY c.key, c.value`, id)
	var k, v string
	_, err := pgx.ForEachRow(rows, []any{&k, &v}, func() error {
		o.Collections[k] = append(o.Collections[k], v)
		return nil
	})
	if err != nil {
		return nil, interpret(err, "build collections")
	}
	rows, _ = s.pool.Query(ctx, `
		SELECT name FROM (SELECT DISTINCT ON (name) name, status FROM jobs WHERE entity_id = $1 ORDER BY name, id DESC) j
		WHERE status IN ('failed', 'timed_out', 'lost') ORDER BY name LIMIT 20`, id)
	o.FailedJobs, err = pgx.CollectRows(rows, pgx.RowTo[string])
	return &o, interpret(err, "build failed jobs")
}

// PreviousResult is the result of the newest finished build before entity id
// in collection key=value of the project: "" when there is none.
func (s *Store) PreviousResult(ctx context.Context, projectID, id int64, key, value string) (string, error) {
	const q = `
		SELECT c.*
		FROM collections col
		JOIN collection_entities ce ON ce.collection_id = col.id AND ce.entity_id < $4
		JOIN entities e ON e.id = ce.entity_id` + countsLateral + `
		WHERE col.project_id = $1 AND col.key = $2 AND col.value = $3
		ORDER BY ce.entity_id DESC LIMIT 20`
	rows, _ := s.pool.Query(ctx, q, projectID, key, value, id)
	var c JobCounts
	result := ""
	_, err := pgx.ForEachRow(rows, c.dest(), func() error {
		if st := c.Status(); result == "" && st != "pending" {
			result = st
		}
		return nil
	})
	return result, interpret(err, "previous build")
}
