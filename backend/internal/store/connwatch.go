package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
)

// cancelGrace is how long a statement whose caller went away may go on before
// the database is asked to cancel it: most end sooner by themselves.
const cancelGrace = 100 * time.Millisecond

// cutAfter bounds the wait for a cancelled statement's end: a database that
// answers no cancel request meanwhile loses the connection.
const cutAfter = 2 * time.Second

// KeepConnectionOnCancel is the pool's pgconn BuildContextWatcherHandler.
// pgx's own closes a connection whose statement's context ends (it cuts the
// socket), and the pool then opens a new one: a PostgreSQL process to start,
// authentication, empty catalog caches and every statement planned anew. A
// runner that drops its heartbeat request when its job ends did that a few
// times a second. A statement whose caller went away (its context cancelled)
// now ends by itself or by a cancel request, and its connection stays in the
// pool. A stalled database answers no cancel request (ErrStalled), and a
// context that timed out wants its answer now: those still cut the connection
// at once.
func KeepConnectionOnCancel(c *pgconn.PgConn) ctxwatch.Handler {
	return &keepOnCancel{
		cut:    pgconn.DeadlineContextWatcherHandler{Conn: c.Conn()},
		cancel: pgconn.CancelRequestContextWatcherHandler{Conn: c, CancelRequestDelay: cancelGrace, DeadlineDelay: cutAfter},
	}
}

type keepOnCancel struct {
	cut     pgconn.DeadlineContextWatcherHandler
	cancel  pgconn.CancelRequestContextWatcherHandler
	cutting bool
}

func (h *keepOnCancel) HandleCancel(ctx context.Context) {
	h.cutting = !callerLeft(ctx)
	if h.cutting {
		h.cut.HandleCancel(ctx)
		return
	}
	h.cancel.HandleCancel(ctx)
}

func (h *keepOnCancel) HandleUnwatchAfterCancel() {
	if h.cutting {
		h.cut.HandleUnwatchAfterCancel()
		return
	}
	h.cancel.HandleUnwatchAfterCancel()
}

// callerLeft reports whether ctx ended because its caller went away, rather
// than because the database stalled (ErrStalled) or a deadline passed.
func callerLeft(ctx context.Context) bool {
	return errors.Is(context.Cause(ctx), context.Canceled)
}

// rollback ends a transaction that failed (or, after its commit, does
// nothing). A rollback that fails closes its connection, as one sent under a
// context that already ended does: when the caller merely went away, it goes
// out all the same, bounded by cutAfter, and the connection stays in the pool.
func rollback(ctx context.Context, tx interface{ Rollback(context.Context) error }) {
	if callerLeft(ctx) {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), cutAfter)
		defer cancel()
	}
	_ = tx.Rollback(ctx)
}
