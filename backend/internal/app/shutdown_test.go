package app

import (
	"bytes"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestShutdownFinishesRequests: a stopping server refuses new connections at
// once but lets a request in flight finish and answer.
func TestShutdownFinishesRequests(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	started, release := make(chan struct{}), make(chan struct{})
	srv := newHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		_, _ = io.WriteString(w, "finished")
	}))
	go func() { _ = srv.Serve(ln) }()

	type answer struct {
		body string
		err  error
	}
	answered := make(chan answer, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/slow")
		if err != nil {
			answered <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		answered <- answer{string(b), err}
	}()
	<-started

	var logs bytes.Buffer
	stopped := make(chan struct{})
	go func() {
		shutdownHTTP(srv, nil, time.Minute, slog.New(slog.NewTextHandler(&logs, nil)))
		close(stopped)
	}()
	// New connections are refused while the slow request still runs.
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return true
		}
		c.Close()
		return false
	}, 10*time.Second, 5*time.Millisecond, "the listener still accepts")
	select {
	case <-stopped:
		t.Fatal("shutdown did not wait for the request in flight")
	default:
	}
	close(release)
	a := <-answered
	require.NoError(t, a.err)
	require.Equal(t, "finished", a.body)
	<-stopped
	require.Contains(t, logs.String(), "requests in flight finished")
}

// TestShutdownCutsOffPastTimeout: a request still running past the timeout is
// cut off, and shutdown says so rather than waiting for it.
func TestShutdownCutsOffPastTimeout(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	started, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	srv := newHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
	}))
	go func() { _ = srv.Serve(ln) }()
	failed := make(chan error, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/stuck")
		if err == nil {
			resp.Body.Close()
		}
		failed <- err
	}()
	<-started
	var logs bytes.Buffer
	shutdownHTTP(srv, nil, 50*time.Millisecond, slog.New(slog.NewTextHandler(&logs, nil)))
	require.Error(t, <-failed, "the stuck request was cut off")
	require.Contains(t, logs.String(), "cut off")
}

// TestConfigShutdownTimeout: --shutdown-timeout defaults to 10s, comes from
// AURA_SHUTDOWN_TIMEOUT, and must be positive.
func TestConfigShutdownTimeout(t *testing.T) {
	parse := func(args ...string) (Config, error) {
		var cfg Config
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		cfg.flags(fs)
		if err := cfg.parse(fs, args); err != nil {
			return cfg, err
		}
		return cfg, cfg.validate()
	}
	cfg, err := parse()
	require.NoError(t, err)
	require.Equal(t, 10*time.Second, cfg.ShutdownTimeout)
	t.Setenv("AURA_SHUTDOWN_TIMEOUT", "25s")
	cfg, err = parse()
	require.NoError(t, err)
	require.Equal(t, 25*time.Second, cfg.ShutdownTimeout)
	cfg, err = parse("--shutdown-timeout", "3s")
	require.NoError(t, err)
	require.Equal(t, 3*time.Second, cfg.ShutdownTimeout, "a flag wins over the environment")
	t.Setenv("AURA_SHUTDOWN_TIMEOUT", "0s")
	_, err = parse()
	require.ErrorContains(t, err, "shutdown-timeout 0s: must be positive")
	t.Setenv("AURA_SHUTDOWN_TIMEOUT", "10")
	_, err = parse()
	require.ErrorContains(t, err, "a duration needs a unit")
}
