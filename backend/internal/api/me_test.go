package api_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

type meResp struct {
	Kind        string
	Name        string
	Project     string
	Job         *int64
	Permissions struct {
		Admin, CreateProjects, ManageRunners bool
		Projects                             map[string]struct{ Read, Submit, Cancel, Retry, Approve, Manage bool }
	}
}

// TestMe checks GET /api/v1/me for every kind of caller, and that what it says
// matches what the routes then allow.
func TestMe(t *testing.T) {
	t.Parallel()
	b := setup(t)
	me := func(token string) meResp {
		t.Helper()
		var m meResp
		b.json(call{method: "GET", path: "/api/v1/me", token: token}, 200, &m)
		return m
	}

	anon := me("")
	require.Equal(t, "anonymous", anon.Kind)
	require.False(t, anon.Permissions.Admin)
	require.Empty(t, anon.Permissions.Projects)

	// A wrong token is refused, never taken for anonymous or anything else.
	b.fail(call{method: "GET", path: "/api/v1/me", token: "AURA_ADMINKEY_wrong"}, 401)
	b.fail(call{method: "GET", path: "/api/v1/me", token: "nonsense"}, 401)

	admin := me(b.admin)
	require.Equal(t, "admin", admin.Kind)
	require.True(t, admin.Permissions.Admin && admin.Permissions.CreateProjects && admin.Permissions.ManageRunners)

	tok := b.project("proj", true)
	proj := me(tok)
	require.Equal(t, "project", proj.Kind)
	require.Equal(t, "proj", proj.Name)
	require.False(t, proj.Permissions.Admin || proj.Permissions.CreateProjects || proj.Permissions.ManageRunners)
	pp := proj.Permissions.Projects["proj"]
	require.True(t, pp.Read && pp.Submit && pp.Cancel && pp.Retry && pp.Approve)
	require.False(t, pp.Manage)
	// What it says is what the routes do.
	b.fail(call{method: "POST", path: "/api/v1/projects", token: tok, body: map[string]any{"slug": "x", "name": "x"}}, 403)
	b.fail(call{method: "GET", path: "/api/v1/projects/proj/secrets", token: tok}, 403)

	_, run := b.runner("r1", "linux")
	runner := me(run)
	require.Equal(t, "runner", runner.Kind)
	require.Equal(t, "r1", runner.Name)
	require.Empty(t, runner.Permissions.Projects)

	j := b.submit(tok, nil)
	c := b.claim(run, 1, "linux")
	require.Len(t, c, 1)
	job := me(c[0].Token)
	require.Equal(t, "job", job.Kind)
	require.Equal(t, fmt.Sprint(j.ID), job.Name)
	require.Equal(t, j.ID, *job.Job)
	require.Equal(t, "proj", job.Project)
	jp := job.Permissions.Projects["proj"]
	require.True(t, jp.Submit)
	require.False(t, jp.Read || jp.Cancel || jp.Retry || jp.Approve || jp.Manage)
}
