package store

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding"
	"fmt"
	"hash"
	"io"
	"iter"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/aura-ci/aura/backend/internal/event"
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
	// Mask holds more values to mask besides the job's secrets: the tokens of
	// the attempt and of the runner uploading it.
	Mask []string
	// JobTokenFunc, when set, gives the job token of a hand-out, masked too: only
	// the locked row says which hand-out is the current one.
	JobTokenFunc func(claim int) string
	// AfterEnd accepts the one upload of a 0.4 runner's whole log, which comes
	// after it reported the job finished; only from the attempt's own runner.
	AfterEnd bool
	// Body, when set, gives the chunk's Size bytes as they arrive (a request
	// body), read into Data's room (its capacity; Data is then those bytes):
	// a chunk that continues this server's carry goes to the database row by
	// row as it is read, so the database stores while the rest comes in. A
	// body that ends early or fails stores nothing (a *BodyError).
	Body io.Reader
	Size int64
}

// BodyError is a log chunk's body that could not be read whole; nothing of it
// was stored.
type BodyError struct{ Err error }

func (e *BodyError) Error() string { return "read log chunk: " + e.Err.Error() }
func (e *BodyError) Unwrap() error { return e.Err }

// chunkIn is a chunk being read: data has its room, have bytes have come.
type chunkIn struct {
	data []byte
	have int
	body io.Reader
}

func newChunkIn(p *LogAppendParams) *chunkIn {
	if p.Body == nil {
		return &chunkIn{data: p.Data, have: len(p.Data)}
	}
	data := p.Data[:0]
	if int64(cap(data)) < p.Size {
		data = make([]byte, 0, p.Size)
	}
	return &chunkIn{data: data[:p.Size], body: p.Body}
}

// upTo reads until at least n bytes (at most the chunk's) have come.
func (in *chunkIn) upTo(n int) error {
	n = min(n, len(in.data))
	if in.have >= n {
		return nil
	}
	k, err := io.ReadFull(in.body, in.data[in.have:n])
	in.have += k
	if err != nil {
		return &BodyError{Err: err}
	}
	return nil
}

// LogAppendResult says how many bytes the server has and whether the job must stop.
type LogAppendResult struct {
	Length int64
	Cancel bool
}

// LogAppend stores a chunk of the log of the holder's running attempt; an attempt
// that is over takes nothing more (ErrGone). Chunks are addressed by byte offset,
// so a retried upload is acknowledged without doubling bytes and a gap is
// refused. Secret values are masked again (same length, so offsets hold) in case
// the runner did not, also where one straddles two chunks. The log's checksum is
// of the bytes as received, so `complete` checks the transfer. A log that
// outgrows the limit fails its job. The bytes of p.Data are never changed (with
// p.Body, p.Data is set to the bytes read).
//
// The chunk that continues what this server stored last for the attempt takes
// one round trip (logAppendCarried), its rows sent as its body comes in; any other (the first, one another server
// took over, a retry, a secret straddling the border, the limit) takes the
// locked path, which reads what it needs from the database.
func (s *Store) LogAppend(ctx context.Context, p *LogAppendParams) (*LogAppendResult, error) {
	in := newChunkIn(p)
	if res, ok, err := s.logAppendCarried(ctx, p, in); ok || err != nil {
		return res, err
	}
	if err := in.upTo(len(in.data)); err != nil {
		return nil, err
	}
	p.Data = in.data
	return s.logAppendLocked(ctx, p)
}

