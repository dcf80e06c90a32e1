package events

import (
	"context"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/dbtest"
	"github.com/aura-ci/aura/backend/internal/event"
	"github.com/aura-ci/aura/backend/internal/store"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// listening runs a Listener on channel "t" of a fresh database and collects what it gets.
type listening struct {
	l        *Listener
	pool     *pgxpool.Pool
	mu       sync.Mutex
	payloads []string
	resyncs  atomic.Int32
}

func startListening(t *testing.T, probe time.Duration) *listening {
	t.Helper()
	url := dbtest.NewURL(t)
	pool, err := pgxpool.New(context.Background(), url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	x := &listening{pool: pool}
	x.l = NewListener(url)
	x.l.Handle("t", func(payload string) {
		x.mu.Lock()
		x.payloads = append(x.payloads, payload)
		x.mu.Unlock()
	})
	x.l.OnReconnect(func() { x.resyncs.Add(1) })
	x.l.TestSignals.Init(t)
	x.l.ProbeEvery, x.l.ProbeTimeout = probe, probe
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { x.l.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	<-x.l.Ready()
	return x
}

// delivered sends payload and waits until the listener got it.
func (x *listening) delivered(t *testing.T, payload string) {
	t.Helper()
	_, err := x.pool.Exec(context.Background(), `SELECT pg_notify('t', $1)`, payload)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		x.mu.Lock()
		defer x.mu.Unlock()
		return len(x.payloads) > 0 && x.payloads[len(x.payloads)-1] == payload
	}, 10*time.Second, 10*time.Millisecond, "notification %q not received", payload)
}

// reconnected waits until the listener is on a new backend after old, and resynced.
func (x *listening) reconnected(t *testing.T, old uint32, resyncs int32) {
	t.Helper()
	pid := x.l.TestSignals.Reconnected.Wait()
	require.NotEqual(t, old, pid)
	require.Equal(t, resyncs, x.resyncs.Load())
}

// TestListenerReconnects terminates the LISTEN backend: the listener connects
// again on a new backend, resyncs once, and receives notifications again.
func TestListenerReconnects(t *testing.T) {
	t.Parallel()
	x := startListening(t, DefaultProbeEvery)
	x.delivered(t, "before")
	old := x.l.PID()
	var ok bool
	require.NoError(t, x.pool.QueryRow(context.Background(), `SELECT pg_terminate_backend($1)`, int32(old)).Scan(&ok))
	require.True(t, ok)
	x.reconnected(t, old, 1)
	x.delivered(t, "after")
}

// TestListenerProbesHalfOpen freezes the LISTEN backend (SIGSTOP): the
// connection stays open but nothing answers, as when the database host vanished.
// The liveness probe notices, and the listener moves to a new backend.
func TestListenerProbesHalfOpen(t *testing.T) {
	t.Parallel()
	x := startListening(t, 300*time.Millisecond)
	x.delivered(t, "before")
	old := x.l.PID()
	if err := syscall.Kill(int(old), syscall.SIGSTOP); err != nil {
		t.Skipf("cannot stop the backend (%v): the database runs elsewhere", err)
	}
	t.Cleanup(func() { _ = syscall.Kill(int(old), syscall.SIGCONT) })
	x.reconnected(t, old, 1)
	x.delivered(t, "after")
}

func TestBackoffResetsAfterHealthyPeriod(t *testing.T) {
	t.Parallel()
	require.Equal(t, 400*time.Millisecond, nextBackoff(200*time.Millisecond, time.Second, DefaultHealthyAfter))
	require.Equal(t, maxBackoff, nextBackoff(maxBackoff, time.Second, DefaultHealthyAfter))
	require.Equal(t, minBackoff, nextBackoff(maxBackoff, DefaultHealthyAfter, DefaultHealthyAfter))
}

// TestListenerDecodesEventsOnce: each channel is LISTENed once however many
// handle it, and an event reaches every EventFunc decoded, once for all.
func TestListenerDecodesEventsOnce(t *testing.T) {
	t.Parallel()
	l := NewListener("")
	l.Handle("t", func(string) {})
	l.Handle("t", func(string) {})
	var got [2][]event.Event
	l.HandleEvents(func(e event.Event) { got[0] = append(got[0], e) })
	l.HandleEvents(func(e event.Event) { got[1] = append(got[1], e) })
	require.Equal(t, []string{store.ChannelEvents, "t"}, l.channels())

	job := event.Job{JobID: 1, Project: "p", Status: "queued"}
	l.dispatch(store.ChannelEvents, string(event.Marshal(job)))
	l.dispatch(store.ChannelEvents, `{"type":"nope"}`) // dropped, with a warning
	l.dispatch("t", "not an event")                    // not for the EventFuncs
	require.Equal(t, [2][]event.Event{{job}, {job}}, got)
}
