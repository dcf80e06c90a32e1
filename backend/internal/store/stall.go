package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrStalled is why a context watched by WatchStall ended: the database took the
// work and then did not answer a probe.
var ErrStalled = errors.New("the database does not answer")

// ErrPoolExhausted is why a context watched by WatchStall ended when the
// database answers but the pool is exhausted (some work waited poolWaitLimit
// for a connection): work that lasts StallAfter then, waiting for a connection
// or holding one while others wait, ends (answered 503) rather than queueing
// without bound. It is an ErrStalled.
var ErrPoolExhausted = fmt.Errorf("%w: every database connection is busy", ErrStalled)

const (
	// StallAfter is how long database work may take before the database is
	// probed, and then how often again while the work goes on.
	StallAfter = 3 * time.Second
	// ProbeTimeout bounds one probe: a new connection and a ping.
	ProbeTimeout = 700 * time.Millisecond
	// probeFresh is how long a probe's result stands for every caller.
	probeFresh = 500 * time.Millisecond
)

// prober runs one probe at a time. Callers that waited for a probe begun after
// they came take its result, and a failure stands for probeFresh, so a stalled
// database is not probed once per waiting request.
type prober struct {
	mu      sync.Mutex
	started time.Time // of the last probe
	ended   time.Time
	err     error // its result
}

// Probe reports whether the database answers: a new connection (not one of the
// pool's, which may all be busy with slow work) and a ping within ProbeTimeout.
// A frozen database (a stalled disk, a paused VM, a network partition) takes the
// TCP connection and never answers, so only this timeout tells.
func (s *Store) Probe(ctx context.Context) error {
	came := time.Now()
	s.probe.mu.Lock()
	defer s.probe.mu.Unlock()
	if s.probe.started.After(came) || (s.probe.err != nil && time.Since(s.probe.ended) < probeFresh) {
		return s.probe.err
	}
	started := time.Now()
	ctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
	defer cancel()
	err := s.probeOnce(ctx)
	if err != nil && errors.Is(context.Cause(ctx), context.Canceled) {
		return err // the caller went away: that says nothing about the database
	}
	s.probe.started, s.probe.ended, s.probe.err = started, time.Now(), err
	return err
}

func (s *Store) probeOnce(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return errors.Join(ErrUnavailable, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := conn.Ping(ctx); err != nil {
		return errors.Join(ErrUnavailable, err)
	}
	return nil
}

// WatchStall watches database work done under ctx: StallAfter from now, and
// every StallAfter after that, it probes the database, and when the probe fails
// it ends the work with cancel(ErrStalled); when the pool is exhausted (see
// poolTaken) it ends it with cancel(ErrPoolExhausted). Other slow work on a database
// that answers goes on. stop ends the watch (without cancelling); it may be called more than once.
func (s *Store) WatchStall(ctx context.Context, cancel context.CancelCauseFunc) (stop func()) {
	// A timer, not a goroutine: most work ends long before it fires.
	var mu sync.Mutex
	stopped := false
	var t *time.Timer
	check := func() {
		err := s.Probe(ctx)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case stopped || ctx.Err() != nil:
		case err != nil:
			cancel(ErrStalled)
		case s.poolTaken():
			cancel(ErrPoolExhausted)
		default:
			t.Reset(StallAfter)
		}
	}
	mu.Lock()
	t = time.AfterFunc(StallAfter, check)
	mu.Unlock()
	return func() {
		mu.Lock()
		defer mu.Unlock()
		stopped = true
		t.Stop()
	}
}

// StallBound returns a context for database work that ends when the database
// stalls (see WatchStall); call release when the work is done.
func (s *Store) StallBound(ctx context.Context) (bounded context.Context, release func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	stop := s.WatchStall(ctx, cancel)
	return ctx, func() { stop(); cancel(nil) }
}

// poolWaitLimit is how long a wait for a pool connection may last before the
// pool counts as exhausted.
const poolWaitLimit = time.Second

// poolTaken reports whether the pool is exhausted: some work has waited
// poolWaitLimit for a connection, now or within the last StallAfter/2 (work
// checked right after others ended, which freed their connections for a
// moment, ends too rather than StallAfter later). Only a pool traced by
// AcquireWaits tells.
func (s *Store) poolTaken() bool {
	w, ok := s.pool.Config().ConnConfig.Tracer.(*AcquireWaits)
	if !ok {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	now := time.Now()
	for _, at := range w.waiting {
		if now.Sub(at) >= poolWaitLimit {
			w.exhausted = now
			return true
		}
	}
	return now.Sub(w.exhausted) < StallAfter/2
}

// AcquireWaits traces the pool's Acquire calls (set it as the pool's
// ConnConfig.Tracer) to tell how long the oldest wait going on has lasted:
// WatchStall ends work with ErrPoolExhausted while one lasts poolWaitLimit.
type AcquireWaits struct {
	mu        sync.Mutex
	next      uint64
	waiting   map[uint64]time.Time
	exhausted time.Time // when poolTaken last found a wait of poolWaitLimit
}

type acquireKey struct{}

// TraceAcquireStart implements pgxpool.AcquireTracer.
func (w *AcquireWaits) TraceAcquireStart(ctx context.Context, _ *pgxpool.Pool, _ pgxpool.TraceAcquireStartData) context.Context {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.waiting == nil {
		w.waiting = map[uint64]time.Time{}
	}
	w.next++
	w.waiting[w.next] = time.Now()
	return context.WithValue(ctx, acquireKey{}, w.next)
}

// TraceAcquireEnd implements pgxpool.AcquireTracer.
func (w *AcquireWaits) TraceAcquireEnd(ctx context.Context, _ *pgxpool.Pool, _ pgxpool.TraceAcquireEndData) {
	id, _ := ctx.Value(acquireKey{}).(uint64)
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.waiting, id)
}

// TraceQueryStart implements pgx.QueryTracer (a pool's tracer must): nothing.
func (w *AcquireWaits) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}

// TraceQueryEnd implements pgx.QueryTracer: nothing.
func (w *AcquireWaits) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// PoolFree reports whether a connection of the pool can be had within
// ProbeTimeout (ErrPoolExhausted if not): a server whose pool is exhausted
// cannot serve, though the database answers.
func (s *Store) PoolFree(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
	defer cancel()
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		if errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
			return ErrPoolExhausted
		}
		return err
	}
	c.Release()
	return nil
}
