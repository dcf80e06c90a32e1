// Package retention deletes what has been kept long enough: expired
// artifacts, caches unused past their project's retention, archived logs
// past their project's log retention, blobs no row points at (among them the
// objects of log archives a crash left unrecorded), and the temporary files
// of interrupted uploads.
package retention

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/aura-ci/aura/backend/internal/blob"
	"github.com/aura-ci/aura/backend/internal/store"
)

// Defaults of a Sweeper's settings.
const (
	DefaultBatch        = 500
	DefaultOrphanGrace  = time.Hour
	DefaultPeriod       = time.Minute
	DefaultOrphanPeriod = time.Hour
)

// prefixes are the parts of the blob store whose objects rows point at.
var prefixes = []string{"artifacts/", "caches/", store.LogArchivePrefix}

// Sweeper deletes expired artifacts and stale caches with their blobs.
type Sweeper struct {
	Store *store.Store
	Blobs blob.Store
	// CacheRetention is how long a cache is kept after its last use when its
	// project sets no retention.
	CacheRetention time.Duration
	// LogRetention is how long an archived log is kept after its attempt
	// ended when its project sets no retention; 0: forever.
	LogRetention time.Duration
	// Batch is how many rows one statement deletes; 0: DefaultBatch.
	Batch int
	// OrphanGrace is how old a blob no row points at must be before it goes
	// (a young one may belong to an upload about to insert its row); 0: DefaultOrphanGrace.
	OrphanGrace time.Duration
	// OrphanPeriod is how often a sweep also lists the store for orphan blobs
	// (a listing of every key, costly on a big S3 bucket); 0: DefaultOrphanPeriod.
	OrphanPeriod time.Duration
	// Logger is optional; slog.Default() otherwise.
	Logger *slog.Logger

	lastOrphans time.Time // when the orphan pass last completed; Sweep is not for concurrent use
}

// Report is what one sweep did.
type Report struct {
	Artifacts, Caches, Logs, Orphans, TempFiles int
	// Bytes is what the deleted artifacts, caches and orphans held.
	Bytes int64
}

func (r Report) did() bool { return r.Artifacts+r.Caches+r.Logs+r.Orphans+r.TempFiles > 0 }

// Sweep deletes, batch after batch, every expired artifact and stale cache,
// then their blobs, then (at most every OrphanPeriod) the orphan blobs and
// stale temporary files. It
// stops at the first error (what it did so far is in the report); the next
// sweep carries on.
func (s *Sweeper) Sweep(ctx context.Context) (Report, error) {
	var rep Report
	batch := s.Batch
	if batch <= 0 {
		batch = DefaultBatch
	}
	grace := s.OrphanGrace
	if grace <= 0 {
		grace = DefaultOrphanGrace
	}
	steps := []struct {
		count *int
		del   func() ([]store.SweptBlob, error)
	}{
		{&rep.Artifacts, func() ([]store.SweptBlob, error) { return s.Store.ArtifactsExpiredSweep(ctx, batch) }},
		{&rep.Caches, func() ([]store.SweptBlob, error) { return s.Store.CachesStaleDelete(ctx, s.CacheRetention, batch) }},
		{&rep.Logs, func() ([]store.SweptBlob, error) { return s.Store.LogArchivesExpiredSweep(ctx, s.LogRetention, batch) }},
	}
	for _, step := range steps {
		for {
			swept, err := step.del()
			if err != nil {
				return rep, err
			}
			for _, b := range swept {
				// A blob that stays (store unreachable) is an orphan the next sweeps clear.
				if err := s.Blobs.Delete(ctx, b.Key); err != nil {
					return rep, err
				}
				*step.count++
				rep.Bytes += b.Size
			}
			if len(swept) < batch {
				break
			}
		}
	}
	orphanPeriod := s.OrphanPeriod
	if orphanPeriod <= 0 {
		orphanPeriod = DefaultOrphanPeriod
	}
	if time.Since(s.lastOrphans) < orphanPeriod {
		return rep, nil
	}
	if err := s.sweepOrphans(ctx, grace, batch, &rep); err != nil {
		return rep, err
	}
	s.lastOrphans = time.Now()
	if d, ok := s.Blobs.(*blob.Dir); ok {
		n, err := d.RemoveStale(ctx, grace)
		rep.TempFiles += n
		if err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// sweepOrphans deletes the blobs under prefixes that no row points at and
// that are older than grace: left by a crash between a row's delete and its
// blob's, or by a deleted project or job (their rows cascade, blobs do not).
func (s *Sweeper) sweepOrphans(ctx context.Context, grace time.Duration, batch int, rep *Report) error {
	cutoff := time.Now().Add(-grace)
	for _, prefix := range prefixes {
		infos, err := s.Blobs.List(ctx, prefix)
		if err != nil {
			return err
		}
		var old []blob.Info
		for _, i := range infos {
			if i.ModTime.Before(cutoff) {
				old = append(old, i)
			}
		}
		for len(old) > 0 {
			page := old[:min(batch, len(old))]
			old = old[len(page):]
			keys := make([]string, len(page))
			sizes := make(map[string]int64, len(page))
			for i, info := range page {
				keys[i], sizes[info.Key] = info.Key, info.Size
			}
			orphans, err := s.Store.BlobKeysUnreferenced(ctx, keys)
			if err != nil {
				return err
			}
			for _, k := range orphans {
				if err := s.Blobs.Delete(ctx, k); err != nil {
					return err
				}
				rep.Orphans++
				rep.Bytes += sizes[k]
			}
		}
	}
	return nil
}

// Run sweeps at once and then every period until ctx ends, logging each
// sweep that did work. A failed sweep (database or store unreachable) is
// logged and retried at the next period.
func (s *Sweeper) Run(ctx context.Context, period time.Duration) {
	logger := s.Logger
	if logger == nil {
		logger = slog.Default()
	}
	if period <= 0 {
		period = DefaultPeriod
	}
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		rep, err := s.Sweep(ctx)
		if rep.did() {
			logger.Info("retention sweep", "artifacts", rep.Artifacts, "caches", rep.Caches, "logs", rep.Logs,
				"orphan_blobs", rep.Orphans, "temp_files", rep.TempFiles, "bytes_freed", rep.Bytes)
		}
		if err != nil && ctx.Err() == nil && !errors.Is(err, context.Canceled) {
			logger.Error("retention sweep failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
