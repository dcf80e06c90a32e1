package api_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

type projectResp struct {
	Slug    string
	Name    string
	Private bool
}

func TestProjects(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.project("alpha", false)
	b.project("hidden", true)

	var list struct{ Items []projectResp }
	b.json(call{method: "GET", path: "/api/v1/projects"}, 200, &list)
	require.Len(t, list.Items, 1, "anonymous callers see public projects only")
	b.json(call{method: "GET", path: "/api/v1/projects", token: b.admin}, 200, &list)
	require.Len(t, list.Items, 2)

	b.fail(call{method: "GET", path: "/api/v1/projects/hidden"}, 404)
	var p projectResp
	b.json(call{method: "GET", path: "/api/v1/projects/hidden", token: b.admin}, 200, &p)
	require.True(t, p.Private)

	b.json(call{method: "PATCH", path: "/api/v1/projects/hidden", token: b.admin, body: map[string]any{"private": false, "name": "Now public"}}, 200, &p)
	require.Equal(t, "Now public", p.Name)
	b.json(call{method: "GET", path: "/api/v1/projects/hidden"}, 200, &p)

	b.do(call{method: "DELETE", path: "/api/v1/projects/hidden", token: b.admin})
	b.fail(call{method: "GET", path: "/api/v1/projects/hidden", token: b.admin}, 404)
	b.fail(call{method: "DELETE", path: "/api/v1/projects/hidden", token: b.admin}, 404)
}

func TestProjectsPagination(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, s := range []string{"p1", "p2", "p3", "p4", "p5"} {
		b.json(call{method: "POST", path: "/api/v1/projects", token: b.admin, body: map[string]any{"slug": s, "name": s}}, 201, nil)
	}
	var seen []string
	cursor := ""
	for range 10 {
		var page struct {
			Items      []projectResp
			NextCursor string
		}
		b.json(call{method: "GET", path: "/api/v1/projects?limit=2&cursor=" + cursor}, 200, &page)
		for _, p := range page.Items {
			seen = append(seen, p.Slug)
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	require.Equal(t, []string{"p1", "p2", "p3", "p4", "p5"}, seen)
	b.fail(call{method: "GET", path: "/api/v1/projects?limit=0", invalid: true}, 400)
	b.fail(call{method: "GET", path: "/api/v1/projects?limit=201", invalid: true}, 400)
	b.fail(call{method: "GET", path: "/api/v1/projects?cursor=@@", invalid: true}, 400)
}

func TestProjectsBadInput(t *testing.T) {
	t.Parallel()
	b := setup(t)
	projectToken := b.project("mine", false)
	_, runnerToken := b.runner("r1", "linux")
	cases := []struct {
		name  string
		c     call
		code  int
		field string
	}{
		{"malformed JSON", call{raw: []byte(`{"slug":`)}, 400, ""},
		{"not an object", call{raw: []byte(`[1]`)}, 400, ""},
		{"empty body", call{raw: []byte{}}, 400, ""},
		{"two values", call{raw: []byte(`{"slug":"a","name":"a"} {}`)}, 400, ""},
		{"unknown field", call{body: map[string]any{"slug": "a", "name": "a", "owner": "x"}}, 400, "owner"},
		{"missing slug", call{body: map[string]any{"name": "a"}}, 400, "slug"},
		{"missing name", call{body: map[string]any{"slug": "a"}}, 400, "name"},
		{"bad slug", call{body: map[string]any{"slug": "a b", "name": "a"}}, 400, "slug"},
		{"slug too long", call{body: map[string]any{"slug": strings.Repeat("a", 261), "name": "a"}}, 400, "slug"},
		{"wrong type", call{body: map[string]any{"slug": "a", "name": 5}}, 400, "name"},
		{"oversized body", call{raw: []byte(`{"slug":"a","name":"` + strings.Repeat("x", 1<<20) + `"}`)}, 413, ""},
		{"no token", call{body: map[string]any{"slug": "a", "name": "a"}, token: "-"}, 401, ""},
		{"wrong token", call{body: map[string]any{"slug": "a", "name": "a"}, token: "AURA_ADMINKEY_nope"}, 401, ""},
		{"project token", call{body: map[string]any{"slug": "a", "name": "a"}, token: projectToken}, 403, ""},
		{"runner token", call{body: map[string]any{"slug": "a", "name": "a"}, token: runnerToken}, 403, ""},
		{"taken slug", call{body: map[string]any{"slug": "mine", "name": "again"}}, 409, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.c
			c.method, c.path, c.invalid = "POST", "/api/v1/projects", true
			switch c.token {
			case "":
				c.token = b.admin
			case "-":
				c.token = ""
			}
			b := b.sub(t)
			e := b.fail(c, tc.code)
			require.Equal(t, tc.field, e.Field, e.Message)
			require.Equal(t, 1, b.count("projects"), "nothing may be written")
		})
	}
}

// TestHealthIgnoresTokens: a load balancer's stray header never fails a health check.
func TestHealthIgnoresTokens(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.json(call{method: "GET", path: "/healthz", token: "nonsense"}, 200, nil)
	b.json(call{method: "GET", path: "/readyz", token: "nonsense"}, 200, nil)
	b.fail(call{method: "GET", path: "/api/v1/projects", token: "nonsense"}, 401)
	b.fail(call{method: "POST", path: "/api/runner", token: "nonsense", body: map[string]any{"name": "r", "tags": []string{"x"}, "limit": 1}}, 401)
}

// TestProjectRetention: PATCH sets a project's retention in seconds, null
// returns it to the instance default, GET shows it, and bad values are a 400
// naming the field.
func TestProjectRetention(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.project("keep", false)
	type retention struct {
		ArtifactRetention *int64
		CacheRetention    *int64
	}
	var p retention
	b.json(call{method: "GET", path: "/api/v1/projects/keep"}, 200, &p)
	require.Nil(t, p.ArtifactRetention)
	require.Nil(t, p.CacheRetention)

	b.json(call{method: "PATCH", path: "/api/v1/projects/keep", token: b.admin,
		body: map[string]any{"artifactRetention": 3600, "cacheRetention": 60}}, 200, &p)
	require.Equal(t, int64(3600), *p.ArtifactRetention)
	require.Equal(t, int64(60), *p.CacheRetention)
	b.json(call{method: "PATCH", path: "/api/v1/projects/keep", token: b.admin, body: map[string]any{"name": "Keep"}}, 200, &p)
	require.Equal(t, int64(3600), *p.ArtifactRetention, "an absent field stays")
	b.json(call{method: "PATCH", path: "/api/v1/projects/keep", token: b.admin, body: map[string]any{"artifactRetention": nil}}, 200, &p)
	require.Nil(t, p.ArtifactRetention, "null is the instance default")
	b.json(call{method: "GET", path: "/api/v1/projects/keep"}, 200, &p)
	require.Nil(t, p.ArtifactRetention)
	require.Equal(t, int64(60), *p.CacheRetention)

	for field, bad := range map[string]any{"artifactRetention": 0, "cacheRetention": -5} {
		e := b.fail(call{method: "PATCH", path: "/api/v1/projects/keep", token: b.admin, body: map[string]any{field: bad}, invalid: true}, 400)
		require.Equal(t, field, e.Field)
	}
	for _, bad := range []any{"1h", 1.5, true} {
		e := b.fail(call{method: "PATCH", path: "/api/v1/projects/keep", token: b.admin, body: map[string]any{"cacheRetention": bad}, invalid: true}, 400)
		require.Equal(t, "cacheRetention", e.Field)
	}
}