// logAppendLocked is LogAppend with the job row locked and every state read
// from the database; it leaves the attempt's carry for the next chunk.
func (s *Store) logAppendLocked(ctx context.Context, p *LogAppendParams) (*LogAppendResult, error) {
	key := logKey{p.JobID, p.Attempt}
	var res LogAppendResult
	var next *logCarry
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		next = nil
		j, err := lockJob(ctx, tx, p.Holder)
		if err != nil {
			return err
		}
		compatUpload := p.AfterEnd && p.RunnerID != 0 && j.Compat && j.EndedRecently
		if j.Status != StatusRunning && !compatUpload {
			return ErrGone
		}
		res.Length, res.Cancel = j.LogLength, j.CancelRequested
		end := p.Offset + int64(len(p.Data))
		switch {
		case p.Offset > j.LogLength:
			return &RangeError{Length: j.LogLength}
		case end <= j.LogLength:
			return nil // already stored
		}
		raw := p.Data[j.LogLength-p.Offset:]
		h := sha256.New()
		if len(j.HashState) > 0 {
			if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(j.HashState); err != nil {
				return fmt.Errorf("store: log hash state: %w", err)
			}
		}
		h.Write(raw)
		state, _ := h.(encoding.BinaryMarshaler).MarshalBinary()
		mask := slices.Clip(p.Mask)
		if p.JobTokenFunc != nil {
			// The current hand-out's token: the carry's claims check keeps it current.
			mask = append(mask, p.JobTokenFunc(j.Claims))
		}
		forms, err := s.logForms(j.SecretSealed, mask)
		if err != nil {
			return err
		}
		match := newMatcher(forms)
		data, tail, err := maskChunk(ctx, tx, j.LogLength, p, match, raw)
		if err != nil {
			return err
		}
		var n notes
		truncated := j.LogTruncated || (p.Limit > 0 && end > p.Limit)
		n.event(event.Log{JobID: p.JobID, Attempt: p.Attempt, Offset: j.LogLength, Length: end - j.LogLength})
		// The chunk, the job's new length and the event go out in one round trip.
		const qChunk = `INSERT INTO log_chunks (job_id, attempt, "offset", data) VALUES ($1, $2, $3, $4)`
		const qJob = `UPDATE jobs SET log_length = $2, log_hash_state = $3, log_truncated = $4 WHERE id = $1 RETURNING started_at`
		b := &pgx.Batch{}
		for at, row := range logRows(data) {
			b.Queue(qChunk, p.JobID, p.Attempt, j.LogLength+at, row)
		}
		var startedAt *time.Time
		b.Queue(qJob, p.JobID, end, state, truncated).QueryRow(func(r pgx.Row) error { return r.Scan(&startedAt) })
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
				if err := s.jobStopRunning(ctx, tx, &ended, p.JobID, p.Attempt, "log limit exceeded"); err != nil {
					return err
				}
			}
			res.Cancel = true
			return ended.flush(ctx, tx)
		}
		if j.Status == StatusRunning && !truncated && startedAt != nil && tail != nil {
			next = &logCarry{startedAt: *startedAt, claims: j.Claims, length: end, hashState: state,
				mask: slices.Clone(p.Mask), forms: forms, match: match, tail: tail}
		}
		return nil
	})
	if err != nil || next == nil {
		s.carries.drop(key)
	} else {
		s.carries.put(key, next)
	}
	return &res, err
}

// logAppendCarried appends a chunk that starts where this server's last append
// to the attempt ended, with the secret forms, checksum state and stored tail it
// kept (ok false: no such carry, or the chunk needs the locked path). The one
// statement checks in the database that the carry still describes the log (the
// same hand-out of the attempt, still running, the same length), so a carry
// gone stale (another server appended meanwhile) costs only a fallback.
func (s *Store) logAppendCarried(ctx context.Context, p *LogAppendParams, in *chunkIn) (*LogAppendResult, bool, error) {
	key := logKey{p.JobID, p.Attempt}
	c := s.carries.get(key)
	end := p.Offset + int64(len(in.data))
	if c == nil || p.AfterEnd || len(in.data) == 0 || c.length != p.Offset || (p.Claim != 0 && p.Claim != c.claims) ||
		(p.Limit > 0 && end > p.Limit) || !slices.Equal(c.mask, p.Mask) {
		return nil, false, nil
	}
	// A form that begins in the stored tail ends in the chunk's first bytes.
	if err := in.upTo(max(logRowMax, c.back()+1)); err != nil {
		return nil, false, err
	}
	if straddles(c.tail, in.data[:in.have], c.forms) {
		return nil, false, nil
	}
	h := sha256.New()
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(c.hashState); err != nil {
		return nil, false, nil
	}
	payload := string(event.Marshal(event.Log{JobID: p.JobID, Attempt: p.Attempt, Offset: p.Offset, Length: end - p.Offset}))
	cancel, held, data, err := s.appendCarriedBatch(ctx, p, c, in, end, h, payload)
	if err != nil || !held {
		s.carries.drop(key)
		return nil, false, err
	}
	state, _ := h.(encoding.BinaryMarshaler).MarshalBinary()
	next := *c
	next.length, next.hashState, next.tail = end, state, carryTail(c.tail, data, c.back())
	s.carries.advance(key, c.length, &next)
	return &LogAppendResult{Length: end, Cancel: cancel}, true, nil
}

