// Package store holds all of Aura's SQL. Every job state change is one method, one
// transaction and one notification, and errors are translated here, at the edge.
package store

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/aura-ci/aura/backend/internal/seal"
)

var (
	// ErrNotFound means the row asked for does not exist (or is not visible to the caller).
	ErrNotFound = errors.New("not found")
	// ErrConflict means a unique row already exists or the row is in the wrong state.
	ErrConflict = errors.New("conflict")
	// ErrGone means a runner's attempt on a job was superseded: it must stop that job.
	ErrGone = errors.New("attempt superseded")
)

// InvalidError is input the database proved wrong, such as a preceding job that does not exist.
type InvalidError struct {
	Field   string
	Message string
}

func (e *InvalidError) Error() string { return e.Message }

// LimitError is a submission refused by a configured limit; Setting names the
// setting that raises it.
type LimitError struct {
	Code    int // 429 for a quota used up, 422 for a request over a bound
	Setting string
	Message string
}

func (e *LimitError) Error() string { return e.Message }

// ConflictError is ErrConflict with a message that says what conflicts.
type ConflictError struct{ Message string }

func (e *ConflictError) Error() string        { return e.Message }
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// NotFoundError is ErrNotFound with a message that says what was not found.
type NotFoundError struct{ Message string }

func (e *NotFoundError) Error() string        { return e.Message }
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

// Store is Aura's PostgreSQL storage. Secret values pass through it only sealed
// with box: they are sealed on the way in and opened only for the job that needs them.
type Store struct {
	pool   *pgxpool.Pool
	box    *seal.Box
	limits SubmitLimits
	probe  prober
	// carries keeps each attempt's log carry-over on the server that appended
	// to it last (logs.go).
	carries logCarries
}

// SubmitLimits bound what jobs may submit through their tokens.
type SubmitLimits struct {
	ChildrenPerJob int // jobs one job may submit in all; 0: no limit
	Depth          int // steps of jobs submitting jobs; 0: no limit
}

// DefaultSubmitLimits are generous: a real build never meets them, a runaway
// job-submits-job loop does.
var DefaultSubmitLimits = SubmitLimits{ChildrenPerJob: 1000, Depth: 20}

// New returns a Store on pool sealing secrets with box.
func New(pool *pgxpool.Pool, box *seal.Box) *Store {
	return &Store{pool: pool, box: box, limits: DefaultSubmitLimits}
}

// SetSubmitLimits replaces the limits on job-submits-job; call it before serving.
func (s *Store) SetSubmitLimits(l SubmitLimits) { s.limits = l }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	return s.pool.Ping(ctx)
}

// interpret translates driver errors into the store's errors.
func interpret(err error, what string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return ErrConflict
	}
	return fmt.Errorf("store: %s: %w", what, err)
}

// inTx runs fn in a transaction, committing when it returns nil.
func (s *Store) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, fn)
}

// Page is one page of a list: pass Cursor from the previous page's NextCursor.
type Page struct {
	Cursor string
	Limit  int
}

// EncodeCursor makes the opaque cursor for the row after id.
func EncodeCursor(id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(id, 10)))
}

// DecodeCursor reads a cursor; an empty cursor is 0 (the start).
func DecodeCursor(cursor string) (int64, error) {
	if cursor == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return 0, &InvalidError{Field: "cursor", Message: "cursor is not valid"}
	}
	id, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || id <= 0 {
		return 0, &InvalidError{Field: "cursor", Message: "cursor is not valid"}
	}
	return id, nil
}

// nextCursor returns the cursor for the page after rows when the page was full.
func nextCursor(n, limit int, lastID int64) string {
	if n < limit || n == 0 {
		return ""
	}
	return EncodeCursor(lastID)
}
