package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aura-ci/aura/backend/internal/blob"
	"github.com/aura-ci/aura/backend/internal/logpack"
)

// SetBlobs gives the store the blob store that archived logs are moved to and
// read from; call it before serving.
func (s *Store) SetBlobs(b blob.Store) { s.blobs = b }

// LogArchivePrefix is where archived logs live in the blob store.
const LogArchivePrefix = "logs/"

// LogArchiveParams says how one LogArchive round works.
type LogArchiveParams struct {
	// Limit is the most logs moved in one transaction.
	Limit int
	// Grace is how long after its attempt ended a log waits (an attempt a
	// 0.4 runner ran waits at least 11 minutes: it uploads its whole log after
	// it reported the end, see lockJob's EndedRecently).
	Grace time.Duration
	// StepFunc, when set, is called after each step of each log's move
	// ("packed", "put", "verified"), then once with "recorded" before the
	// commit and "committed" after it; an error it returns stops the round
	// there, as a crash would (tests).
	StepFunc func(step string) error
}

// LogArchiveResult is what one round moved.
type LogArchiveResult struct {
	Logs   int
	Bytes  int64 // the log bytes moved out of PostgreSQL
	Object int64 // what their objects hold
}

// archivedRow is one log a round moved, waiting for its row.
type archivedRow struct {
	jobID    int64
	attempt  int
	key, sum string
	size     int64
	length   int64
	stored   int64
	index    []byte
	endedAt  time.Time
}

// LogArchive moves the logs of ended attempts out of log_chunks into the blob
// store, up to p.Limit of them, in one transaction: it locks each log's first
// chunk (SKIP LOCKED, so servers sharing the database share the work), packs
// the chunks into an object (logpack), stores it and checks its size, then
// records the archive and deletes the chunks in the same transaction. A crash
// before the commit leaves the chunks (and at worst an object no row names,
// which the retention sweep removes as an orphan); after it, the archive.
func (s *Store) LogArchive(ctx context.Context, p *LogArchiveParams) (*LogArchiveResult, error) {
	if s.blobs == nil {
		return nil, errors.New("store: archive logs: no blob store")
	}
	step := func(name string) error {
		if p.StepFunc == nil {
			return nil
		}
		return p.StepFunc(name)
	}
	res := &LogArchiveResult{}
	var written []string
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		const qClaim = `
			SELECT c.job_id, c.attempt, CASE WHEN c.attempt = j.attempt THEN j.ended_at END
			FROM log_chunks c JOIN jobs j ON j.id = c.job_id
			WHERE c."offset" = 0 AND (c.attempt < j.attempt OR (
				j.status NOT IN ('waiting', 'queued', 'running') AND j.ended_at IS NOT NULL
				AND j.ended_at <= now() - CASE WHEN j.compat THEN greatest(make_interval(secs => $1), interval '11 minutes')
					ELSE make_interval(secs => $1) END))
			ORDER BY c.job_id, c.attempt
			LIMIT $2
			FOR UPDATE OF c SKIP LOCKED`
		rows, _ := tx.Query(ctx, qClaim, p.Grace.Seconds(), max(p.Limit, 1))
		type claimed struct {
			jobID   int64
			attempt int
			endedAt *time.Time
		}
		logs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (claimed, error) {
			var c claimed
			return c, r.Scan(&c.jobID, &c.attempt, &c.endedAt)
		})
		if err != nil {
			return interpret(err, "claim logs to archive")
		}
		var done []archivedRow
		var obj bytes.Buffer
		for _, l := range logs {
			obj.Reset()
			a, err := packLog(ctx, tx, l.jobID, l.attempt, &obj)
			if err != nil {
				return err
			}
			if l.endedAt != nil {
				a.endedAt = *l.endedAt
			}
			if err := step("packed"); err != nil {
				return err
			}
			a.key = fmt.Sprintf("%s%d/%d/%x", LogArchivePrefix, l.jobID, l.attempt, time.Now().UnixNano())
			written = append(written, a.key)
			if err := s.blobs.Put(ctx, a.key, bytes.NewReader(obj.Bytes()), a.size); err != nil {
				return fmt.Errorf("store: archive log of job %d attempt %d: %w", l.jobID, l.attempt, err)
			}
			if err := step("put"); err != nil {
				return err
			}
			info, err := s.blobs.Stat(ctx, a.key)
			if err == nil && info.Size != a.size {
				err = fmt.Errorf("the store holds %d bytes of %d", info.Size, a.size)
			}
			if err != nil {
				return fmt.Errorf("store: check archived log of job %d attempt %d: %w", l.jobID, l.attempt, err)
			}
			if err := step("verified"); err != nil {
				return err
			}
			done = append(done, a)
			res.Logs++
			res.Bytes += a.stored
			res.Object += a.size
		}
		if len(done) == 0 {
			return nil
		}
		const qRecord = `
			INSERT INTO log_archives (job_id, attempt, blob_key, size, sha256, length, stored, index_data, ended_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`
		const qDelete = `DELETE FROM log_chunks WHERE job_id = $1 AND attempt = $2`
		b := &pgx.Batch{}
		for _, a := range done {
			b.Queue(qRecord, a.jobID, a.attempt, a.key, a.size, a.sum, a.length, a.stored, a.index, a.endedAt)
			b.Queue(qDelete, a.jobID, a.attempt)
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return interpret(err, "record archived logs")
		}
		return step("recorded")
	})
	if err != nil {
		// What this round stored is named by no row: best effort, else an orphan.
		for _, k := range written {
			_ = s.blobs.Delete(context.WithoutCancel(ctx), k)
		}
		return res, err
	}
	return res, step("committed")
}

