package store

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Cache is one saved cache archive of a project (aura-runner cache save); its
// bytes are in the blob store under BlobKey.
type Cache struct {
	ID        int64     `db:"id"`
	ProjectID int64     `db:"project_id"`
	Key       string    `db:"key"`
	BlobKey   string    `db:"blob_key"`
	Size      int64     `db:"size"`
	CreatedAt time.Time `db:"created_at"`
	LastUsed  time.Time `db:"last_used"`
}

const cacheColumns = `id, project_id, key, blob_key, size, created_at, last_used`

// CacheExists reports whether the project has a cache under key.
func (s *Store) CacheExists(ctx context.Context, projectID int64, key string) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM caches WHERE project_id = $1 AND key = $2)`,
		projectID, key).Scan(&ok)
	return ok, interpret(err, "cache exists")
}

// CacheRestore finds the cache to restore and marks it used: the one under key,
// else, for the first of prefixes that any key starts with, the newest such
// entry. ErrNotFound when none matches.
func (s *Store) CacheRestore(ctx context.Context, projectID int64, key string, prefixes []string) (*Cache, error) {
	const q = `
		UPDATE caches SET last_used = now()
		WHERE id = (SELECT id FROM caches WHERE project_id = $1 AND key LIKE $2 ESCAPE '\'
			ORDER BY created_at DESC, id DESC LIMIT 1)
		RETURNING ` + cacheColumns
	patterns := []string{likeEscape(key)}
	for _, p := range prefixes {
		patterns = append(patterns, likeEscape(p)+"%")
	}
	for _, pattern := range patterns {
		rows, _ := s.pool.Query(ctx, q, projectID, pattern)
		c, err := pgx.CollectExactlyOneRow(rows, pgx.RowToAddrOfStructByName[Cache])
		if err == nil {
			return c, nil
		}
		if err = interpret(err, "restore cache"); err != ErrNotFound {
			return nil, err
		}
	}
	return nil, ErrNotFound
}

// likeEscape quotes LIKE's wildcards (and its escape character) in s.
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// CacheInsert records a cache whose blob is completely stored. It reports false
// (and writes nothing) when the project already has a cache under that key: the
// first complete save wins.
func (s *Store) CacheInsert(ctx context.Context, c *Cache) (bool, error) {
	const q = `
		INSERT INTO caches (project_id, key, blob_key, size) VALUES ($1, $2, $3, $4)
		ON CONFLICT (project_id, key) DO NOTHING
		RETURNING id`
	var id int64
	err := s.pool.QueryRow(ctx, q, c.ProjectID, c.Key, c.BlobKey, c.Size).Scan(&id)
	if err = interpret(err, "insert cache"); err == ErrNotFound {
		return false, nil
	}
	return err == nil, err
}

// CacheEvict deletes the project's least recently used caches while their total
// size exceeds max, in one statement, and returns the deleted rows: the caller
// then deletes their blobs (a row is never left pointing at a deleted blob).
func (s *Store) CacheEvict(ctx context.Context, projectID, max int64) ([]*Cache, error) {
	// Running totals from the most recently used: every row past max goes.
	const q = `
		WITH ranked AS (
			SELECT id, sum(size) OVER (ORDER BY last_used DESC, id DESC) AS total
			FROM caches WHERE project_id = $1
		)
		DELETE FROM caches c USING ranked r
		WHERE c.id = r.id AND r.total > $2
		RETURNING c.id, c.project_id, c.key, c.blob_key, c.size, c.created_at, c.last_used`
	rows, _ := s.pool.Query(ctx, q, projectID, max)
	cs, err := pgx.CollectRows(rows, pgx.RowToAddrOfStructByName[Cache])
	return cs, interpret(err, "evict caches")
}

// CacheList lists the project's caches, most recently used first.
func (s *Store) CacheList(ctx context.Context, projectID int64) ([]*Cache, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+cacheColumns+` FROM caches WHERE project_id = $1
		ORDER BY last_used DESC, id DESC`, projectID)
	cs, err := pgx.CollectRows(rows, pgx.RowToAddrOfStructByName[Cache])
	return cs, interpret(err, "list caches")
}

// CacheDelete deletes the project's cache under key and returns its row: the
// caller then deletes its blob. ErrNotFound when there is none.
func (s *Store) CacheDelete(ctx context.Context, projectID int64, key string) (*Cache, error) {
	rows, _ := s.pool.Query(ctx, `DELETE FROM caches WHERE project_id = $1 AND key = $2 RETURNING `+cacheColumns,
		projectID, key)
	c, err := pgx.CollectExactlyOneRow(rows, pgx.RowToAddrOfStructByName[Cache])
	return c, interpret(err, "delete cache")
}
