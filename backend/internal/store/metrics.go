package store

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Gauge is one figure of the instance's state read for /metrics: Kind names
// what is counted ("jobs", "queue", "runners", "outbox", "outbox_failing"), A
// and B its labels (a status; a tag; a tag and "idle" or "busy"; an outbox),
// Value the count and Oldest, for the queue, the longest wait in seconds.
type Gauge struct {
	Kind, A, B    string
	Value, Oldest float64
}

// gaugesSQL reads everything in one statement through the partial indexes on
// live jobs (waiting, queued, running) and the outboxes' due rows: finished
// jobs, which grow without bound, are never counted.
const gaugesSQL = `
SELECT 'jobs', status, '', count(*)::float8, 0::float8 FROM jobs WHERE status = 'waiting' GROUP BY status
UNION ALL
SELECT 'jobs', status, '', count(*)::float8, 0::float8 FROM jobs WHERE status = 'queued' GROUP BY status
UNION ALL
SELECT 'jobs', status, '', count(*)::float8, 0::float8 FROM jobs WHERE status = 'running' GROUP BY status
UNION ALL
SELECT 'queue', tag, '', count(*)::float8,
       coalesce(extract(epoch FROM now() - min(coalesce(queued_at, created_at))), 0)::float8
  FROM jobs WHERE status = 'queued' GROUP BY tag
UNION ALL
SELECT 'runners', t.tag, CASE WHEN b.runner_id IS NULL THEN 'idle' ELSE 'busy' END, count(*)::float8, 0::float8
  FROM runners r
  LEFT JOIN (SELECT DISTINCT runner_id FROM jobs WHERE status = 'running') b ON b.runner_id = r.id
  CROSS JOIN LATERAL unnest(r.tags) AS t(tag)
 WHERE r.lost_at IS NULL
 GROUP BY 1, 2, 3
UNION ALL
SELECT 'outbox', 'status', '', count(*)::float8, 0::float8 FROM status_outbox WHERE version > sent_version
UNION ALL
SELECT 'outbox', 'notify', '', count(*)::float8, 0::float8 FROM notify_outbox WHERE version > sent_version
UNION ALL
SELECT 'outbox_failing', 'status', '', count(*)::float8, 0::float8 FROM status_outbox WHERE version > sent_version AND attempts > 0
UNION ALL
SELECT 'outbox_failing', 'notify', '', count(*)::float8, 0::float8 FROM notify_outbox WHERE version > sent_version AND attempts > 0`

// Gauges reads the instance's live figures for /metrics in one query.
func (s *Store) Gauges(ctx context.Context) ([]Gauge, error) {
	rows, err := s.pool.Query(ctx, gaugesSQL)
	if err != nil {
		return nil, interpret(err, "metrics")
	}
	defer rows.Close()
	var out []Gauge
	for rows.Next() {
		var g Gauge
		if err := rows.Scan(&g.Kind, &g.A, &g.B, &g.Value, &g.Oldest); err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// PoolStat is the connection pool's use, for /metrics.
func (s *Store) PoolStat() *pgxpool.Stat { return s.pool.Stat() }
