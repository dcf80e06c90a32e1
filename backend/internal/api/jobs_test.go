package api_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type jobResp struct {
	ID                int64
	Project           string
	EntityKey         string
	EntityVal         string
	Name              string
	Status            string
	Attempt           int
	Reason            string
	ParentJob         *int64
	PrecedingJobs     []int64
	ExitCode          *int
	Env               map[string]string
	SecretEnvNames    []string
	MaxAttempts       int
	CancelRequestedAt *time.Time
	WaitingFor        *struct {
		Jobs []struct {
			ID     int64
			Name   string
			Status string
		}
		Until    *time.Time
		Approval *int64
	}
}

// submit submits a job into project p with token and returns it.
func (b *testBundle) submit(token string, fields map[string]any) jobResp {
	b.t.Helper()
	body := map[string]any{"entityKey": "commit", "entityVal": "abc", "name": "build", "cmd": "true", "tag": "linux"}
	for k, v := range fields {
		body[k] = v
	}
	var j jobResp
	b.json(call{method: "POST", path: "/api/v1/jobs", token: token, body: body}, 201, &j)
	return j
}

func (b *testBundle) job(id int64) jobResp {
	b.t.Helper()
	var j jobResp
	b.json(call{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d", id), token: b.admin}, 200, &j)
	return j
}

type claimed struct {
	ID        int64
	Attempt   int
	Name      string
	Token     string
	Env       map[string]string
	SecretEnv map[string]string
}

// claim claims up to n jobs for a runner without waiting.
func (b *testBundle) claim(runnerToken string, n int, tags ...string) []claimed {
	b.t.Helper()
	var resp struct{ Jobs []claimed }
	b.json(call{method: "POST", path: "/api/v1/runner/claim", token: runnerToken,
		body: map[string]any{"tags": tags, "capacity": n, "waitSeconds": 0}}, 200, &resp)
	return resp.Jobs
}

// finish runs the claimed job to exit code through the runner API.
func (b *testBundle) finish(runnerToken string, c claimed, exit int) jobResp {
	b.t.Helper()
	b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/heartbeat", c.ID), token: runnerToken,
		body: map[string]any{"attempt": c.Attempt}}, 200, nil)
	var j jobResp
	b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/complete", c.ID), token: runnerToken,
		body: map[string]any{"attempt": c.Attempt, "exitCode": exit}}, 200, &j)
	return j
}

// runNamed claims jobs until it holds the one named name and finishes it with exit.
func (b *testBundle) runNamed(runnerToken, name string, exit int, tags ...string) jobResp {
	b.t.Helper()
	for _, c := range b.claim(runnerToken, 100, tags...) {
		if c.Name == name {
			return b.finish(runnerToken, c, exit)
		}
		b.t.Fatalf("claimed %s while waiting for %s", c.Name, name)
	}
	b.t.Fatalf("no job %s to claim", name)
	return jobResp{}
}

