package api_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/api"
	"github.com/aura-ci/aura/backend/internal/auth"
	"github.com/aura-ci/aura/backend/internal/dispatch"
	"github.com/aura-ci/aura/backend/internal/integrations"
	"github.com/aura-ci/aura/backend/internal/seal"
	"github.com/aura-ci/aura/backend/internal/store"
)

// TestEveryRouteAnswers503 runs every operation of openapi.yaml against a
// database that refuses connections: each answers 503 with Retry-After and a JSON
// error, as the spec says (the response is validated against it), except the
// liveness probe, which answers 200 "degraded". TestDatabaseOutage (e2e) stops a
// real cluster; this one covers every route.
func TestEveryRouteAnswers503(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there now
	pool, err := pgxpool.New(context.Background(), "postgres://aura@"+addr+"/aura?sslmode=disable&connect_timeout=2")
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	box, err := seal.New(seal.NewKey())
	require.NoError(t, err)
	st := store.New(pool, box)
	disp := dispatch.New(st, dispatch.Config{Lease: 30 * time.Second, AckTimeout: 10 * time.Second})
	forge := &integrations.Service{Store: st, Box: box, BaseURL: "http://aura.test", Reporter: integrations.NewReporter(time.Second)}
	srv := httptest.NewServer(api.NewRouter(api.Deps{Store: st, Auth: auth.New(st, make([]byte, 32)), Dispatcher: disp,
		LogLimit: 1 << 20, Integrations: forge}))
	t.Cleanup(srv.Close)
	b := &testBundle{t: t, url: srv.URL, client: srv.Client()}

	doc, err := spec()
	require.NoError(t, err)
	fill := strings.NewReplacer("{project}", "proj", "{key}", "commit", "{val}", "abc", "{id}", "1", "{jobId}", "1",
		"{integration}", "1", "{name}", "TOKEN")
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			c := call{method: method, path: fill.Replace(path), token: "AURA_ADMINKEY_whatever", raw: []byte(`{}`), invalid: true}
			code, body := b.do(c)
			if path == "/healthz" {
				require.Equal(t, http.StatusOK, code)
				require.Contains(t, string(body), `"degraded"`)
				continue
			}
			if path == "/api/submit/gitea" || path == "/api/submit/darke" {
				// A 0.4 delivery that names no repository is refused before the database is asked.
				require.Equal(t, http.StatusUnauthorized, code, "%s %s: %s", method, path, body)
				continue
			}
			require.Equal(t, http.StatusServiceUnavailable, code, "%s %s: %s", method, path, body)
		}
	}
}
