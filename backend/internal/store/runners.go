package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Runner is a registered runner.
type Runner struct {
	ID   int64  `db:"id"`
	Name string `db:"name"`
	// Tags are the tags it was registered with: it claims only jobs of those.
	Tags        []string   `db:"tags"`
	CreatedAt   time.Time  `db:"created_at"`
	LastCheckIn *time.Time `db:"last_check_in"`
	Version     string     `db:"version"`
	OS          string     `db:"os"`
	Arch        string     `db:"arch"`
	// Projects, when not nil, are the only projects whose jobs it claims.
	Projects []string `db:"projects"`
}

const runnerColumns = `id, name, tags, created_at, last_check_in, version, os, arch,
	CASE WHEN project_bound THEN ARRAY(
		SELECT p.slug FROM runner_projects rp JOIN projects p ON p.id = rp.project_id
		WHERE rp.runner_id = runners.id ORDER BY p.slug) END AS projects`

// RunnerCreateParams registers a runner.
type RunnerCreateParams struct {
	Name string
	Tags []string
	// Projects (slugs), when not nil, limit the runner to those projects.
	Projects []string
	Hash     []byte // of its token
}

// RunnerCreate registers a runner with the hash of its token.
func (s *Store) RunnerCreate(ctx context.Context, p *RunnerCreateParams, a *Audit) (*Runner, error) {
	tags := p.Tags
	if tags == nil {
		tags = []string{}
	}
	var r *Runner
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var id int64
		err := tx.QueryRow(ctx, `INSERT INTO runners (name, tags, project_bound) VALUES ($1, $2, $3) RETURNING id`,
			p.Name, tags, p.Projects != nil).Scan(&id)
		if err = interpret(err, "create runner"); err == ErrConflict {
			return &Error{Kind: Conflict, Message: "runner " + p.Name + " already exists"}
		} else if err != nil {
			return err
		}
		if p.Projects != nil {
			const q = `
				WITH wanted AS (SELECT unnest($2::text[]) AS slug),
				bound AS (
					INSERT INTO runner_projects (runner_id, project_id)
					SELECT DISTINCT $1::bigint, pr.id FROM wanted JOIN projects pr ON pr.slug = wanted.slug AND pr.deleted_at IS NULL
					RETURNING project_id
				)
				SELECT coalesce(min(wanted.slug), '') FROM wanted
				WHERE NOT EXISTS (SELECT 1 FROM projects pr WHERE pr.slug = wanted.slug AND pr.deleted_at IS NULL)`
			var missing string
			if err := tx.QueryRow(ctx, q, id, p.Projects).Scan(&missing); err != nil {
				return interpret(err, "create runner projects")
			}
			if missing != "" {
				return &Error{Kind: Invalid, Field: "projects", Message: "project " + missing + " does not exist"}
			}
		}
		_, err = tx.Exec(ctx, `INSERT INTO tokens (kind, name, runner_id, hash) VALUES ('runner', $1, $2, $3)`, p.Name, id, p.Hash)
		if err != nil {
			return interpret(err, "create runner token")
		}
		detail := map[string]any{"id": id, "tags": tags}
		if p.Projects != nil {
			detail["projects"] = p.Projects
		}
		if err := a.Record(ctx, tx, "runner.register", 0, p.Name, detail); err != nil {
			return err
		}
		rows, _ := tx.Query(ctx, `SELECT `+runnerColumns+` FROM runners WHERE id = $1`, id)
		r, err = pgx.CollectExactlyOneRow(rows, pgx.RowToAddrOfStructByName[Runner])
		return interpret(err, "create runner")
	})
	return r, err
}

// RunnerList lists runners by id.
func (s *Store) RunnerList(ctx context.Context, page Page) ([]*Runner, string, error) {
	after, err := DecodeCursor(page.Cursor)
	if err != nil {
		return nil, "", err
	}
	rows, _ := s.pool.Query(ctx, `SELECT `+runnerColumns+` FROM runners WHERE id > $1 ORDER BY id LIMIT $2`, after, page.Limit)
	rs, err := pgx.CollectRows(rows, pgx.RowToAddrOfStructByName[Runner])
	if err != nil {
		return nil, "", interpret(err, "list runners")
	}
	var last int64
	if len(rs) > 0 {
		last = rs[len(rs)-1].ID
	}
	return rs, nextCursor(len(rs), page.Limit, last), nil
}

// RunnerDelete removes a runner and its token. Jobs it ran keep their history.
// The same statement tells every server's hub, which closes the runner's sockets.
func (s *Store) RunnerDelete(ctx context.Context, id int64, a *Audit) error {
	const q = `
		WITH gone AS (DELETE FROM runners WHERE id = $1 RETURNING id, name)
		SELECT count(pg_notify('` + ChannelEvents + `', ` + runnerGoneEventSQL + `)), coalesce(min(name), '') FROM gone`
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var n int
		var name string
		if err := tx.QueryRow(ctx, q, id).Scan(&n, &name); err != nil {
			return interpret(err, "delete runner")
		}
		if n == 0 {
			return ErrNotFound
		}
		return a.Record(ctx, tx, "runner.delete", 0, name, map[string]any{"id": id})
	})
}
