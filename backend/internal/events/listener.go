// Package events carries Aura's cross-process signals: one LISTEN connection per
// server process, fanned out to whoever handles each channel.
package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/aura-ci/aura/backend/internal/event"
	"github.com/aura-ci/aura/backend/internal/store"
	"github.com/aura-ci/aura/backend/internal/testsignal"
)

// HandlerFunc handles one notification's payload.
type HandlerFunc func(payload string)

// EventFunc handles one event of store.ChannelEvents, decoded.
type EventFunc func(event.Event)

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

// Listener holds one dedicated connection (not from the pool) that LISTENs once
// on each channel a handler was registered for, and hands every notification to
// the handlers of its channel. A payload of store.ChannelEvents is decoded once,
// here, and every EventFunc gets the decoded event (an event.Jobs as the
// event.Job of each of its jobs). It reconnects with backoff
// and then calls the OnReconnect funcs, since notifications sent while it was
// away are lost. A connection that stays quiet is probed, so a half-open one
// (the database host vanished without closing it) is replaced instead of
// leaving dispatch on its slow polls.
type Listener struct {
	url        string
	handlers   map[string][]HandlerFunc // by channel
	eventFuncs []EventFunc
	reconnects []func()

	// ProbeEvery is how long the connection may stay quiet before it is probed;
	// ProbeTimeout bounds the probe; a connection that lived HealthyAfter resets
	// the reconnect backoff. Set them before Run.
	ProbeEvery, ProbeTimeout, HealthyAfter time.Duration

	pid atomic.Uint32 // backend of the current connection, 0 while disconnected

	readyOnce sync.Once
	ready     chan struct{}

	// TestSignals tell tests what the listener did.
	TestSignals ListenerTestSignals
}

// ListenerTestSignals are the moments a test may wait for (package testsignal).
type ListenerTestSignals struct {
	// Reconnected gets the backend pid of a new connection once its LISTENs are
	// in place and the OnReconnect funcs have run.
	Reconnected testsignal.Signal[uint32]
}

// Init makes every signal keep what it gets, for tb.
func (s *ListenerTestSignals) Init(tb testsignal.TB) { s.Reconnected.Init(tb) }

// NewListener returns a Listener on the database at url. Register its handlers
// before Run.
func NewListener(url string) *Listener {
	return &Listener{url: url, handlers: map[string][]HandlerFunc{}, ready: make(chan struct{}),
		ProbeEvery: DefaultProbeEvery, ProbeTimeout: DefaultProbeTimeout, HealthyAfter: DefaultHealthyAfter}
}

// Handle registers h for the notifications of channel. Call it before Run.
func (l *Listener) Handle(channel string, h HandlerFunc) {
	l.handlers[channel] = append(l.handlers[channel], h)
}

// HandleEvents registers f for the events of store.ChannelEvents. Call it before Run.
func (l *Listener) HandleEvents(f EventFunc) {
	l.eventFuncs = append(l.eventFuncs, f)
}

// OnReconnect registers f to run after a reconnect, in the order registered:
// notifications may have been missed. Call it before Run.
func (l *Listener) OnReconnect(f func()) {
	l.reconnects = append(l.reconnects, f)
}

// channels are the channels to LISTEN on, each once.
func (l *Listener) channels() []string {
	var chs []string
	for ch := range l.handlers {
		chs = append(chs, ch)
	}
	if len(l.eventFuncs) > 0 && l.handlers[store.ChannelEvents] == nil {
		chs = append(chs, store.ChannelEvents)
	}
	slices.Sort(chs)
	return chs
}

// dispatch hands one notification to the handlers of its channel; an event is
// decoded once for all of its EventFuncs.
func (l *Listener) dispatch(channel, payload string) {
	for _, h := range l.handlers[channel] {
		h(payload)
	}
	if channel != store.ChannelEvents || len(l.eventFuncs) == 0 {
		return
	}
	e, err := event.Parse([]byte(payload))
	if err != nil {
		slog.Warn("event listener: bad payload", "err", err)
		return
	}
	if js, ok := e.(event.Jobs); ok { // a Job per id, as if each had come alone
		js.Each(func(j event.Job) {
			for _, f := range l.eventFuncs {
				f(j)
			}
		})
		return
	}
	for _, f := range l.eventFuncs {
		f(e)
	}
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
	for _, ch := range l.channels() {
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
			return err
		}
	}
	l.pid.Store(conn.PgConn().PID())
	defer l.pid.Store(0)
	l.readyOnce.Do(func() { close(l.ready) })
	if resync {
		for _, f := range l.reconnects {
			f()
		}
		l.TestSignals.Reconnected.Signal(conn.PgConn().PID())
	}
	for {
		waitCtx, cancel := context.WithTimeout(ctx, l.ProbeEvery)
		n, err := conn.WaitForNotification(waitCtx)
		cancel()
		if err == nil {
			l.dispatch(n.Channel, n.Payload)
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
