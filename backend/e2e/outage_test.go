package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/pgcluster"
)

// ownCluster starts a private PostgreSQL cluster with a database "aura", which the
// test may stop and start again (on the same port, so the URL stays valid).
type ownCluster struct {
	t    testing.TB
	dir  string
	port int
	c    *pgcluster.Cluster
}

func startOwnCluster(t testing.TB) *ownCluster {
	t.Helper()
	dir, err := pgcluster.TempDir("aura-e2e-pg-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	oc := &ownCluster{t: t, dir: dir}
	oc.start()
	t.Cleanup(func() { _ = oc.c.Stop() })
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, oc.c.URL("postgres"))
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE DATABASE aura")
	require.NoError(t, err)
	return oc
}

func (oc *ownCluster) start() {
	oc.t.Helper()
	c, err := pgcluster.Start(context.Background(), pgcluster.Config{Dir: oc.dir, Port: oc.port, Fast: true, Logf: oc.t.Logf})
	require.NoError(oc.t, err)
	oc.c, oc.port = c, c.Port()
}

func (oc *ownCluster) stop() { require.NoError(oc.t, oc.c.Stop()) }

func (oc *ownCluster) url() string { return oc.c.URL("aura") }

// TestDatabaseOutage stops PostgreSQL for twice the lease while jobs run whose
// runner keeps heartbeating: no job may be lost or run twice. Meanwhile every
// route answers 503 with Retry-After, and the server serves again right after.
func TestDatabaseOutage(t *testing.T) {
	t.Parallel()
	const lease = 3 * time.Second
	pg := startOwnCluster(t)
	s := startServerOn(t, pg.url(), "--lease", lease.String())
	tok := s.project("proj")
	startRunner(t, s, "r1", "--tag", "linux", "--concurrency", "4")
	var ids []int64
	for i := range 4 {
		ids = append(ids, s.submit(tok, map[string]any{"entityVal": fmt.Sprint(i), "cmd": "sleep 10; echo done"}).ID)
	}
	for _, id := range ids {
		s.waitStatus(id, 10*time.Second, "running")
	}

	pg.stop()
	outage := time.Now()
	for _, c := range []struct{ method, path, token string }{
		{"GET", "/api/v1/projects", ""},
		{"GET", "/api/v1/queue", ""},
		{"GET", fmt.Sprintf("/api/v1/jobs/%d", ids[0]), ""},
		{"POST", "/api/v1/jobs", tok},
	} {
		req, err := http.NewRequest(c.method, s.url+c.path, strings.NewReader(`{}`))
		require.NoError(t, err)
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		resp, err := httpClient.Do(req)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, 503, resp.StatusCode, "%s %s during the outage: %s", c.method, c.path, body)
		require.NotEmpty(t, resp.Header.Get("Retry-After"), "%s %s", c.method, c.path)
		var e struct {
			Code    int
			Message string
		}
		require.NoError(t, json.Unmarshal(body, &e), "%s", body)
		require.Equal(t, 503, e.Code)
		require.NotEmpty(t, e.Message)
	}
	require.Equal(t, 503, get(s.url+"/readyz"))
	var health struct{ Status, Database string }
	resp, err := httpClient.Get(s.url + "/healthz")
	require.NoError(t, err)
	require.Equal(t, 200, resp.StatusCode, "the process is alive")
	require.NoError(t, jsonDecode(resp, &health))
	resp.Body.Close()
	require.Equal(t, "unreachable", health.Database)

	time.Sleep(2*lease - time.Since(outage)) // the outage lasting past the lease is what is tested
	pg.start()
	back := time.Now()
	require.Eventually(t, func() bool { return get(s.url+"/api/v1/projects") == 200 }, 5*time.Second, 10*time.Millisecond)
	t.Logf("outage %v; serving again %v after the database was back", back.Sub(outage).Round(time.Millisecond),
		time.Since(back).Round(time.Millisecond))
	// Within a second on a quiet machine (about 0.1 s); the bound leaves room for a
	// machine shared by many test runs.
	require.Less(t, time.Since(back), 3*time.Second, "serving again right after the database")

	for _, id := range ids {
		j := s.waitStatus(id, 30*time.Second, "succeeded", "failed", "lost")
		require.Equal(t, "succeeded", j.Status, "job %d: %s", id, j.Reason)
		require.Equal(t, 1, j.Attempt, "job %d ran once: %s", id, j.Reason)
		require.Equal(t, "done\n", s.log(id))
	}
}

// TestReaperTickBeforeServing: a server records its first reaper tick before it
// serves, so an outage that begins right after its start (before its reaper's
// first tick) is still recognised as one afterwards, and the claims and leases
// it held get a fresh lease rather than being reaped as lost. A one-minute lease
// makes the reaper tick once a second, well after the server answers.
func TestReaperTickBeforeServing(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--lease", "60s")
	conn, err := pgx.Connect(context.Background(), s.dbURL)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var tick string
	require.NoError(t, conn.QueryRow(context.Background(), `SELECT value FROM settings WHERE key = 'reaper_tick'`).Scan(&tick),
		"no reaper tick recorded when the server began to serve")
}
