package store

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Gauge is one figure of the instance's state read for /metrics: Kind names
// what is counted ("jobs", "queue", "runners", "outbox", "outbox_failing"), A
// and B its labels (a status; a tag; a tag and "busy", "idle" or "offline"; an outbox),
// Value the count and Oldest, for the queue, the longest wait in seconds.
type Gauge struct {
	Kind, A, B    string
	Value, Oldest float64
}

// onlineWindow is how recently a runner without a running job must have asked
// for work to count as idle rather than offline: it checks in on every long
// poll (at most ~30 s apart, coalesced to one write per 5 s), and the web app's
// runners page calls it online for the same 90 s. A runner running a job is
// busy; one that lost a lease and has not checked in since is offline.
const onlineWindow = `interval '90 seconds'`

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
SELECT 'runners', t.tag,
       CASE WHEN b.runner_id IS NOT NULL THEN 'busy'
            WHEN r.last_check_in > now() - ` + onlineWindow + ` AND (r.lost_at IS NULL OR r.lost_at < r.last_check_in) THEN 'idle'
            ELSE 'offline' END,
       count(*)::float8, 0::float8
  FROM runners r
  LEFT JOIN (SELECT DISTINCT runner_id FROM jobs WHERE status = 'running') b ON b.runner_id = r.id
  CROSS JOIN LATERAL unnest(r.tags) AS t(tag)
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
