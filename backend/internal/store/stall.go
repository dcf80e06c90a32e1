package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrStalled is why a context watched by WatchStall ended: the database took the
// work and then did not answer a probe.
var ErrStalled = errors.New("the database does not answer")

// ErrPoolExhausted is why a context watched by WatchStall ended when the
// database answers but every connection of the pool was taken: work that waits
// StallAfter for a connection, or holds one that long while others wait, ends
// (answered 503) rather than queueing without bound. It is an ErrStalled.
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
	// takenAt is when the pool was last found with every connection taken
	// (UnixNano; 0: never).
	takenAt atomic.Int64
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
// it ends the work with cancel(ErrStalled); when every connection of the pool is
// taken it ends it with cancel(ErrPoolExhausted). Other slow work on a database
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

// poolTakenFor is how long a pool found with every connection taken counts as
// exhausted: work checked right after others were ended (which freed their
// connections for a moment) ends too, rather than StallAfter later.
const poolTakenFor = StallAfter / 2

// poolTaken reports whether every connection the pool may open is in use, or
// was within poolTakenFor.
func (s *Store) poolTaken() bool {
	st := s.pool.Stat()
	now := time.Now().UnixNano()
	if st.AcquiredConns() >= st.MaxConns() {
		s.probe.takenAt.Store(now)
		return true
	}
	at := s.probe.takenAt.Load()
	return at != 0 && time.Duration(now-at) < poolTakenFor
}

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
