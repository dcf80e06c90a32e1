package api_test

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gorilla/mux"
	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/api"
)

// TestBadInputIs400 sends what PostgreSQL or Go would choke on: each gets a 400
// naming its field in plain words, and nothing is written.
func TestBadInputIs400(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("proj", false)
	_, run := b.runner("r1", "linux")
	b.submit(tok, nil)
	c := b.claim(run, 1, "linux")[0]
	job := func(fields map[string]any) map[string]any {
		j := map[string]any{"entityKey": "commit", "entityVal": "abc", "name": "build", "cmd": "true", "tag": "linux"}
		for k, v := range fields {
			j[k] = v
		}
		return j
	}
	compat := func(fields map[string]any) map[string]any {
		j := job(fields)
		j["project"] = "proj"
		return j
	}
	jobs := b.count("jobs")
	for _, tc := range []struct {
		name, method, path, token string
		body                      any
		field, says               string
	}{
		{"NUL in cmd", "POST", "/api/v1/jobs", tok, job(map[string]any{"cmd": "echo \x00"}), "cmd", "NUL"},
		{"NUL in env", "POST", "/api/v1/jobs", tok, job(map[string]any{"env": map[string]string{"A": "x\x00y"}}), "env.A", "NUL"},
		{"NUL in a secret", "POST", "/api/v1/jobs", tok, job(map[string]any{"secretEnv": map[string]string{"S": "\x00"}}), "secretEnv.S", "NUL"},
		{"NUL in tag", "POST", "/api/v1/jobs", tok, job(map[string]any{"tag": "li\x00nux"}), "tag", "NUL"},
		{"NUL in a batch", "POST", "/api/v1/jobs/batch", tok, map[string]any{"jobs": []any{job(nil), job(map[string]any{"name": "b", "cmd": "\x00"})}}, "jobs[1].cmd", "NUL"},
		{"NUL in 0.4 env", "POST", "/api/submit", tok, compat(map[string]any{"env": "A=\x00"}), "env", "NUL"},
		{"NUL in a project name", "POST", "/api/v1/projects", b.admin, map[string]any{"slug": "p2", "name": "a\x00"}, "name", "NUL"},
		{"reserved env", "POST", "/api/v1/jobs", tok, job(map[string]any{"env": map[string]string{"AURA_JOB_TOKEN": "mine"}}), "env.AURA_JOB_TOKEN", "AURA_JOB_TOKEN"},
		{"reserved secret", "POST", "/api/v1/jobs", tok, job(map[string]any{"secretEnv": map[string]string{"AURA_SERVER_URL": "http://evil"}}), "secretEnv.AURA_SERVER_URL", "AURA_SERVER_URL"},
		{"reserved 0.4 env", "POST", "/api/submit", tok, compat(map[string]any{"env": "AURA_SERVER_URL=http://evil"}), "env.AURA_SERVER_URL", "AURA_SERVER_URL"},
		{"reserved env in a batch", "POST", "/api/v1/jobs/batch", tok, map[string]any{"jobs": []any{job(map[string]any{"env": map[string]string{"AURA_JOBKEY": "x"}})}}, "jobs[0].env.AURA_JOBKEY", "AURA_JOBKEY"},
		{"twice the same job", "POST", "/api/v1/jobs/batch", tok, map[string]any{"jobs": []any{job(nil), job(map[string]any{"cmd": "other"})}}, "jobs[1].name", "both named build on commit/abc"},
		{"earliest start in 9999", "POST", "/api/v1/jobs", tok, job(map[string]any{"earliestStart": "9999-01-01T00:00:00Z"}), "earliestStart", "a year"},
		{"earliest start before 1970", "POST", "/api/v1/jobs", tok, job(map[string]any{"earliestStart": "0001-01-01T00:00:00Z"}), "earliestStart", "1970"},
		{"earliest start not a time", "POST", "/api/v1/jobs", tok, job(map[string]any{"earliestStart": "tomorrow"}), "earliestStart", "RFC 3339"},
		{"earliest start a number", "POST", "/api/v1/jobs", tok, job(map[string]any{"earliestStart": 12}), "earliestStart", "RFC 3339"},
		{"0.4 earliest start 2^63-1", "POST", "/api/submit", tok, compat(map[string]any{"earliestStart": int64(math.MaxInt64)}), "earliestStart", "a year"},
		{"0.4 earliest start negative", "POST", "/api/submit", tok, compat(map[string]any{"earliestStart": -5}), "earliestStart", "1970"},
		{"heartbeat attempt 2^31", "POST", fmt.Sprintf("/api/v1/jobs/%d/heartbeat", c.ID), run, map[string]any{"attempt": int64(1) << 31}, "attempt", "at most"},
		{"complete exit code 2^31", "POST", fmt.Sprintf("/api/v1/jobs/%d/complete", c.ID), run, map[string]any{"attempt": 1, "exitCode": int64(1) << 31}, "exitCode", "at most"},
		{"log attempt 2^31", "PATCH", fmt.Sprintf("/api/v1/jobs/%d/log?attempt=%d&offset=0", c.ID, int64(1)<<31), run, nil, "attempt", "2147483647"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := b.sub(t)
			cl := call{method: tc.method, path: tc.path, token: tc.token, body: tc.body, invalid: true}
			if tc.body == nil {
				cl.raw, cl.contentType = []byte("x"), "application/octet-stream"
			}
			e := b.fail(cl, 400)
			require.Equal(t, tc.field, e.Field, e.Message)
			require.Contains(t, e.Message, tc.says)
			require.NotContains(t, e.Message, "Unmarshal")
			require.NotContains(t, e.Message, "json:")
		})
	}
	require.Equal(t, jobs, b.count("jobs"), "nothing was written")
	require.Equal(t, "running", b.job(c.ID).Status)
}

