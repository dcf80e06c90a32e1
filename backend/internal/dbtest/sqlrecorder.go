package dbtest

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
)

// SQLRecorder is a pgx tracer (pgxpool.Config.ConnConfig.Tracer) that records
// what its pool sends to the database while During runs: every statement
// (each of a batch's, BEGIN and COMMIT included), and every round trip, a
// batch being one however many statements it holds.
type SQLRecorder struct {
	// Only, when set, keeps only what is sent with a context it accepts (for
	// example, requests' and not background work's).
	Only func(ctx context.Context) bool

	mu    sync.Mutex
	on    bool
	stmts []string
	trips []string
}

// During runs fn and returns what was sent meanwhile: the statements and
// the round trips, each with its SQL on one line.
func (r *SQLRecorder) During(fn func()) (stmts, trips []string) {
	r.mu.Lock()
	r.on, r.stmts, r.trips = true, nil, nil
	r.mu.Unlock()
	fn()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.on = false
	return r.stmts, r.trips
}

// Statements runs fn and returns the statements sent meanwhile.
func (r *SQLRecorder) Statements(fn func()) []string {
	stmts, _ := r.During(fn)
	return stmts
}

// Trips runs fn and returns the round trips it made.
func (r *SQLRecorder) Trips(fn func()) []string {
	_, trips := r.During(fn)
	return trips
}

func (r *SQLRecorder) record(ctx context.Context, stmt, trip string) {
	if r.Only != nil && !r.Only(ctx) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.on {
		return
	}
	if stmt != "" {
		r.stmts = append(r.stmts, oneLine(stmt))
	}
	if trip != "" {
		r.trips = append(r.trips, oneLine(trip))
	}
}

func oneLine(sql string) string { return strings.Join(strings.Fields(sql), " ") }

func (r *SQLRecorder) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	r.record(ctx, d.SQL, d.SQL)
	return ctx
}

func (r *SQLRecorder) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (r *SQLRecorder) TraceBatchStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchStartData) context.Context {
	first := ""
	if d.Batch.Len() > 0 {
		first = d.Batch.QueuedQueries[0].SQL
	}
	r.record(ctx, "", fmt.Sprintf("batch of %d: %s", d.Batch.Len(), first))
	return ctx
}

func (r *SQLRecorder) TraceBatchQuery(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	r.record(ctx, d.SQL, "")
}

func (r *SQLRecorder) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}
