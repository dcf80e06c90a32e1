package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// SweptBlob is the blob of a row the retention sweep deleted; deleting the
// blob is the caller's work (the row goes first, so a crash in between leaves
// at most an orphan blob, never a row without its bytes).
type SweptBlob struct {
	Key  string
	Size int64
}

func collectSwept(rows pgx.Rows, err error, what string) ([]SweptBlob, error) {
	if err != nil {
		return nil, interpret(err, what)
	}
	swept, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (SweptBlob, error) {
		var b SweptBlob
		err := row.Scan(&b.Key, &b.Size)
		return b, err
	})
	return swept, interpret(err, what)
}

// ArtifactsExpiredSweep marks up to limit artifacts whose expiry has passed as
// swept, in one short statement that skips rows others hold, and returns their
// blobs to delete. The rows stay, so an expired artifact is still listed and
// answered "expired on …" rather than vanishing.
func (s *Store) ArtifactsExpiredSweep(ctx context.Context, limit int) ([]SweptBlob, error) {
	rows, err := s.pool.Query(ctx, `
		UPDATE artifacts SET swept_at = now() WHERE id IN (
			SELECT id FROM artifacts WHERE expires_at <= now() AND swept_at IS NULL
			ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)
		RETURNING blob_key, size`, limit)
	return collectSwept(rows, err, "sweep expired artifacts")
}

// CachesStaleDelete deletes up to limit caches unused for longer than their
// project's cache retention (defaultRetention when the project sets none),
// and returns their blobs.
func (s *Store) CachesStaleDelete(ctx context.Context, defaultRetention time.Duration, limit int) ([]SweptBlob, error) {
	rows, err := s.pool.Query(ctx, `
		DELETE FROM caches WHERE id IN (
			SELECT c.id FROM caches c JOIN projects p ON p.id = c.project_id
			WHERE c.last_used < now() - make_interval(secs => coalesce(p.cache_retention_seconds, $1::bigint))
			ORDER BY c.last_used LIMIT $2 FOR UPDATE OF c SKIP LOCKED)
		RETURNING blob_key, size`, int64(defaultRetention/time.Second), limit)
	return collectSwept(rows, err, "delete stale caches")
}

// BlobKeysUnreferenced returns those of keys that no artifact, cache or log archive row points at.
func (s *Store) BlobKeysUnreferenced(ctx context.Context, keys []string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT k FROM unnest($1::text[]) k
		WHERE NOT EXISTS (SELECT 1 FROM artifacts WHERE blob_key = k AND swept_at IS NULL)
		  AND NOT EXISTS (SELECT 1 FROM caches WHERE blob_key = k)
		  AND NOT EXISTS (SELECT 1 FROM log_archives WHERE blob_key = k AND expired_at IS NULL)`, keys)
	if err != nil {
		return nil, interpret(err, "unreferenced blobs")
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return out, interpret(err, "unreferenced blobs")
}