// packLog writes the object of one attempt's log to obj from its chunks, read
// in the transaction that holds the log's first chunk.
func packLog(ctx context.Context, tx pgx.Tx, jobID int64, attempt int, obj *bytes.Buffer) (archivedRow, error) {
	a := archivedRow{jobID: jobID, attempt: attempt}
	w := logpack.NewWriter(obj)
	const q = `SELECT "offset", data, arrived_at FROM log_chunks WHERE job_id = $1 AND attempt = $2 ORDER BY "offset"`
	rows, _ := tx.Query(ctx, q, jobID, attempt)
	var off int64
	var data []byte
	var at time.Time
	_, err := pgx.ForEachRow(rows, []any{&off, &data, &at}, func() error {
		if at.After(a.endedAt) {
			a.endedAt = at
		}
		return w.Add(off, data, at)
	})
	if err != nil {
		return a, interpret(err, "pack log")
	}
	ix, size, sum, err := w.Close()
	if err != nil {
		return a, fmt.Errorf("store: pack log: %w", err)
	}
	a.size, a.sum, a.length, a.stored = size, sum, ix.Length(), ix.Stored()
	a.index, _ = ix.MarshalBinary()
	return a, nil
}

// logArchive is an attempt's log in the blob store.
type logArchive struct {
	key       string
	index     *logpack.Index
	expiredAt *time.Time
	private   bool
}

// logArchiveGet returns the archive of an attempt's log (0: the current
// attempt) with the attempt, or nil if its log is not archived.
func (s *Store) logArchiveGet(ctx context.Context, jobID int64, attempt int) (*logArchive, int, error) {
	const q = `
		SELECT j.attempt, p.private, a.blob_key, a.index_data, a.expired_at
		FROM jobs j JOIN projects p ON p.id = j.project_id
		LEFT JOIN log_archives a ON a.job_id = j.id AND a.attempt = CASE WHEN $2 = 0 THEN j.attempt ELSE $2 END
		WHERE j.id = $1`
	var key *string
	var index []byte
	var a logArchive
	if err := s.pool.QueryRow(ctx, q, jobID, attempt).Scan(&attempt, &a.private, &key, &index, &a.expiredAt); err != nil {
		return nil, 0, interpret(err, "read archived log")
	}
	if key == nil {
		return nil, attempt, nil
	}
	a.key = *key
	if a.expiredAt != nil {
		return &a, attempt, nil
	}
	a.index = new(logpack.Index)
	if err := a.index.UnmarshalBinary(index); err != nil {
		return nil, 0, fmt.Errorf("store: archived log of job %d attempt %d: %w", jobID, attempt, err)
	}
	return &a, attempt, nil
}

