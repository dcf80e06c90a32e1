package api_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestBadBodies sends every endpoint that takes a JSON body malformed JSON, an
// unknown field and an oversized body: each gets a 4xx naming the problem, and
// nothing is written.
func TestBadBodies(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("proj", false)
	_, run := b.runner("r1", "linux")
	b.submit(tok, nil)
	c := b.claim(run, 1, "linux")[0]
	endpoints := []struct {
		method, path, token string
	}{
		{"POST", "/api/v1/projects", b.admin},
		{"PATCH", "/api/v1/projects/proj", b.admin},
		{"POST", "/api/v1/projects/proj/tokens", b.admin},
		{"POST", "/api/v1/jobs", tok},
		{"POST", "/api/v1/jobs/batch", tok},
		{"POST", "/api/v1/runners", b.admin},
		{"POST", "/api/v1/runner/claim", run},
		{"POST", fmt.Sprintf("/api/v1/jobs/%d/heartbeat", c.ID), run},
		{"POST", fmt.Sprintf("/api/v1/jobs/%d/complete", c.ID), run},
		{"POST", "/api/submit", tok},
		{"POST", "/api/runner", run},
		{"POST", "/api/job", run},
	}
	tables := []string{"projects", "tokens", "jobs", "entities", "runners", "log_chunks"}
	before := map[string]int{}
	for _, tbl := range tables {
		before[tbl] = b.count(tbl)
	}
	status := b.job(c.ID).Status
	for _, ep := range endpoints {
		for _, bad := range []struct {
			name  string
			body  []byte
			code  int
			field string
		}{
			{"malformed", []byte(`{"name": "x",`), 400, ""},
			{"unknown field", []byte(`{"surprise": 1}`), 400, "surprise"},
			{"wrong type", []byte(`"a string"`), 400, ""},
			{"oversized", []byte(`{"name": "` + strings.Repeat("x", 1<<20+10) + `"}`), 413, ""},
		} {
			t.Run(ep.method+" "+ep.path+" "+bad.name, func(t *testing.T) {
				b := b.sub(t)
				e := b.fail(call{method: ep.method, path: ep.path, token: ep.token, raw: bad.body, invalid: true}, bad.code)
				require.Equal(t, bad.field, e.Field, e.Message)
			})
		}
	}
	for _, tbl := range tables {
		require.Equal(t, before[tbl], b.count(tbl), "nothing may be written to %s", tbl)
	}
	require.Equal(t, status, b.job(c.ID).Status)
	// A private project's data needs a token of that project.
	b.project("secret", true)
	other := b.project("other", false)
	b.fail(call{method: "GET", path: "/api/v1/projects/secret/entities", token: other}, 404)
	b.fail(call{method: "GET", path: "/api/v1/projects/secret/collections"}, 404)
	b.fail(call{method: "GET", path: "/api/v1/projects/bad%20slug/entities", invalid: true}, 400)
}
