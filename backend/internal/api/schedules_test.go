package api_test

import (
	"maps"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type scheduleResp struct {
	ID         int64
	Name       string
	Cron       string
	Timezone   string
	EntityKey  string
	NextRunAt  time.Time
	LastRunAt  *time.Time
	LastEntity string
	LastResult string
	LastStatus string
}

type runResp struct {
	Entity string
	Jobs   []struct {
		ID        int64
		Name      string
		EntityKey string
		EntityVal string
		Env       map[string]string
	}
}

func nightly() map[string]any {
	return map[string]any{"name": "nightly", "cron": "0 2 * * *", "timezone": "Europe/Berlin", "entityKey": "nightly",
		"jobs": []map[string]any{{"name": "build", "cmd": "make", "tag": "linux", "env": map[string]string{"MODE": "full"}},
			{"name": "test", "cmd": "make test", "tag": "linux"}}}
}

func TestScheduleValidation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.project("p", false)
	with := func(k string, v any) map[string]any {
		body := maps.Clone(nightly())
		if v == nil {
			delete(body, k)
		} else {
			body[k] = v
		}
		return body
	}
	for _, tc := range []struct {
		body  map[string]any
		field string
	}{
		{with("cron", "0 2 * *"), "cron"},
		{with("cron", "61 * * * *"), "cron"},
		{with("cron", "@every 5m"), "cron"},
		{with("cron", nil), "cron"},
		{with("timezone", "Mars/Olympus"), "timezone"},
		{with("timezone", "Local"), "timezone"},
		{with("timezone", nil), "timezone"},
		{with("name", "has space"), "name"},
		{with("entityKey", "a/b"), "entityKey"},
		{with("jobs", []map[string]any{}), "jobs"},
		{with("jobs", []map[string]any{{"name": "b", "cmd": "make"}}), "jobs[0].tag"},
		{with("jobs", []map[string]any{{"name": "b", "cmd": "make", "tag": "linux", "env": map[string]string{"1X": "y"}}}), "jobs[0].env[1X]"},
		{with("jobs", []map[string]any{{"name": "b", "cmd": "x", "tag": "linux"}, {"name": "b", "cmd": "y", "tag": "linux"}}), "jobs"},
	} {
		e := b.fail(call{method: "POST", path: "/api/v1/projects/p/schedules", token: b.admin, body: tc.body, invalid: true}, 400)
		require.Equal(t, tc.field, e.Field, "%v: %s", tc.body, e.Message)
	}
	require.Equal(t, 0, b.count("schedules"), "nothing half-written")

	var sc scheduleResp
	b.json(call{method: "POST", path: "/api/v1/projects/p/schedules", token: b.admin, body: nightly()}, 201, &sc)
	b.fail(call{method: "POST", path: "/api/v1/projects/p/schedules", token: b.admin, body: nightly()}, 409)
	e := b.fail(call{method: "PATCH", path: "/api/v1/projects/p/schedules/" + schedID(sc.ID), token: b.admin,
		body: map[string]any{"timezone": "Nowhere/Else"}}, 400)
	require.Equal(t, "timezone", e.Field)
	var got scheduleResp
	b.json(call{method: "GET", path: "/api/v1/projects/p/schedules", token: b.admin}, 200, &struct{ Items []*scheduleResp }{Items: []*scheduleResp{&got}})
	require.Equal(t, "Europe/Berlin", got.Timezone, "a refused change changes nothing")
}