// logRowMax is the most bytes one log_chunks row holds; a longer chunk is
// stored as several rows. PostgreSQL reads each bound value into a buffer of the
// next power of two and frees it after the statement; past 512 KiB the C
// allocator gives that memory back to the kernel each time, and faulting it in
// again (about 600 page faults a MiB) cost the database three times the CPU of
// 256 KiB rows. The event hub reads at most 16 rows per append: 4 MiB.
const logRowMax = 256 << 10

// logRows yields data in rows of at most logRowMax bytes, each with its
// position in data.
func logRows(data []byte) iter.Seq2[int64, []byte] {
	return func(yield func(int64, []byte) bool) {
		for at := 0; at < len(data); at += logRowMax {
			if !yield(int64(at), data[at:min(at+logRowMax, len(data))]) {
				return
			}
		}
	}
}

// appendCarriedBatch stores the chunk in, its secrets masked, at p.Offset in
// one round trip and one transaction: the first statement locks the job row if
// the carry still describes it (held), and every later one repeats the check,
// so a stale carry writes nothing. It speaks the protocol itself so that each
// row goes out as it is (pgx's batch copies a value twice into buffers it grows
// and drops for every statement, and collecting that garbage cost the server
// as much as the rest of the append).
//
// The rows are sent as the chunk's bytes come in, each looked over for secrets
// just before it is sent and added to the checksum h after, so the database
// stores one row while the server reads and looks at the next. The look at a
// row reaches into the next by the longest form less one, so it sees every
// occurrence that begins in the row whole: a row sent is final. Where one
// occurs, the whole rest is masked in a copy (data); the rows before it had
// none to mask. A body that fails midway rolls the transaction back.
func (s *Store) appendCarriedBatch(ctx context.Context, p *LogAppendParams, c *logCarry, in *chunkIn, end int64, h hash.Hash, event string) (cancel, held bool, data []byte, err error) {
	const guard = `id = $1::bigint AND attempt = $2::int AND ($3::bigint = 0 OR runner_id = $3::bigint)
		AND ` + isRunning + ` AND started_at = $4::timestamptz AND log_length = $5::bigint AND NOT log_truncated
		AND claims = $6::int`
	const qLock = `SELECT cancel_requested_at IS NOT NULL FROM jobs WHERE ` + guard + ` FOR UPDATE`
	const qChunk = `INSERT INTO log_chunks (job_id, attempt, "offset", data)
		SELECT $1::bigint, $2::int, $7::bigint, $8::bytea FROM jobs WHERE ` + guard
	const qJob = `
		WITH job AS (
			UPDATE jobs SET log_length = $7::bigint, log_hash_state = $8::bytea WHERE ` + guard + ` RETURNING id
		)
		SELECT pg_notify($9::text, $10::text) FROM job`
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return false, false, nil, interpret(err, "append log")
	}
	defer conn.Release()
	prepared := map[string]*pgconn.StatementDescription{}
	for name, sql := range map[string]string{"aura_log_begin": "BEGIN", "aura_log_lock": qLock, "aura_log_chunk": qChunk,
		"aura_log_job": qJob, "aura_log_commit": "COMMIT", "aura_log_rollback": "ROLLBACK"} {
		if prepared[name], err = conn.Conn().Prepare(ctx, name, sql); err != nil {
			return false, false, nil, interpret(err, "append log")
		}
	}
	tm := conn.Conn().TypeMap()
	encode := func(args ...any) ([][]byte, []int16, error) {
		values := make([][]byte, len(args))
		for i, a := range args {
			if b, ok := a.([]byte); ok {
				values[i] = b // bytea's binary form is the bytes themselves
				continue
			}
			var oid uint32
			switch a.(type) {
			case int64:
				oid = pgtype.Int8OID
			case int:
				oid = pgtype.Int4OID
			case time.Time:
				oid = pgtype.TimestamptzOID
			case string:
				oid = pgtype.TextOID
			}
			if values[i], err = tm.Encode(oid, pgtype.BinaryFormatCode, a, nil); err != nil {
				return nil, nil, err
			}
		}
		return values, []int16{pgtype.BinaryFormatCode}, nil
	}
	guardArgs := []any{p.JobID, p.Attempt, p.RunnerID, c.startedAt, p.Offset, c.claims}
	pl := conn.Conn().PgConn().StartPipeline(ctx)
	// send sends a statement: the lock, chunk and job ones with the guard's
	// arguments and then args.
	send := func(name string, args ...any) error {
		switch name {
		case "aura_log_lock", "aura_log_chunk", "aura_log_job":
			args = append(slices.Clip(guardArgs), args...)
		}
		values, formats, err := encode(args...)
		if err != nil {
			return err
		}
		pl.SendQueryStatement(prepared[name], values, formats, []int16{pgtype.TextFormatCode})
		return pl.Flush()
	}
	// A chunk still coming in goes in an explicit transaction, which a body
	// that fails midway rolls back; one read whole (most are) in the implicit
	// one of the pipeline, which spares small chunks two statements.
	var bodyErr error
	explicit := in.have < len(in.data)
	if explicit {
		err = send("aura_log_begin")
	}
	if err == nil {
		err = send("aura_log_lock")
	}
	data = in.data
	// The checksum runs beside the sending: it is as much work as the rest
	// of the server's part, and the job row needs it only at the end.
	rows, hashed := make(chan []byte, len(data)/logRowMax+1), make(chan struct{})
	go func() {
		for row := range rows {
			h.Write(row)
		}
		close(hashed)
	}()
	hashDone := func() { close(rows); <-hashed; rows = nil }
	defer func() {
		if rows != nil {
			hashDone()
		}
	}()
	back, masked := c.back(), false
	for at := 0; at < len(data) && err == nil; at += logRowMax {
		rowEnd := min(at+logRowMax, len(data))
		lookEnd := min(rowEnd+back, len(data))
		if bodyErr = in.upTo(lookEnd); bodyErr != nil {
			break
		}
		if !masked && c.match.occurs(data[at:lookEnd]) {
			if bodyErr = in.upTo(len(data)); bodyErr != nil {
				break
			}
			data, masked = bytes.Clone(data), true
			maskForms(data[at:], c.forms)
		}
		err = send("aura_log_chunk", p.Offset+int64(at), data[at:rowEnd])
		rows <- in.data[at:rowEnd] // the checksum is of the bytes as received
	}
	hashDone()
	if err == nil && bodyErr == nil {
		if err = send("aura_log_job", end, checksumState(h), ChannelEvents, event); err == nil && explicit {
			err = send("aura_log_commit")
		}
	} else if err == nil {
		err = send("aura_log_rollback")
	}
	if err == nil {
		err = pl.Sync()
	}
	// The answers: BEGIN's (if sent), the lock's row (if held), then each
	// statement's, then the sync.
	lock := 0
	if explicit {
		lock = 1
	}
	for i := 0; err == nil; i++ {
		var res any
		if res, err = pl.GetResults(); err != nil || res == nil {
			break
		}
		if rr, ok := res.(*pgconn.ResultReader); ok {
			for rr.NextRow() {
				if i == lock {
					held, cancel = true, string(rr.Values()[0]) == "t"
				}
			}
			_, err = rr.Close()
		}
		if _, ok := res.(*pgconn.PipelineSync); ok {
			break
		}
	}
	if cerr := pl.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, false, nil, interpret(err, "append log")
	}
	if bodyErr != nil {
		return false, false, nil, bodyErr
	}
	return cancel, held, data, nil
}

