// Package logarchive moves the logs of ended job attempts out of PostgreSQL
// into the blob store, in the background: a finished log is read rarely and
// never changes, and a database holding every log ever written grows without
// end. The move itself (pack, store, check, record and delete in one
// transaction) is store.LogArchive; reads find a log in either place.
package logarchive

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/aura-ci/aura/backend/internal/event"
	"github.com/aura-ci/aura/backend/internal/events"
	"github.com/aura-ci/aura/backend/internal/metrics"
	"github.com/aura-ci/aura/backend/internal/store"
)

// Defaults of an Archiver's settings.
const (
	DefaultBatch = 16
	DefaultGrace = 30 * time.Second
	// DefaultPeriod is the longest Run sleeps without a log due or a job
	// ending: a safety net, since both wake it.
	DefaultPeriod = 10 * time.Minute
)

// retryAfter is Run's pause after a failed pass (at most its period).
const retryAfter = 10 * time.Second

// minPause is Run's shortest pause after a pass that moved nothing: a log due
// that it did not take is held by another server's pass for a moment.
const minPause = time.Second

// Archiver moves ended attempts' logs to the blob store the store was given.
type Archiver struct {
	Store *store.Store
	// Batch is how many logs one transaction moves; 0: DefaultBatch.
	Batch int
	// Workers is how many transactions run at once (they share the work
	// through SKIP LOCKED, as servers do); 0: 1.
	Workers int
	// Grace is how long a log waits after its attempt ended; 0: DefaultGrace,
	// negative: none.
	Grace time.Duration
	// Logger is optional; slog.Default() otherwise.
	Logger *slog.Logger
	// StepFunc is passed on to store.LogArchive (tests).
	StepFunc func(step string) error
	// Metrics counts the bytes archived; nil: none.
	Metrics *metrics.Metrics

	wakeMu sync.Mutex
	wakeAt time.Time     // the earliest moment an ended attempt's log is due, zero: none known
	wake   chan struct{} // wakeAt moved earlier
}

// Report is what a pass moved.
type Report = store.LogArchiveResult

// Archive moves logs batch after batch, on Workers transactions at once,
// until none is left to move (or an error stops it: what moved so far stays
// moved).
func (a *Archiver) Archive(ctx context.Context) (Report, error) {
	workers := max(a.Workers, 1)
	if workers == 1 {
		return a.archive(ctx)
	}
	reps := make([]Report, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() { reps[i], errs[i] = a.archive(ctx) })
	}
	wg.Wait()
	var rep Report
	for _, r := range reps {
		rep.Logs += r.Logs
		rep.Bytes += r.Bytes
		rep.Object += r.Object
	}
	return rep, errors.Join(errs...)
}

func (a *Archiver) archive(ctx context.Context) (Report, error) {
	batch := a.Batch
	if batch <= 0 {
		batch = DefaultBatch
	}
	grace := a.grace()
	var rep Report
	for {
		res, err := a.Store.LogArchive(ctx, &store.LogArchiveParams{Limit: batch, Grace: grace, StepFunc: a.StepFunc})
		if res != nil && err == nil {
			rep.Logs += res.Logs
			rep.Bytes += res.Bytes
			rep.Object += res.Object
			a.Metrics.AddArchivedBytes(res.Bytes)
		}
		if err != nil || res.Logs < batch {
			return rep, err
		}
	}
}

func (a *Archiver) grace() time.Duration {
	switch {
	case a.Grace == 0:
		return DefaultGrace
	case a.Grace < 0:
		return 0
	}
	return a.Grace
}

func (a *Archiver) wakeChan() chan struct{} {
	a.wakeMu.Lock()
	defer a.wakeMu.Unlock()
	if a.wake == nil {
		a.wake = make(chan struct{}, 1)
	}
	return a.wake
}

// Listen has l tell Run when a job attempt ends on any server (its log is due
// after Grace), and wake it after a reconnect (notifications may have been
// missed). Call it before l runs.
func (a *Archiver) Listen(l *events.Listener) {
	l.HandleEvents(func(e event.Event) {
		if j, ok := e.(event.Job); ok && store.Ended(j.Status) {
			a.dueAt(time.Now().Add(a.grace()))
		}
	})
	l.OnReconnect(func() { a.dueAt(time.Now()) })
}

// dueAt says a log may be due at t.
func (a *Archiver) dueAt(t time.Time) {
	a.wakeMu.Lock()
	earlier := a.wakeAt.IsZero() || t.Before(a.wakeAt)
	if earlier {
		a.wakeAt = t
	}
	a.wakeMu.Unlock()
	if earlier {
		select {
		case a.wakeChan() <- struct{}{}:
		default:
		}
	}
}

// takeDue returns and forgets the earliest due moment dueAt was told of.
func (a *Archiver) takeDue() time.Time {
	a.wakeMu.Lock()
	defer a.wakeMu.Unlock()
	t := a.wakeAt
	a.wakeAt = time.Time{}
	return t
}

// Run archives at once and then whenever a log is due, logging what each pass
// moved: after each pass it asks when the next log left in PostgreSQL is due,
// and an attempt ending (Listen) brings that forward. It sleeps period at most
// (0: DefaultPeriod). A failed pass is logged and tried again after retryAfter.
func (a *Archiver) Run(ctx context.Context, period time.Duration) {
	logger := a.Logger
	if logger == nil {
		logger = slog.Default()
	}
	if period <= 0 {
		period = DefaultPeriod
	}
	wake := a.wakeChan()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		a.takeDue() // this pass and its look ahead cover what ended before it
		rep, err := a.Archive(ctx)
		if rep.Logs > 0 {
			logger.Info("logs archived", "logs", rep.Logs, "bytes", rep.Bytes, "object_bytes", rep.Object)
		}
		failed := err != nil && ctx.Err() == nil && !errors.Is(err, context.Canceled)
		if failed {
			logger.Error("log archive failed", "err", err)
		}
		wait := period
		if failed {
			wait = min(wait, retryAfter)
		} else if due, err := a.Store.LogArchiveNextDue(ctx, a.grace()); err != nil {
			if ctx.Err() == nil {
				logger.Error("log archive: next due", "err", err)
			}
			wait = min(wait, retryAfter)
		} else if due != nil {
			wait = min(wait, *due)
		}
		if rep.Logs == 0 {
			wait = max(wait, min(minPause, period))
		}
		next := time.Now().Add(wait)
	sleep:
		for {
			t.Reset(time.Until(next))
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				break sleep
			case <-wake:
				if at := a.takeDue(); !at.IsZero() && at.Before(next) {
					next = at
				}
			}
		}
	}
}
