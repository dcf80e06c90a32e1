// Package store holds all of Aura's SQL. Every job state change is one method, one
// transaction and one notification, and errors are translated here, at the edge.
package store

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/aura-ci/aura/backend/internal/blob"
	"github.com/aura-ci/aura/backend/internal/seal"
)

// ErrorKind says what is wrong with a request the store refuses, in the domain's
// words; only the API's writeError turns a kind into an HTTP status.
type ErrorKind int

// The kinds of *Error.
const (
	NotFound ErrorKind = iota + 1 // the row asked for does not exist (or is not visible to the caller)
	Invalid                       // input the database proved wrong, such as a preceding job that does not exist
	Conflict                      // a unique row already exists, or the row is in the wrong state
	TooLarge                      // a request over a configured bound (Setting raises it)
	TooMany                       // a configured quota used up (Setting raises it)
	Gone                          // a runner's attempt on a job is over or superseded: it must stop that job
)

// Error is a request the store refuses: its Kind, the request's Field at fault
// (if one is), the Setting that raises a limit, and a Message that says what is
// wrong. errors.Is compares kinds: errors.Is(err, ErrNotFound) holds for every
// NotFound error, whatever its message.
type Error struct {
	Kind    ErrorKind
	Field   string
	Setting string
	Message string
}

func (e *Error) Error() string { return e.Message }

// Is reports whether target is an *Error of e's kind.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Kind == e.Kind
}

// The bare errors of each kind, for a caller that has nothing more to say. The
// API names what was not found in place of ErrNotFound's message.
var (
	ErrNotFound error = &Error{Kind: NotFound, Message: "not found"}
	ErrConflict error = &Error{Kind: Conflict, Message: "already exists"}
	ErrGone     error = &Error{Kind: Gone, Message: "this attempt of the job has ended or is not yours: stop it"}
)

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
	// blobs holds archived logs (logarchive.go); nil: logs stay in PostgreSQL.
	blobs blob.Store
	// onJobEnd observes each job end, once, after the transaction that ended
	// it committed (jobends.go); nil: nobody does.
	onJobEnd func(JobEnd)
	// completes, claims and checkIns group concurrent job completions, claims
	// and runner check-ins into shared commits (groupcommit.go).
	completes, claims, checkIns groupCommit
	// handoff takes jobs a transaction makes runnable to long polls parked
	// here (handoff.go); nil: they are only announced.
	handoff Handoff
	// claimedSinceVacuum counts the jobs claimed through the store since it
	// last vacuumed jobs, vacuumAfter how many make the next vacuum due, as
	// the table's size last said (queuevacuum.go).
	claimedSinceVacuum, vacuumAfter atomic.Int64
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
	s := &Store{pool: pool, box: box, limits: DefaultSubmitLimits}
	s.completes.batch = s.jobCompleteBatch
	s.claims.batch = s.jobClaimBatch
	return s
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
	inner, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer rollback(ctx, inner)
	tx := &endsTx{Tx: inner}
	if err := fn(tx); err != nil {
		return err
	}
	if err := inner.Commit(ctx); err != nil {
		return err
	}
	s.observeEnds(tx.ends)
	return nil
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
		return 0, &Error{Kind: Invalid, Field: "cursor", Message: "cursor is not valid"}
	}
	id, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || id <= 0 {
		return 0, &Error{Kind: Invalid, Field: "cursor", Message: "cursor is not valid"}
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
