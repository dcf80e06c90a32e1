package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aura-ci/aura/backend/internal/event"
)

// Project is a project row.
type Project struct {
	ID        int64     `db:"id"`
	Slug      string    `db:"slug"`
	Name      string    `db:"name"`
	Private   bool      `db:"private"`
	CreatedAt time.Time `db:"created_at"`
	// ArtifactRetentionSeconds and CacheRetentionSeconds override the
	// instance's retention; nil: the instance default.
	ArtifactRetentionSeconds *int64 `db:"artifact_retention_seconds"`
	CacheRetentionSeconds    *int64 `db:"cache_retention_seconds"`
	// LogRetentionSeconds overrides how long the instance keeps finished logs.
	LogRetentionSeconds *int64 `db:"log_retention_seconds"`
}

const projectColumns = `id, slug, name, private, created_at, artifact_retention_seconds, cache_retention_seconds,
	log_retention_seconds`

// ProjectCreate inserts a project; ErrConflict when the slug is taken.
func (s *Store) ProjectCreate(ctx context.Context, slug, name string, private bool, a *Audit) (*Project, error) {
	const q = `INSERT INTO projects (slug, name, private) VALUES ($1, $2, $3) RETURNING ` + projectColumns
	var p *Project
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, q, slug, name, private)
		var err error
		if p, err = pgx.CollectExactlyOneRow(rows, pgx.RowToAddrOfStructByName[Project]); err != nil {
			return err
		}
		return a.Record(ctx, tx, "project.create", p.ID, slug, map[string]any{"name": name, "private": private})
	})
	if err != nil {
		err = interpret(err, "create project")
		if err == ErrConflict {
			return nil, &Error{Kind: Conflict, Message: "project " + slug + " already exists"}
		}
		return nil, err
	}
	return p, nil
}

// ProjectGet returns the project with slug.
func (s *Store) ProjectGet(ctx context.Context, slug string) (*Project, error) {
	const q = `SELECT ` + projectColumns + ` FROM projects WHERE slug = $1 AND deleted_at IS NULL`
	rows, _ := s.pool.Query(ctx, q, slug)
	p, err := pgx.CollectExactlyOneRow(rows, pgx.RowToAddrOfStructByName[Project])
	return p, interpret(err, "get project")
}

// ProjectList lists projects by id: the public ones and the private ones in scope.
func (s *Store) ProjectList(ctx context.Context, scope ProjectScope, page Page) ([]*Project, string, error) {
	after, err := DecodeCursor(page.Cursor)
	if err != nil {
		return nil, "", err
	}
	const q = `
		SELECT ` + projectColumns + ` FROM projects
		WHERE id > $1 AND ($2 OR NOT private OR id = ANY($3)) AND deleted_at IS NULL
		ORDER BY id
		LIMIT $4`
	rows, _ := s.pool.Query(ctx, q, after, scope.All, scope.ids(), page.Limit)
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
	// ArtifactRetention and CacheRetention change the project's retention
	// when set: to Seconds, or to the instance default when Seconds is nil.
	ArtifactRetention, CacheRetention RetentionUpdate
	// LogRetention changes how long the project's finished logs are kept.
	LogRetention RetentionUpdate
}

// RetentionUpdate is a retention to set, in seconds (nil: the instance default).
type RetentionUpdate struct {
	Set     bool
	Seconds *int64
}

// ProjectUpdate changes a project's name or visibility. A change of visibility
// is NOTIFYed in the same transaction, so every hub re-reads the project before
// it delivers any later event of it.
// The audit entry (project.update) lists the settings given.
func (s *Store) ProjectUpdate(ctx context.Context, slug string, p *ProjectUpdateParams, a *Audit) (*Project, error) {
	const q = `
		UPDATE projects SET
			name = coalesce($2, name),
			private = coalesce($3, private),
			artifact_retention_seconds = CASE WHEN $4 THEN $5 ELSE artifact_retention_seconds END,
			cache_retention_seconds = CASE WHEN $6 THEN $7 ELSE cache_retention_seconds END,
			log_retention_seconds = CASE WHEN $8 THEN $9 ELSE log_retention_seconds END
		WHERE slug = $1
		RETURNING ` + projectColumns
	var pr *Project
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, q, slug, p.Name, p.Private, p.ArtifactRetention.Set, p.ArtifactRetention.Seconds,
			p.CacheRetention.Set, p.CacheRetention.Seconds, p.LogRetention.Set, p.LogRetention.Seconds)
		var err error
		if pr, err = pgx.CollectExactlyOneRow(rows, pgx.RowToAddrOfStructByName[Project]); err != nil {
			return err
		}
		if err := a.Record(ctx, tx, "project.update", pr.ID, slug, p.auditDetail()); err != nil {
			return err
		}
		if p.Private == nil {
			return nil
		}
		var n notes
		n.event(event.Access{Project: slug})
		return n.flush(ctx, tx)
	})
	return pr, interpret(err, "update project")
}

