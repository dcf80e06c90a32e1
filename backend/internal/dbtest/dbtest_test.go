package dbtest

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { Main(m) }

// TestIsolation runs two tests side by side: each gets its own empty database with
// the schema, and neither sees what the other writes.
func TestIsolation(t *testing.T) {
	t.Parallel()
	var inserted sync.WaitGroup
	inserted.Add(2)
	allInserted := make(chan struct{})
	go func() { inserted.Wait(); close(allInserted) }()

	names := make([]string, 2)
	for i := range names {
		t.Run("", func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			pool := New(t)
			require.NoError(t, pool.QueryRow(ctx, `SELECT current_database()`).Scan(&names[i]))
			require.True(t, strings.HasPrefix(names[i], "aura_t_"), names[i])

			var jobs, projects int
			require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM jobs`).Scan(&jobs))
			require.Zero(t, jobs)
			// The same slug in both: a shared database would refuse the second.
			_, err := pool.Exec(ctx, `INSERT INTO projects (slug, name) VALUES ('same', 'Same')`)
			require.NoError(t, err)
			inserted.Done()
			select {
			case <-allInserted:
			case <-time.After(time.Minute):
				t.Fatal("the other test did not run alongside (is -parallel 1 set?)")
			}
			require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM projects`).Scan(&projects))
			require.Equal(t, 1, projects)
		})
	}
	t.Cleanup(func() { require.NotEqual(t, names[0], names[1]) })
}

func TestDropOrKeep(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := get()
	require.NoError(t, err)
	exists := func(name string) bool {
		var n int
		require.NoError(t, s.admin.QueryRow(ctx, `SELECT count(*) FROM pg_database WHERE datname = $1`, name).Scan(&n))
		return n == 1
	}

	var passed, failed string
	t.Run("passes", func(t *testing.T) {
		passed = dbName(t, NewURL(t))
		require.True(t, exists(passed))
	})
	require.False(t, exists(passed), "a passed test's database is dropped")

	t.Run("fails", func(t *testing.T) {
		failed = dbName(t, NewURL(failingTB{t}))
	})
	require.True(t, exists(failed), "a failed test's database is kept")
	require.NoError(t, s.drop(ctx, failed))
}

func TestTemplate(t *testing.T) {
	t.Parallel()
	s, err := get()
	require.NoError(t, err)
	var isTemplate, allowConn bool
	require.NoError(t, s.admin.QueryRow(context.Background(),
		`SELECT datistemplate, datallowconn FROM pg_database WHERE datname = $1`, s.template).Scan(&isTemplate, &allowConn))
	require.True(t, isTemplate)
	require.False(t, allowConn)

	// Preparing again, as a second test binary would, keeps the template as it is.
	require.NoError(t, s.prepareTemplate(context.Background()))
}

// failingTB is a test that reports itself failed.
type failingTB struct{ testing.TB }

func (failingTB) Failed() bool { return true }

func dbName(t testing.TB, dbURL string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(dbURL)
	require.NoError(t, err)
	return cfg.Database
}

// BenchmarkNewURL measures creating and dropping a test database:
//
//	go test -run '^$' -bench . ./backend/internal/dbtest/
func BenchmarkNewURL(b *testing.B) {
	ctx := context.Background()
	s, err := get()
	require.NoError(b, err)
	for b.Loop() {
		name, err := s.create(ctx)
		require.NoError(b, err)
		require.NoError(b, s.drop(ctx, name))
	}
}

// BenchmarkNew measures what a test pays for New: a database, a pool and its first
// connection, then closing and dropping them.
func BenchmarkNew(b *testing.B) {
	ctx := context.Background()
	s, err := get()
	require.NoError(b, err)
	for b.Loop() {
		name, err := s.create(ctx)
		require.NoError(b, err)
		pool, err := pgxpool.New(ctx, s.url(name))
		require.NoError(b, err)
		require.NoError(b, pool.Ping(ctx))
		pool.Close()
		require.NoError(b, s.drop(ctx, name))
	}
}
