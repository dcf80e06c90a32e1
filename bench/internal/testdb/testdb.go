// Package testdb gives a bench test a fresh, empty PostgreSQL database on the
// server AURA_TEST_DATABASE_URL points at (scripts/test starts one and sets it;
// see also backend/internal/dbtest, which this module cannot import).
package testdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the variable with a maintenance database URL on the test server;
// its user needs CREATEDB.
const EnvURL = "AURA_TEST_DATABASE_URL"

// New creates an empty database for t and returns its URL; it is dropped when t
// ends, unless t failed. Without EnvURL the test is skipped.
func New(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvURL)
	if base == "" {
		t.Skipf("%s is not set: these tests need a PostgreSQL server (scripts/test starts one)", EnvURL)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", EnvURL, err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "bench_" + hex.EncodeToString(b)
	exec(t, base, "CREATE DATABASE "+name)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("kept the database of this failed test: %s", name)
			return
		}
		exec(t, base, "DROP DATABASE "+name+" WITH (FORCE)")
	})
	u.Path = "/" + name
	return u.String()
}

func exec(t testing.TB, dbURL, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("testdb: %s: %v", sql, err)
	}
}

// QueryRow runs a one-row query on dbURL into dst.
func QueryRow(t testing.TB, dbURL, sql string, dst ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	defer conn.Close(context.Background())
	if err := conn.QueryRow(ctx, sql).Scan(dst...); err != nil {
		t.Fatalf("testdb: %s: %v", sql, err)
	}
}
