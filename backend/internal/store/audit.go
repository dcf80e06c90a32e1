package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"
)

// Actor kinds: who did something.
const (
	ActorUser         = "user"
	ActorAdmin        = "admin"
	ActorProjectToken = "project-token"
	ActorUserToken    = "user-token"
	ActorRunner       = "runner"
	ActorJob          = "job"
	ActorForge        = "forge"
	ActorSchedule     = "schedule"
	ActorSystem       = "system"
)

// Actor is who did something to a job, or an administrative action: its kind,
// a name a person reads ("alice", a token's name, "job 123", "gitea delivery
// 3f2a…") and, once recorded, when. Jobs keep it as jsonb in their
// submitted_by, cancelled_by, retried_by and approved_by columns.
type Actor struct {
	Kind string    `json:"kind"`
	Name string    `json:"name"`
	At   time.Time `json:"at,omitzero"`
	// UserID is the user behind the actor (a user, or a user's token); it is
	// written to the audit log, not to a job.
	UserID *int64 `json:"-"`
}

// SystemActor is Aura itself: a demo, a sweep, a background loop.
var SystemActor = &Actor{Kind: ActorSystem, Name: "system"}

// actorJSON is a's jsonb form, stamped at the statement's time by the SQL
// that writes it (jsonb_set(…, '{at}', to_jsonb(now()))); nil is NULL, and
// so stays.
func actorJSON(a *Actor) []byte {
	if a == nil {
		return nil
	}
	b, _ := json.Marshal(Actor{Kind: a.Kind, Name: a.Name})
	return b
}

// AuditEntry is one administrative action in the audit log.
type AuditEntry struct {
	ID int64     `db:"id"`
	At time.Time `db:"at"`
	// Actor did it (At is the entry's).
	ActorKind string `db:"actor_kind"`
	ActorName string `db:"actor_name"`
	UserID    *int64 `db:"user_id"`
	// Address is the client's address as the server saw it.
	Address string `db:"address"`
	// Action names what was done, "noun.verb": project.update, secret.set.
	Action    string  `db:"action"`
	ProjectID *int64  `db:"project_id"`
	Project   *string `db:"project"` // the project's slug when read back
	// Target names what the action was done on (a secret's name, a token's
	// name, an integration's id); never a secret's value.
	Target string         `db:"target"`
	Detail map[string]any `db:"detail"`
}

// Audit is who asks for an administrative action and from where: the API
// passes one to each store method that makes such a change, and the method
// records its entry (AuditRecord) in the change's own transaction. nil
// records nothing (the demo, tests that set things up).
type Audit struct {
	Actor   Actor
	Address string
}

// entry is the audit entry of action on target in project projectID (0: none).
func (a *Audit) entry(action string, projectID int64, target string, detail map[string]any) *AuditEntry {
	if a == nil {
		return nil
	}
	e := &AuditEntry{ActorKind: a.Actor.Kind, ActorName: a.Actor.Name, UserID: a.Actor.UserID,
		Address: a.Address, Action: action, Target: target, Detail: detail}
	if projectID != 0 {
		e.ProjectID = &projectID
	}
	return e
}

// Record writes the entry of action on target (see AuditRecord) in tx; a nil
// Audit writes nothing.
func (a *Audit) Record(ctx context.Context, tx pgx.Tx, action string, projectID int64, target string, detail map[string]any) error {
	return AuditRecord(ctx, tx, a.entry(action, projectID, target, detail))
}

// AuditRecord writes e to the audit log inside tx, the transaction of the
// action it records: the entry commits with the action, or neither does. A
// nil e writes nothing.
func AuditRecord(ctx context.Context, tx pgx.Tx, e *AuditEntry) error {
	if e == nil {
		return nil
	}
	detail := e.Detail
	if detail == nil {
		detail = map[string]any{}
	}
	const q = `
		INSERT INTO audit_log (actor_kind, actor_name, user_id, address, action, project_id, target, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`
	_, err := tx.Exec(ctx, q, e.ActorKind, e.ActorName, e.UserID, e.Address, e.Action, e.ProjectID, e.Target, detail)
	return interpret(err, "record audit entry")
}

// AuditListParams filters the audit log; zero values do not filter.
type AuditListParams struct {
	Actor   string // the actor's name
	Action  string // an action ("secret.set") or its noun ("secret": every secret.*)
	Project string // the project's slug
	Before  int64  // entries older than this id
	Limit   int
}

// AuditList lists audit entries newest first, and the id to pass as Before
// for the next page (0: this was the last).
func (s *Store) AuditList(ctx context.Context, p *AuditListParams) ([]*AuditEntry, int64, error) {
	const q = `
		SELECT a.id, a.at, a.actor_kind, a.actor_name, a.user_id, a.address, a.action, a.project_id,
			split_part(pr.slug, '~deleted~', 1) AS project, a.target, a.detail
		FROM audit_log a
		LEFT JOIN projects pr ON pr.id = a.project_id
		WHERE ($1 = '' OR a.actor_name = $1)
			AND ($2 = '' OR a.action = $2 OR a.action LIKE $2 || '.%')
			AND ($3 = '' OR a.project_id IN (SELECT id FROM projects WHERE slug = $3 OR slug LIKE $3 || '~deleted~%'))
			AND ($4 = 0 OR a.id < $4)
		ORDER BY a.id DESC
		LIMIT $5`
	rows, _ := s.pool.Query(ctx, q, p.Actor, p.Action, p.Project, p.Before, p.Limit+1)
	es, err := pgx.CollectRows(rows, pgx.RowToAddrOfStructByName[AuditEntry])
	if err != nil {
		return nil, 0, interpret(err, "list audit log")
	}
	var next int64
	if len(es) > p.Limit {
		es = es[:p.Limit]
		next = es[len(es)-1].ID
	}
	return es, next, nil
}
