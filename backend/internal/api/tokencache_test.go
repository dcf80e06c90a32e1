package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/api"
	"github.com/aura-ci/aura/backend/internal/auth"
	"github.com/aura-ci/aura/backend/internal/dbtest"
	"github.com/aura-ci/aura/backend/internal/dispatch"
	"github.com/aura-ci/aura/backend/internal/events"
	"github.com/aura-ci/aura/backend/internal/seal"
	"github.com/aura-ci/aura/backend/internal/store"
)

// cachingServer is one aura server process, wired as app.Run wires it (runner
// tokens cached), on a database other servers may share.
type cachingServer struct {
	url      string
	sql      *dbtest.SQLRecorder
	pool     *pgxpool.Pool
	listener *events.Listener
}

func startCachingServer(t *testing.T, dbURL string, tokenKey []byte) *cachingServer {
	t.Helper()
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(dbURL)
	require.NoError(t, err)
	s := &cachingServer{sql: &dbtest.SQLRecorder{}}
	cfg.ConnConfig.Tracer = s.sql
	s.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(s.pool.Close)
	box, err := seal.New(make([]byte, 32))
	require.NoError(t, err)
	st := store.New(s.pool, box)
	disp := dispatch.New(st, dispatch.Config{Lease: 30 * time.Second, AckTimeout: 10 * time.Second})
	authn := auth.New(st, tokenKey)
	hub := events.NewHub(st, authn, events.HubConfig{})
	s.listener = events.NewListener(dbURL)
	s.listener.TestSignals.Init(t)
	api.CacheTokens(authn, s.listener)
	disp.Listen(s.listener)
	hub.Listen(s.listener)
	bg, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { s.listener.Run(bg) })
	wg.Go(func() { hub.Run(bg) })
	<-s.listener.Ready()
	srv := httptest.NewServer(api.NewHandler(api.Deps{Store: st, Auth: authn, Dispatcher: disp, Events: hub}))
	t.Cleanup(func() {
		disp.Stop()
		srv.Close()
		cancel()
		wg.Wait()
	})
	s.url = srv.URL
	return s
}

// poll sends one long poll of waitSeconds and returns its status.
func (s *cachingServer) poll(t *testing.T, token string, waitSeconds int) int {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"tags": []string{"linux"}, "capacity": 1, "waitSeconds": waitSeconds, "version": "1.0"})
	req, err := http.NewRequest("POST", s.url+"/api/v1/runner/claim", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

func (s *cachingServer) send(t *testing.T, method, path, token string, body any, out any) int {
	t.Helper()
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	req, err := http.NewRequest(method, s.url+path, bytes.NewReader(b))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	if out != nil {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(out))
	}
	return resp.StatusCode
}

// twoServers starts two servers on one fresh database and registers a runner
// of tag linux through the first.
func twoServers(t *testing.T) (a, b *cachingServer, runnerID int64, runnerToken, admin string) {
	t.Helper()
	dbURL := dbtest.NewURL(t)
	key := seal.NewKey()
	a, b = startCachingServer(t, dbURL, key), startCachingServer(t, dbURL, key)
	admin, hash := auth.NewSecret(auth.PrefixAdmin, "")
	_, err := a.pool.Exec(context.Background(), `INSERT INTO tokens (kind, name, hash) VALUES ('admin', 'admin', $1)`, hash)
	require.NoError(t, err)
	var r struct {
		ID    int64
		Token string
	}
	require.Equal(t, 201, a.send(t, "POST", "/api/v1/runners", admin, map[string]any{"name": "r1", "tags": []string{"linux"}}, &r))
	return a, b, r.ID, r.Token, admin
}

// TestRunnerRepollCostsNoTokenLookup: a parked runner's long polls that end
// empty and come back cost no SQL at all: its token is remembered, its check-in
// is not due, and nothing became runnable to claim.
func TestRunnerRepollCostsNoTokenLookup(t *testing.T) {
	t.Parallel()
	a, _, _, token, _ := twoServers(t)
	first := a.sql.Statements(func() { require.Equal(t, 200, a.poll(t, token, 0)) })
	require.Len(t, first, 3, "the first poll: the token lookup, the check-in and one claim: %q", first)
	second := a.sql.Statements(func() { require.Equal(t, 200, a.poll(t, token, 0)) })
	require.Len(t, second, 1, "the second poll: the claim that confirms the first found nothing: %q", second)
	again := a.sql.Statements(func() {
		for range 5 {
			require.Equal(t, 200, a.poll(t, token, 0))
		}
	})
	require.Empty(t, again, "re-polls run no SQL")
}

