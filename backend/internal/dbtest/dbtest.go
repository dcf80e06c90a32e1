// Package dbtest gives every test a fresh PostgreSQL database of its own with Aura's
// schema, cloned from a migrated template database, as pgtestdb does.
//
// The server is the one AURA_TEST_DATABASE_URL points at (scripts/test starts one and
// sets it), or else a private cluster that the test binary starts on first use. Call
// Main from TestMain so that cluster is stopped when the tests end:
//
//	func TestMain(m *testing.M) { dbtest.Main(m) }
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/aura-ci/aura/backend/internal/pgcluster"
	"github.com/aura-ci/aura/backend/internal/store"
)

// EnvURL names the variable holding the URL of a maintenance database (such as
// postgres://user@host:port/postgres) on the server the tests may use. The user needs
// the CREATEDB privilege.
const EnvURL = "AURA_TEST_DATABASE_URL"

// PoolMaxConns bounds the pool New returns, so many parallel tests fit in one server.
const PoolMaxConns = 8

// templateLockKey serialises template preparation across test binaries sharing a
// server (pg_advisory_lock).
const templateLockKey = 0x61757261_74706c // "auratpl"

var (
	mu     sync.Mutex
	srv    *server
	srvErr error
)

// server is the PostgreSQL server of this test binary, prepared once.
type server struct {
	base     *url.URL           // the maintenance database
	admin    *pgxpool.Pool      // creates and drops test databases
	template string             // aura_tpl_<migrations hash>
	cluster  *pgcluster.Cluster // nil when EnvURL was given
	dir      string             // the cluster's folder
}

// New returns a pool on a new database with Aura's schema, for t alone. The pool is
// closed and the database dropped when t ends, unless t failed: then the database is
// kept and its URL logged.
func New(t testing.TB) *pgxpool.Pool {
	t.Helper()
	dbURL := NewURL(t)
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	cfg.MaxConns = PoolMaxConns
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	// Registered after NewURL's cleanup, so it runs before the database is dropped.
	t.Cleanup(pool.Close)
	return pool
}

// NewURL creates a new database with Aura's schema for t alone and returns its URL.
// The database is dropped when t ends, unless t failed: then it is kept and its URL
// logged.
func NewURL(t testing.TB) string {
	t.Helper()
	s, err := get()
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name, err := s.create(ctx)
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	dbURL := s.url(name)
	t.Cleanup(func() {
		if t.Failed() {
			if s.cluster != nil {
				t.Logf("dbtest: kept the database of this failed test until the test binary exits "+
					"(set %s to a server of your own to keep it longer): %s", EnvURL, dbURL)
			} else {
				t.Logf("dbtest: kept the database of this failed test: %s", dbURL)
			}
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.drop(ctx, name); err != nil {
			t.Errorf("dbtest: %v", err)
		}
	})
	return dbURL
}

// Main runs the tests, stops the cluster dbtest started itself, if any, and exits
// with the tests' exit code. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	mu.Lock()
	if srv != nil {
		if err := srv.close(); err != nil {
			fmt.Fprintln(os.Stderr, "dbtest:", err)
		}
		srv = nil
	}
	mu.Unlock()
	os.Exit(code)
}

// get returns the server, preparing it on first use.
func get() (*server, error) {
	mu.Lock()
	defer mu.Unlock()
	if srv == nil && srvErr == nil {
		srv, srvErr = open()
	}
	return srv, srvErr
}

func open() (_ *server, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s := &server{template: "aura_tpl_" + store.MigrationsHash()}
	defer func() {
		if err != nil {
			_ = s.close()
		}
	}()

	baseURL := os.Getenv(EnvURL)
	if baseURL == "" {
		if s.dir, err = pgcluster.TempDir("aura-dbtest-"); err != nil {
			return nil, err
		}
		s.cluster, err = pgcluster.Start(ctx, pgcluster.Config{Dir: s.dir, Fast: true})
		if err != nil {
			return nil, err
		}
		baseURL = s.cluster.URL("postgres")
	}
	if s.base, err = url.Parse(baseURL); err != nil || (s.base.Scheme != "postgres" && s.base.Scheme != "postgresql") {
		return nil, fmt.Errorf("%s must be a postgres:// URL, not %q", EnvURL, baseURL)
	}
	cfg, err := pgxpool.ParseConfig(baseURL)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = 4
	if s.admin, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return nil, err
	}
	if err := s.prepareTemplate(ctx); err != nil {
		return nil, fmt.Errorf("prepare the template database %s: %w", s.template, err)
	}
	return s, nil
}

// prepareTemplate creates and migrates the template database unless another test
// binary did already.
func (s *server) prepareTemplate(ctx context.Context) error {
	// A connection of its own: closing it releases the session's advisory lock
	// whatever happens.
	conn, err := pgx.Connect(ctx, s.base.String())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, templateLockKey); err != nil {
		return err
	}
	var isTemplate bool
	err = conn.QueryRow(ctx, `SELECT datistemplate FROM pg_database WHERE datname = $1`, s.template).Scan(&isTemplate)
	switch {
	case err == nil && isTemplate:
		return nil
	case err == nil:
		// Left half-made by a test binary that died while migrating it.
		if _, err := conn.Exec(ctx, `DROP DATABASE `+ident(s.template)+` WITH (FORCE)`); err != nil {
			return err
		}
	case !errors.Is(err, pgx.ErrNoRows):
		return err
	}
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+ident(s.template)); err != nil {
		return err
	}
	if err := store.MigrateUp(s.url(s.template)); err != nil {
		return err
	}
	// No connections: CREATE DATABASE … TEMPLATE fails while anyone is connected to it.
	_, err = conn.Exec(ctx, `ALTER DATABASE `+ident(s.template)+` WITH IS_TEMPLATE true ALLOW_CONNECTIONS false`)
	return err
}

// create makes a new database from the template and returns its name.
func (s *server) create(ctx context.Context) (string, error) {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	name := "aura_t_" + hex.EncodeToString(b)
	if _, err := s.admin.Exec(ctx, `CREATE DATABASE `+ident(name)+` TEMPLATE `+ident(s.template)); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return name, nil
}

func (s *server) drop(ctx context.Context, name string) error {
	if _, err := s.admin.Exec(ctx, `DROP DATABASE IF EXISTS `+ident(name)+` WITH (FORCE)`); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

// url returns the URL of database name on the server.
func (s *server) url(name string) string {
	u := *s.base
	u.Path = "/" + name
	u.RawPath = ""
	return u.String()
}

func (s *server) close() error {
	if s.admin != nil {
		s.admin.Close()
	}
	var err error
	if s.cluster != nil {
		err = s.cluster.Stop()
	}
	if s.dir != "" {
		err = errors.Join(err, os.RemoveAll(s.dir))
	}
	return err
}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }
