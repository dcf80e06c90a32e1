package app

import (
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/dbtest"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// TestServeMetrics: aura serve answers GET /metrics on its address and on
// --metrics-addr, to the metrics token (AURA_METRICS_TOKEN) and the admin token;
// the metrics address serves nothing else.
func TestServeMetrics(t *testing.T) {
	addr, metricsAddr := freeAddr(t), freeAddr(t)
	const token = "metrics-token-of-the-serve-test"
	t.Setenv("AURA_METRICS_TOKEN", token)
	out := &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"serve", "--addr", addr, "--metrics-addr", metricsAddr, "--data", filepath.Join(t.TempDir(), "data"),
			"--database-url", dbtest.NewURL(t), "--admin-token", "AURA_ADMINKEY_metrics-test"}, out, out)
	}()
	defer func() {
		cancel()
		select {
		case code := <-done:
			require.Equal(t, 0, code, out.Tail())
		case <-time.After(30 * time.Second):
			t.Errorf("aura serve did not stop within 30 s:\n%s", out.Tail())
		}
	}()
	get := func(url, bearer string) (int, string) {
		req, err := http.NewRequest("GET", url, nil)
		require.NoError(t, err)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	require.Eventually(t, func() bool { code, _ := get("http://"+addr+"/readyz", ""); return code == 200 }, 30*time.Second, 50*time.Millisecond, out.Tail())
	for _, base := range []string{"http://" + addr, "http://" + metricsAddr} {
		code, body := get(base+"/metrics", token)
		require.Equal(t, 200, code, body)
		require.True(t, strings.Contains(body, "\naura_jobs{status=\"queued\"} 0\n"), body)
		code, _ = get(base+"/metrics", "AURA_ADMINKEY_metrics-test")
		require.Equal(t, 200, code)
		code, _ = get(base+"/metrics", "")
		require.Equal(t, 401, code)
	}
	code, _ := get("http://"+metricsAddr+"/api/v1/me", "AURA_ADMINKEY_metrics-test")
	require.Equal(t, 404, code, "the metrics address serves /metrics only")
	code, _ = get("http://"+addr+"/api/v1/me", token)
	require.Equal(t, 401, code, "the metrics token reads nothing else")
}
