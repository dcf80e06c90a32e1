package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Artifact is a file a job attempt uploaded; its bytes are in the blob store under BlobKey.
type Artifact struct {
	ID          int64
	JobID       int64
	Attempt     int
	Path        string
	Size        int64
	SHA256      string
	ContentType string
	BlobKey     string
	ExpiresAt   *time.Time
	CreatedAt   time.Time
}

const artifactColumns = `id, job_id, attempt, path, size, sha256, content_type, blob_key, expires_at, created_at`

func scanArtifact(row pgx.Row) (*Artifact, error) {
	var a Artifact
	err := row.Scan(&a.ID, &a.JobID, &a.Attempt, &a.Path, &a.Size, &a.SHA256, &a.ContentType, &a.BlobKey,
		&a.ExpiresAt, &a.CreatedAt)
	return &a, err
}

// ArtifactUploadCheck says whether h holds a running attempt it may upload
// for (ErrGone otherwise), and how many artifact bytes that attempt holds
// already, not counting the file at path (which an upload would replace).
func (s *Store) ArtifactUploadCheck(ctx context.Context, h Holder, path string) (used int64, err error) {
	const q = `
		SELECT j.status, j.attempt, j.claims,
			(SELECT coalesce(sum(size), 0) FROM artifacts WHERE job_id = j.id AND attempt = j.attempt AND path <> $2)
		FROM jobs j WHERE j.id = $1`
	var status string
	var attempt, claims int
	err = s.pool.QueryRow(ctx, q, h.JobID, path).Scan(&status, &attempt, &claims, &used)
	if err != nil {
		return 0, interpret(err, "artifact upload check")
	}
	if status != StatusRunning || attempt != h.Attempt || (h.Claim != 0 && claims != h.Claim) {
		return 0, ErrGone
	}
	return used, nil
}

// ArtifactCreateParams is an upload whose bytes are stored and verified.
type ArtifactCreateParams struct {
	Holder
	Path        string
	Size        int64
	SHA256      string
	ContentType string
	BlobKey     string
	// ExpiresAt is the upload's own expiry; nil: the project's artifact
	// retention from now, or DefaultRetention when the project sets none.
	ExpiresAt        *time.Time
	DefaultRetention time.Duration
	// MaxJob bounds the bytes of all artifacts of the attempt; 0: no bound.
	MaxJob int64
}

// ArtifactCreate makes an uploaded file visible: one transaction that checks
// that the holder's attempt still runs and stays within MaxJob (concurrent
// uploads included), and inserts the row, replacing an earlier upload of the
// same path by the attempt. It returns the row and the blob key the row
// pointed at before (empty if none), which the caller deletes.
func (s *Store) ArtifactCreate(ctx context.Context, p *ArtifactCreateParams) (a *Artifact, replaced string, err error) {
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		j, err := lockJob(ctx, tx, p.Holder)
		if err != nil {
			return err
		}
		if j.Status != StatusRunning {
			return ErrGone
		}
		var used int64
		err = tx.QueryRow(ctx, `SELECT coalesce(sum(size), 0) FROM artifacts WHERE job_id = $1 AND attempt = $2 AND path <> $3`,
			p.JobID, p.Attempt, p.Path).Scan(&used)
		if err != nil {
			return interpret(err, "artifact sizes")
		}
		if p.MaxJob > 0 && used+p.Size > p.MaxJob {
			return &Error{Kind: TooLarge, Field: "path", Setting: "AURA_ARTIFACT_MAX_JOB",
				Message: fmt.Sprintf("the job's artifacts would take %d bytes, over the limit of %d bytes per job (AURA_ARTIFACT_MAX_JOB)", used+p.Size, p.MaxJob)}
		}
		err = tx.QueryRow(ctx, `SELECT blob_key FROM artifacts WHERE job_id = $1 AND attempt = $2 AND path = $3`,
			p.JobID, p.Attempt, p.Path).Scan(&replaced)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return interpret(err, "artifact replaced")
		}
		a, err = scanArtifact(tx.QueryRow(ctx, `
			INSERT INTO artifacts (job_id, attempt, path, size, sha256, content_type, blob_key, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, coalesce($8, now() + make_interval(secs => coalesce(
				(SELECT p.artifact_retention_seconds FROM jobs j JOIN projects p ON p.id = j.project_id WHERE j.id = $1), $9::bigint))))
			ON CONFLICT (job_id, attempt, path) DO UPDATE SET size = excluded.size, sha256 = excluded.sha256,
				content_type = excluded.content_type, blob_key = excluded.blob_key,
				expires_at = excluded.expires_at, created_at = now()
			RETURNING `+artifactColumns,
			p.JobID, p.Attempt, p.Path, p.Size, p.SHA256, p.ContentType, p.BlobKey, p.ExpiresAt, int64(p.DefaultRetention/time.Second)))
		return interpret(err, "artifact insert")
	})
	if err != nil {
		return nil, "", err
	}
	return a, replaced, nil
}

// ArtifactList lists a job's artifacts: those of its latest attempt that
// uploaded any, by path.
func (s *Store) ArtifactList(ctx context.Context, jobID int64) ([]*Artifact, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT `+artifactColumns+` FROM artifacts
		WHERE job_id = $1 AND attempt = (SELECT max(attempt) FROM artifacts WHERE job_id = $1)
		ORDER BY path`, jobID)
	if err != nil {
		return nil, interpret(err, "artifact list")
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*Artifact, error) { return scanArtifact(row) })
	if err != nil {
		return nil, interpret(err, "artifact list")
	}
	return list, nil
}

// ArtifactGet is the artifact at path of the job's latest attempt that has one.
func (s *Store) ArtifactGet(ctx context.Context, jobID int64, path string) (*Artifact, error) {
	a, err := scanArtifact(s.pool.QueryRow(ctx, `
		SELECT `+artifactColumns+` FROM artifacts WHERE job_id = $1 AND path = $2
		ORDER BY attempt DESC LIMIT 1`, jobID, path))
	if err != nil {
		return nil, interpret(err, "artifact get")
	}
	return a, nil
}
