package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Project is a project row.
type Project struct {
	ID        int64     `db:"id"`
	Slug      string    `db:"slug"`
	Name      string    `db:"name"`
	Private   bool      `db:"private"`
	CreatedAt time.Time `db:"created_at"`
}

const projectColumns = `id, slug, name, private, created_at`

// ProjectCreate inserts a project; ErrConflict when the slug is taken.
func (s *Store) ProjectCreate(ctx context.Context, slug, name string, private bool) (*Project, error) {
	const q = `INSERT INTO projects (slug, name, private) VALUES ($1, $2, $3) RETURNING ` + projectColumns
	rows, _ := s.pool.Query(ctx, q, slug, name, private)
	p, err := pgx.CollectExactlyOneRow(rows, pgx.RowToAddrOfStructByName[Project])
	if err != nil {
		err = interpret(err, "create project")
		if err == ErrConflict {
			return nil, &ConflictError{Message: "project " + slug + " already exists"}
		}
		return nil, err
	}
	return p, nil
}

// ProjectGet returns the project with slug.
func (s *Store) ProjectGet(ctx context.Context, slug string) (*Project, error) {
	const q = `SELECT ` + projectColumns + ` FROM projects WHERE slug = $1`
	rows, _ := s.pool.Query(ctx, q, slug)
	p, err := pgx.CollectExactlyOneRow(rows, pgx.RowToAddrOfStructByName[Project])
	return p, interpret(err, "get project")
}

// ProjectList lists projects by id: private ones only for the admin (all) or
// for a token of that project (ownProjectID).
func (s *Store) ProjectList(ctx context.Context, admin bool, ownProjectID int64, page Page) ([]*Project, string, error) {
	after, err := DecodeCursor(page.Cursor)
	if err != nil {
		return nil, "", err
	}
	const q = `
		SELECT ` + projectColumns + ` FROM projects
		WHERE id > $1 AND ($2 OR NOT private OR id = $3)
		ORDER BY id
		LIMIT $4`
	rows, _ := s.pool.Query(ctx, q, after, admin, ownProjectID, page.Limit)
	ps, err := pgx.CollectRows(rows, pgx.RowToAddrOfStructByName[Project])
	if err != nil {
		return nil, "", interpret(err, "list projects")
	}
	var last int64
	if len(ps) > 0 {
		last = ps[len(ps)-1].ID
	}
	return ps, nextCursor(len(ps), page.Limit, last), nil
}

// ProjectUpdateParams holds the fields to change; nil leaves a field as it is.
type ProjectUpdateParams struct {
	Name    *string
	Private *bool
}

// ProjectUpdate changes a project's name or visibility.
func (s *Store) ProjectUpdate(ctx context.Context, slug string, p *ProjectUpdateParams) (*Project, error) {
	const q = `
		UPDATE projects SET
			name = coalesce($2, name),
			private = coalesce($3, private)
		WHERE slug = $1
		RETURNING ` + projectColumns
	rows, _ := s.pool.Query(ctx, q, slug, p.Name, p.Private)
	pr, err := pgx.CollectExactlyOneRow(rows, pgx.RowToAddrOfStructByName[Project])
	return pr, interpret(err, "update project")
}

// ProjectDelete removes a project with everything in it.
func (s *Store) ProjectDelete(ctx context.Context, slug string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM projects WHERE slug = $1`, slug)
	if err != nil {
		return interpret(err, "delete project")
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}
