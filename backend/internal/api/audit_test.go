package api_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type auditEntryResp struct {
	ID      int64
	At      time.Time
	Actor   struct{ Kind, Name string }
	Address string
	Action  string
	Project *string
	Target  string
	Detail  map[string]any
}

type auditListResp struct {
	Entries []auditEntryResp
	Next    *int64
}

// audit reads the audit log with query as the admin.
func (b *testBundle) audit(query string) auditListResp {
	b.t.Helper()
	var out auditListResp
	b.json(call{method: "GET", path: "/api/v1/audit" + query, token: b.admin}, 200, &out)
	return out
}

type actorResp struct {
	Kind, Name string
	At         time.Time
}

// jobActors is what a job says of who did what to it.
type jobActors struct {
	ID          int64
	Status      string
	SubmittedBy *actorResp
	CancelledBy *actorResp
	RetriedBy   *actorResp
	ApprovedBy  *actorResp
}

func (b *testBundle) jobActors(id int64) jobActors {
	b.t.Helper()
	var j jobActors
	b.json(call{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d", id), token: b.admin}, 200, &j)
	return j
}

// TestAuditEachAction: every administrative action writes exactly one entry
// naming who, from where, what, on which project and target; the same action
// refused writes none.
func TestAuditEachAction(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.project("own", true)
	var tok struct{ ID int64 }
	b.json(call{method: "POST", path: "/api/v1/projects/own/tokens", token: b.admin, body: map[string]any{"name": "spare"}}, 201, &tok)
	in := b.integration("own", map[string]any{"kind": "gitea", "repository": "example/example",
		"jobs": []map[string]any{{"name": "build", "cmd": "make", "tag": "linux"}}})
	runnerID, _ := b.runner("r9", "linux")

	steps := []struct {
		name          string
		call          call
		code          int
		action        string
		project       string // "" for the instance
		target        string
		detail        map[string]any
		fail          call // the same action refused: no entry
		failCode      int
		noSecretValue string
	}{
		{name: "project.create", call: call{method: "POST", path: "/api/v1/projects", body: map[string]any{"slug": "new", "name": "New"}},
			code: 201, action: "project.create", project: "new", target: "new", detail: map[string]any{"name": "New", "private": false},
			fail: call{method: "POST", path: "/api/v1/projects", body: map[string]any{"slug": "new", "name": "Again"}}, failCode: 409},
		{name: "project.update", call: call{method: "PATCH", path: "/api/v1/projects/own", body: map[string]any{"name": "Own", "artifactRetention": 3600}},
			code: 200, action: "project.update", project: "own", target: "own", detail: map[string]any{"name": "Own", "artifactRetentionSeconds": float64(3600)},
			fail: call{method: "PATCH", path: "/api/v1/projects/own", body: map[string]any{"artifactRetention": -1}, invalid: true}, failCode: 400},
		{name: "token.create", call: call{method: "POST", path: "/api/v1/projects/own/tokens", body: map[string]any{"name": "deploy"}},
			code: 201, action: "token.create", project: "own", target: "deploy",
			fail: call{method: "POST", path: "/api/v1/projects/nope/tokens", body: map[string]any{"name": "deploy"}}, failCode: 404},
		{name: "token.revoke", call: call{method: "DELETE", path: fmt.Sprintf("/api/v1/projects/own/tokens/%d", tok.ID)},
			code: 204, action: "token.revoke", project: "own", target: "spare",
			fail: call{method: "DELETE", path: "/api/v1/projects/own/tokens/999999"}, failCode: 404},
		{name: "secret.set", call: call{method: "PUT", path: "/api/v1/projects/own/secrets/API_KEY", body: map[string]any{"value": "hunter2-hunter2"}},
			code: 201, action: "secret.set", project: "own", target: "API_KEY", detail: map[string]any{"created": true}, noSecretValue: "hunter2-hunter2",
			fail: call{method: "PUT", path: "/api/v1/projects/own/secrets/API_KEY", body: map[string]any{"value": "short"}, invalid: true}, failCode: 400},
		{name: "secret.delete", call: call{method: "DELETE", path: "/api/v1/projects/own/secrets/API_KEY"},
			code: 204, action: "secret.delete", project: "own", target: "API_KEY",
			fail: call{method: "DELETE", path: "/api/v1/projects/own/secrets/NOT_SET"}, failCode: 404},
		{name: "integration.create", call: call{method: "POST", path: "/api/v1/projects/own/integrations",
			body: map[string]any{"kind": "github", "repository": "example/other", "accessToken": "ghp_secret-token-value",
				"jobs": []map[string]any{{"name": "build", "cmd": "make", "tag": "linux"}}}},
			code: 201, action: "integration.create", project: "own", noSecretValue: "ghp_secret-token-value",
			fail: call{method: "POST", path: "/api/v1/projects/own/integrations", body: map[string]any{"kind": "nope", "repository": "a/b"}, invalid: true}, failCode: 400},
		{name: "integration.update", call: call{method: "PATCH", path: fmt.Sprintf("/api/v1/projects/own/integrations/%d", in.ID),
			body: map[string]any{"forkPolicy": "without-secrets", "accessToken": "glpat-another-secret"}},
			code: 200, action: "integration.update", project: "own", target: fmt.Sprint(in.ID),
			detail: map[string]any{"forkPolicy": "without-secrets", "token": "set"}, noSecretValue: "glpat-another-secret",
			fail: call{method: "PATCH", path: "/api/v1/projects/own/integrations/999999", body: map[string]any{"forkPolicy": "approve"}}, failCode: 404},
		{name: "integration.delete", call: call{method: "DELETE", path: fmt.Sprintf("/api/v1/projects/own/integrations/%d", in.ID)},
			code: 204, action: "integration.delete", project: "own", target: fmt.Sprint(in.ID),
			detail: map[string]any{"kind": "gitea", "repository": "example/example"},
			fail:   call{method: "DELETE", path: fmt.Sprintf("/api/v1/projects/own/integrations/%d", in.ID)}, failCode: 404},
		{name: "runner.register", call: call{method: "POST", path: "/api/v1/runners", body: map[string]any{"name": "r10", "tags": []string{"linux"}}},
			code: 201, action: "runner.register", target: "r10",
			fail: call{method: "POST", path: "/api/v1/runners", body: map[string]any{"name": "r10", "tags": []string{"linux"}}}, failCode: 409},
		{name: "runner.delete", call: call{method: "DELETE", path: fmt.Sprintf("/api/v1/runners/%d", runnerID)},
			code: 204, action: "runner.delete", target: "r9",
			fail: call{method: "DELETE", path: fmt.Sprintf("/api/v1/runners/%d", runnerID)}, failCode: 404},
		{name: "project.delete", call: call{method: "DELETE", path: "/api/v1/projects/new"},
			code: 204, action: "project.delete", project: "new", target: "new",
			fail: call{method: "DELETE", path: "/api/v1/projects/new"}, failCode: 404},
	}
	for _, s := range steps {
		before := b.count("audit_log")
		s.call.token = b.admin
		code, body := b.do(s.call)
		require.Equal(t, s.code, code, "%s: %s", s.name, body)
		require.Equal(t, before+1, b.count("audit_log"), "%s writes exactly one entry", s.name)
		e := b.audit("?limit=1").Entries[0]
		require.Equal(t, s.action, e.Action, s.name)
		require.Equal(t, "admin", e.Actor.Kind, s.name)
		require.Equal(t, "admin", e.Actor.Name, s.name)
		require.Equal(t, "127.0.0.1", e.Address, s.name)
		require.WithinDuration(t, time.Now(), e.At, time.Minute, s.name)
		if s.project == "" {
			require.Nil(t, e.Project, s.name)
		} else {
			require.NotNil(t, e.Project, s.name)
			require.Equal(t, s.project, *e.Project, s.name)
		}
		if s.target != "" {
			require.Equal(t, s.target, e.Target, s.name)
		}
		for k, v := range s.detail {
			require.Equal(t, v, e.Detail[k], "%s: detail %s", s.name, k)
		}
		if s.noSecretValue != "" {
			var raw string
			require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT string_agg(detail::text || target, ' ') FROM audit_log`).Scan(&raw))
			require.NotContains(t, raw, s.noSecretValue, "%s: the audit log never holds a secret's value", s.name)
		}

		s.fail.token = b.admin
		code, body = b.do(s.fail)
		require.Equal(t, s.failCode, code, "%s refused: %s", s.name, body)
		require.Equal(t, before+1, b.count("audit_log"), "%s refused writes no entry", s.name)
	}
}

// TestAuditSameTransaction: an entry that cannot be written undoes its action,
// so no change goes unrecorded.
func TestAuditSameTransaction(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.project("own", false)
	b.exec(`ALTER TABLE audit_log ADD CONSTRAINT refuse_secrets CHECK (action <> 'secret.set')`)
	code, _ := b.do(call{method: "PUT", path: "/api/v1/projects/own/secrets/API_KEY", token: b.admin,
		body: map[string]any{"value": "hunter2-hunter2"}})
	require.Equal(t, 500, code)
	require.Zero(t, b.count("project_secrets"), "the secret is not set when its entry cannot be written")
}

// TestAuditList: newest first, filtered, paged; admins only; bad filters 400
// naming the field.
func TestAuditList(t *testing.T) {
	t.Parallel()
	b := setup(t)
	projectToken := b.project("one", false) // project.create, token.create
	b.project("two", true)                  // project.create, token.create
	for i := range 3 {
		b.json(call{method: "PUT", path: fmt.Sprintf("/api/v1/projects/one/secrets/S%d", i), token: b.admin,
			body: map[string]any{"value": "value-value-value"}}, 201, nil)
	}

	all := b.audit("")
	require.Len(t, all.Entries, 7)
	require.Nil(t, all.Next)
	for i := 1; i < len(all.Entries); i++ {
		require.Greater(t, all.Entries[i-1].ID, all.Entries[i].ID, "newest first")
	}
	require.Equal(t, "secret.set", all.Entries[0].Action)
	require.Equal(t, "S2", all.Entries[0].Target)

	// Paging: two at a time, each page older than the last.
	var seen []int64
	query := "?limit=2"
	for pages := 0; ; pages++ {
		require.Less(t, pages, 10)
		page := b.audit(query)
		for _, e := range page.Entries {
			seen = append(seen, e.ID)
		}
		if page.Next == nil {
			break
		}
		require.Len(t, page.Entries, 2)
		query = fmt.Sprintf("?limit=2&before=%d", *page.Next)
	}
	require.Len(t, seen, 7)
	for i, e := range all.Entries {
		require.Equal(t, e.ID, seen[i])
	}

	require.Len(t, b.audit("?action=secret.set").Entries, 3)
	require.Len(t, b.audit("?action=secret").Entries, 3, "a noun takes each of its actions")
	require.Len(t, b.audit("?action=project").Entries, 2)
	require.Empty(t, b.audit("?action=secre").Entries, "but no part of a word")
	require.Len(t, b.audit("?project=two").Entries, 2)
	require.Len(t, b.audit("?project=one&action=token.create").Entries, 1)
	require.Len(t, b.audit("?actor=admin").Entries, 7)
	require.Empty(t, b.audit("?actor=alice").Entries)
	require.Empty(t, b.audit("?project=nope").Entries)

	// A deleted project's entries keep its slug.
	b.json(call{method: "DELETE", path: "/api/v1/projects/two", token: b.admin}, 204, nil)
	two := b.audit("?project=two")
	require.Len(t, two.Entries, 3)
	require.Equal(t, "project.delete", two.Entries[0].Action)
	for _, e := range two.Entries {
		require.Equal(t, "two", *e.Project)
	}

	for _, bad := range []struct{ query, field string }{
		{"?before=0", "before"}, {"?before=x", "before"}, {"?limit=0", "limit"}, {"?limit=201", "limit"},
		{"?action=DROP%20TABLE", "action"}, {"?action=secret.", "action"}, {"?project=a%20b", "project"}, {"?actor=" + strings.Repeat("a", 201), "actor"},
	} {
		e := b.fail(call{method: "GET", path: "/api/v1/audit" + bad.query, token: b.admin, invalid: true}, 400)
		require.Equal(t, bad.field, e.Field, bad.query)
	}
	b.fail(call{method: "GET", path: "/api/v1/audit"}, 401)
	b.fail(call{method: "GET", path: "/api/v1/audit", token: projectToken}, 403)

	var me struct{ Permissions struct{ ReadAudit bool } }
	b.json(call{method: "GET", path: "/api/v1/me", token: b.admin}, 200, &me)
	require.True(t, me.Permissions.ReadAudit)
	b.json(call{method: "GET", path: "/api/v1/me", token: projectToken}, 200, &me)
	require.False(t, me.Permissions.ReadAudit)
}

// TestJobActors: a job names who submitted, cancelled, retried and approved it.
func TestJobActors(t *testing.T) {
	t.Parallel()
	b := setup(t)
	projectToken := b.project("own", false) // its token is named "ci"
	_, run := b.runner("r1", "linux")

	// Submitted by a project token, cancelled by the admin.
	j := b.submit(projectToken, map[string]any{"name": "a"})
	got := b.jobActors(j.ID)
	require.Equal(t, &actorResp{Kind: "project-token", Name: "ci", At: got.SubmittedBy.At}, got.SubmittedBy)
	require.WithinDuration(t, time.Now(), got.SubmittedBy.At, time.Minute)
	require.Nil(t, got.CancelledBy)
	require.Nil(t, got.RetriedBy)
	require.Nil(t, got.ApprovedBy)
	b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/cancel", j.ID), token: b.admin}, 200, nil)
	got = b.jobActors(j.ID)
	require.Equal(t, "cancelled", got.Status)
	require.Equal(t, "admin", got.CancelledBy.Kind)
	require.Equal(t, "admin", got.CancelledBy.Name)

	// Retried by the project token: the cancel went with its attempt.
	b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/retry", j.ID), token: projectToken}, 200, nil)
	got = b.jobActors(j.ID)
	require.Equal(t, "queued", got.Status)
	require.Nil(t, got.CancelledBy)
	require.Equal(t, "project-token", got.RetriedBy.Kind)
	require.Equal(t, "ci", got.RetriedBy.Name)
	require.Equal(t, "ci", got.SubmittedBy.Name, "the submitter stays")

	// The 0.4 submit and the batch name their caller too.
	var old struct{ ID int64 }
	b.json(call{method: "POST", path: "/api/submit", token: b.admin, body: map[string]any{
		"project": "own", "entityKey": "commit", "entityVal": "old", "name": "build", "cmd": "true", "tag": "none",
		"env": "", "collections": map[string]string{}, "precedingJobs": []int64{}, "earliestStart": nil,
	}}, 200, &old)
	require.Equal(t, "admin", b.jobActors(old.ID).SubmittedBy.Kind)
	var batch struct{ Items []struct{ ID int64 } }
	b.json(call{method: "POST", path: "/api/v1/jobs/batch", token: projectToken, body: map[string]any{"jobs": []map[string]any{
		{"project": "own", "entityKey": "commit", "entityVal": "batch", "name": "one", "cmd": "true", "tag": "none"},
	}}}, 201, &batch)
	require.Equal(t, "ci", b.jobActors(batch.Items[0].ID).SubmittedBy.Name)

	// A running job submits a child: the child names its parent.
	jobs := b.claim(run, 1, "linux")
	require.Len(t, jobs, 1)
	child := b.submit(jobs[0].Token, map[string]any{"name": "child", "entityVal": "def"})
	got = b.jobActors(child.ID)
	require.Equal(t, "job", got.SubmittedBy.Kind)
	require.Equal(t, fmt.Sprintf("job %d", jobs[0].ID), got.SubmittedBy.Name)
	// It cancels its child, too.
	b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/cancel", child.ID), token: jobs[0].Token}, 200, nil)
	require.Equal(t, fmt.Sprintf("job %d", jobs[0].ID), b.jobActors(child.ID).CancelledBy.Name)

	// A forge delivery submits a fork's pull request behind a gate; the admin approves it.
	in := b.integration("own", map[string]any{"kind": "gitea", "repository": "example/example",
		"jobs": []map[string]any{{"name": "build", "cmd": "make", "tag": "linux"}}})
	body := readFixture(t, "gitea/pull_request-opened.json")
	headers := signedHeaders("gitea", "pull_request", in.Secret, body)
	headers["X-Gitea-Delivery"] = "3f2a9c"
	code, res, _ := b.hook(in.ID, headers, body)
	require.Equal(t, 200, code)
	require.Len(t, res.Jobs, 2, "the approval gate and the build")
	for _, id := range res.Jobs {
		got = b.jobActors(id)
		require.Equal(t, "forge", got.SubmittedBy.Kind)
		require.Equal(t, "gitea delivery 3f2a9c", got.SubmittedBy.Name)
		require.Nil(t, got.ApprovedBy)
	}
	b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/approve", res.Jobs[1]), token: b.admin}, 200, nil)
	for _, id := range res.Jobs {
		got = b.jobActors(id)
		require.NotNil(t, got.ApprovedBy, "job %d", id)
		require.Equal(t, "admin", got.ApprovedBy.Kind)
		require.Equal(t, "admin", got.ApprovedBy.Name)
	}
	var gate struct{ Reason string }
	b.json(call{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d", res.Jobs[0]), token: b.admin}, 200, &gate)
	require.Equal(t, "approved by admin", gate.Reason)
}
