package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Token is a stored token: only its hash, never its secret.
type Token struct {
	ID         int64      `db:"id"`
	Kind       string     `db:"kind"`
	Name       string     `db:"name"`
	ProjectID  *int64     `db:"project_id"`
	Project    *string    `db:"project"`
	RunnerID   *int64     `db:"runner_id"`
	RunnerName *string    `db:"runner_name"`
	RunnerTags []string   `db:"runner_tags"` // the tags a runner token's runner was registered with
	CreatedAt  time.Time  `db:"created_at"`
	LastUsedAt *time.Time `db:"last_used_at"`
}

const tokenSelect = `
	SELECT t.id, t.kind, t.name, t.project_id, p.slug AS project, t.runner_id, r.name AS runner_name,
		r.tags AS runner_tags, t.created_at, t.last_used_at
	FROM tokens t
	LEFT JOIN projects p ON p.id = t.project_id
	LEFT JOIN runners r ON r.id = t.runner_id`

// TokenByHash finds the token whose hash is hash.
func (s *Store) TokenByHash(ctx context.Context, hash []byte) (*Token, error) {
	rows, _ := s.pool.Query(ctx, tokenSelect+` WHERE t.hash = $1`, hash)
	t, err := pgx.CollectExactlyOneRow(rows, pgx.RowToAddrOfStructByName[Token])
	return t, interpret(err, "token by hash")
}

// ProjectTokenCreate stores a project token's hash.
func (s *Store) ProjectTokenCreate(ctx context.Context, projectID int64, name string, hash []byte, a *Audit) (*Token, error) {
	const q = `INSERT INTO tokens (kind, name, project_id, hash) VALUES ('project', $1, $2, $3) RETURNING id`
	var id int64
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, q, name, projectID, hash).Scan(&id); err != nil {
			return interpret(err, "create project token")
		}
		return a.Record(ctx, tx, "token.create", projectID, name, map[string]any{"id": id})
	})
	if err != nil {
		return nil, err
	}
	rows, _ := s.pool.Query(ctx, tokenSelect+` WHERE t.id = $1`, id)
	t, err := pgx.CollectExactlyOneRow(rows, pgx.RowToAddrOfStructByName[Token])
	return t, interpret(err, "create project token")
}

// ProjectTokenList lists a project's tokens.
func (s *Store) ProjectTokenList(ctx context.Context, projectID int64) ([]*Token, error) {
	rows, _ := s.pool.Query(ctx, tokenSelect+` WHERE t.project_id = $1 AND t.kind = 'project' ORDER BY t.id`, projectID)
	ts, err := pgx.CollectRows(rows, pgx.RowToAddrOfStructByName[Token])
	return ts, interpret(err, "list project tokens")
}

// ProjectTokenDelete revokes a project token, and tells every server's hub so in
// the same statement: the token's sockets close at once.
func (s *Store) ProjectTokenDelete(ctx context.Context, projectID, id int64, a *Audit) error {
	const q = `
		WITH revoked AS (DELETE FROM tokens WHERE id = $1 AND project_id = $2 AND kind = 'project' RETURNING hash, name)
		SELECT count(pg_notify('` + ChannelEvents + `', ` + revokedEventSQL + `)), coalesce(min(name), '') FROM revoked`
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var n int
		var name string
		if err := tx.QueryRow(ctx, q, id, projectID).Scan(&n, &name); err != nil {
			return interpret(err, "delete project token")
		}
		if n == 0 {
			return ErrNotFound
		}
		return a.Record(ctx, tx, "token.revoke", projectID, name, map[string]any{"id": id})
	})
}

// AdminTokenBootstrap stores hash as an admin token when there is none yet (or,
// with force, in any case) and reports whether it did. Concurrent server starts
// on one database serialise on an advisory lock, so exactly one prints a token.
func (s *Store) AdminTokenBootstrap(ctx context.Context, hash []byte, force bool) (bool, error) {
	var created bool
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(8420001)`); err != nil {
			return interpret(err, "admin token lock")
		}
		const q = `
			INSERT INTO tokens (kind, name, hash)
			SELECT 'admin', 'admin', $1
			WHERE $2 OR NOT EXISTS (SELECT 1 FROM tokens WHERE kind = 'admin')
			ON CONFLICT (hash) DO NOTHING`
		tag, err := tx.Exec(ctx, q, hash, force)
		created = tag.RowsAffected() == 1
		return interpret(err, "admin token")
	})
	return created, err
}
