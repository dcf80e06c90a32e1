package pgcluster_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/pgcluster"
)

// testDir returns a data directory path the postgres user can reach when the tests
// run as root: t.TempDir's parent is created 0700, so it cannot be used.
func testDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "pgcluster-test-")
	require.NoError(t, err)
	require.NoError(t, os.Chmod(d, 0o755))
	t.Cleanup(func() { os.RemoveAll(d) })
	return filepath.Join(d, "data")
}

func start(t testing.TB, cfg pgcluster.Config) *pgcluster.Cluster {
	t.Helper()
	cfg.Logf = t.Logf
	c, err := pgcluster.Start(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Stop() })
	return c
}

func connect(t testing.TB, url string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestStartStopRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := testDir(t)

	c := start(t, pgcluster.Config{Dir: dir, Fast: true, Settings: map[string]string{"max_connections": "50"}})
	require.Contains(t, c.URL("postgres"), "postgres://aura@127.0.0.1:")
	require.True(t, strings.HasSuffix(c.URL("postgres"), "/postgres?sslmode=disable"), c.URL("postgres"))

	conn := connect(t, c.URL("postgres"))
	var maxConn, fsync, user, encoding string
	require.NoError(t, conn.QueryRow(ctx, `SELECT current_setting('max_connections'), current_setting('fsync'),
		current_user, pg_encoding_to_char(encoding) FROM pg_database WHERE datname = 'postgres'`).Scan(&maxConn, &fsync, &user, &encoding))
	require.Equal(t, []string{"50", "off", "aura", "UTF8"}, []string{maxConn, fsync, user, encoding})
	_, err := conn.Exec(ctx, `CREATE TABLE kept (v text); INSERT INTO kept VALUES ('survives a restart')`)
	require.NoError(t, err)
	require.NoError(t, conn.Close(ctx))

	require.NoError(t, c.Stop())
	require.NoError(t, c.Stop(), "Stop is idempotent")
	require.NoFileExists(t, filepath.Join(dir, "postmaster.pid"))
	require.FileExists(t, filepath.Join(dir, "postgres.log"))

	c = start(t, pgcluster.Config{Dir: dir, Fast: true})
	conn = connect(t, c.URL("postgres"))
	var v string
	require.NoError(t, conn.QueryRow(ctx, `SELECT v FROM kept`).Scan(&v))
	require.Equal(t, "survives a restart", v)
	require.NoError(t, conn.QueryRow(ctx, `SELECT current_setting('max_connections')`).Scan(&maxConn))
	require.Equal(t, "200", maxConn)
}

func TestPassword(t *testing.T) {
	t.Parallel()
	dir := testDir(t)
	require.NoError(t, os.Mkdir(dir, 0o755), "an existing empty directory is fine")
	c := start(t, pgcluster.Config{Dir: dir, Password: "s3cret/:@pw", Fast: true})
	url := c.URL("postgres")
	require.Contains(t, url, "postgres://aura:s3cret%2F%3A%40pw@127.0.0.1:")

	conn := connect(t, url)
	var method string
	require.NoError(t, conn.QueryRow(context.Background(), `SELECT auth_method FROM pg_hba_file_rules WHERE address = '127.0.0.1'`).Scan(&method))
	require.Equal(t, "scram-sha-256", method)

	for _, wrong := range []string{
		strings.Replace(url, "s3cret%2F%3A%40pw", "wrong", 1),
		strings.Replace(url, ":s3cret%2F%3A%40pw", "", 1),
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := pgx.Connect(ctx, wrong)
		cancel()
		require.Error(t, err)
		require.Contains(t, err.Error(), "password authentication failed")
	}
}