// expiredError answers a read of a log the retention sweep deleted.
func expiredError(jobID int64, attempt int, at time.Time) error {
	return &Error{Kind: Gone, Message: fmt.Sprintf("the log of job %d (attempt %d) expired on %s: its project keeps logs for a limited time",
		jobID, attempt, at.UTC().Format(time.RFC3339))}
}

// logSource is where an attempt's log is read from: its chunks in
// PostgreSQL while it runs and until it is archived (chunkLog), then its
// archive in the blob store (archivedLog). Every read tries the chunks first
// and turns to the archive when they are gone: the archive's row is written in
// the transaction that deletes the chunks, so one of the two always answers.
type logSource interface {
	// copyTo writes the log's bytes in [from, to) to w, marking a gap (the log
	// limit) with a line, and returns where it stopped (short of to: the
	// bytes are not here, or no more).
	copyTo(ctx context.Context, w io.Writer, from, to int64) (int64, error)
	// chunks returns the chunks holding bytes in [from, to) (to 0: to the
	// end), cut to the range, at most maxChunks and (maxBytes > 0) none past
	// the first starting maxBytes or more into the range.
	chunks(ctx context.Context, from, to int64, maxChunks int, maxBytes int64) ([]LogChunk, error)
	// times returns each chunk's offset and arrival time.
	times(ctx context.Context) ([]LogTime, error)
}

// archivedLog reads an archive's object through its index.
type archivedLog struct {
	s       *Store
	jobID   int64
	attempt int
	a       *logArchive
}

// archivedSource returns the archive of an attempt's log as a logSource, nil if it is not archived.
func (s *Store) archivedSource(ctx context.Context, jobID int64, attempt int) (*archivedLog, error) {
	a, attempt, err := s.logArchiveGet(ctx, jobID, attempt)
	if err != nil || a == nil {
		return nil, err
	}
	if a.expiredAt != nil {
		return nil, expiredError(jobID, attempt, *a.expiredAt)
	}
	if s.blobs == nil {
		return nil, errors.New("store: read archived log: no blob store")
	}
	return &archivedLog{s: s, jobID: jobID, attempt: attempt, a: a}, nil
}

func (l *archivedLog) read(ctx context.Context, from, to int64, fn func(chunk int, off int64, data []byte) error) error {
	open := func(ctx context.Context, offset, length int64) (io.ReadCloser, error) {
		return l.s.blobs.Open(ctx, l.a.key, offset, length)
	}
	err := l.a.index.Read(ctx, open, from, to, fn)
	if err != nil && !errors.Is(err, errStopRead) && ctx.Err() == nil {
		return fmt.Errorf("store: read archived log of job %d attempt %d: %w", l.jobID, l.attempt, err)
	}
	return err
}

var errStopRead = errors.New("enough read")

func (l *archivedLog) copyTo(ctx context.Context, w io.Writer, from, to int64) (int64, error) {
	pos := from
	err := l.read(ctx, from, to, func(_ int, off int64, data []byte) error {
		if off > pos {
			if err := writeOmitted(w, off-pos); err != nil {
				return err
			}
		}
		_, err := w.Write(data)
		pos = off + int64(len(data))
		return err
	})
	return pos, err
}

