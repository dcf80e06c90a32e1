package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// RangeError answers a log chunk that would leave a gap: the server has Length bytes.
type RangeError struct{ Length int64 }

func (e *RangeError) Error() string {
	return fmt.Sprintf("log chunk leaves a gap: the server has %d bytes", e.Length)
}

// LogAppendParams is one chunk of a job's log at a byte offset.
type LogAppendParams struct {
	Holder
	Offset int64
	Data   []byte
	// Limit is the most bytes kept; past it the job fails and only the head and
	// the last TailKeep bytes are kept.
	Limit    int64
	TailKeep int64
}

// LogAppendResult says how many bytes the server has and whether the job must stop.
type LogAppendResult struct {
	Length int64
	Cancel bool
}

// LogAppend stores a chunk of a running job's log. Chunks are addressed by byte
// offset, so a retried upload is acknowledged without doubling bytes and a gap is
// refused. Secret values are masked again (same length, so offsets hold) in case
// the runner did not. A log that outgrows the limit fails its job.
func (s *Store) LogAppend(ctx context.Context, p *LogAppendParams) (*LogAppendResult, error) {
	var res LogAppendResult
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		j, err := lockHeld(ctx, tx, p.Holder)
		if err != nil {
			return err
		}
		res.Length, res.Cancel = j.LogLength, j.Status != StatusRunning
		end := p.Offset + int64(len(p.Data))
		switch {
		case p.Offset > j.LogLength:
			return &RangeError{Length: j.LogLength}
		case end <= j.LogLength:
			return nil // already stored
		}
		data := maskSecrets(p.Data[j.LogLength-p.Offset:], j.SecretEnv)
		h := sha256.New()
		if len(j.HashState) > 0 {
			if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(j.HashState); err != nil {
				return fmt.Errorf("store: log hash state: %w", err)
			}
		}
		h.Write(data)
		state, _ := h.(encoding.BinaryMarshaler).MarshalBinary()
		var n notes
		truncated := j.LogTruncated || (p.Limit > 0 && end > p.Limit)
		n.event(LogEvent{JobID: p.JobID, Attempt: p.Attempt, Offset: j.LogLength, Length: end - j.LogLength})
		// The chunk, the job's new length and the event go out in one round trip.
		const qChunk = `INSERT INTO log_chunks (job_id, attempt, "offset", data) VALUES ($1, $2, $3, $4)`
		const qJob = `UPDATE jobs SET log_length = $2, log_hash_state = $3, log_truncated = $4 WHERE id = $1`
		b := &pgx.Batch{}
		b.Queue(qChunk, p.JobID, p.Attempt, j.LogLength, data)
		b.Queue(qJob, p.JobID, end, state, truncated)
		n.queue(b)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return interpret(err, "append log")
		}
		res.Length = end
		if p.Limit > 0 && end > p.Limit {
			var ended notes
			if err := trimLog(ctx, tx, p.JobID, p.Attempt, p.Limit-p.TailKeep, end-p.TailKeep); err != nil {
				return err
			}
			if !j.LogTruncated {
				if err := s.jobFailRunning(ctx, tx, &ended, p.JobID, p.Attempt, "log limit exceeded"); err != nil {
					return err
				}
			}
			res.Cancel = true
			return ended.flush(ctx, tx)
		}
		return nil
	})
	return &res, err
}

