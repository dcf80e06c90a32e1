package api_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
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
	b, doc := unavailableServer(t, "postgres://aura@"+addr+"/aura?sslmode=disable&connect_timeout=2")
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

// TestEveryRouteAnswers503WhenFrozen runs every operation of openapi.yaml against
// a database that takes connections and never answers, as a frozen PostgreSQL
// does: each answers 503 with Retry-After and a JSON error within 5 s (the long
// polls and the websocket too), and the liveness probe 200 "degraded" within a
// second. TestDatabaseFrozen (e2e) freezes a real cluster.
func TestEveryRouteAnswers503WhenFrozen(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		// Take every connection and say nothing, holding it open.
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	b, doc := unavailableServer(t, "postgres://aura@"+ln.Addr().String()+"/aura?sslmode=disable")
	// Before the server closes, which waits for its requests: a request still
	// waiting for the database then ends.
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	fill := strings.NewReplacer("{project}", "proj", "{key}", "commit", "{val}", "abc", "{id}", "1", "{jobId}", "1",
		"{integration}", "1", "{name}", "TOKEN")
	// All at once: each waits its few seconds for the database.
	type answer struct {
		method, path string
		code         int
		retryAfter   string
		body         []byte
		took         time.Duration
		err          error
	}
	var answers []*answer
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second} // a hang fails rather than stalls the test
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			a := &answer{method: method, path: path}
			answers = append(answers, a)
			wg.Go(func() {
				// A 0.4 delivery names its repository, so the database is asked for its integrations.
				body := `{"repository":{"full_name":"me/app"},"owner":"me","repo":"app"}`
				req, err := http.NewRequest(method, b.url+fill.Replace(path), strings.NewReader(body))
				if err != nil {
					a.err = err
					return
				}
				req.Header.Set("Authorization", "Bearer AURA_ADMINKEY_whatever")
				req.Header.Set("Content-Type", "application/json")
				start := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					a.err = err
					return
				}
				a.body, a.err = io.ReadAll(resp.Body)
				resp.Body.Close()
				a.code, a.retryAfter, a.took = resp.StatusCode, resp.Header.Get("Retry-After"), time.Since(start)
			})
		}
	}
	wg.Wait()
	for _, a := range answers {
		require.NoError(t, a.err, "%s %s", a.method, a.path)
		if a.path == "/healthz" {
			require.Equal(t, http.StatusOK, a.code)
			require.Contains(t, string(a.body), `"degraded"`)
			// store.ProbeTimeout (0.7 s), with room for a busy machine.
			require.Less(t, a.took, 1500*time.Millisecond)
			continue
		}
		require.Equal(t, http.StatusServiceUnavailable, a.code, "%s %s: %s", a.method, a.path, a.body)
		require.NotEmpty(t, a.retryAfter, "%s %s", a.method, a.path)
		require.Contains(t, string(a.body), `"code":503`, "%s %s", a.method, a.path)
		require.Less(t, a.took, 5*time.Second, "%s %s", a.method, a.path)
	}
}

// unavailableServer serves the API on a pool of dbURL, where no database answers.
func unavailableServer(t *testing.T, dbURL string) (*testBundle, *openapi3.T) {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), dbURL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	box, err := seal.New(seal.NewKey())
	require.NoError(t, err)
	st := store.New(pool, box)
	disp := dispatch.New(st, dispatch.Config{Lease: 30 * time.Second, AckTimeout: 10 * time.Second})
	forge := &integrations.Service{Store: st, BaseURL: "http://aura.test", Reporter: integrations.NewReporter(time.Second)}
	srv := httptest.NewServer(api.NewRouter(api.Deps{Store: st, Auth: auth.New(st, make([]byte, 32)), Dispatcher: disp,
		LogLimit: 1 << 20, Integrations: forge}))
	t.Cleanup(srv.Close)
	b := &testBundle{t: t, url: srv.URL, client: srv.Client()}
	doc, err := spec()
	require.NoError(t, err)
	return b, doc
}
