package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Runner is a registered runner.
type Runner struct {
	ID          int64      `db:"id"`
	Name        string     `db:"name"`
	Tags        []string   `db:"tags"`
	CreatedAt   time.Time  `db:"created_at"`
	LastCheckIn *time.Time `db:"last_check_in"`
	Version     string     `db:"version"`
	OS          string     `db:"os"`
	Arch        string     `db:"arch"`
}

const runnerColumns = `id, name, tags, created_at, last_check_in, version, os, arch`

// RunnerCreate registers a runner with the hash of its token.
func (s *Store) RunnerCreate(ctx context.Context, name string, tags []string, hash []byte) (*Runner, error) {
	if tags == nil {
		tags = []string{}
	}
	var r *Runner
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, `INSERT INTO runners (name, tags) VALUES ($1, $2) RETURNING `+runnerColumns, name, tags)
		var err error
		if r, err = pgx.CollectExactlyOneRow(rows, pgx.RowToAddrOfStructByName[Runner]); err != nil {
			if err = interpret(err, "create runner"); err == ErrConflict {
				return &ConflictError{Message: "runner " + name + " already exists"}
			}
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO tokens (kind, name, runner_id, hash) VALUES ('runner', $1, $2, $3)`, name, r.ID, hash)
		return interpret(err, "create runner token")
	})
	return r, err
}

// RunnerList lists runners by id.
func (s *Store) RunnerList(ctx context.Context, page Page) ([]*Runner, string, error) {
	after, err := DecodeCursor(page.Cursor)
	if err != nil {
		return nil, "", err
	}
	rows, _ := s.pool.Query(ctx, `SELECT `+runnerColumns+` FROM runners WHERE id > $1 ORDER BY id LIMIT $2`, after, page.Limit)
	rs, err := pgx.CollectRows(rows, pgx.RowToAddrOfStructByName[Runner])
	if err != nil {
		return nil, "", interpret(err, "list runners")
	}
	var last int64
	if len(rs) > 0 {
		last = rs[len(rs)-1].ID
	}
	return rs, nextCursor(len(rs), page.Limit, last), nil
}

// RunnerDelete removes a runner and its token. Jobs it ran keep their history.
// The same statement tells every server's hub, which closes the runner's sockets.
func (s *Store) RunnerDelete(ctx context.Context, id int64) error {
	const q = `
		WITH gone AS (DELETE FROM runners WHERE id = $1 RETURNING id)
		SELECT count(pg_notify('` + ChannelEvents + `', ` + runnerGoneEventSQL + `)) FROM gone`
	var n int
	if err := s.pool.QueryRow(ctx, q, id).Scan(&n); err != nil {
		return interpret(err, "delete runner")
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}