// checksumState is the state of h, a SHA-256, to go on from later.
func checksumState(h hash.Hash) []byte {
	state, _ := h.(encoding.BinaryMarshaler).MarshalBinary()
	return state
}

// logForms opens the job's secrets and returns every form of them and of the
// extra values to mask.
func (s *Store) logForms(sealed []byte, extra []string) ([][]byte, error) {
	secrets, err := s.openSecrets(sealed)
	if err != nil {
		return nil, err
	}
	values := slices.Clone(extra)
	for _, v := range secrets {
		values = append(values, v)
	}
	return secretForms(values), nil
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

// maskChunk masks the secrets in raw, the bytes about to be stored at length,
// the end of the attempt's log, and returns them with the stored tail a form
// ending in the next chunk may begin in (nil when unknown). A form that began in
// the stored tail and ends in raw is masked in both: the stored chunks it covers
// are rewritten. raw is not changed.
func maskChunk(ctx context.Context, tx pgx.Tx, length int64, p *LogAppendParams, match *matcher, raw []byte) ([]byte, []byte, error) {
	forms := match.forms
	back := longestForm(forms) - 1
	if back <= 0 {
		return raw, []byte{}, nil
	}
	if length == 0 || !continuesForm(raw, forms) {
		// No form can straddle the border: spare the append a read of the tail
		// unless the chunk is too short to be the next one's.
		data := maskedCopy(raw, match)
		if len(data) >= back || length == 0 {
			return data, carryTail(nil, data, back), nil
		}
	}
	// The stored tail that a form ending in data may begin in.
	const q = `
		SELECT "offset", data FROM log_chunks
		WHERE job_id = $1 AND attempt = $2 AND "offset" + length(data) > $3
		ORDER BY "offset"`
	rows, _ := tx.Query(ctx, q, p.JobID, p.Attempt, length-int64(back))
	type chunk struct {
		off  int64
		data []byte
	}
	tail, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (chunk, error) {
		var c chunk
		return c, r.Scan(&c.off, &c.data)
	})
	if err != nil {
		return nil, nil, interpret(err, "mask log")
	}
	if len(tail) == 0 {
		data := maskedCopy(raw, match)
		return data, nil, nil
	}
	start := max(tail[0].off, length-int64(back))
	var buf []byte
	for _, c := range tail {
		from := max(start-c.off, 0)
		buf = append(buf, c.data[from:]...)
	}
	stored := len(buf)
	if stored != int(length-start) {
		return maskedCopy(raw, match), nil, nil // a gap (the log limit): no carry
	}
	buf = append(buf, raw...)
	if !maskForms(buf, forms) {
		return buf[stored:], carryTail(nil, buf, back), nil
	}
	// Rewrite the stored chunks whose bytes changed.
	for _, c := range tail {
		from := max(start-c.off, 0)
		at := c.off + from - start
		masked := buf[at : at+int64(len(c.data))-from]
		if bytes.Equal(masked, c.data[from:]) {
			continue
		}
		updated := append(bytes.Clone(c.data[:from]), masked...)
		const u = `UPDATE log_chunks SET data = $4 WHERE job_id = $1 AND attempt = $2 AND "offset" = $3`
		if _, err := tx.Exec(ctx, u, p.JobID, p.Attempt, c.off, updated); err != nil {
			return nil, nil, interpret(err, "mask log")
		}
	}
	return buf[stored:], carryTail(nil, buf, back), nil
}

