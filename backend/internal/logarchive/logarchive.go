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

	"github.com/aura-ci/aura/backend/internal/metrics"
	"github.com/aura-ci/aura/backend/internal/store"
)

// Defaults of an Archiver's settings.
const (
	DefaultBatch  = 16
	DefaultGrace  = 30 * time.Second
	DefaultPeriod = 10 * time.Second
)

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
	grace := a.Grace
	switch {
	case grace == 0:
		grace = DefaultGrace
	case grace < 0:
		grace = 0
	}
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

// Run archives at once and then every period until ctx ends, logging what
// each pass moved; a failed pass is logged and tried again next period.
func (a *Archiver) Run(ctx context.Context, period time.Duration) {
	logger := a.Logger
	if logger == nil {
		logger = slog.Default()
	}
	if period <= 0 {
		period = DefaultPeriod
	}
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		rep, err := a.Archive(ctx)
		if rep.Logs > 0 {
			logger.Info("logs archived", "logs", rep.Logs, "bytes", rep.Bytes, "object_bytes", rep.Object)
		}
		if err != nil && ctx.Err() == nil && !errors.Is(err, context.Canceled) {
			logger.Error("log archive failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