// TestRunnerDeletedOnOtherServerIsRefused: a runner deleted through server B is
// refused by server A, which remembered its token, as soon as A hears the
// deletion; one deleted through A is refused by A on its very next request.
func TestRunnerDeletedOnOtherServerIsRefused(t *testing.T) {
	t.Parallel()
	a, b, id, token, admin := twoServers(t)
	require.Equal(t, 200, a.poll(t, token, 0))
	require.Equal(t, 200, a.poll(t, token, 0))
	require.Empty(t, a.sql.Statements(func() { require.Equal(t, 200, a.poll(t, token, 0)) }), "remembered")

	require.Equal(t, 204, b.send(t, "DELETE", "/api/v1/runners/"+strconv.FormatInt(id, 10), admin, nil, nil))
	deleted := time.Now()
	require.Eventually(t, func() bool { return a.poll(t, token, 0) == 401 }, 2*time.Second, 2*time.Millisecond,
		"server A refuses the token deleted through server B")
	t.Logf("refused by the other server %v after the deletion", time.Since(deleted).Round(time.Millisecond))
	require.Equal(t, 401, a.poll(t, token, 0))

	// Deleted through the server that remembers it: refused at once.
	var r struct {
		ID    int64
		Token string
	}
	require.Equal(t, 201, a.send(t, "POST", "/api/v1/runners", admin, map[string]any{"name": "r2", "tags": []string{"linux"}}, &r))
	require.Equal(t, 200, a.poll(t, r.Token, 0))
	require.Equal(t, 200, a.poll(t, r.Token, 0))
	require.Equal(t, 204, a.send(t, "DELETE", "/api/v1/runners/"+strconv.FormatInt(r.ID, 10), admin, nil, nil))
	require.Equal(t, 401, a.poll(t, r.Token, 0), "refused on the next request")
}

// TestRunnerTokensLookedUpAfterReconnect: after the listener reconnected
// (revocations may have been missed meanwhile), a remembered token is looked
// up again.
func TestRunnerTokensLookedUpAfterReconnect(t *testing.T) {
	t.Parallel()
	a, _, _, token, _ := twoServers(t)
	require.Equal(t, 200, a.poll(t, token, 0))
	require.Equal(t, 200, a.poll(t, token, 0))
	pid := a.listener.PID()
	_, err := a.pool.Exec(context.Background(), `SELECT pg_terminate_backend($1)`, int32(pid))
	require.NoError(t, err)
	require.NotEqual(t, pid, a.listener.TestSignals.Reconnected.Wait())
	after := a.sql.Statements(func() { require.Equal(t, 200, a.poll(t, token, 0)) })
	var lookups int
	for _, s := range after {
		if strings.Contains(s, "FROM tokens") {
			lookups++
		}
	}
	require.Equal(t, 1, lookups, "the token is looked up again: %q", after)
}

// TestProjectTokenCachedUntilRevoked: a project token is looked up once and
// then remembered, and a revocation through either server, of the token or of
// its whole project, is refused as the servers hear it (at once on the
// server that revoked it).
func TestProjectTokenCachedUntilRevoked(t *testing.T) {
	t.Parallel()
	a, b, _, _, admin := twoServers(t)
	project := func(slug string) (token string, id int64) {
		require.Equal(t, 201, a.send(t, "POST", "/api/v1/projects", admin, map[string]any{"slug": slug, "name": slug, "private": true}, nil))
		var tk struct {
			ID    int64
			Token string
		}
		require.Equal(t, 201, a.send(t, "POST", "/api/v1/projects/"+slug+"/tokens", admin, map[string]any{"name": "ci"}, &tk))
		return tk.Token, tk.ID
	}
	read := func(s *cachingServer, slug, token string) int {
		return s.send(t, "GET", "/api/v1/projects/"+slug, token, nil, nil)
	}
	lookups := func(statements []string) (n int) {
		for _, s := range statements {
			if strings.Contains(s, "FROM tokens") {
				n++
			}
		}
		return n
	}

	token, id := project("p1")
	require.Equal(t, 1, lookups(a.sql.Statements(func() { require.Equal(t, 200, read(a, "p1", token)) })), "looked up once")
	require.Zero(t, lookups(a.sql.Statements(func() { require.Equal(t, 200, read(a, "p1", token)) })), "then remembered")
	require.Equal(t, 200, read(b, "p1", token))

	// Revoked through the other server: refused as soon as A hears it.
	require.Equal(t, 204, b.send(t, "DELETE", "/api/v1/projects/p1/tokens/"+strconv.FormatInt(id, 10), admin, nil, nil))
	require.Eventually(t, func() bool { return read(a, "p1", token) == 401 }, 2*time.Second, 2*time.Millisecond)

	// Revoked through the server that remembers it: refused at once.
	token, id = project("p2")
	require.Equal(t, 200, read(a, "p2", token))
	require.Equal(t, 200, read(a, "p2", token))
	require.Equal(t, 204, a.send(t, "DELETE", "/api/v1/projects/p2/tokens/"+strconv.FormatInt(id, 10), admin, nil, nil))
	require.Equal(t, 401, read(a, "p2", token), "refused on the next request")

	// Its project deleted, on either server.
	token, _ = project("p3")
	require.Equal(t, 200, read(a, "p3", token))
	require.Equal(t, 200, read(b, "p3", token))
	require.Equal(t, 204, a.send(t, "DELETE", "/api/v1/projects/p3", admin, nil, nil))
	require.Equal(t, 401, read(a, "p3", token), "refused on the next request")
	require.Eventually(t, func() bool { return read(b, "p3", token) == 401 }, 2*time.Second, 2*time.Millisecond)
}
