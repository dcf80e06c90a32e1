package store

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/aura-ci/aura/backend/internal/tracing"
)

// Job phase spans. The spans themselves are made by
// package tracing; the store only knows when a phase happened and keeps the
// submitting span's context in jobs.trace_parent. Off, each of these returns
// at once and reads nothing.

// traceEnded records the end of job's attempt in its trace (tracing, issue
// 18): job.running from its start to its end, then job.finished with its
// result. The database's times give the run's length; the server's clock
// places it, like the other spans.
func traceEnded(ctx context.Context, job *Job, traceParent *string) {
	if !tracing.Enabled() {
		return
	}
	now := time.Now()
	start := now
	if job.StartedAt != nil && job.EndedAt != nil {
		start = now.Add(-job.EndedAt.Sub(*job.StartedAt))
	}
	tj := tracing.Job{ID: job.ID, Project: job.Project, Attempt: job.Attempt, Status: job.Status}
	var attrs []attribute.KeyValue
	if job.RunnerID != nil {
		attrs = append(attrs, tracing.AttrRunner.Int64(*job.RunnerID))
	}
	tracing.Phase(ctx, "job.running", traceParent, start, now, tj, attrs...)
	if job.ExitCode != nil {
		attrs = append(attrs, tracing.AttrExit.Int(*job.ExitCode))
	}
	tracing.Phase(ctx, "job.finished", traceParent, now, time.Now(), tj, attrs...)
}

// traceFinished records job.finished for attempts that ended without their
// runner's complete: cancelled before they ran, or ended by the reaper (lost,
// timed out, never acknowledged, cancel not confirmed). It runs after their
// transaction committed and reads their trace context then.
func (s *Store) traceFinished(ctx context.Context, ended []changedJob) {
	if !tracing.Enabled() || len(ended) == 0 {
		return
	}
	ids := make([]int64, len(ended))
	for i, c := range ended {
		ids[i] = c.ID
	}
	parents := map[int64]*string{}
	rows, err := s.pool.Query(ctx, `SELECT id, trace_parent FROM jobs WHERE id = ANY($1)`, ids)
	if err != nil {
		return // no spans is better than spans in the wrong trace
	}
	for rows.Next() {
		var id int64
		var tp *string
		if rows.Scan(&id, &tp) == nil {
			parents[id] = tp
		}
	}
	rows.Close()
	if rows.Err() != nil {
		return
	}
	now := time.Now()
	for _, c := range ended {
		tracing.Phase(ctx, "job.finished", parents[c.ID], now, now,
			tracing.Job{ID: c.ID, Project: c.Project, Attempt: c.Attempt, Status: c.Status})
	}
}