// LogReadParams selects a range of one attempt's log.
type LogReadParams struct {
	JobID   int64
	Attempt int   // 0: the current attempt
	Offset  int64 // the first byte
	End     int64 // the byte after the last; past the log's length reads to its end
}

// LogInfo is what a log read knows before its bytes: the attempt and its length.
type LogInfo struct {
	Attempt int
	Length  int64
}

// LogInfoGet resolves the attempt of a log read (0: the current one) and its
// stored length. An attempt the job never reached is a NotFound *Error naming it.
func (s *Store) LogInfoGet(ctx context.Context, jobID int64, attempt int) (*LogInfo, error) {
	var info LogInfo
	// An archived log's row says where it ends, and whether it expired.
	const qInfo = `
		SELECT j.log_length, j.attempt, a.length, a.expired_at FROM jobs j
		LEFT JOIN log_archives a ON a.job_id = j.id AND a.attempt = CASE WHEN $2 = 0 THEN j.attempt ELSE $2 END
		WHERE j.id = $1`
	var archived *int64
	var expired *time.Time
	err := s.pool.QueryRow(ctx, qInfo, jobID, attempt).Scan(&info.Length, &info.Attempt, &archived, &expired)
	if err != nil {
		return nil, interpret(err, "read log")
	}
	switch {
	case attempt < 0 || attempt > info.Attempt:
		return nil, &Error{Kind: NotFound, Message: fmt.Sprintf("job %d has no attempt %d: its attempts are 1 to %d", jobID, attempt, info.Attempt)}
	case expired != nil:
		return nil, expiredError(jobID, cmp.Or(attempt, info.Attempt), *expired)
	case attempt == 0 || attempt == info.Attempt:
		return &info, nil
	case archived != nil:
		return &LogInfo{Attempt: attempt, Length: *archived}, nil
	}
	// An older attempt: its length is where its last chunk ends.
	const q = `
		SELECT coalesce((SELECT "offset" + octet_length(data) FROM log_chunks
			WHERE job_id = $1 AND attempt = $2 ORDER BY "offset" DESC LIMIT 1), 0)`
	info.Attempt = attempt
	return &info, interpret(s.pool.QueryRow(ctx, q, jobID, attempt).Scan(&info.Length), "read log")
}

