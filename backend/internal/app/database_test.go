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
)

// TestPoolConnectionBounds: the pool's connections carry statement_timeout,
// TCP keepalive and TCP_USER_TIMEOUT, and a connect timeout; what the URL sets stays.
func TestPoolConnectionBounds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := dbtest.NewURL(t)
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	for _, c := range []struct {
		url              string
		statementTimeout string
		connectTimeout   time.Duration
	}{
		{url, "30s", dbConnectTimeout},
		{url + sep + "statement_timeout=5s&connect_timeout=2", "5s", 2 * time.Second},
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