func (l *archivedLog) chunks(ctx context.Context, from, to int64, maxChunks int, maxBytes int64) ([]LogChunk, error) {
	if to == 0 {
		to = l.a.index.Length()
	}
	var out []LogChunk
	var before int64
	last := -1
	err := l.read(ctx, from, to, func(chunk int, off int64, data []byte) error {
		if chunk == last {
			c := &out[len(out)-1]
			c.Data = append(c.Data, data...) // one chunk cut by a block border
			return nil
		}
		if n := len(out); n >= maxChunks || (n > 0 && maxBytes > 0 && before >= maxBytes) {
			return errStopRead
		}
		last = chunk
		out = append(out, LogChunk{Offset: off, Data: bytes.Clone(data), Time: l.a.index.Chunks[chunk].Time, Private: l.a.private})
		before += l.a.index.Chunks[chunk].Size // as log_chunks counts: whole chunks
		return nil
	})
	if err != nil && !errors.Is(err, errStopRead) {
		return nil, err
	}
	return out, nil
}

func (l *archivedLog) times(context.Context) ([]LogTime, error) {
	out := make([]LogTime, len(l.a.index.Chunks))
	for i, c := range l.a.index.Chunks {
		out[i] = LogTime{Offset: c.Offset, Time: c.Time}
	}
	return out, nil
}

// writeOmitted marks n bytes the log limit dropped.
func writeOmitted(w io.Writer, n int64) error {
	_, err := fmt.Fprintf(w, "\n[aura: %d bytes of log omitted: log limit exceeded]\n", n)
	return err
}

// LogArchivesExpiredSweep marks up to limit archived logs older than their
// project's log retention (defaultRetention when it sets none; 0: kept
// forever) as expired, in one statement that skips rows others hold, and
// returns their objects to delete. The rows stay, so the job says when its
// log expired.
func (s *Store) LogArchivesExpiredSweep(ctx context.Context, defaultRetention time.Duration, limit int) ([]SweptBlob, error) {
	rows, err := s.pool.Query(ctx, `
		UPDATE log_archives SET expired_at = now(), index_data = NULL WHERE (job_id, attempt) IN (
			SELECT a.job_id, a.attempt FROM log_archives a
			JOIN jobs j ON j.id = a.job_id JOIN projects p ON p.id = j.project_id
			WHERE a.expired_at IS NULL AND coalesce(p.log_retention_seconds, $1::bigint) > 0
				AND a.ended_at < now() - make_interval(secs => coalesce(p.log_retention_seconds, $1::bigint))
				-- Bounds the index scan: no log younger than the shortest retention
				-- is read (none at all when every log is kept forever).
				AND a.ended_at < now() - make_interval(secs => (
					SELECT min(coalesce(log_retention_seconds, $1::bigint)) FROM projects
					WHERE coalesce(log_retention_seconds, $1::bigint) > 0))
			ORDER BY a.ended_at LIMIT $2 FOR UPDATE OF a SKIP LOCKED)
		RETURNING blob_key, size`, int64(defaultRetention/time.Second), limit)
	return collectSwept(rows, err, "sweep expired logs")
}

// LogCopy writes the bytes [Offset, End) of one attempt's log (Attempt
// resolved, see LogInfoGet) to w as it reads them, from its chunks or, once
// they are gone, its archive; where the log limit dropped bytes, a marker line
// says how many.
func (s *Store) LogCopy(ctx context.Context, w io.Writer, p *LogReadParams) error {
	pos, err := chunkLog{s, p.JobID, p.Attempt}.copyTo(ctx, w, p.Offset, p.End)
	if err != nil || pos >= p.End {
		return err
	}
	arch, err := s.archivedSource(ctx, p.JobID, p.Attempt)
	if err != nil || arch == nil {
		return err // no archive: the log was trimmed meanwhile
	}
	_, err = arch.copyTo(ctx, w, pos, p.End)
	return err
}

// Both kinds of log are read through logSource.
var (
	_ logSource = chunkLog{}
	_ logSource = (*archivedLog)(nil)
)