// A log read fetches pieces of at most logPiece bytes, about logBatch bytes a
// query, so its memory stays flat whatever the chunk sizes (a 0.4 upload may be
// one chunk of 64 MiB) and no connection waits while a slow client reads.
const (
	logPiece = 256 << 10
	logBatch = 1 << 20
)

// copyTo writes the log's bytes [from, to) from its chunks to w as it reads
// them, a batch at a time, and returns where it stopped: short of to when the
// chunks are gone (archived or trimmed meanwhile). Where the log limit dropped
// bytes, a marker line says how many.
func (l chunkLog) copyTo(ctx context.Context, w io.Writer, from, to int64) (int64, error) {
	s, p := l.s, &LogReadParams{JobID: l.jobID, Attempt: l.attempt, Offset: from, End: to}
	// picked takes the next chunks from pos in order with the bytes each would
	// add, so only those within the batch's budget (and none after a chunk cut
	// at logPiece) are sliced and sent.
	const q = `
		WITH next AS (
			SELECT "offset", octet_length(data) AS size, octet_length(data) - greatest($3 - "offset", 0) AS rest
			FROM log_chunks
			WHERE job_id = $1 AND attempt = $2 AND "offset" + octet_length(data) > $3 AND "offset" < $4
			ORDER BY "offset"
			LIMIT 256
		), picked AS (
			SELECT "offset", size, least(rest, $5::int) AS piece, sum(least(rest, $5::int)) OVER w AS upto,
				coalesce(sum((rest > $5::int)::int) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS cuts
			FROM next
			WINDOW w AS (ORDER BY "offset")
		)
		SELECT c."offset", p.size, substring(c.data FROM (greatest($3 - c."offset", 0) + 1)::int FOR $5::int)
		FROM picked p JOIN log_chunks c ON c.job_id = $1 AND c.attempt = $2 AND c."offset" = p."offset"
		WHERE p.upto - p.piece < $6 AND p.cuts = 0
		ORDER BY c."offset"`
	type piece struct {
		off, size int64
		data      []byte
	}
	pos := p.Offset
	var batch []piece
	for pos < p.End {
		rows, _ := s.pool.Query(ctx, q, p.JobID, p.Attempt, pos, p.End, logPiece, logBatch)
		batch = batch[:0]
		for rows.Next() {
			var pc piece
			if err := rows.Scan(&pc.off, &pc.size, &pc.data); err != nil {
				rows.Close()
				return pos, interpret(err, "read log")
			}
			batch = append(batch, pc)
		}
		if err := rows.Err(); err != nil {
			return pos, interpret(err, "read log")
		}
		if len(batch) == 0 {
			return pos, nil // fewer bytes than the length said: archived or trimmed meanwhile
		}
		for _, pc := range batch {
			if pc.off > pos {
				if err := writeOmitted(w, pc.off-pos); err != nil {
					return pos, err
				}
				pos = pc.off
			}
			data := pc.data[:min(int64(len(pc.data)), p.End-pos)]
			if _, err := w.Write(data); err != nil {
				return pos, err
			}
			pos += int64(len(data))
			if pos < pc.off+pc.size || pos >= p.End {
				break // the chunk was cut: the next query goes on from pos
			}
		}
	}
	return pos, nil
}