// trimLog keeps a log's bytes before head and from keepFrom on, splitting the
// chunks that straddle either boundary; GET log marks the gap between them.
func trimLog(ctx context.Context, tx pgx.Tx, jobID int64, attempt int, head, keepFrom int64) error {
	if keepFrom <= head {
		return nil
	}
	const qSplit = `
		WITH straddling AS (
			SELECT "offset", data FROM log_chunks
			WHERE job_id = $1 AND attempt = $2 AND "offset" < $3 AND "offset" + length(data) > $3
		), tail AS (
			INSERT INTO log_chunks (job_id, attempt, "offset", data)
			SELECT $1, $2, $3, substring(data FROM ($3 - "offset" + 1)::int) FROM straddling
		)
		UPDATE log_chunks c SET data = substring(c.data FOR ($3 - c."offset")::int)
		FROM straddling s
		WHERE c.job_id = $1 AND c.attempt = $2 AND c."offset" = s."offset"`
	const qDrop = `
		DELETE FROM log_chunks WHERE job_id = $1 AND attempt = $2
			AND "offset" >= $3 AND "offset" + length(data) <= $4`
	const qTrimFront = `
		UPDATE log_chunks SET data = substring(data FROM ($3 - "offset" + 1)::int), "offset" = $3
		WHERE job_id = $1 AND attempt = $2 AND "offset" >= $4 AND "offset" < $3 AND "offset" + length(data) > $3`
	b := &pgx.Batch{}
	b.Queue(qSplit, jobID, attempt, head)
	b.Queue(qDrop, jobID, attempt, head, keepFrom)
	b.Queue(qTrimFront, jobID, attempt, keepFrom, head)
	return interpret(tx.SendBatch(ctx, b).Close(), "trim log")
}

// maskSecrets overwrites every secret value in data with asterisks of the same length.
func maskSecrets(data []byte, secrets map[string]string) []byte {
	masked := data
	for _, v := range secrets {
		if v == "" || !bytes.Contains(masked, []byte(v)) {
			continue
		}
		if &masked[0] == &data[0] {
			masked = bytes.Clone(data)
		}
		stars := bytes.Repeat([]byte("*"), len(v))
		for i := bytes.Index(masked, []byte(v)); i >= 0; {
			copy(masked[i:], stars)
			next := bytes.Index(masked[i+len(v):], []byte(v))
			if next < 0 {
				break
			}
			i += len(v) + next
		}
	}
	return masked
}

// LogRead returns the log of one attempt of a job (0: the current attempt) from
// offset, at most limit bytes (0: all), and the total stored length. Where the
// limit cut bytes out, a marker line says how many.
func (s *Store) LogRead(ctx context.Context, jobID int64, attempt int, offset, limit int64) ([]byte, int64, error) {
	var length int64
	var current int
	err := s.pool.QueryRow(ctx, `SELECT log_length, attempt FROM jobs WHERE id = $1`, jobID).Scan(&length, &current)
	if err != nil {
		return nil, 0, interpret(err, "read log")
	}
	if attempt == 0 {
		attempt = current
	} else if attempt != current {
		// An older attempt: its length is what its chunks hold.
		const q = `SELECT coalesce(max("offset" + length(data)), 0) FROM log_chunks WHERE job_id = $1 AND attempt = $2`
		if err := s.pool.QueryRow(ctx, q, jobID, attempt).Scan(&length); err != nil {
			return nil, 0, interpret(err, "read log")
		}
	}
	const q = `
		SELECT "offset", data FROM log_chunks
		WHERE job_id = $1 AND attempt = $2 AND "offset" + length(data) > $3
			AND ($4 = 0 OR "offset" < $3 + $4)
		ORDER BY "offset"`
	rows, err := s.pool.Query(ctx, q, jobID, attempt, offset, limit)
	if err != nil {
		return nil, 0, interpret(err, "read log")
	}
	type chunk struct {
		off  int64
		data []byte
	}
	chunks, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (chunk, error) {
		var c chunk
		err := r.Scan(&c.off, &c.data)
		return c, err
	})
	if err != nil {
		return nil, 0, interpret(err, "read log")
	}
	var out bytes.Buffer
	pos := offset
	for _, c := range chunks {
		if c.off > pos {
			fmt.Fprintf(&out, "\n[aura: %d bytes of log omitted: log limit exceeded]\n", c.off-pos)
			pos = c.off
		}
		out.Write(c.data[pos-c.off:])
		pos = c.off + int64(len(c.data))
	}
	b := out.Bytes()
	if limit > 0 && int64(len(b)) > limit {
		b = b[:limit]
	}
	return b, length, nil
}
