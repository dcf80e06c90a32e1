package app

import (
	"context"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/dbtest"
	"github.com/aura-ci/aura/backend/internal/store"
)

// TestPoolConnectionBounds: the pool's connections carry statement_timeout,
// TCP keepalive and TCP_USER_TIMEOUT, and a connect timeout; what the URL sets stays.
func TestPoolConnectionBounds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := dbtest.NewURL(t)
	for _, c := range []struct {
		url              string
		statementTimeout string
		connectTimeout   time.Duration
	}{
		{url, "30s", dbConnectTimeout},
		{withParams(url, "statement_timeout=5s&connect_timeout=2"), "5s", 2 * time.Second},
	} {
		pool, err := newPool(ctx, c.url)
		require.NoError(t, err)
		require.Equal(t, c.connectTimeout, pool.Config().ConnConfig.ConnectTimeout, c.url)
		conn, err := pool.Acquire(ctx)
		require.NoError(t, err)
		var got string
		require.NoError(t, conn.QueryRow(ctx, "SHOW statement_timeout").Scan(&got))
		require.Equal(t, c.statementTimeout, got, c.url)

		if tcp, ok := conn.Conn().PgConn().Conn().(*net.TCPConn); ok { // not over a unix socket
			raw, err := tcp.SyscallConn()
			require.NoError(t, err)
			var userTimeout, keepAlive, keepIdle int
			require.NoError(t, raw.Control(func(fd uintptr) {
				userTimeout, _ = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpUserTimeout)
				keepAlive, _ = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE)
				keepIdle, _ = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE)
			}))
			require.Equal(t, int(dbUserTimeout/time.Millisecond), userTimeout)
			require.Equal(t, 1, keepAlive)
			require.Equal(t, int(dbKeepAliveIdle/time.Second), keepIdle)
		}
		conn.Release()
		pool.Close()
	}
}

// TestPoolKeepsConnectionWhenCallerLeaves: a caller that goes away mid-statement
// (a runner dropping its heartbeat request as its job ends) leaves its
// connection in the pool, its statement ended by itself or by a cancel
// request. pgx's default closed it, and each such hang-up cost the next caller
// a new PostgreSQL session with empty caches and every statement planned
// anew. A stalled database and a deadline still cut the connection at once.
func TestPoolKeepsConnectionWhenCallerLeaves(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, err := newPool(ctx, withParams(dbtest.NewURL(t), "pool_max_conns=1"))
	require.NoError(t, err)
	defer pool.Close()
	pid := func() (pid int) {
		require.NoError(t, pool.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid))
		return pid
	}
	// sleep runs pg_sleep(seconds) with a context that end cancels after 20 ms,
	// and returns how long the call took.
	sleep := func(seconds float64, end func(context.Context) (context.Context, func())) (time.Duration, error) {
		sctx, cancel := end(ctx)
		defer cancel()
		start := time.Now()
		_, err := pool.Exec(sctx, "SELECT pg_sleep($1)", seconds)
		return time.Since(start), err
	}
	leaves := func(ctx context.Context) (context.Context, func()) {
		ctx, cancel := context.WithCancel(ctx)
		time.AfterFunc(20*time.Millisecond, cancel)
		return ctx, cancel
	}
	first := pid()

	// A short statement ends by itself.
	_, err = sleep(0.05, leaves)
	require.NoError(t, err)
	require.Equal(t, first, pid(), "the connection was closed")

	// A long one is cancelled in the database.
	took, err := sleep(30, leaves)
	require.Error(t, err)
	require.Less(t, took, 5*time.Second)
	require.Equal(t, first, pid(), "the connection was closed")

	// A stalled database answers no cancel request, and a deadline wants its
	// answer now: the connection is cut at once.
	for name, end := range map[string]func(context.Context) (context.Context, func()){
		"stalled": func(ctx context.Context) (context.Context, func()) {
			ctx, cancel := context.WithCancelCause(ctx)
			time.AfterFunc(20*time.Millisecond, func() { cancel(store.ErrStalled) })
			return ctx, func() { cancel(nil) }
		},
		"deadline": func(ctx context.Context) (context.Context, func()) {
			return context.WithTimeout(ctx, 20*time.Millisecond)
		},
	} {
		before := pid()
		took, err := sleep(30, end)
		require.Error(t, err, name)
		require.Less(t, took, time.Second, name)
		require.NotEqual(t, before, pid(), "%s: the connection was kept", name)
	}
}

// withParams adds query parameters to a database URL.
func withParams(url, params string) string {
	if strings.Contains(url, "?") {
		return url + "&" + params
	}
	return url + "?" + params
}