func TestSubmitAndGet(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("proj", false)
	j := b.submit(tok, map[string]any{
		"env": map[string]string{"A": "1"}, "secretEnv": map[string]string{"PASSWORD": "hunter2-hunter2"},
		"collections": map[string]string{"ref": "main"}, "priority": 5, "timeoutSeconds": 60,
	})
	require.Equal(t, "queued", j.Status)
	require.Equal(t, "proj", j.Project)
	require.Equal(t, map[string]string{"A": "1"}, j.Env)
	require.Equal(t, []string{"PASSWORD"}, j.SecretEnvNames)
	_, body := b.do(call{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d", j.ID)})
	require.NotContains(t, string(body), "hunter2-hunter2", "secret values are never shown")

	// The entity and collection exist now.
	var ent struct {
		Status      string
		Summary     string
		Collections []struct{ Key, Value string }
		Jobs        []jobResp
	}
	b.json(call{method: "GET", path: "/api/v1/projects/proj/entities/commit/abc"}, 200, &ent)
	require.Equal(t, "pending", ent.Status)
	require.Equal(t, "1 queued", ent.Summary)
	require.Len(t, ent.Jobs, 1)
	require.Equal(t, "ref", ent.Collections[0].Key)
	var keys struct {
		Items []struct {
			Key   string
			Count int64
		}
	}
	b.json(call{method: "GET", path: "/api/v1/projects/proj/entities"}, 200, &keys)
	require.Equal(t, "commit", keys.Items[0].Key)
	require.EqualValues(t, 1, keys.Items[0].Count)
	b.json(call{method: "GET", path: "/api/v1/projects/proj/collections"}, 200, &keys)
	require.Equal(t, "ref", keys.Items[0].Key)
	var col struct {
		Key, Value string
		Entities   []struct{ Key, Value, Status string }
	}
	b.json(call{method: "GET", path: "/api/v1/projects/proj/collections/ref/main"}, 200, &col)
	require.Len(t, col.Entities, 1)
	require.Equal(t, "abc", col.Entities[0].Value)
	var cols struct {
		Items []struct {
			Value       string
			EntityCount int64
		}
	}
	b.json(call{method: "GET", path: "/api/v1/projects/proj/collections/ref"}, 200, &cols)
	require.EqualValues(t, 1, cols.Items[0].EntityCount)

	b.fail(call{method: "GET", path: "/api/v1/jobs/999999"}, 404)
	b.fail(call{method: "GET", path: "/api/v1/jobs/abc", invalid: true}, 400)
	b.fail(call{method: "GET", path: "/api/v1/projects/proj/entities/commit/nope"}, 404)
	b.fail(call{method: "GET", path: "/api/v1/projects/proj/collections/ref/nope"}, 404)
}

func TestSubmitBadInput(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("proj", false)
	other := b.project("other", false)
	_, runnerToken := b.runner("r1", "linux")
	foreign := b.submit(other, nil)
	valid := func(extra map[string]any) map[string]any {
		m := map[string]any{"project": "proj", "entityKey": "commit", "entityVal": "abc", "name": "build", "cmd": "true", "tag": "linux"}
		for k, v := range extra {
			if v == nil {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		return m
	}
	cases := []struct {
		name  string
		token string
		body  any
		code  int
		field string
	}{
		{"missing cmd", tok, valid(map[string]any{"cmd": nil}), 400, "cmd"},
		{"missing tag", tok, valid(map[string]any{"tag": nil}), 400, "tag"},
		{"tag with space", tok, valid(map[string]any{"tag": "a b"}), 400, "tag"},
		{"bad entity key", tok, valid(map[string]any{"entityKey": "a/b"}), 400, "entityKey"},
		{"bad name", tok, valid(map[string]any{"name": ""}), 400, "name"},
		{"bad env name", tok, valid(map[string]any{"env": map[string]string{"1X": "a"}}), 400, "env[1X]"},
		{"bad collection", tok, valid(map[string]any{"collections": map[string]string{"ref": "a b"}}), 400, "collections[ref]"},
		{"unknown field", tok, valid(map[string]any{"pipeline": "x"}), 400, "pipeline"},
		{"timeout too big", tok, valid(map[string]any{"timeoutSeconds": 10000000}), 400, "timeoutSeconds"},
		{"precedingNames outside a batch", tok, valid(map[string]any{"precedingNames": []string{"a"}}), 400, "precedingNames"},
		{"preceding job missing", tok, valid(map[string]any{"precedingJobs": []int64{987654}}), 400, "precedingJobs"},
		{"preceding job of another project", tok, valid(map[string]any{"precedingJobs": []int64{foreign.ID}}), 400, "precedingJobs"},
		{"no token", "", valid(nil), 401, ""},
		{"runner token", runnerToken, valid(nil), 403, ""},
		{"token of another project", other, valid(nil), 403, "project"},
		{"admin without project", b.admin, valid(map[string]any{"project": nil}), 400, "project"},
		{"admin, unknown project", b.admin, valid(map[string]any{"project": "nope"}), 400, "project"},
	}
	jobs, entities := b.count("jobs"), b.count("entities")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := b.sub(t)
			e := b.fail(call{method: "POST", path: "/api/v1/jobs", token: tc.token, body: tc.body, invalid: true}, tc.code)
			require.Equal(t, tc.field, e.Field, e.Message)
			require.Equal(t, jobs, b.count("jobs"), "no job may be written")
			require.Equal(t, entities, b.count("entities"), "no entity may be written")
		})
	}
}

func TestDAGPromotionAndCascade(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("proj", false)
	_, run := b.runner("r1", "linux")
	build := b.submit(tok, map[string]any{"name": "build"})
	test := b.submit(tok, map[string]any{"name": "test", "precedingJobs": []int64{build.ID}})
	deploy := b.submit(tok, map[string]any{"name": "deploy", "precedingJobs": []int64{test.ID}})
	// A preceding job named twice counts once.
	twice := b.submit(tok, map[string]any{"name": "twice", "entityVal": "other", "tag": "mac", "precedingJobs": []int64{build.ID, build.ID}})
	require.Equal(t, []int64{build.ID}, twice.PrecedingJobs)
	require.Equal(t, "waiting", test.Status)
	require.Equal(t, build.ID, test.WaitingFor.Jobs[0].ID, "a waiting job says what it waits for")

	b.runNamed(run, "build", 0, "linux")
	require.Equal(t, "queued", b.job(test.ID).Status, "promoted in the same transaction")
	require.Equal(t, "queued", b.job(twice.ID).Status)
	require.Equal(t, "waiting", b.job(deploy.ID).Status)

	failed := b.runNamed(run, "test", 1, "linux")
	require.Equal(t, "failed", failed.Status)
	d := b.job(deploy.ID)
	require.Equal(t, "cancelled", d.Status, "a failure cancels its dependents")
	require.Equal(t, fmt.Sprintf("preceding job test #%d failed", test.ID), d.Reason, "says which job, by name and number")

	// Submitting after the preceding job failed cancels the new job at once.
	late := b.submit(tok, map[string]any{"name": "late", "precedingJobs": []int64{test.ID}})
	require.Equal(t, "cancelled", late.Status)
	require.Equal(t, fmt.Sprintf("preceding job test #%d failed", test.ID), late.Reason)

	var ent struct {
		Status, Summary string
		Counts          struct{ Cancelled, Skipped int }
	}
	b.json(call{method: "GET", path: "/api/v1/projects/proj/entities/commit/abc"}, 200, &ent)
	require.Equal(t, "failure", ent.Status)
	require.Equal(t, "1 failed, 2 skipped, 1 succeeded", ent.Summary, "a skipped job is not called cancelled")
	require.Equal(t, 2, ent.Counts.Cancelled)
	require.Equal(t, 2, ent.Counts.Skipped)

	// Retrying the failed job brings back what its failure cancelled.
	var retried jobResp
	b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/retry", test.ID), token: tok}, 200, &retried)
	require.Equal(t, "queued", retried.Status)
	require.Equal(t, 2, retried.Attempt)
	require.Equal(t, "waiting", b.job(deploy.ID).Status)
	require.Equal(t, "waiting", b.job(late.ID).Status)
	b.runNamed(run, "test", 0, "linux")
	for _, c := range b.claim(run, 10, "linux") {
		b.finish(run, c, 0)
	}
	b.json(call{method: "GET", path: "/api/v1/projects/proj/entities/commit/abc"}, 200, &ent)
	require.Equal(t, "success", ent.Status)
	b.fail(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/retry", 987654), token: tok}, 404)
}

func TestCancelCascadesTransitively(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("proj", false)
	other := b.project("other", false)
	a := b.submit(tok, map[string]any{"name": "a"})
	bb := b.submit(tok, map[string]any{"name": "b", "precedingJobs": []int64{a.ID}})
	c := b.submit(tok, map[string]any{"name": "c", "precedingJobs": []int64{bb.ID}})
	b.fail(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/cancel", a.ID), token: other}, 403)
	b.fail(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/cancel", a.ID)}, 401)
	var got jobResp
	b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/cancel", a.ID), token: tok}, 200, &got)
	require.Equal(t, "cancelled", got.Status)
	require.Equal(t, "cancelled", b.job(bb.ID).Status)
	require.Equal(t, "cancelled", b.job(c.ID).Status)
	b.fail(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/cancel", a.ID), token: tok}, 409)
	b.fail(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/retry", c.ID), token: tok}, 409)
}

func TestBatchSubmit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("proj", false)
	job := func(name string, after ...string) map[string]any {
		j := map[string]any{"entityKey": "commit", "entityVal": "c1", "name": name, "cmd": "true", "tag": "linux"}
		if len(after) > 0 {
			j["precedingNames"] = after
		}
		return j
	}
	var out struct{ Items []jobResp }
	b.json(call{method: "POST", path: "/api/v1/jobs/batch", token: tok, body: map[string]any{"jobs": []any{
		job("deploy", "test-linux", "test-mac"), job("test-linux", "build"), job("test-mac", "build"), job("build"),
	}}}, 201, &out)
	require.Len(t, out.Items, 4)
	require.Equal(t, "deploy", out.Items[0].Name, "answers keep the request's order")
	require.Equal(t, "queued", out.Items[3].Status)
	require.ElementsMatch(t, []int64{out.Items[1].ID, out.Items[2].ID}, out.Items[0].PrecedingJobs)

	jobs := b.count("jobs")
	for name, body := range map[string][]any{
		"cycle":        {job("a", "b"), job("b", "a")},
		"self":         {job("a", "a")},
		"unknown name": {job("a", "zzz")},
		"ambiguous":    {job("a"), job("a"), job("b", "a")},
	} {
		t.Run(name, func(t *testing.T) {
			e := b.sub(t).fail(call{method: "POST", path: "/api/v1/jobs/batch", token: tok, body: map[string]any{"jobs": body}, invalid: true}, 400)
			require.NotEmpty(t, e.Field)
			require.Equal(t, jobs, b.sub(t).count("jobs"))
		})
	}
	b.fail(call{method: "POST", path: "/api/v1/jobs/batch", token: tok, body: map[string]any{"jobs": []any{}}, invalid: true}, 400)
	// One bad job refuses the whole batch.
	bad := job("x")
	bad["tag"] = "has space"
	e := b.fail(call{method: "POST", path: "/api/v1/jobs/batch", token: tok, body: map[string]any{"jobs": []any{job("ok"), bad}}, invalid: true}, 400)
	require.Equal(t, "jobs[1].tag", e.Field)
	require.Equal(t, jobs, b.count("jobs"))
}

func TestEarliestStart(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("proj", false)
	// Far enough ahead that a loaded machine submits it before it is due.
	until := time.Now().Add(2 * time.Second).UTC()
	j := b.submit(tok, map[string]any{"earliestStart": until.Format(time.RFC3339Nano)})
	require.Equal(t, "waiting", j.Status)
	require.NotNil(t, j.WaitingFor.Until)
	require.Empty(t, j.WaitingFor.Jobs)
	require.Eventually(t, func() bool { return b.job(j.ID).Status == "queued" }, 10*time.Second, 20*time.Millisecond)
}

func TestQueue(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("proj", false)
	hidden := b.project("hidden", true)
	a := b.submit(tok, map[string]any{"name": "a", "tag": "linux"})
	b.submit(tok, map[string]any{"name": "b", "tag": "mac"})
	b.submit(tok, map[string]any{"name": "c", "tag": "linux", "precedingJobs": []int64{a.ID}})
	b.submit(hidden, map[string]any{"name": "secret", "tag": "linux"})
	var q struct {
		Items      []jobResp
		NextCursor string
	}
	b.json(call{method: "GET", path: "/api/v1/queue"}, 200, &q)
	require.Len(t, q.Items, 3, "private projects' jobs are hidden from anonymous callers")
	b.json(call{method: "GET", path: "/api/v1/queue", token: b.admin}, 200, &q)
	require.Len(t, q.Items, 4)
	b.json(call{method: "GET", path: "/api/v1/queue?tag=linux&project=proj"}, 200, &q)
	require.Len(t, q.Items, 2)
	b.json(call{method: "GET", path: "/api/v1/queue?status=waiting"}, 200, &q)
	require.Len(t, q.Items, 1)
	require.Equal(t, "c", q.Items[0].Name)
	b.json(call{method: "GET", path: "/api/v1/queue?limit=2", token: b.admin}, 200, &q)
	require.Len(t, q.Items, 2)
	b.json(call{method: "GET", path: "/api/v1/queue?limit=2&cursor=" + q.NextCursor, token: b.admin}, 200, &q)
	require.Len(t, q.Items, 2)
	// Running jobs are asked for apart (TestRunningNow); ended ones are no queue.
	b.fail(call{method: "GET", path: "/api/v1/queue?status=succeeded", invalid: true}, 400)
	b.fail(call{method: "GET", path: "/api/v1/queue?project=hidden"}, 404)
}

func TestEntityPagination(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("proj", false)
	for i := range 7 {
		b.submit(tok, map[string]any{"entityVal": fmt.Sprintf("c%d", i)})
	}
	var vals []string
	cursor := ""
	for {
		var page struct {
			Items      []struct{ Value, Status string }
			NextCursor string
		}
		b.json(call{method: "GET", path: "/api/v1/projects/proj/entities/commit?limit=3&cursor=" + cursor}, 200, &page)
		for _, e := range page.Items {
			vals = append(vals, e.Value)
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	require.Equal(t, "c6,c5,c4,c3,c2,c1,c0", strings.Join(vals, ","), "newest first, each once")
}

func TestJobTokenSubmitsChildren(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("proj", false)
	_, run := b.runner("r1", "linux")
	parent := b.submit(tok, nil)
	c := b.claim(run, 1, "linux")[0]
	require.True(t, strings.HasPrefix(c.Token, "AURA_JOBKEY_"))
	child := b.submit(c.Token, map[string]any{"name": "child", "entityVal": "other"})
	require.Equal(t, parent.ID, *child.ParentJob)
	require.Equal(t, "proj", child.Project)
	b.fail(call{method: "POST", path: "/api/v1/jobs", token: c.Token, invalid: true,
		body: map[string]any{"project": "elsewhere", "entityKey": "k", "entityVal": "v", "name": "n", "cmd": "true", "tag": "linux"}}, 403)
	b.finish(run, c, 0)
	e := b.fail(call{method: "POST", path: "/api/v1/jobs", token: c.Token,
		body: map[string]any{"entityKey": "k", "entityVal": "v", "name": "n", "cmd": "true", "tag": "linux"}}, 401)
	require.Contains(t, e.Message, "expired")
	b.fail(call{method: "POST", path: "/api/v1/jobs", token: c.Token + "x",
		body: map[string]any{"entityKey": "k", "entityVal": "v", "name": "n", "cmd": "true", "tag": "linux"}}, 401)
}

func TestRunnersAndTokens(t *testing.T) {
	t.Parallel()
	b := setup(t)
	projectToken := b.project("proj", false)
	id, tok := b.runner("r1", "native,linux", "docker")
	require.True(t, strings.HasPrefix(tok, "AURA_RUNNERKEY_r1-"))
	b.fail(call{method: "POST", path: "/api/v1/runners", token: b.admin, body: map[string]any{"name": "r1", "tags": []string{"linux"}}}, 409)
	b.fail(call{method: "POST", path: "/api/v1/runners", token: tok, body: map[string]any{"name": "r2", "tags": []string{"linux"}}}, 403)
	b.fail(call{method: "POST", path: "/api/v1/runners", token: b.admin, body: map[string]any{"name": "r 2"}, invalid: true}, 400)
	b.claim(tok, 0, "native,linux", "docker") // a check-in
	var list struct {
		Items []struct {
			Name        string
			Tags        []string
			LastCheckIn *time.Time
		}
	}
	b.json(call{method: "GET", path: "/api/v1/runners"}, 200, &list)
	require.Len(t, list.Items, 1)
	require.Equal(t, []string{"native,linux", "docker"}, list.Items[0].Tags)
	require.NotNil(t, list.Items[0].LastCheckIn)
	// Check-ins are coalesced: polling again at once writes nothing.
	first := *list.Items[0].LastCheckIn
	b.claim(tok, 0, "native,linux", "docker")
	b.json(call{method: "GET", path: "/api/v1/runners"}, 200, &list)
	require.Equal(t, first, *list.Items[0].LastCheckIn)
	b.do(call{method: "DELETE", path: fmt.Sprintf("/api/v1/runners/%d", id), token: b.admin})
	b.fail(call{method: "POST", path: "/api/v1/runner/claim", token: tok, body: map[string]any{"tags": []string{"x"}, "capacity": 1}}, 401)
	b.fail(call{method: "DELETE", path: fmt.Sprintf("/api/v1/runners/%d", id), token: b.admin}, 404)

	var tokens struct {
		Items []struct {
			ID   int64
			Name string
		}
	}
	b.json(call{method: "GET", path: "/api/v1/projects/proj/tokens", token: b.admin}, 200, &tokens)
	require.Len(t, tokens.Items, 1)
	_, body := b.do(call{method: "GET", path: "/api/v1/projects/proj/tokens", token: b.admin})
	require.NotContains(t, string(body), "AURA_PROJECTKEY_", "secrets are shown only once")
	b.fail(call{method: "GET", path: "/api/v1/projects/proj/tokens"}, 401)
	code, _ := b.do(call{method: "DELETE", path: fmt.Sprintf("/api/v1/projects/proj/tokens/%d", tokens.Items[0].ID), token: b.admin})
	require.Equal(t, 204, code)
	b.fail(call{method: "POST", path: "/api/v1/jobs", token: projectToken,
		body: map[string]any{"entityKey": "k", "entityVal": "v", "name": "n", "cmd": "true", "tag": "linux"}}, 401)
}

func TestHealth(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.json(call{method: "GET", path: "/healthz"}, 200, nil)
	b.json(call{method: "GET", path: "/readyz"}, 200, nil)
}

// TestCollectionLatestJobs: a history grid in one request, the newest job of
// each name on each entity of the page.
func TestCollectionLatestJobs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("proj", false)
	_, run := b.runner("r", "linux")
	in := func(val, name string) jobResp {
		return b.submit(tok, map[string]any{"entityVal": val, "name": name, "collections": map[string]string{"ref": "main"}})
	}
	failed := in("c1", "build")
	b.runNamed(run, "build", 1, "linux")
	retry := in("c1", "build") // a newer build of c1
	test := in("c1", "test")
	skipped := b.submit(tok, map[string]any{"entityVal": "c1", "name": "pkg", "precedingJobs": []int64{failed.ID}})
	newer := in("c2", "build")
	var col struct {
		Entities []struct {
			Value      string
			LatestJobs []struct {
				ID                   int64
				Name, Status, Reason string
			}
		}
	}
	b.json(call{method: "GET", path: "/api/v1/projects/proj/collections/ref/main?latestJobs=true"}, 200, &col)
	require.Len(t, col.Entities, 2)
	require.Equal(t, "c2", col.Entities[0].Value)
	require.Len(t, col.Entities[0].LatestJobs, 1)
	require.Equal(t, newer.ID, col.Entities[0].LatestJobs[0].ID)
	got := col.Entities[1].LatestJobs
	require.Len(t, got, 3)
	require.Equal(t, retry.ID, got[0].ID, "the newest build, not the failed one")
	require.Equal(t, "queued", got[0].Status)
	require.Empty(t, got[0].Reason)
	// A skipped job says why, so the grid can show it as skipped.
	require.Equal(t, skipped.ID, got[1].ID)
	require.Equal(t, "cancelled", got[1].Status)
	require.Equal(t, fmt.Sprintf("preceding job build #%d failed", failed.ID), got[1].Reason)
	require.Equal(t, test.ID, got[2].ID)

	_, plain := b.do(call{method: "GET", path: "/api/v1/projects/proj/collections/ref/main"})
	require.NotContains(t, string(plain), "latestJobs", "only when asked for")
	e := b.fail(call{method: "GET", path: "/api/v1/projects/proj/collections/ref/main?latestJobs=yes", invalid: true}, 400)
	require.Equal(t, "latestJobs", e.Field)
}
