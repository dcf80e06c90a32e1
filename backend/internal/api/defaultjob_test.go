package api_test

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/integrations"
)

// TestIntegrationDefaultJob: an integration created without jobs gets the
// default job, and a template without cmd the default command, on create and on
// update; an explicit empty list is still refused.
func TestIntegrationDefaultJob(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.project("forge", false)
	path := "/api/v1/projects/forge/integrations"
	type template struct {
		Name, Cmd, Tag string
		Secrets        []string
	}
	var in struct {
		ID   int64
		Jobs []template
	}
	b.json(call{method: "POST", path: path, token: b.admin, body: map[string]any{"kind": "generic", "repository": "o/r"}}, 201, &in)
	require.Equal(t, []template{{Name: "ci", Cmd: integrations.DefaultJobCmd, Tag: "native,linux"}}, in.Jobs)

	b.json(call{method: "POST", path: path, token: b.admin, body: map[string]any{"kind": "generic", "repository": "o/s",
		"jobs": []map[string]any{{"name": "build", "tag": "e2e", "secrets": []string{"DEPLOY_KEY"}}, {"name": "lint", "cmd": "make lint", "tag": "e2e"}}}}, 201, &in)
	require.Equal(t, []template{{Name: "build", Cmd: integrations.DefaultJobCmd, Tag: "e2e", Secrets: []string{"DEPLOY_KEY"}},
		{Name: "lint", Cmd: "make lint", Tag: "e2e"}}, in.Jobs)

	var updated struct{ Jobs []template }
	b.json(call{method: "PATCH", path: path + "/" + strconv.FormatInt(in.ID, 10), token: b.admin, body: map[string]any{
		"jobs": []map[string]any{{"name": "only", "tag": "t"}}}}, 200, &updated)
	require.Equal(t, []template{{Name: "only", Cmd: integrations.DefaultJobCmd, Tag: "t"}}, updated.Jobs)

	e := b.fail(call{method: "POST", path: path, token: b.admin, invalid: true,
		body: map[string]any{"kind": "generic", "repository": "o/t", "jobs": []any{}}}, 400)
	require.Equal(t, "jobs", e.Field)
}
