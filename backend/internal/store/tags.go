package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// TagCheckIns returns when a runner last asked for each of tags; a tag no runner
// ever asked for is missing from the map.
func (s *Store) TagCheckIns(ctx context.Context, tags []string) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	if len(tags) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, qTagCheckIns, tags)
	if err != nil {
		return nil, interpret(err, "tag check-ins")
	}
	return out, interpret(collectCheckIns(rows, out), "tag check-ins")
}

const qTagCheckIns = `SELECT tag, last_check_in FROM tag_check_ins WHERE tag = ANY($1)`

// collectCheckIns reads rows of qTagCheckIns into out.
func collectCheckIns(rows pgx.Rows, out map[string]time.Time) error {
	var tag string
	var at time.Time
	_, err := pgx.ForEachRow(rows, []any{&tag, &at}, func() error {
		out[tag] = at
		return nil
	})
	return err
}

// Tag is a tag some runner serves, asked for, or some queued job carries.
type Tag struct {
	Tag         string     `db:"tag"`
	LastCheckIn *time.Time `db:"last_check_in"`
	Queued      int64      `db:"queued"`
	Runners     []string   `db:"runners"`
}

// TagList lists up to limit tags by name: those runners asked for, those
// registered runners serve, and those of queued jobs, with each one's last
// check-in, queued jobs and runners.
func (s *Store) TagList(ctx context.Context, limit int) ([]*Tag, error) {
	const q = `
		WITH tags AS (
			SELECT tag FROM tag_check_ins
			UNION SELECT unnest(tags) FROM runners
			UNION SELECT DISTINCT tag FROM jobs WHERE status = 'queued'
		)
		SELECT t.tag, c.last_check_in,
			(SELECT count(*) FROM jobs j WHERE j.status = 'queued' AND j.tag = t.tag) AS queued,
			coalesce((SELECT array_agg(r.name ORDER BY r.name) FROM runners r WHERE t.tag = ANY(r.tags)), '{}') AS runners
		FROM tags t LEFT JOIN tag_check_ins c ON c.tag = t.tag
		ORDER BY t.tag LIMIT $1`
	rows, _ := s.pool.Query(ctx, q, limit)
	tags, err := pgx.CollectRows(rows, pgx.RowToAddrOfStructByName[Tag])
	return tags, interpret(err, "list tags")
}
