package cache

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestRestoreWaitsForServer: a server not yet listening (restarting) is
// retried, as aura-runner submit does, rather than failing the job's restore.
func TestRestoreWaitsForServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.Equal(t, "Bearer job-token", r.Header.Get("Authorization"))
		require.Equal(t, "k", r.URL.Query().Get("key"))
		require.Equal(t, []string{"a/", "b"}, r.URL.Query()["fallback"])
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"code":404,"message":"no cache k"}`))
	})}
	go func() {
		time.Sleep(400 * time.Millisecond)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return
		}
		srv.Serve(ln)
	}()
	t.Cleanup(func() { srv.Close() })
	env := map[string]string{"AURA_SERVER_URL": "http://" + addr, "AURA_JOB_TOKEN": "job-token"}
	var stdout, stderr bytes.Buffer
	code := Run(context.Background(), []string{"restore", "k", "--fallback", "a/", "dir", "--fallback=b"},
		func(k string) string { return env[k] }, t.TempDir(), &stdout, &stderr, "test")
	require.Equal(t, 0, code, stderr.String())
	require.Equal(t, "cache k not found\n", stdout.String())
}

// TestUsage: bad calls exit 2 with a message, before any request.
func TestUsage(t *testing.T) {
	env := map[string]string{"AURA_JOB_TOKEN": "t", "AURA_SERVER_URL": "http://127.0.0.1:1"}
	for _, args := range [][]string{{}, {"load", "k", "p"}, {"save", "k"}, {"save", "k", "../out"}, {"save", "k", "p", "--fallback", "x"},
		{"restore", "k", "p", "--nope", "x"}, {"restore", "k", "p", "--fallback"}} {
		var stdout, stderr bytes.Buffer
		code := Run(context.Background(), args, func(k string) string { return env[k] }, t.TempDir(), &stdout, &stderr, "test")
		require.Equal(t, 2, code, "%v: %s", args, stderr.String())
		require.NotEmpty(t, stderr.String())
	}
}
