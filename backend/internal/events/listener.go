// Package events carries Aura's cross-process signals: one LISTEN connection per
// server process, fanned out to whoever handles each channel.
package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// HandlerFunc handles one notification.
type HandlerFunc func(channel, payload string)

// Defaults of the Listener's liveness settings.
const (
	DefaultProbeEvery   = 10 * time.Second
	DefaultProbeTimeout = 5 * time.Second
	DefaultHealthyAfter = 30 * time.Second
)

const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// Listener holds one dedicated connection (not from the pool) that LISTENs on a set
// of channels. It reconnects with backoff and then calls its resync func, since
// notifications sent while it was away are lost. A connection that stays quiet is
// probed, so a half-open one (the database host vanished without closing it) is
// replaced instead of leaving dispatch on its slow polls.
type Listener struct {
	url        string
	channels   []string
	handle     HandlerFunc
	resyncFunc func()

	// ProbeEvery is how long the connection may stay quiet before it is probed;
	// ProbeTimeout bounds the probe; a connection that lived HealthyAfter resets
	// the reconnect backoff. Set them before Run.
	ProbeEvery, ProbeTimeout, HealthyAfter time.Duration

	pid atomic.Uint32 // backend of the current connection, 0 while disconnected

	readyOnce sync.Once
	ready     chan struct{}
}

// NewListener returns a Listener for channels on the database at url.
func NewListener(url string, channels []string, handle HandlerFunc, resync func()) *Listener {
	return &Listener{url: url, channels: channels, handle: handle, resyncFunc: resync, ready: make(chan struct{}),
		ProbeEvery: DefaultProbeEvery, ProbeTimeout: DefaultProbeTimeout, HealthyAfter: DefaultHealthyAfter}
}

// Ready is closed once the first LISTEN is in place.
func (l *Listener) Ready() <-chan struct{} { return l.ready }

// PID is the server process of the current LISTEN connection, 0 while there is none.
func (l *Listener) PID() uint32 { return l.pid.Load() }

// Run listens until ctx ends.
func (l *Listener) Run(ctx context.Context) {
	backoff := minBackoff
	for first := true; ctx.Err() == nil; first = false {
		start := time.Now()
		err := l.listen(ctx, !first)
		if ctx.Err() != nil {
			return
		}
		backoff = nextBackoff(backoff, time.Since(start), l.HealthyAfter)
		slog.Warn("event listener disconnected, reconnecting", "err", err, "in", backoff)
		select {
		case <-time.After(backoff + rand.N(backoff/2)):
		case <-ctx.Done():
			return
		}
	}
}

// nextBackoff is the pause before the next reconnect: it starts over after a
// connection that stayed up healthyAfter, and doubles otherwise.
func nextBackoff(prev, lived, healthyAfter time.Duration) time.Duration {
	if lived >= healthyAfter {
		return minBackoff
	}
	return min(prev*2, maxBackoff)
}

func (l *Listener) listen(ctx context.Context, resync bool) error {
	connectCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	conn, err := pgx.Connect(connectCtx, l.url)
	cancel()
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	for _, ch := range l.channels {
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
			return err
		}
	}
	l.pid.Store(conn.PgConn().PID())
	defer l.pid.Store(0)
	l.readyOnce.Do(func() { close(l.ready) })
	if resync && l.resyncFunc != nil {
		l.resyncFunc()
	}
	for {
		waitCtx, cancel := context.WithTimeout(ctx, l.ProbeEvery)
		n, err := conn.WaitForNotification(waitCtx)
		cancel()
		if err == nil {
			l.handle(n.Channel, n.Payload)
			continue
		}
		if ctx.Err() != nil || !(pgconn.Timeout(err) || errors.Is(err, context.DeadlineExceeded)) {
			return err
		}
		// Quiet for ProbeEvery: make sure the server is still there.
		probeCtx, cancel := context.WithTimeout(ctx, l.ProbeTimeout)
		_, err = conn.Exec(probeCtx, "SELECT 1")
		cancel()
		if err != nil {
			return fmt.Errorf("liveness probe: %w", err)
		}
	}
}
