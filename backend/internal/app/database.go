package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/aura-ci/aura/backend/internal/pgcluster"
)

// openDatabase returns the database URL to use: the configured one, or that of an
// embedded cluster started in the data folder (stop it with the returned func).
// With failFunc set, the embedded cluster is supervised: restarted when it dies,
// and failFunc is called when it cannot be restarted.
func openDatabase(ctx context.Context, cfg *Config, logf func(string, ...any), failFunc func(error)) (string, func(), error) {
	if cfg.DatabaseURL != "" {
		return cfg.DatabaseURL, func() {}, nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return "", nil, fmt.Errorf("data folder: %w", err)
	}
	password, err := clusterPassword(filepath.Join(cfg.DataDir, "postgres.password"))
	if err != nil {
		return "", nil, err
	}
	dir, err := clusterDir(cfg.DataDir, logf)
	if err != nil {
		return "", nil, err
	}
	logf("starting the embedded PostgreSQL in %s", dir)
	pcfg := pgcluster.Config{Dir: dir, Password: password, Logf: logf}
	c, err := pgcluster.Start(ctx, pcfg)
	if err != nil {
		return "", nil, fmt.Errorf("embedded PostgreSQL: %w", err)
	}
	stop := func() {
		if err := c.Stop(); err != nil {
			logf("stopping the embedded PostgreSQL: %v", err)
		}
	}
	if err := createDatabase(ctx, c.URL("postgres"), "aura"); err != nil {
		stop()
		return "", nil, err
	}
	if failFunc != nil {
		// Restart on the same port, so the URL everyone holds stays valid.
		pcfg.Port = c.Port()
		sup := &supervisor{cfg: pcfg, c: c, failFunc: failFunc, quit: make(chan struct{}), done: make(chan struct{})}
		go sup.run()
		stop = sup.stop
	}
	return c.URL("aura"), stop, nil
}

// Restarts of a dead embedded cluster: attempts and the first pause between them (doubling).
const (
	restartAttempts = 5
	restartPause    = 500 * time.Millisecond
)

// supervisor restarts the embedded cluster when postgres dies (a crash, the OOM
// killer, a kill -9), so the server does not carry on answering 503 for ever.
type supervisor struct {
	cfg      pgcluster.Config
	failFunc func(error)

	mu   sync.Mutex
	c    *pgcluster.Cluster
	quit chan struct{} // closed by stop
	done chan struct{} // closed when run returns
}

func (s *supervisor) run() {
	defer close(s.done)
	for {
		s.mu.Lock()
		c := s.c
		s.mu.Unlock()
		select {
		case <-c.Exited():
		case <-s.quit:
			return
		}
		if c.Stopping() {
			return
		}
		slog.Error("the embedded PostgreSQL exited unexpectedly; restarting it", "err", c.ExitErr())
		next, err := s.restart()
		select {
		case <-s.quit:
			if next != nil {
				_ = next.Stop()
			}
			return
		default:
		}
		if err != nil {
			s.failFunc(err)
			return
		}
		s.mu.Lock()
		s.c = next
		s.mu.Unlock()
	}
}

func (s *supervisor) restart() (*pgcluster.Cluster, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.quit:
			cancel()
		case <-ctx.Done():
		}
	}()
	pause := restartPause
	for attempt := 1; ; attempt++ {
		c, err := pgcluster.Start(ctx, s.cfg)
		if err == nil {
			slog.Warn("the embedded PostgreSQL was restarted", "attempt", attempt)
			return c, nil
		}
		if attempt == restartAttempts || ctx.Err() != nil {
			return nil, fmt.Errorf("the embedded PostgreSQL died and could not be restarted (%d attempts): %w", attempt, err)
		}
		slog.Warn("restarting the embedded PostgreSQL failed; trying again", "attempt", attempt, "in", pause, "err", err)
		select {
		case <-time.After(pause):
		case <-ctx.Done():
		}
		pause *= 2
	}
}