// ProjectDelete takes a project out of the API at once: it is marked deleted and
// renamed (to a name no slug can take, which frees its slug), and its tokens go.
// ProjectPurge removes the rest in the background, in batches, rather than one
// transaction locking a million jobs for minutes.
func (s *Store) ProjectDelete(ctx context.Context, slug string, a *Audit) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		const q = `
			UPDATE projects SET deleted_at = now(), slug = slug || '~deleted~' || id
			WHERE slug = $1 AND deleted_at IS NULL
			RETURNING id`
		var id int64
		if err := tx.QueryRow(ctx, q, slug).Scan(&id); err != nil {
			if err = interpret(err, "delete project"); err == ErrNotFound {
				return &Error{Kind: NotFound, Message: "project " + slug + " does not exist"}
			}
			return err
		}
		// Its tokens are revoked like one deleted by itself: their sockets close at once.
		const qTokens = `
			WITH revoked AS (DELETE FROM tokens WHERE project_id = $1 RETURNING hash)
			SELECT count(pg_notify('` + ChannelEvents + `', ` + revokedEventSQL + `)) FROM revoked`
		var n int
		if err := tx.QueryRow(ctx, qTokens, id).Scan(&n); err != nil {
			return interpret(err, "delete project tokens")
		}
		// Every server's purge sleeps until told there is something to purge.
		if _, err := tx.Exec(ctx, `SELECT pg_notify('`+ChannelPurge+`', '')`); err != nil {
			return interpret(err, "delete project")
		}
		return a.Record(ctx, tx, "project.delete", id, slug, nil)
	})
}

// auditDetail is what the audit log keeps of p: the settings given, a
// retention as seconds (null: back to the instance default).
func (p *ProjectUpdateParams) auditDetail() map[string]any {
	d := map[string]any{}
	if p.Name != nil {
		d["name"] = *p.Name
	}
	if p.Private != nil {
		d["private"] = *p.Private
	}
	if p.ArtifactRetention.Set {
		d["artifactRetentionSeconds"] = p.ArtifactRetention.Seconds
	}
	if p.CacheRetention.Set {
		d["cacheRetentionSeconds"] = p.CacheRetention.Seconds
	}
	return d
}

// Batch sizes of ProjectPurge: each step is one short transaction.
const (
	purgeJobs     = 200 // with their log chunks
	purgeEntities = 50
	purgeRows     = 1000
)

// ChannelPurge is notified when a project was deleted: ProjectPurge has work.
const ChannelPurge = "aura_purge"

// ProjectPurge takes one step in removing the oldest deleted project: a batch of
// its unfinished jobs (so no runner claims them), then of its other jobs, entity
// by entity, then its collections, then the project itself. It reports whether
// a step was taken; call it until it reports none. Several servers may purge at once.
func (s *Store) ProjectPurge(ctx context.Context) (bool, error) {
	var id int64
	err := s.pool.QueryRow(ctx, `SELECT id FROM projects WHERE deleted_at IS NOT NULL ORDER BY id LIMIT 1`).Scan(&id)
	if err == pgx.ErrNoRows {
		return false, nil
	}
	if err != nil {
		return false, interpret(err, "purge project")
	}
	const qRunnable = `
		DELETE FROM jobs WHERE id IN (
			SELECT id FROM jobs WHERE project_id = $1 AND status IN ('waiting', 'queued', 'running') LIMIT $2)`
	tag, err := s.pool.Exec(ctx, qRunnable, id, purgeJobs)
	if err != nil || tag.RowsAffected() > 0 {
		return true, interpret(err, "purge project jobs")
	}
	rows, _ := s.pool.Query(ctx, `SELECT id FROM entities WHERE project_id = $1 LIMIT $2`, id, purgeEntities)
	entities, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return false, interpret(err, "purge project entities")
	}
	if len(entities) > 0 {
		const qJobs = `DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE entity_id = ANY($1) LIMIT $2)`
		tag, err := s.pool.Exec(ctx, qJobs, entities, purgeJobs)
		if err != nil || tag.RowsAffected() == purgeJobs {
			return true, interpret(err, "purge project jobs")
		}
		const qEntities = `
			DELETE FROM entities e WHERE id = ANY($1)
				AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.entity_id = e.id)`
		_, err = s.pool.Exec(ctx, qEntities, entities)
		return true, interpret(err, "purge project entities")
	}
	tag, err = s.pool.Exec(ctx, `DELETE FROM collections WHERE id IN (SELECT id FROM collections WHERE project_id = $1 LIMIT $2)`, id, purgeRows)
	if err != nil || tag.RowsAffected() > 0 {
		return true, interpret(err, "purge project collections")
	}
	// What is left is small: keys, and whatever arrived meanwhile (cascading).
	_, err = s.pool.Exec(ctx, `DELETE FROM projects WHERE id = $1 AND deleted_at IS NOT NULL`, id)
	return true, interpret(err, "purge project")
}
