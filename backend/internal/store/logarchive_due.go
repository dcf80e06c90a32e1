package store

import (
	"context"
	"time"
)

// LogArchiveNextDue returns how long until the next log LogArchive would take
// with grace becomes due, by the database's clock, or nil when no ended
// attempt's log is left in PostgreSQL. It reads what LogArchive's claim reads
// (the first chunk of each log), with the same due times.
func (s *Store) LogArchiveNextDue(ctx context.Context, grace time.Duration) (*time.Duration, error) {
	const q = `
		SELECT min(CASE WHEN c.attempt < j.attempt THEN now()
			ELSE j.ended_at + CASE WHEN j.compat THEN greatest(make_interval(secs => $1), interval '11 minutes')
				ELSE make_interval(secs => $1) END END) - clock_timestamp()
		FROM log_chunks c JOIN jobs j ON j.id = c.job_id
		WHERE c."offset" = 0 AND (c.attempt < j.attempt OR (
			j.status NOT IN ('waiting', 'queued', 'running') AND j.ended_at IS NOT NULL))`
	var d *time.Duration
	err := s.pool.QueryRow(ctx, q, grace.Seconds()).Scan(&d)
	if d != nil && *d < 0 {
		*d = 0
	}
	return d, interpret(err, "next log to archive")
}