// TestStalePidFile starts a cluster whose postmaster.pid survived its server, as
// after a crash or a kill -9 of the whole machine.
func TestStalePidFile(t *testing.T) {
	t.Parallel()
	dir := testDir(t)
	c := start(t, pgcluster.Config{Dir: dir, Fast: true})
	pid, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	require.NoError(t, err)
	require.NoError(t, c.Stop())
	require.NoError(t, os.WriteFile(filepath.Join(dir, "postmaster.pid"), pid, 0o600))
	// Root runs the cluster as the postgres user, who must own its pid file.
	fi, err := os.Stat(dir)
	require.NoError(t, err)
	st := fi.Sys().(*syscall.Stat_t)
	require.NoError(t, os.Chown(filepath.Join(dir, "postmaster.pid"), int(st.Uid), int(st.Gid)))

	c = start(t, pgcluster.Config{Dir: dir, Fast: true})
	connect(t, c.URL("postgres"))
}

// TestKilledServer starts a cluster whose postmaster was killed with SIGKILL, which
// leaves its pid file and its shared memory key behind.
func TestKilledServer(t *testing.T) {
	t.Parallel()
	dir := testDir(t)
	c := start(t, pgcluster.Config{Dir: dir, Fast: true})
	connect(t, c.URL("postgres"))
	pidText, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	require.NoError(t, err)
	pid, err := strconv.Atoi(strings.SplitN(string(pidText), "\n", 2)[0])
	require.NoError(t, err)
	p, err := os.FindProcess(pid)
	require.NoError(t, err)
	require.NoError(t, p.Kill())
	require.Error(t, c.Stop(), "the server had died")
	require.FileExists(t, filepath.Join(dir, "postmaster.pid"))

	c = start(t, pgcluster.Config{Dir: dir, Fast: true})
	connect(t, c.URL("postgres"))
}

func TestTakenPort(t *testing.T) {
	t.Parallel()
	a := start(t, pgcluster.Config{Dir: testDir(t), Fast: true})
	_, err := pgcluster.Start(context.Background(), pgcluster.Config{Dir: testDir(t), Fast: true, Port: a.Port()})
	require.Error(t, err)
	require.Contains(t, err.Error(), "Address already in use")
	require.Contains(t, err.Error(), "postgres.log ---", "the error shows the log's tail")
}

func TestDirNotEmpty(t *testing.T) {
	t.Parallel()
	dir := testDir(t)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644))
	_, err := pgcluster.Start(context.Background(), pgcluster.Config{Dir: dir})
	require.ErrorContains(t, err, "is not empty but holds no PostgreSQL cluster")
	require.FileExists(t, filepath.Join(dir, "notes.txt"))
}

func TestTempDir(t *testing.T) {
	t.Parallel()
	dir, err := pgcluster.TempDir("pgcluster-test-tempdir-")
	require.NoError(t, err)
	defer os.RemoveAll(dir)
	c := start(t, pgcluster.Config{Dir: dir, Fast: true})
	connect(t, c.URL("postgres"))

	// A folder left by a killed process goes on the next call; a running cluster's stays.
	leftover := filepath.Join(filepath.Dir(dir), "pgcluster-test-tempdir-leftover")
	require.NoError(t, os.Mkdir(leftover, 0o755))
	old := time.Now().Add(-time.Hour)
	require.NoError(t, os.Chtimes(leftover, old, old))
	require.NoError(t, os.Chtimes(dir, old, old))
	other, err := pgcluster.TempDir("pgcluster-test-tempdir-")
	require.NoError(t, err)
	require.NoError(t, os.RemoveAll(other))
	require.NoDirExists(t, leftover)
	require.FileExists(t, filepath.Join(dir, "PG_VERSION"))
}

func TestUnreachableDir(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("only root hands the cluster to the postgres user")
	}
	closed := filepath.Dir(testDir(t))
	require.NoError(t, os.Chmod(closed, 0o700))
	_, err := pgcluster.Start(context.Background(), pgcluster.Config{Dir: filepath.Join(closed, "data")})
	require.ErrorContains(t, err, "choose a --data folder the postgres user can reach")
}

// BenchmarkStartNew measures initdb plus the first start of a Fast cluster, in
// os.TempDir() and in TempDir() (RAM when /dev/shm allows):
//
//	go test -run '^$' -bench . -benchtime 5x ./backend/internal/pgcluster/
func BenchmarkStartNew(b *testing.B) {
	for _, place := range benchPlaces {
		b.Run(place.name, func(b *testing.B) {
			for b.Loop() {
				c, err := pgcluster.Start(context.Background(), pgcluster.Config{Dir: place.dir(b), Fast: true})
				require.NoError(b, err)
				b.StopTimer()
				require.NoError(b, c.Stop())
				b.StartTimer()
			}
		})
	}
}