// TestSubmitWithoutTokenIs401 sends submits without a token and with a bad
// body: the missing token is what they hear about.
func TestSubmitWithoutTokenIs401(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.project("proj", false)
	for _, path := range []string{"/api/v1/jobs", "/api/v1/jobs/batch", "/api/submit"} {
		b.fail(call{method: "POST", path: path, raw: []byte(`{"cmd": 1, "surprise": true`), invalid: true}, 401)
	}
}

// TestWrongMethodIs405 tries every method a route does not serve on every route
// of the router: each answers 405 (not 404), in JSON.
func TestWrongMethodIs405(t *testing.T) {
	t.Parallel()
	b := setup(t)
	routes := map[string][]string{}
	r := api.NewRouter(api.Deps{})
	require.NoError(t, r.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err1 := route.GetPathTemplate()
		methods, err2 := route.GetMethods()
		if err1 == nil && err2 == nil {
			routes[tpl] = append(routes[tpl], methods...)
		}
		return nil
	}))
	require.Greater(t, len(routes), 20)
	tried := 0
	for tpl, methods := range routes {
		path := tpl
		for _, v := range []string{"{project}", "{key}", "{val}", "{id}", "{jobId}"} {
			path = strings.ReplaceAll(path, v, "1")
		}
		for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
			if slices.Contains(methods, m) {
				continue
			}
			req, err := http.NewRequest(m, b.url+path, nil)
			require.NoError(t, err)
			var match mux.RouteMatch
			if r.Match(req, &match) && match.MatchErr == nil {
				continue // another route takes this method here (GET /jobs/batch is GET /jobs/{id})
			}
			resp, err := b.client.Do(req)
			require.NoError(t, err)
			var e apiErr
			require.NoError(t, jsonDecode(resp, &e), "%s %s", m, path)
			resp.Body.Close()
			require.Equal(t, 405, resp.StatusCode, "%s %s: %s", m, path, e.Message)
			require.Contains(t, e.Message, m)
			tried++
		}
	}
	require.Greater(t, tried, 60)
}
