package store

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aura-ci/aura/backend/internal/event"
)

// LogChunk is stored log bytes at Offset of a job attempt, and when they arrived.
type LogChunk struct {
	Offset int64
	Data   []byte
	Time   time.Time
	// Private is the project's privacy as the chunk was read, in the same
	// snapshot: a reader that checked access before may not see it any more.
	Private bool
}

// LogChunksRead returns the chunks of a job attempt's log (0: the current one)
// that hold bytes in [from, to) (to 0: up to the end), trimmed to start at from,
// with the attempt read; at most maxChunks of them, and (maxBytes > 0) no chunk
// past the first that starts maxBytes or more into what is read, so a reader
// that holds what it read until a slow client takes it holds little. The event
// hub sends them as they are, so each carries its own arrival time.
func (s *Store) LogChunksRead(ctx context.Context, jobID int64, attempt int, from, to int64, maxChunks int, maxBytes int64) ([]LogChunk, int, error) {
	if attempt == 0 {
		if err := s.pool.QueryRow(ctx, `SELECT attempt FROM jobs WHERE id = $1`, jobID).Scan(&attempt); err != nil {
			return nil, 0, interpret(err, "read log chunks")
		}
	}
	chunks, err := chunkLog{s, jobID, attempt}.chunks(ctx, from, to, maxChunks, maxBytes)
	if err != nil || len(chunks) > 0 {
		return chunks, attempt, err
	}
	arch, err := s.archivedSource(ctx, jobID, attempt)
	if err != nil || arch == nil {
		if errors.Is(err, ErrGone) {
			err = nil // expired: nothing to send
		}
		return nil, attempt, err
	}
	chunks, err = arch.chunks(ctx, from, to, maxChunks, maxBytes)
	return chunks, attempt, err
}

// chunkLog is an attempt's log in log_chunks.
type chunkLog struct {
	s       *Store
	jobID   int64
	attempt int
}

func (l chunkLog) chunks(ctx context.Context, from, to int64, maxChunks int, maxBytes int64) ([]LogChunk, error) {
	s, jobID, attempt := l.s, l.jobID, l.attempt
	// length() of a stored value reads no data: only the chunks kept are read.
	const q = `
		SELECT "offset", data, arrived_at,
			(SELECT p.private FROM jobs j JOIN projects p ON p.id = j.project_id WHERE j.id = $1)
		FROM (
			SELECT "offset", data, arrived_at,
				sum(length(data)) OVER (ORDER BY "offset") - length(data) AS before
			FROM log_chunks
			WHERE job_id = $1 AND attempt = $2 AND "offset" + length(data) > $3
				AND ($4 = 0 OR "offset" < $4)
				-- Start the index scan at the chunk holding $3, not at the log's start.
				AND "offset" >= coalesce((SELECT max("offset") FROM log_chunks
					WHERE job_id = $1 AND attempt = $2 AND "offset" <= $3), 0)
			ORDER BY "offset" LIMIT $5
		) c
		WHERE $6 = 0 OR before = 0 OR before < $6
		ORDER BY "offset"`
	rows, _ := s.pool.Query(ctx, q, jobID, attempt, from, to, maxChunks, maxBytes)
	chunks, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (LogChunk, error) {
		var c LogChunk
		err := r.Scan(&c.Offset, &c.Data, &c.Time, &c.Private)
		return c, err
	})
	if err != nil {
		return nil, interpret(err, "read log chunks")
	}
	for i := range chunks {
		c := &chunks[i]
		if c.Offset < from {
			c.Data, c.Offset = c.Data[from-c.Offset:], from
		}
		if end := c.Offset + int64(len(c.Data)); to > 0 && end > to {
			c.Data = c.Data[:to-c.Offset]
		}
	}
	return chunks, nil
}

// LogTime is when the log bytes from Offset on arrived.
type LogTime struct {
	Offset int64     `json:"offset"`
	Time   time.Time `json:"time"`
}

// LogTimesGet returns the arrival time of each chunk of a job attempt's log (0:
// the current attempt), in offset order, with the attempt read and when it started.
func (s *Store) LogTimesGet(ctx context.Context, jobID int64, attempt int) ([]LogTime, int, *time.Time, error) {
	var current int
	var started *time.Time
	if err := s.pool.QueryRow(ctx, `SELECT attempt, started_at FROM jobs WHERE id = $1`, jobID).Scan(&current, &started); err != nil {
		return nil, 0, nil, interpret(err, "read log times")
	}
	if attempt == 0 {
		attempt = current
	} else if attempt != current {
		started = nil // only the current attempt's start is kept
	}
	times, err := chunkLog{s, jobID, attempt}.times(ctx)
	if err == nil && len(times) == 0 {
		var arch *archivedLog
		if arch, err = s.archivedSource(ctx, jobID, attempt); arch != nil {
			times, err = arch.times(ctx)
		}
	}
	if times == nil {
		times = []LogTime{}
	}
	return times, attempt, started, err
}

func (l chunkLog) times(ctx context.Context) ([]LogTime, error) {
	const q = `SELECT "offset", arrived_at FROM log_chunks WHERE job_id = $1 AND attempt = $2 ORDER BY "offset"`
	rows, _ := l.s.pool.Query(ctx, q, l.jobID, l.attempt)
	times, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (LogTime, error) {
		var t LogTime
		err := r.Scan(&t.Offset, &t.Time)
		return t, err
	})
	return times, interpret(err, "read log times")
}

// EntityEvent is what the event hub sends when an entity's jobs changed, with
// the project's visibility read in the same statement: the hub filters the
// event by the visibility its data was read under, not by one it remembers.
type EntityEvent struct {
	Event          *event.Entity
	Collections    []CollectionRef // the collections holding the entity, for their topics
	ProjectID      int64
	ProjectPrivate bool
}

// EntityEventGet builds the event.Entity of an entity: its status, summary and
// counts now.
func (s *Store) EntityEventGet(ctx context.Context, project, key, value string) (*EntityEvent, error) {
	const q = `
		SELECT p.id, p.private, e.id, c.*, coalesce((
			SELECT array_agg(col.key || '/' || col.value ORDER BY col.key, col.value)
			FROM collection_entities ce JOIN collections col ON col.id = ce.collection_id
			WHERE ce.entity_id = e.id), '{}') AS collections
		FROM projects p JOIN entities e ON e.project_id = p.id` + countsLateral + `
		WHERE p.slug = $1 AND e.key = $2 AND e.value = $3`
	var id int64
	var c JobCounts
	var cols []string
	ee := &EntityEvent{}
	dest := append([]any{&ee.ProjectID, &ee.ProjectPrivate, &id}, c.dest()...)
	if err := s.pool.QueryRow(ctx, q, project, key, value).Scan(append(dest, &cols)...); err != nil {
		return nil, interpret(err, "entity event")
	}
	ee.Event = &event.Entity{Project: project, EntityKey: key, EntityVal: value, Status: c.Status(), Summary: c.Summary(), Counts: event.Counts(c)}
	for _, kv := range cols {
		// Keys and values are slugs, which hold no '/'.
		if k, v, ok := strings.Cut(kv, "/"); ok {
			ee.Collections = append(ee.Collections, CollectionRef{Key: k, Value: v})
		}
	}
	return ee, nil
}