func TestScheduleCRUDAndRunNow(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.project("p", false)
	b.project("q", false)
	var sc scheduleResp
	b.json(call{method: "POST", path: "/api/v1/projects/p/schedules", token: b.admin, body: nightly()}, 201, &sc)
	require.True(t, sc.NextRunAt.After(time.Now()))
	loc, _ := time.LoadLocation("Europe/Berlin")
	require.Equal(t, 2, sc.NextRunAt.In(loc).Hour(), "02:00 in Berlin")

	// Another project's schedule is not found through this one.
	b.fail(call{method: "POST", path: "/api/v1/projects/q/schedules/" + schedID(sc.ID) + "/run", token: b.admin}, 404)

	var run runResp
	b.json(call{method: "POST", path: "/api/v1/projects/p/schedules/" + schedID(sc.ID) + "/run", token: b.admin,
		body: map[string]any{"env": map[string]string{"EXTRA": "yes"}}}, 201, &run)
	require.True(t, strings.HasPrefix(run.Entity, "nightly/"), run.Entity)
	require.Len(t, run.Jobs, 2)
	require.Equal(t, "full", run.Jobs[0].Env["MODE"])
	require.Equal(t, "yes", run.Jobs[0].Env["EXTRA"])
	require.Equal(t, "nightly", run.Jobs[0].Env["AURA_SCHEDULE"])

	// The entity holds the jobs; the schedule shows its last run and keeps its next.
	var ent struct{ Jobs []struct{ Name string } }
	b.json(call{method: "GET", path: "/api/v1/projects/p/entities/" + run.Entity, token: b.admin}, 200, &ent)
	require.Len(t, ent.Jobs, 2)
	var got scheduleResp
	b.json(call{method: "GET", path: "/api/v1/projects/p/schedules", token: b.admin}, 200, &struct{ Items []*scheduleResp }{Items: []*scheduleResp{&got}})
	require.Equal(t, run.Entity, got.LastEntity)
	require.Equal(t, "submitted 2 job(s)", got.LastResult)
	require.Equal(t, "pending", got.LastStatus, "its jobs are queued")
	require.True(t, sc.NextRunAt.Equal(got.NextRunAt))

	// Without a body.
	b.json(call{method: "POST", path: "/api/v1/projects/p/schedules/" + schedID(sc.ID) + "/run", token: b.admin}, 201, &run)

	// A new expression plans the next run again.
	b.json(call{method: "PATCH", path: "/api/v1/projects/p/schedules/" + schedID(sc.ID), token: b.admin,
		body: map[string]any{"cron": "@hourly", "timezone": "UTC"}}, 200, &got)
	require.Equal(t, 0, got.NextRunAt.Minute())
	require.True(t, got.NextRunAt.Before(time.Now().Add(time.Hour+time.Second)))

	b.json(call{method: "DELETE", path: "/api/v1/projects/p/schedules/" + schedID(sc.ID), token: b.admin}, 204, nil)
	b.fail(call{method: "DELETE", path: "/api/v1/projects/p/schedules/" + schedID(sc.ID), token: b.admin}, 404)
	require.Equal(t, 4, b.count("jobs"), "the jobs it submitted stay")
}

func TestIntegrationRun(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.project("p", false)
	in := b.integration("p", map[string]any{"kind": "github", "repository": "o/r"})
	path := "/api/v1/projects/p/integrations/" + schedID(in.ID) + "/run"
	sha := strings.Repeat("ab", 20)

	var run runResp
	b.json(call{method: "POST", path: path, token: b.admin,
		body: map[string]any{"branch": "feature/x", "commit": sha, "env": map[string]string{"DEPLOY": "1"}}}, 201, &run)
	require.Equal(t, "commit/"+sha, run.Entity)
	require.Len(t, run.Jobs, 1)
	env := run.Jobs[0].Env
	require.Equal(t, sha, env["AURA_GIT_SHA"])
	require.Equal(t, "refs/heads/feature/x", env["AURA_GIT_REF"])
	require.Equal(t, "feature/x", env["AURA_GIT_BRANCH"])
	require.Equal(t, "https://github.com/o/r.git", env["AURA_GIT_URL"])
	require.Equal(t, "1", env["DEPLOY"])
	var coll struct{ Entities []struct{ Key, Value string } }
	b.json(call{method: "GET", path: "/api/v1/projects/p/collections/ref/feature:x", token: b.admin}, 200, &coll)

	// The same commit again runs again: a run is never a duplicate delivery.
	b.json(call{method: "POST", path: path, token: b.admin, body: map[string]any{"commit": sha}}, 201, &run)
	require.Equal(t, "commit/"+sha, run.Entity)

	// A branch alone is passed through as the ref.
	b.json(call{method: "POST", path: path, token: b.admin, body: map[string]any{"branch": "main"}}, 201, &run)
	require.True(t, strings.HasPrefix(run.Entity, "run/"), run.Entity)
	require.Equal(t, "", run.Jobs[0].Env["AURA_GIT_SHA"])
	require.Equal(t, "refs/heads/main", run.Jobs[0].Env["AURA_GIT_REF"])

	// The forge's facts win over extra values.
	b.json(call{method: "POST", path: path, token: b.admin, body: map[string]any{"commit": sha, "env": map[string]string{"AURA_GIT_SHA": "x"}}}, 201, &run)
	require.Equal(t, sha, run.Jobs[0].Env["AURA_GIT_SHA"])

	jobs := b.count("jobs")
	for _, tc := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{}, "branch"},
		{map[string]any{"commit": "abc"}, "commit"},
		{map[string]any{"branch": "a b"}, "branch"},
		{map[string]any{"branch": "main", "env": map[string]string{"A-B": "x"}}, "env[A-B]"},
	} {
		e := b.fail(call{method: "POST", path: path, token: b.admin, body: tc.body, invalid: true}, 400)
		require.Equal(t, tc.field, e.Field, "%v: %s", tc.body, e.Message)
	}
	require.Equal(t, jobs, b.count("jobs"))
}

func schedID(id int64) string { return strconv.FormatInt(id, 10) }