// BenchmarkRestart measures the start of an existing cluster.
func BenchmarkRestart(b *testing.B) {
	for _, place := range benchPlaces {
		b.Run(place.name, func(b *testing.B) {
			dir := place.dir(b)
			c, err := pgcluster.Start(context.Background(), pgcluster.Config{Dir: dir, Fast: true})
			require.NoError(b, err)
			require.NoError(b, c.Stop())
			for b.Loop() {
				c, err := pgcluster.Start(context.Background(), pgcluster.Config{Dir: dir, Fast: true})
				require.NoError(b, err)
				b.StopTimer()
				require.NoError(b, c.Stop())
				b.StartTimer()
			}
		})
	}
}

var benchPlaces = []struct {
	name string
	dir  func(testing.TB) string
}{
	{"os.TempDir", testDir},
	{"TempDir", func(t testing.TB) string {
		dir, err := pgcluster.TempDir("pgcluster-bench-")
		require.NoError(t, err)
		t.Cleanup(func() { os.RemoveAll(dir) })
		return dir
	}},
}

// TestKilledServerBusyBackend kills the postmaster while a backend is busy in a
// long query: the orphaned backend keeps the shared memory block attached until its
// query ends, and a start meanwhile must wait for it rather than fail.
func TestKilledServerBusyBackend(t *testing.T) {
	t.Parallel()
	dir := testDir(t)
	c := start(t, pgcluster.Config{Dir: dir, Fast: true})
	conn := connect(t, c.URL("postgres"))
	busy := make(chan error, 1)
	go func() {
		// A CPU-bound query notices the postmaster's death only when it ends.
		_, err := conn.Exec(context.Background(), `SELECT count(*) FROM generate_series(1, 40000000)`)
		busy <- err
	}()
	// The query is running, as another connection sees it.
	watcher := connect(t, c.URL("postgres"))
	require.Eventually(t, func() bool {
		var n int
		err := watcher.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE state = 'active' AND query LIKE 'SELECT count(*) FROM generate_series%'`).Scan(&n)
		return err == nil && n == 1
	}, 10*time.Second, 5*time.Millisecond, "the busy query never started")
	pidText, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	require.NoError(t, err)
	pid, err := strconv.Atoi(strings.SplitN(string(pidText), "\n", 2)[0])
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	<-c.Exited()
	require.False(t, c.Stopping())

	c = start(t, pgcluster.Config{Dir: dir, Fast: true})
	connect(t, c.URL("postgres"))
	<-busy
}

// TestFreezeThaw: a frozen cluster takes TCP connections but answers nothing, on
// new and open connections alike; thawed, it answers again; Stop thaws first.
func TestFreezeThaw(t *testing.T) {
	t.Parallel()
	c := start(t, pgcluster.Config{Dir: testDir(t), Fast: true})
	conn := connect(t, c.URL("postgres"))
	ping := func(conn *pgx.Conn) error {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		return conn.Ping(ctx)
	}
	require.NoError(t, ping(conn))

	require.NoError(t, c.Freeze())
	require.NoError(t, c.Freeze(), "freezing twice is no error")
	require.Error(t, ping(conn), "an open connection answers nothing")
	tcp, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(c.Port()), time.Second)
	require.NoError(t, err, "the listening socket still takes connections")
	tcp.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	_, err = pgx.Connect(ctx, c.URL("postgres"))
	cancel()
	require.Error(t, err, "a new connection gets no answer")

	require.NoError(t, c.Thaw())
	require.NoError(t, c.Thaw(), "thawing twice is no error")
	require.NoError(t, ping(connect(t, c.URL("postgres"))))

	require.NoError(t, c.Freeze())
	require.NoError(t, c.Stop(), "a frozen cluster stops")
}
