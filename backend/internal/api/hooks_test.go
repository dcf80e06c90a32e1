package api_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/integrations"
	"github.com/aura-ci/aura/backend/internal/store"
)

const fixtureDir = "../integrations/testdata/webhooks"

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, name))
	require.NoError(t, err)
	return b
}

func hexHMAC(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

type integrationResp struct {
	ID             int64
	Kind           string
	Repository     string
	WebhookURL     string
	Secret         string
	HasSecret      bool
	HasAccessToken bool
	LastDelivery   string
	LastFailure    string
	LastStatusAt   *string
}

// integration connects repo to project and returns it with its secret.
func (b *testBundle) integration(project string, body map[string]any) integrationResp {
	b.t.Helper()
	if body["jobs"] == nil {
		body["jobs"] = []map[string]any{{"name": "build", "cmd": "make", "tag": "native,linux"}}
	}
	var in integrationResp
	b.json(call{method: "POST", path: "/api/v1/projects/" + project + "/integrations", token: b.admin, body: body}, 201, &in)
	require.NotEmpty(b.t, in.Secret)
	require.True(b.t, strings.HasSuffix(in.WebhookURL, fmt.Sprintf("/api/v1/hooks/%d", in.ID)))
	return in
}

type hookResp struct {
	Message   string
	Jobs      []int64
	Duplicate bool
}

// hook delivers body to integration id with headers, like a forge, and checks
// the answer against openapi.yaml.
func (b *testBundle) hook(id int64, headers map[string]string, body []byte) (int, hookResp, apiErr) {
	b.t.Helper()
	req, err := http.NewRequest("POST", fmt.Sprintf("%s/api/v1/hooks/%d", b.url, id), bytes.NewReader(body))
	require.NoError(b.t, err)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := b.client.Do(req)
	require.NoError(b.t, err)
	defer resp.Body.Close()
	respBody, err := io.ReadAll(resp.Body)
	require.NoError(b.t, err)
	b.validate(req, body, resp, respBody, json.Valid(body) && bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")))
	var ok hookResp
	var bad apiErr
	if resp.StatusCode == 200 {
		require.NoError(b.t, json.Unmarshal(respBody, &ok))
	} else {
		require.NoError(b.t, json.Unmarshal(respBody, &bad))
		require.Equal(b.t, resp.StatusCode, bad.Code)
	}
	return resp.StatusCode, ok, bad
}

// signedHeaders are the headers kind sends for event, signed with secret.
func signedHeaders(kind, event, secret string, body []byte) map[string]string {
	sig := hexHMAC(secret, body)
	switch kind {
	case "gitea":
		return map[string]string{"X-Gitea-Event": event, "X-GitHub-Event": event, "X-Gitea-Signature": sig, "X-Hub-Signature-256": "sha256=" + sig}
	case "forgejo":
		return map[string]string{"X-Forgejo-Event": event, "X-Gitea-Event": event, "X-Forgejo-Signature": sig, "X-Gitea-Signature": sig}
	case "gitlab":
		return map[string]string{"X-Gitlab-Event": event, "X-Gitlab-Token": secret}
	case "github":
		return map[string]string{"X-GitHub-Event": event, "X-Hub-Signature-256": "sha256=" + sig}
	}
	return map[string]string{"X-Hub-Signature-256": "sha256=" + sig}
}

type entityResp struct {
	Status      string
	Summary     string
	Collections []struct{ Key, Value string }
	Jobs        []jobResp
}

// TestHookFixtures sends every recorded payload, signed over the exact bytes
// sent, through the real endpoint into the real database.
func TestHookFixtures(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.project("forge", false)
	cases := []struct {
		kind, repo, file, event string
		sha                     string // "" when the delivery starts nothing
		collections             []string
		skip                    string
	}{
		{"gitea", "gitea/webhooks", "gitea/push.json", "push", "bffeb74224043ba2feb48d137756c8a9331c449a", []string{"ref/develop"}, ""},
		{"gitea", "Test-CI/multi-line-secrets", "gitea/push-multi-commit.json", "push", "29be01c073851cf0db0c6a466e396b725a670453", []string{"ref/main"}, ""},
		{"gitea", "example/example", "gitea/push-new-branch.json", "push", "67b56589a45103f891bdee7c0546e5d40bc02001", []string{"ref/master"}, ""},
		{"gitea", "example/example", "gitea/delete-branch.json", "delete", "", nil, "deleted"},
		{"gitea", "example/example", "gitea/create-branch.json", "create", "", nil, "push event"},
		{"forgejo", "forgejo/webhooks", "forgejo/push.json", "push", "bffeb74224043ba2feb48d137756c8a9331c449a", []string{"ref/develop"}, ""},
		{"forgejo", "meisam/woodpecktester", "forgejo/push-new-branch.json", "push", "28c3613ae62640216bea5e7dc71aa65356e4298b", []string{"ref/fdsafdsa"}, ""},
		{"github", "Codertocat/Hello-World", "github/push.json", "push", "6113728f27ae82c7b1a177c8d03f9e96e0adf246", []string{"ref/master"}, ""},
		{"github", "bradrydzewski/drone-test-go", "github/push-tag-created.json", "push", "d2b75aa7797ec26b088fa2dd527e9d2c052fcedd", []string{"tag/v0.0.1"}, ""},
		{"github", "Codertocat/Hello-World", "github/push-tag-deleted.json", "push", "", nil, "tag simple-tag was deleted"},
		{"github", "bradrydzewski/drone-test-go", "github/push-branch-deleted.json", "push", "", nil, "branch feature-branch was deleted"},
		{"github", "Codertocat/Hello-World", "github/pull_request-opened.json", "pull_request", "ec26c3e57ca3a959ca5aad62de7213c562f8c821", []string{"mr/2", "ref/changes"}, ""},
		{"github", "Octocoders/Hello-World", "github/ping.json", "ping", "", nil, "ping"},
		{"gitlab", "mike/diaspora", "gitlab/push.json", "Push Hook", "da1560886d4f094c3e6c9ef40349f7d38b5d27d7", []string{"ref/master"}, ""},
		{"gitlab", "1", "gitlab/tag_push.json", "Tag Push Hook", "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7", []string{"tag/v1.0.0"}, ""},
		{"gitlab", "awesome_space/awesome_project", "gitlab/merge_request-opened.json", "Merge Request Hook", "da1560886d4f094c3e6c9ef40349f7d38b5d27d7", []string{"mr/1", "ref/ms-viewport"}, ""},
		{"gitlab", "gitlab-org/hello-world", "gitlab/push-branch-deleted.json", "Push Hook", "", nil, "branch feature was deleted"},
		{"darke", "Ann/Tools", "darke/push.json", "", "6113728f27ae82c7b1a177c8d03f9e96e0adf246", []string{"ref/main"}, ""},
		{"generic", "owner/app", "generic/push-tag.json", "", "d2b75aa7797ec26b088fa2dd527e9d2c052fcedd", []string{"tag/v1.2.0"}, ""},
	}
	covered := map[string]bool{}
	for _, c := range cases {
		covered[c.kind] = true
	}
	for _, kind := range integrations.Kinds() {
		require.True(t, covered[kind], "forge %s has no recorded delivery here: add its fixtures", kind)
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			b := b.sub(t)
			in := b.integration("forge", map[string]any{"kind": c.kind, "repository": c.repo})
			body := readFixture(t, c.file)
			jobsBefore := b.count("jobs")
			code, res, bad := b.hook(in.ID, signedHeaders(c.kind, c.event, in.Secret, body), body)
			require.Equal(t, 200, code, bad.Message)
			if c.sha == "" {
				require.Empty(t, res.Jobs)
				require.Contains(t, res.Message, c.skip)
				require.Equal(t, jobsBefore, b.count("jobs"))
				return
			}
			require.Len(t, res.Jobs, 1, res.Message)
			var j jobResp
			b.json(call{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d", res.Jobs[0])}, 200, &j)
			require.Equal(t, "commit", j.EntityKey)
			require.Equal(t, c.sha, j.EntityVal)
			require.Equal(t, c.sha, j.Env["AURA_GIT_SHA"])
			require.NotEmpty(t, j.Env["AURA_GIT_URL"])
			require.NotEmpty(t, j.Env["AURA_GIT_REF"])
			var e entityResp
			b.json(call{method: "GET", path: "/api/v1/projects/forge/entities/commit/" + c.sha}, 200, &e)
			var cols []string
			for _, col := range e.Collections {
				cols = append(cols, col.Key+"/"+col.Value)
			}
			require.Subset(t, cols, c.collections) // gitlab push and merge request share a commit
		})
	}
}

// TestHookFormEncoded: hooks set to send a form deliver payload=<json>; GitHub
// signs the form, Gitea the JSON in it. Both submit, and a redelivery does not.
func TestHookFormEncoded(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.project("forge", false)
	for _, c := range []struct{ kind, repo, file string }{
		{"github", "Codertocat/Hello-World", "github/push.json"},
		{"gitea", "gitea/webhooks", "gitea/push.json"},
	} {
		in := b.integration("forge", map[string]any{"kind": c.kind, "repository": c.repo})
		payload := readFixture(t, c.file)
		body := []byte(url.Values{"payload": {string(payload)}}.Encode())
		signed := body
		if c.kind == "gitea" {
			signed = payload
		}
		h := signedHeaders(c.kind, "push", in.Secret, signed)
		h["Content-Type"] = "application/x-www-form-urlencoded"
		code, res, bad := b.hook(in.ID, h, body)
		require.Equal(t, 200, code, bad.Message)
		require.Len(t, res.Jobs, 1, res.Message)
		code, res, _ = b.hook(in.ID, h, body)
		require.Equal(t, 200, code)
		require.True(t, res.Duplicate, c.kind)
	}
}

// TestHookGiteaReal replays real Gitea 1.27 deliveries with their own headers
// and signatures, made with the secret the capture used.
func TestHookGiteaReal(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.project("demo", false)
	in := b.integration("demo", map[string]any{"kind": "gitea", "repository": "aura-admin/demo"})
	_, err := b.pool.Exec(context.Background(), `UPDATE integrations SET secret_sealed = $2 WHERE id = $1`,
		in.ID, b.box.Seal([]byte("aura-sample-secret")))
	require.NoError(t, err)

	replay := func(name string) (int, hookResp, apiErr) {
		t.Helper()
		body := readFixture(t, "gitea-1.27-real/"+name+".body")
		var rec struct{ Headers [][2]string }
		require.NoError(t, json.Unmarshal(readFixture(t, "gitea-1.27-real/"+name+".headers.json"), &rec))
		h := map[string]string{}
		for _, kv := range rec.Headers {
			if kv[0] != "Host" && kv[0] != "Content-Length" && kv[0] != "Accept-Encoding" {
				h[kv[0]] = kv[1]
			}
		}
		return b.hook(in.ID, h, body)
	}
	for _, c := range []struct {
		name, sha, branch string
		request           bool
	}{
		{"push.main", "71d078c2942996ed8f7403d88404ceb68ff91ca8", "main", false},
		{"push.feature-1.new-branch", "a0302836ca3dfc800dc8cae986ddedab6b4e4b52", "feature-1", false},
		{"push.feature-1", "7346183db5e2c36a3ab66339207687b971f68a98", "feature-1", false},
		{"pull_request.opened", "a0302836ca3dfc800dc8cae986ddedab6b4e4b52", "feature-1", true},
		{"pull_request_sync.synchronized", "7346183db5e2c36a3ab66339207687b971f68a98", "feature-1", true},
	} {
		code, res, bad := replay(c.name)
		require.Equal(t, 200, code, "%s: %s", c.name, bad.Message)
		require.Len(t, res.Jobs, 1, "%s: %s", c.name, res.Message)
		var j jobResp
		b.json(call{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d", res.Jobs[0]), token: b.admin}, 200, &j)
		require.Equal(t, c.sha, j.EntityVal, c.name)
		require.Equal(t, "queued", j.Status, "a same-repository request needs no approval")
		require.Equal(t, c.branch, j.Env["AURA_GIT_BRANCH"], c.name)
		require.Equal(t, "http://127.0.0.1:3312/aura-admin/demo.git", j.Env["AURA_GIT_URL"], c.name)
		if c.request {
			require.Equal(t, "1", j.Env["AURA_GIT_REQUEST"])
			require.Equal(t, "feature-1", j.Env["AURA_GIT_SOURCE_BRANCH"])
			require.Equal(t, "main", j.Env["AURA_GIT_TARGET_BRANCH"])
		}
		// Replaying it (a new delivery id in Gitea) submits nothing again.
		code, res, _ = replay(c.name)
		require.Equal(t, 200, code)
		require.True(t, res.Duplicate, c.name)
		require.Empty(t, res.Jobs)
	}
	for _, name := range []string{"create", "status"} {
		code, res, _ := replay(name)
		require.Equal(t, 200, code)
		require.Empty(t, res.Jobs, name)
		require.NotEmpty(t, res.Message)
	}
	require.Equal(t, 5, b.count("jobs"))
	var got integrationResp
	b.json(call{method: "GET", path: fmt.Sprintf("/api/v1/projects/demo/integrations/%d", in.ID), token: b.admin}, 200, &got)
	require.Contains(t, got.LastDelivery, "status events start nothing")
	require.Empty(t, got.Secret, "the secret is shown only once")
}

// TestHookRefusals: bad input gets a 4xx and creates nothing.
func TestHookRefusals(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.project("forge", false)
	gh := b.integration("forge", map[string]any{"kind": "github", "repository": "Codertocat/Hello-World"})
	gl := b.integration("forge", map[string]any{"kind": "gitlab", "repository": "mike/diaspora"})
	push := readFixture(t, "github/push.json")
	other := readFixture(t, "github/push-tag-created.json")
	big := bytes.Repeat([]byte(" "), 4<<20+1)
	cases := []struct {
		name    string
		id      int64
		headers map[string]string
		body    []byte
		code    int
	}{
		{"missing signature", gh.ID, map[string]string{"X-GitHub-Event": "push"}, push, 401},
		{"bad signature", gh.ID, map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + strings.Repeat("ab", 32)}, push, 401},
		{"swapped signature", gh.ID, signedHeaders("github", "push", gh.Secret, other), push, 401},
		{"wrong secret", gh.ID, signedHeaders("github", "push", gl.Secret, push), push, 401},
		{"gitlab wrong token", gl.ID, signedHeaders("gitlab", "Push Hook", gh.Secret, push), readFixture(t, "gitlab/push.json"), 401},
		{"unknown integration", 99999, signedHeaders("github", "push", gh.Secret, push), push, 401},
		{"unknown repository", gh.ID, signedHeaders("github", "push", gh.Secret, other), other, 400},
		{"malformed JSON", gh.ID, signedHeaders("github", "push", gh.Secret, []byte(`{"ref":`)), []byte(`{"ref":`), 400},
		{"oversized body", gh.ID, signedHeaders("github", "push", gh.Secret, big), big, 413},
	}
	for _, c := range cases {
		code, _, bad := b.hook(c.id, c.headers, c.body)
		require.Equal(t, c.code, code, "%s: %s", c.name, bad.Message)
	}
	// An integration without a secret refuses every delivery.
	_, err := b.pool.Exec(context.Background(), `UPDATE integrations SET secret_sealed = NULL WHERE id = $1`, gh.ID)
	require.NoError(t, err)
	code, _, _ := b.hook(gh.ID, signedHeaders("github", "push", "", push), push)
	require.Equal(t, 401, code)
	require.Zero(t, b.count("jobs"))
	require.Zero(t, b.count("entities"))
	require.Zero(t, b.count("webhook_deliveries"))
}

func TestHookRedelivery(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.project("forge", false)
	in := b.integration("forge", map[string]any{"kind": "github", "repository": "Codertocat/Hello-World"})
	body := readFixture(t, "github/push.json")
	h := signedHeaders("github", "push", in.Secret, body)
	h["X-GitHub-Delivery"] = "72d3162e-cc78-11e3-81ab-4c9367dc0958"
	code, res, _ := b.hook(in.ID, h, body)
	require.Equal(t, 200, code)
	require.Len(t, res.Jobs, 1)
	code, res, _ = b.hook(in.ID, h, body)
	require.Equal(t, 200, code)
	require.True(t, res.Duplicate)
	require.Contains(t, res.Message, "delivered before")
	require.Equal(t, 1, b.count("jobs"))

	// GitLab keeps its Idempotency-Key across retries.
	gl := b.integration("forge", map[string]any{"kind": "gitlab", "repository": "mike/diaspora"})
	body = readFixture(t, "gitlab/push.json")
	h = signedHeaders("gitlab", "Push Hook", gl.Secret, body)
	h["Idempotency-Key"] = "f2c1b6a0-1111-4e6f-9b1c-000000000001"
	for i := range 3 {
		code, res, _ := b.hook(gl.ID, h, body)
		require.Equal(t, 200, code)
		require.Equal(t, i > 0, res.Duplicate)
	}
	require.Equal(t, 2, b.count("jobs"))
}

// TestHookSecretsAndForks: templates get project secrets; forks never do, and by
// default wait for approval.
func TestHookSecretsAndForks(t *testing.T) {
	t.Parallel()
	b := setup(t)
	projectToken := b.project("forge", false)
	b.json(call{method: "PUT", path: "/api/v1/projects/forge/secrets/DEPLOY_KEY", token: b.admin, body: map[string]any{"value": "hunter2-hunter2"}}, 201, nil)
	jobs := []map[string]any{{"name": "build", "cmd": "make", "tag": "native,linux", "env": map[string]string{"MODE": "ci", "AURA_GIT_SHA": "spoofed"}, "secrets": []string{"DEPLOY_KEY", "NOT_SET"}}}
	in := b.integration("forge", map[string]any{"kind": "gitea", "repository": "example/example", "jobs": jobs})

	body := readFixture(t, "gitea/push-new-branch.json")
	code, res, _ := b.hook(in.ID, signedHeaders("gitea", "push", in.Secret, body), body)
	require.Equal(t, 200, code)
	require.Contains(t, res.Message, "not set: NOT_SET")
	j, err := b.store.JobGet(context.Background(), res.Jobs[0])
	require.NoError(t, err)
	require.Equal(t, []string{"DEPLOY_KEY"}, j.SecretNames)
	runnerID, _ := b.runner("r1", "native,linux")
	claimed, err := b.store.JobClaim(context.Background(), &store.JobClaimParams{RunnerID: runnerID, Tag: "native,linux", Limit: 1, Lease: time.Minute, Acked: true})
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	require.Equal(t, map[string]string{"DEPLOY_KEY": "hunter2-hunter2"}, claimed[0].SecretEnv, "the runner gets the value")
	require.Equal(t, "ci", j.Env["MODE"])
	require.Equal(t, "67b56589a45103f891bdee7c0546e5d40bc02001", j.Env["AURA_GIT_SHA"], "Aura's variables win over a template's")

	// The recorded Gitea pull request comes from a fork.
	body = readFixture(t, "gitea/pull_request-opened.json")
	code, res, _ = b.hook(in.ID, signedHeaders("gitea", "pull_request", in.Secret, body), body)
	require.Equal(t, 200, code)
	require.Contains(t, res.Message, "waiting for approval")
	require.Len(t, res.Jobs, 2, "the approval gate and the build")
	var build jobResp
	b.json(call{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d", res.Jobs[1])}, 200, &build)
	require.Equal(t, "waiting", build.Status)
	require.Empty(t, build.SecretEnvNames)
	require.Equal(t, "http://localhost:3000/example2/example.git", build.Env["AURA_GIT_URL"], "a fork is cloned from the fork")
	require.Len(t, build.WaitingFor.Jobs, 1)
	require.Equal(t, "approval", build.WaitingFor.Jobs[0].Name)
	var gate jobResp
	b.json(call{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d", res.Jobs[0])}, 200, &gate)
	require.Equal(t, "waiting", gate.Status)
	require.Contains(t, gate.Reason, "must approve")
	require.Equal(t, gate.ID, *build.WaitingFor.Approval, "the build says which gate it waits for")
	require.Equal(t, gate.ID, *gate.WaitingFor.Approval, "and so does the gate")
	plain := b.submit(projectToken, map[string]any{"name": "approval", "tag": "linux", "precedingJobs": []int64{build.ID}})
	require.Nil(t, plain.WaitingFor.Approval, "a job merely named approval is no gate")

	b.fail(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/approve", build.ID)}, 401)
	b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/approve", build.ID), token: projectToken}, 200, &gate)
	require.Equal(t, "succeeded", gate.Status)
	b.json(call{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d", build.ID)}, 200, &build)
	require.Equal(t, "queued", build.Status)
	b.fail(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/approve", build.ID), token: projectToken}, 409)

	// Or run forks at once, still without secrets.
	b.json(call{method: "PATCH", path: fmt.Sprintf("/api/v1/projects/forge/integrations/%d", in.ID), token: b.admin,
		body: map[string]any{"forkPolicy": "without-secrets"}}, 200, nil)
	var pr map[string]any
	require.NoError(t, json.Unmarshal(body, &pr))
	pr["pull_request"].(map[string]any)["head"].(map[string]any)["sha"] = "1111111111111111111111111111111111111111"
	body, _ = json.Marshal(pr)
	code, res, _ = b.hook(in.ID, signedHeaders("gitea", "pull_request", in.Secret, body), body)
	require.Equal(t, 200, code)
	require.Len(t, res.Jobs, 1)
	j, err = b.store.JobGet(context.Background(), res.Jobs[0])
	require.NoError(t, err)
	require.Equal(t, "queued", j.Status)
	require.Empty(t, j.SecretNames)
}

func TestIntegrationsAPI(t *testing.T) {
	t.Parallel()
	b := setup(t)
	projectToken := b.project("forge", true)
	path := "/api/v1/projects/forge/integrations"
	forge := newFakeForge(t)
	valid := func() map[string]any {
		return map[string]any{"kind": "gitea", "repository": "owner/repo", "apiUrl": forge.URL + "/api/v1",
			"accessToken": "tok-secret-value", "allowPrivateNetwork": true,
			"jobs": []map[string]any{{"name": "build", "cmd": "make", "tag": "native,linux"}}}
	}
	for name, c := range map[string]struct {
		change func(map[string]any)
		field  string
	}{
		"kind":             {func(m map[string]any) { m["kind"] = "svn" }, "kind"},
		"no kind":          {func(m map[string]any) { delete(m, "kind") }, "kind"},
		"repository":       {func(m map[string]any) { m["repository"] = "no-slash" }, "repository"},
		"traversal":        {func(m map[string]any) { m["repository"] = "a/../b" }, "repository"},
		"no jobs":          {func(m map[string]any) { m["jobs"] = []any{} }, "jobs"},
		"job name":         {func(m map[string]any) { m["jobs"] = []map[string]any{{"name": "approval", "cmd": "x", "tag": "t"}} }, "jobs[0].name"},
		"job tag":          {func(m map[string]any) { m["jobs"] = []map[string]any{{"name": "a", "cmd": "x", "tag": "a b"}} }, "jobs[0].tag"},
		"event":            {func(m map[string]any) { m["events"] = []string{"issue"} }, "events[0]"},
		"fork policy":      {func(m map[string]any) { m["forkPolicy"] = "yolo" }, "forkPolicy"},
		"metadata address": {func(m map[string]any) { m["apiUrl"] = "http://169.254.169.254/latest" }, "apiUrl"},
		"link-local v6":    {func(m map[string]any) { m["apiUrl"] = "http://[fe80::1]/api" }, "apiUrl"},
		"private refused":  {func(m map[string]any) { m["allowPrivateNetwork"] = false }, "apiUrl"},
		"scheme":           {func(m map[string]any) { m["apiUrl"] = "file:///etc/passwd" }, "apiUrl"},
		"credentials":      {func(m map[string]any) { m["apiUrl"] = "http://u:p@127.0.0.1/api" }, "apiUrl"},
		"NAT64 loopback": {func(m map[string]any) {
			m["apiUrl"], m["allowPrivateNetwork"] = "http://[64:ff9b::7f00:1]/api/v1", false
		}, "apiUrl"},
		"6to4 loopback": {func(m map[string]any) {
			m["apiUrl"], m["allowPrivateNetwork"] = "http://[2002:7f00:1::1]/api/v1", false
		}, "apiUrl"},
		"darke statuses": {func(m map[string]any) { m["kind"] = "darke" }, "apiUrl"},
		"darke requests": {func(m map[string]any) {
			m["kind"], m["events"] = "darke", []string{"push", "request"}
			delete(m, "apiUrl")
		}, "events[1]"},
	} {
		body := valid()
		c.change(body)
		e := b.fail(call{method: "POST", path: path, token: b.admin, body: body, invalid: true}, 400)
		require.Equal(t, c.field, e.Field, name)
	}
	require.Zero(t, b.count("integrations"))
	unknown := valid()
	unknown["kind"] = "svn"
	e := b.fail(call{method: "POST", path: path, token: b.admin, body: unknown, invalid: true}, 400)
	require.Equal(t, "field kind must be one of gitea, forgejo, github, gitlab, darke, generic", e.Message)

	b.fail(call{method: "POST", path: path, body: valid()}, 401)
	b.fail(call{method: "POST", path: path, token: projectToken, body: valid()}, 403)
	b.fail(call{method: "GET", path: path, token: projectToken}, 403)

	var in struct {
		integrationResp
		APIURL              string
		Events              []string
		AllowPrivateNetwork bool
		ForkPolicy          string
	}
	b.json(call{method: "POST", path: path, token: b.admin, body: valid()}, 201, &in)
	require.Len(t, in.Secret, 64)
	require.True(t, in.HasAccessToken)
	require.Equal(t, []string{"push", "tag", "request"}, in.Events)
	require.Equal(t, "approve", in.ForkPolicy)
	require.Equal(t, fmt.Sprintf("http://aura.test/api/v1/hooks/%d", in.ID), in.WebhookURL)
	var sealed []byte
	require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT token_sealed FROM integrations`).Scan(&sealed))
	require.NotContains(t, string(sealed), "tok-secret-value", "sealed at rest")

	one := fmt.Sprintf("%s/%d", path, in.ID)
	_, raw := b.do(call{method: "GET", path: one, token: b.admin})
	require.NotContains(t, string(raw), "tok-secret-value")
	require.NotContains(t, string(raw), in.Secret)
	var list struct{ Items []integrationResp }
	b.json(call{method: "GET", path: path, token: b.admin}, 200, &list)
	require.Len(t, list.Items, 1)
	require.Empty(t, list.Items[0].Secret)

	var upd integrationResp
	b.json(call{method: "PATCH", path: one, token: b.admin, body: map[string]any{"regenerateSecret": true, "accessToken": ""}}, 200, &upd)
	require.NotEmpty(t, upd.Secret)
	require.NotEqual(t, in.Secret, upd.Secret)
	require.False(t, upd.HasAccessToken)
	b.fail(call{method: "PATCH", path: one, token: b.admin, body: map[string]any{"allowPrivateNetwork": false}}, 400)

	// A kind's events default to those it knows, and it takes no others.
	var pushOnly struct {
		integrationResp
		Events []string
	}
	b.json(call{method: "POST", path: path, token: b.admin, body: map[string]any{"kind": "generic", "repository": "owner/app",
		"jobs": []map[string]any{{"name": "build", "cmd": "make", "tag": "native,linux"}}}}, 201, &pushOnly)
	require.Equal(t, []string{"push", "tag"}, pushOnly.Events)
	e = b.fail(call{method: "PATCH", path: fmt.Sprintf("%s/%d", path, pushOnly.ID), token: b.admin,
		body: map[string]any{"events": []string{"request"}}}, 400)
	require.Equal(t, "events[0]", e.Field)
	require.Equal(t, "Generic deliveries start no request events: give push, tag", e.Message)

	b.fail(call{method: "GET", path: "/api/v1/projects/other/integrations/1", token: b.admin}, 404)
	b.do(call{method: "DELETE", path: one, token: b.admin})
	b.fail(call{method: "GET", path: one, token: b.admin}, 404)
	b.fail(call{method: "DELETE", path: one, token: b.admin}, 404)
}

func TestProjectSecretsAPI(t *testing.T) {
	t.Parallel()
	b := setup(t)
	projectToken := b.project("forge", false)
	path := "/api/v1/projects/forge/secrets"
	b.fail(call{method: "PUT", path: path + "/TOKEN", token: b.admin, body: map[string]any{"value": "short"}, invalid: true}, 400)
	b.fail(call{method: "PUT", path: path + "/1BAD", token: b.admin, body: map[string]any{"value": "long enough"}}, 400)
	b.fail(call{method: "PUT", path: path + "/TOKEN", token: projectToken, body: map[string]any{"value": "long enough"}}, 403)
	require.Zero(t, b.count("project_secrets"))
	b.json(call{method: "PUT", path: path + "/TOKEN", token: b.admin, body: map[string]any{"value": "long enough"}}, 201, nil)
	b.json(call{method: "PUT", path: path + "/TOKEN", token: b.admin, body: map[string]any{"value": "longer still"}}, 200, nil)
	code, raw := b.do(call{method: "GET", path: path, token: b.admin})
	require.Equal(t, 200, code)
	require.Contains(t, string(raw), `"name":"TOKEN"`)
	require.NotContains(t, string(raw), "longer still")
	b.do(call{method: "DELETE", path: path + "/TOKEN", token: b.admin})
	b.fail(call{method: "DELETE", path: path + "/TOKEN", token: b.admin}, 404)
}

// giteaForge is a real HTTP server on loopback that answers like Gitea: its
// web pages at /, its API at /api/v1 (the repository owner/repo, readable with
// token good-token, and its commit statuses).
type giteaForge struct {
	*httptest.Server
	mu       sync.Mutex
	statuses []string // paths of the statuses received
}

func newGiteaForge(t *testing.T) *giteaForge {
	f := &giteaForge{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		api, isAPI := strings.CutPrefix(r.URL.Path, "/api/v1/")
		if !isAPI {
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte("<!DOCTYPE html><html><body>Gitea: Git with a cup of tea</body></html>"))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != "token good-token" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"message":"invalid username, password or token","url":"` + f.URL + `/api/swagger"}`))
			return
		}
		switch {
		case r.Method == "GET" && api == "repos/owner/repo":
			_, _ = w.Write([]byte(`{"id":7,"full_name":"owner/repo","private":true}`))
		case r.Method == "POST" && strings.HasPrefix(api, "repos/owner/repo/statuses/"):
			f.mu.Lock()
			f.statuses = append(f.statuses, r.URL.Path)
			f.mu.Unlock()
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write([]byte(`{}`))
		default:
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"errors":null,"message":"The target couldn't be found.","url":"` + f.URL + `/api/swagger"}`))
		}
	}))
	t.Cleanup(f.Close)
	return f
}

// TestIntegrationForgeURL: the forge's own address is what users type; Aura
// derives the API from it, and reads the repository with the token when the
// integration is saved, so a wrong URL, token or repository is a 400 naming it.
func TestIntegrationForgeURL(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.project("forge", false)
	forge := newGiteaForge(t)
	path := "/api/v1/projects/forge/integrations"
	body := func(change map[string]any) map[string]any {
		m := map[string]any{"kind": "gitea", "repository": "owner/repo", "apiUrl": forge.URL, "accessToken": "good-token",
			"allowPrivateNetwork": true, "jobs": []map[string]any{{"name": "build", "cmd": "make", "tag": "native,linux"}}}
		for k, v := range change {
			m[k] = v
		}
		return m
	}
	notAForge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("<html>a blog</html>"))
	}))
	t.Cleanup(notAForge.Close)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	for name, c := range map[string]struct {
		change map[string]any
		field  string
		says   string
	}{
		"wrong token":      {map[string]any{"accessToken": "stale-token"}, "accessToken", "refused the access token (401"},
		"wrong repository": {map[string]any{"repository": "owner/typo"}, "repository", "owner/typo was not found"},
		"not a forge":      {map[string]any{"apiUrl": notAForge.URL}, "apiUrl", "does not answer like the Gitea API"},
		"unreachable":      {map[string]any{"apiUrl": closed.URL}, "apiUrl", "cannot be reached"},
		"web page as API":  {map[string]any{"apiUrl": forge.URL + "/owner/repo"}, "apiUrl", "does not answer like the Gitea API"},
	} {
		e := b.fail(call{method: "POST", path: path, token: b.admin, body: body(c.change)}, 400)
		require.Equal(t, c.field, e.Field, name)
		require.Contains(t, e.Message, c.says, name)
	}
	require.Zero(t, b.count("integrations"))

	var in struct {
		integrationResp
		APIURL string
	}
	b.json(call{method: "POST", path: path, token: b.admin, body: body(nil)}, 201, &in)
	require.Equal(t, forge.URL+"/api/v1", in.APIURL, "derived from the forge's address")
	var kept struct{ APIURL string }
	b.json(call{method: "POST", path: path, token: b.admin, body: body(map[string]any{"apiUrl": forge.URL + "/api/v1/"})}, 201, &kept)
	require.Equal(t, forge.URL+"/api/v1", kept.APIURL, "an API base is kept")

	one := fmt.Sprintf("%s/%d", path, in.ID)
	e := b.fail(call{method: "PATCH", path: one, token: b.admin, body: map[string]any{"accessToken": "stale-token"}}, 400)
	require.Equal(t, "accessToken", e.Field)
	e = b.fail(call{method: "PATCH", path: one, token: b.admin, body: map[string]any{"repository": "owner/gone"}}, 400)
	require.Equal(t, "repository", e.Field)
	b.json(call{method: "PATCH", path: one, token: b.admin, body: map[string]any{"apiUrl": forge.URL + "/"}}, 200, &kept)
	require.Equal(t, forge.URL+"/api/v1", kept.APIURL)

	// A web address saved before Aura derived the API is fixed when the integration is saved again.
	_, err := b.pool.Exec(context.Background(), `UPDATE integrations SET api_url = $2 WHERE id = $1`, in.ID, forge.URL)
	require.NoError(t, err)
	b.json(call{method: "PATCH", path: one, token: b.admin, body: map[string]any{"accessToken": "good-token"}}, 200, &kept)
	require.Equal(t, forge.URL+"/api/v1", kept.APIURL)

	// The status of a push goes to the derived API.
	sha := strings.Repeat("c", 40)
	push := []byte(fmt.Sprintf(`{"ref":"refs/heads/main","before":"%s","after":"%s","repository":{"full_name":"owner/repo"}}`, strings.Repeat("1", 40), sha))
	code, _, bad := b.hook(in.ID, signedHeaders("gitea", "push", in.Secret, push), push)
	require.Equal(t, 200, code, bad.Message)
	drainOutbox(t, integrations.NewSender(b.forge, integrations.SenderConfig{}, nil))
	forge.mu.Lock()
	require.Equal(t, []string{"/api/v1/repos/owner/repo/statuses/" + sha}, forge.statuses)
	forge.mu.Unlock()

	// One saved before and never saved again gets its statuses to the derived API too.
	_, err = b.pool.Exec(context.Background(), `UPDATE integrations SET api_url = $2 WHERE id = $1`, in.ID, forge.URL)
	require.NoError(t, err)
	sha2 := strings.Repeat("e", 40)
	push = []byte(fmt.Sprintf(`{"ref":"refs/heads/main","before":"%s","after":"%s","repository":{"full_name":"owner/repo"}}`, sha, sha2))
	code, _, bad = b.hook(in.ID, signedHeaders("gitea", "push", in.Secret, push), push)
	require.Equal(t, 200, code, bad.Message)
	drainOutbox(t, integrations.NewSender(b.forge, integrations.SenderConfig{}, nil))
	forge.mu.Lock()
	defer forge.mu.Unlock()
	require.Contains(t, forge.statuses, "/api/v1/repos/owner/repo/statuses/"+sha2)
}

// TestStatusFailureIsShort: a forge's refusal is kept as its status code and a
// short reason, never as what the forge sent back (which may echo the token or
// be a page of HTML).
func TestStatusFailureIsShort(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.project("forge", false)
	const token = "forge-token-that-must-not-show"
	forge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Method == "GET" {
			_, _ = w.Write([]byte(`{"id":1}`))
			return
		}
		w.WriteHeader(http.StatusUnprocessableEntity)
		msg := "bad status for token " + token + "\n\tsee <html><script>alert(1)</script>" + strings.Repeat(" padding", 80)
		raw, _ := json.Marshal(map[string]any{"message": msg, "stack": strings.Repeat("frame ", 100)})
		_, _ = w.Write(raw)
	}))
	t.Cleanup(forge.Close)
	in := b.integration("forge", map[string]any{"kind": "gitea", "repository": "owner/repo", "apiUrl": forge.URL,
		"accessToken": token, "allowPrivateNetwork": true})
	push := []byte(fmt.Sprintf(`{"ref":"refs/heads/main","before":"%s","after":"%s","repository":{"full_name":"owner/repo"}}`, strings.Repeat("1", 40), strings.Repeat("d", 40)))
	code, _, bad := b.hook(in.ID, signedHeaders("gitea", "push", in.Secret, push), push)
	require.Equal(t, 200, code, bad.Message)
	_, err := integrations.NewSender(b.forge, integrations.SenderConfig{}, nil).SendDue(context.Background())
	require.NoError(t, err)
	var got integrationResp
	b.json(call{method: "GET", path: fmt.Sprintf("/api/v1/projects/forge/integrations/%d", in.ID), token: b.admin}, 200, &got)
	t.Logf("lastFailure: %q", got.LastFailure)
	require.Contains(t, got.LastFailure, "422")
	require.Contains(t, got.LastFailure, "bad status for token ***")
	require.NotContains(t, got.LastFailure, token)
	require.NotContains(t, got.LastFailure, "frame")
	require.NotContains(t, got.LastFailure, "\n")
	require.LessOrEqual(t, len(got.LastFailure), 160)
}

// TestStatusSentRightAfterDelivery: the delivery is answered before the forge
// is called, and the pending status follows at once, not at the sender's next poll.
func TestStatusSentRightAfterDelivery(t *testing.T) {
	t.Parallel()
	s := setupStatuses(t, "gitea", "owner/repo", nil)
	snd := integrations.NewSender(s.testBundle.forge, integrations.SenderConfig{Poll: time.Hour}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	// The sender's first look is over before the push; its next poll is an hour away.
	s.startWaiting("status_outbox", statusLook, 1, func() { go func() { snd.Run(ctx); close(done) }() })
	t.Cleanup(func() { cancel(); <-done })
	s.push(sha(7))
	require.Eventually(t, func() bool { return len(s.forge.received()) == 1 }, 5*time.Second, 5*time.Millisecond)
	require.Equal(t, "pending", s.forge.received()[0].State)
}