// stop ends supervision, then stops the cluster.
func (s *supervisor) stop() {
	close(s.quit)
	<-s.done
	s.mu.Lock()
	c := s.c
	s.mu.Unlock()
	if err := c.Stop(); err != nil {
		slog.Warn("stopping the embedded PostgreSQL", "err", err)
	}
}

// clusterDir is where the embedded cluster lives: in the data folder, unless we
// run as root and the postgres user (PostgreSQL refuses root) cannot reach it,
// as with a checkout under /root. Then it lives under /var/lib/aura, at a path
// derived from the data folder, so the same data folder finds it again.
func clusterDir(dataDir string, logf func(string, ...any)) (string, error) {
	dir := filepath.Join(dataDir, "postgres")
	reachErr := pgcluster.Reachable(dir)
	if reachErr == nil {
		return dir, nil
	}
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(abs))
	alt := filepath.Join("/var/lib/aura", "postgres-"+hex.EncodeToString(sum[:6]))
	if err := os.MkdirAll(filepath.Dir(alt), 0o755); err != nil {
		return "", fmt.Errorf("%v; and %w", reachErr, err)
	}
	if err := pgcluster.Reachable(alt); err != nil {
		return "", reachErr
	}
	logf("the postgres user cannot reach %s, so the embedded PostgreSQL lives in %s", dataDir, alt)
	return alt, nil
}

// clusterPassword reads the embedded cluster's password, creating it on first start.
func clusterPassword(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	pw := hex.EncodeToString(raw)
	return pw, os.WriteFile(path, []byte(pw+"\n"), 0o600)
}

func createDatabase(ctx context.Context, maintenanceURL, name string) error {
	conn, err := pgx.Connect(ctx, maintenanceURL)
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return fmt.Errorf("look for database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// Bounds on the pool's connections, so a database that stops answering (frozen,
// a paused VM, a network partition) is noticed rather than waited on for ever.
const (
	// dbConnectTimeout bounds a new connection, TCP and startup, unless the
	// database URL sets connect_timeout.
	dbConnectTimeout = 5 * time.Second
	// dbStatementTimeout is PostgreSQL's statement_timeout unless the URL sets
	// one: no statement of Aura's takes long, so one that does is stuck.
	dbStatementTimeout = "30s"
	// TCP keepalive: the first probe after 10 s of silence, then every 5 s, and
	// the connection is dropped after 3 unanswered probes.
	dbKeepAliveIdle     = 10 * time.Second
	dbKeepAliveInterval = 5 * time.Second
	dbKeepAliveCount    = 3
	// dbUserTimeout drops a connection whose sent data stays unacknowledged
	// this long (TCP_USER_TIMEOUT), which keepalive alone does not cover.
	dbUserTimeout = 20 * time.Second
	// tcpUserTimeout is TCP_USER_TIMEOUT of linux/tcp.h; package syscall lacks it.
	tcpUserTimeout = 0x12
)

// boundConnections sets the connect timeout, statement_timeout, TCP keepalive and
// TCP_USER_TIMEOUT on cc, keeping what the database URL chose.
func boundConnections(cc *pgconn.Config) {
	if cc.ConnectTimeout == 0 {
		cc.ConnectTimeout = dbConnectTimeout
	}
	if cc.RuntimeParams == nil {
		cc.RuntimeParams = map[string]string{}
	}
	if _, set := cc.RuntimeParams["statement_timeout"]; !set && !strings.Contains(cc.RuntimeParams["options"], "statement_timeout") {
		cc.RuntimeParams["statement_timeout"] = dbStatementTimeout
	}
	d := &net.Dialer{
		Timeout: cc.ConnectTimeout,
		KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: dbKeepAliveIdle,
			Interval: dbKeepAliveInterval, Count: dbKeepAliveCount},
		Control: func(network, address string, c syscall.RawConn) error {
			if !strings.HasPrefix(network, "tcp") {
				return nil
			}
			var sockErr error
			err := c.Control(func(fd uintptr) {
				sockErr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpUserTimeout, int(dbUserTimeout/time.Millisecond))
			})
			if err != nil {
				return err
			}
			return sockErr
		},
	}
	cc.DialFunc = d.DialContext
}
