package api_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

type buildResp struct {
	Key, Value, Title, Status string
	Meta                      struct {
		Message, AuthorName, AuthorLogin, Branch, RequestTitle, CommitURL, RequestURL string
		RequestNumber                                                                 int
	}
	DurationSeconds *float64
	Jobs            []struct {
		ID           int64
		Name, Status string
	}
	JobCount int
}

type buildsResp struct {
	Builds []buildResp
	Next   *string
}

func (b *testBundle) builds(token, project, query string) buildsResp {
	b.t.Helper()
	var out buildsResp
	b.json(call{method: "GET", path: "/api/v1/projects/" + project + "/builds" + query, token: token}, 200, &out)
	return out
}

// TestBuildMetaFromDeliveries: each forge's recorded delivery, through the
// real webhook endpoint, leaves its commit's message, author, branch or
// request and links on the entity the project page lists.
func TestBuildMetaFromDeliveries(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for i, c := range []struct {
		kind, repo, file, event      string
		title, author, branch, req   string
		commitURL, requestURL, login string
	}{
		{"github", "Codertocat/Hello-World", "github/push.json", "push", "Initial commit", "Codertocat", "master", "",
			"https://github.com/Codertocat/Hello-World/commit/6113728f27ae82c7b1a177c8d03f9e96e0adf246", "", "Codertocat"},
		{"github", "Codertocat/Hello-World", "github/pull_request-opened.json", "pull_request",
			"Update the README with new information.", "", "changes", "Update the README with new information.",
			"https://github.com/Codertocat/Hello-World/commit/ec26c3e57ca3a959ca5aad62de7213c562f8c821",
			"https://github.com/Codertocat/Hello-World/pull/2", "Codertocat"},
		{"gitea", "gitea/webhooks", "gitea/push.json", "push", "Webhooks Yay!", "Gitea", "develop", "",
			"http://localhost:3000/gitea/webhooks/commit/bffeb74224043ba2feb48d137756c8a9331c449a", "", "gitea"},
		{"forgejo", "forgejo/webhooks", "forgejo/push.json", "push", "Webhooks Yay!", "Forgejo", "develop", "",
			"http://localhost:3000/forgejo/webhooks/commit/bffeb74224043ba2feb48d137756c8a9331c449a", "", "forgejo"},
		{"gitlab", "awesome_space/awesome_project", "gitlab/merge_request-opened.json", "Merge Request Hook",
			"fixed readme", "GitLab dev user", "ms-viewport", "MS-Viewport",
			"http://example.com/awesome_space/awesome_project/commits/da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
			"http://example.com/diaspora/merge_requests/1", ""},
	} {
		t.Run(c.file, func(t *testing.T) {
			b := b.sub(t)
			slug := fmt.Sprintf("forge%d", i)
			b.project(slug, false)
			in := b.integration(slug, map[string]any{"kind": c.kind, "repository": c.repo})
			body := readFixture(t, c.file)
			code, res, bad := b.hook(in.ID, signedHeaders(c.kind, c.event, in.Secret, body), body)
			require.Equal(t, 200, code, bad.Message)
			require.Len(t, res.Jobs, 1, res.Message)
			got := b.builds("", slug, "")
			require.Len(t, got.Builds, 1)
			bu := got.Builds[0]
			require.Equal(t, c.title, bu.Title)
			require.Equal(t, c.author, bu.Meta.AuthorName)
			require.Equal(t, c.login, bu.Meta.AuthorLogin)
			require.Equal(t, c.branch, bu.Meta.Branch)
			require.Equal(t, c.req, bu.Meta.RequestTitle)
			require.Equal(t, c.commitURL, bu.Meta.CommitURL)
			require.Equal(t, c.requestURL, bu.Meta.RequestURL)
			require.Equal(t, "pending", bu.Status)
			require.Len(t, bu.Jobs, 1)
			// The entity page has the same.
			var e struct {
				Title string
				Meta  struct{ CommitURL string }
			}
			b.json(call{method: "GET", path: "/api/v1/projects/" + slug + "/entities/" + bu.Key + "/" + bu.Value}, 200, &e)
			require.Equal(t, c.title, e.Title)
			require.Equal(t, c.commitURL, e.Meta.CommitURL)
		})
	}
}

// TestBuildsList: newest first, paged by before/next, filtered by collection,
// status and author; a private project's builds are hidden from who may not see it.
func TestBuildsList(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("app", true)
	other := b.project("other", true)
	_, run := b.runner("r", "linux")
	meta := func(author string) map[string]any {
		return map[string]any{"authorName": strings.ToUpper(author), "authorLogin": author, "message": "fix " + author + "\n\nbody"}
	}
	// c1 (ann, main) succeeds, c2 (bob, main) fails, c3 (ann, feature) runs, c4 (bob) waits in the queue.
	b.submit(tok, map[string]any{"entityVal": "c1", "entityTitle": "fix ann", "entityMeta": meta("ann"), "collections": map[string]string{"ref": "main"}})
	b.finish(run, b.claim(run, 1, "linux")[0], 0)
	b.submit(tok, map[string]any{"entityVal": "c2", "entityTitle": "fix bob", "entityMeta": meta("bob"), "collections": map[string]string{"ref": "main"}})
	b.submit(tok, map[string]any{"entityVal": "c2", "name": "test", "entityMeta": map[string]any{"branch": "main"}})
	c := b.claim(run, 2, "linux")
	b.finish(run, c[0], 1)
	b.finish(run, c[1], 0)
	b.submit(tok, map[string]any{"entityVal": "c3", "entityTitle": "feature", "entityMeta": meta("ann"), "collections": map[string]string{"ref": "feature"}})
	b.claim(run, 1, "linux")
	b.submit(tok, map[string]any{"entityVal": "c4", "entityMeta": map[string]any{"authorName": "Bob Without Login"}})

	all := b.builds(tok, "app", "")
	var vals, statuses []string
	for _, bu := range all.Builds {
		vals, statuses = append(vals, bu.Value), append(statuses, bu.Status)
	}
	require.Equal(t, []string{"c4", "c3", "c2", "c1"}, vals)
	require.Equal(t, []string{"pending", "running", "failure", "success"}, statuses)
	require.Nil(t, all.Next)
	c2 := all.Builds[2]
	require.Equal(t, "fix bob", c2.Title)
	require.Equal(t, "fix bob\n\nbody", c2.Meta.Message)
	require.Equal(t, "main", c2.Meta.Branch, "a later submission adds to the meta")
	require.Equal(t, "bob", c2.Meta.AuthorLogin, "and keeps what it does not set")
	require.Equal(t, []string{"failed", "succeeded"}, []string{c2.Jobs[0].Status, c2.Jobs[1].Status})
	require.NotNil(t, c2.DurationSeconds)

	// Pages: two, then two, then none left.
	p1 := b.builds(tok, "app", "?limit=2")
	require.Len(t, p1.Builds, 2)
	require.NotNil(t, p1.Next)
	p2 := b.builds(tok, "app", "?limit=2&before="+url.QueryEscape(*p1.Next))
	require.Equal(t, []string{"c2", "c1"}, []string{p2.Builds[0].Value, p2.Builds[1].Value})
	if p2.Next != nil {
		require.Empty(t, b.builds(tok, "app", "?limit=2&before="+url.QueryEscape(*p2.Next)).Builds)
	}

	values := func(q string) []string {
		var out []string
		for _, bu := range b.builds(tok, "app", q).Builds {
			out = append(out, bu.Value)
		}
		return out
	}
	require.Equal(t, []string{"c2", "c1"}, values("?collection=ref/main"))
	require.Equal(t, []string{"c3"}, values("?collection=ref/feature"))
	require.Equal(t, []string{"c3", "c1"}, values("?author=ann"))
	require.Equal(t, []string{"c2"}, values("?author=bob"))
	require.Equal(t, []string{"c4"}, values("?author="+url.QueryEscape("Bob Without Login")))
	require.Equal(t, []string{"c2"}, values("?status=failure"))
	require.Equal(t, []string{"c3"}, values("?status=running"))
	require.Equal(t, []string{"c1"}, values("?status=success&collection=ref/main"))
	require.Equal(t, []string{"c1"}, values("?status=success&author=ann&limit=1"))

	// Bad filters name themselves; a missing collection is 404.
	require.Equal(t, "status", b.fail(call{method: "GET", path: "/api/v1/projects/app/builds?status=green", token: tok, invalid: true}, 400).Field)
	require.Equal(t, "collection", b.fail(call{method: "GET", path: "/api/v1/projects/app/builds?collection=main", token: tok}, 400).Field)
	require.Equal(t, "before", b.fail(call{method: "GET", path: "/api/v1/projects/app/builds?before=%21%21", token: tok}, 400).Field)
	require.Equal(t, "limit", b.fail(call{method: "GET", path: "/api/v1/projects/app/builds?limit=0", token: tok, invalid: true}, 400).Field)
	b.fail(call{method: "GET", path: "/api/v1/projects/app/builds?collection=ref/none", token: tok}, 404)

	// A private project's builds: not to anonymous callers nor other projects' tokens.
	b.fail(call{method: "GET", path: "/api/v1/projects/app/builds"}, 404)
	b.fail(call{method: "GET", path: "/api/v1/projects/app/builds", token: other}, 404)
	require.Len(t, b.builds(b.admin, "app", "").Builds, 4)
}

// TestSubmitEntityMetaRefused: a title or meta past its size, or a link that
// is no web address, is refused naming the field, and nothing is written.
func TestSubmitEntityMetaRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("app", false)
	base := map[string]any{"entityKey": "commit", "entityVal": "abc", "name": "build", "cmd": "true", "tag": "linux"}
	for field, extra := range map[string]map[string]any{
		"entityTitle":           {"entityTitle": strings.Repeat("t", 1001)},
		"entityMeta.message":    {"entityMeta": map[string]any{"message": strings.Repeat("m", 1001)}},
		"entityMeta.authorName": {"entityMeta": map[string]any{"authorName": strings.Repeat("a", 201)}},
		"entityMeta.commitUrl":  {"entityMeta": map[string]any{"commitUrl": "javascript:alert(1)"}},
		"entityMeta.requestUrl": {"entityMeta": map[string]any{"requestUrl": "ftp://x"}},
	} {
		body := map[string]any{}
		for k, v := range base {
			body[k] = v
		}
		for k, v := range extra {
			body[k] = v
		}
		e := b.fail(call{method: "POST", path: "/api/v1/jobs", token: tok, body: body, invalid: true}, 400)
		require.Equal(t, field, e.Field, e.Message)
	}
	e := b.fail(call{method: "POST", path: "/api/v1/jobs", token: tok, invalid: true,
		body: map[string]any{"entityKey": "commit", "entityVal": "abc", "name": "build", "cmd": "true", "tag": "linux", "entityMeta": map[string]any{"colour": "red"}}}, 400)
	require.Contains(t, e.Message, "colour")
	require.Zero(t, b.count("jobs"))
	require.Zero(t, b.count("entities"))
}

// TestEntityRetryFailedAndCancelAll: "Retry failed" retries the failed jobs
// and the ones skipped for them, not those a person cancelled; "Cancel all"
// cancels what has not ended; only who may retry or cancel jobs may.
func TestEntityRetryFailedAndCancelAll(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("app", false)
	other := b.project("other", false)
	_, run := b.runner("r", "linux")
	lint := b.submit(tok, map[string]any{"name": "lint"})
	test := b.submit(tok, map[string]any{"name": "test"})
	deploy := b.submit(tok, map[string]any{"name": "deploy", "precedingJobs": []int64{test.ID}})
	manual := b.submit(tok, map[string]any{"name": "manual"})
	b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/cancel", manual.ID), token: tok}, 200, nil)
	for _, c := range b.claim(run, 2, "linux") {
		b.finish(run, c, map[string]int{"lint": 0, "test": 2}[c.Name])
	}
	require.Equal(t, "cancelled", b.job(deploy.ID).Status)

	path := "/api/v1/projects/app/entities/commit/abc/"
	b.fail(call{method: "POST", path: path + "retry-failed"}, 401)
	b.fail(call{method: "POST", path: path + "retry-failed", token: other}, 403)
	b.fail(call{method: "POST", path: "/api/v1/projects/app/entities/commit/nope/retry-failed", token: tok}, 404)
	var res struct{ Jobs []int64 }
	b.json(call{method: "POST", path: path + "retry-failed", token: tok}, 200, &res)
	require.Equal(t, []int64{test.ID}, res.Jobs, "deploy comes back with test, as a retry of test brings it")
	require.Equal(t, "queued", b.job(test.ID).Status)
	require.Equal(t, 2, b.job(test.ID).Attempt)
	require.Equal(t, "waiting", b.job(deploy.ID).Status)
	require.Equal(t, "cancelled", b.job(manual.ID).Status, "a job a person cancelled stays cancelled")
	require.Equal(t, "succeeded", b.job(lint.ID).Status)

	// A skipped job whose failed preceding job is in another entity is retried
	// once that one succeeds... and is otherwise left alone, without an error.
	b.json(call{method: "POST", path: path + "retry-failed", token: tok}, 200, &res)
	require.Empty(t, res.Jobs)

	// Cancel all: test is running, deploy waits.
	c := b.claim(run, 1, "linux")
	require.Equal(t, "test", c[0].Name)
	b.fail(call{method: "POST", path: path + "cancel", token: other}, 403)
	b.json(call{method: "POST", path: path + "cancel", token: tok}, 200, &res)
	require.ElementsMatch(t, []int64{test.ID, deploy.ID}, res.Jobs)
	require.Equal(t, "cancelled", b.job(deploy.ID).Status)
	require.NotNil(t, b.job(test.ID).CancelRequestedAt, "the running job is asked to stop")
	b.json(call{method: "POST", path: path + "cancel", token: b.admin}, 200, &res)
	require.Empty(t, res.Jobs)
}

// TestJobAnnotations: a failed job's annotations and last lines, read from
// its log, each with its line number.
func TestJobAnnotations(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("app", true)
	_, run := b.runner("r", "linux")
	j := b.submit(tok, nil)
	c := b.claim(run, 1, "linux")[0]
	var log strings.Builder
	for i := 1; i <= 40; i++ {
		switch i {
		case 3:
			log.WriteString("::warning file=go.mod,line=1::old toolchain\n")
		case 30:
			log.WriteString("\x1b[31m::error file=main_test.go,line=12,col=3,title=TestAdd::want 3, got 4\x1b[0m\n")
		default:
			fmt.Fprintf(&log, "line %d\n", i)
		}
	}
	b.appendLog(run, c.ID, 1, 0, log.String())
	b.finish(run, c, 1)

	var got struct {
		Annotations []struct {
			Level, Message, File, Title string
			Line, Col, LogLine          int
		}
		Tail      []string
		TailStart int
		Lines     int
	}
	b.json(call{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d/annotations", j.ID), token: tok}, 200, &got)
	require.Equal(t, 40, got.Lines)
	require.Len(t, got.Annotations, 2)
	require.Equal(t, "warning", got.Annotations[0].Level)
	require.Equal(t, 3, got.Annotations[0].LogLine)
	e := got.Annotations[1]
	require.Equal(t, []any{"error", "want 3, got 4", "main_test.go", "TestAdd", 12, 3, 30},
		[]any{e.Level, e.Message, e.File, e.Title, e.Line, e.Col, e.LogLine})
	require.Len(t, got.Tail, 20)
	require.Equal(t, 21, got.TailStart)
	require.Equal(t, "::error file=main_test.go,line=12,col=3,title=TestAdd::want 3, got 4", got.Tail[9], "colours dropped")
	require.Equal(t, "line 40", got.Tail[19])

	b.json(call{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d/annotations?tail=2", j.ID), token: tok}, 200, &got)
	require.Equal(t, []string{"line 39", "line 40"}, got.Tail)
	require.Equal(t, "tail", b.fail(call{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d/annotations?tail=500", j.ID), token: tok, invalid: true}, 400).Field)
	b.fail(call{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d/annotations", j.ID)}, 404)
}

// TestRunningNow: the queue lists running jobs apart when asked, and each
// runner says what it runs now (of what the caller may see).
func TestRunningNow(t *testing.T) {
	t.Parallel()
	b := setup(t)
	pub := b.project("pub", false)
	priv := b.project("priv", true)
	runnerID, run := b.runner("r", "linux")
	b.submit(pub, map[string]any{"name": "a"})
	b.submit(priv, map[string]any{"name": "b"})
	b.submit(pub, map[string]any{"name": "c"})
	b.claim(run, 2, "linux")

	var q struct {
		Items []struct {
			Name, Status, RunnerName string
		}
	}
	b.json(call{method: "GET", path: "/api/v1/queue?status=running", token: b.admin}, 200, &q)
	require.Len(t, q.Items, 2)
	for _, it := range q.Items {
		require.Equal(t, "running", it.Status)
		require.Equal(t, "r", it.RunnerName)
	}
	b.json(call{method: "GET", path: "/api/v1/queue", token: b.admin}, 200, &q)
	require.Len(t, q.Items, 1, "the default queue is queued and waiting jobs only")
	require.Equal(t, "c", q.Items[0].Name)

	var rs struct {
		Items []struct {
			ID          int64
			CurrentJobs []struct{ Name, Project string }
		}
	}
	b.json(call{method: "GET", path: "/api/v1/runners", token: b.admin}, 200, &rs)
	require.Equal(t, runnerID, rs.Items[0].ID)
	require.Len(t, rs.Items[0].CurrentJobs, 2)
	b.json(call{method: "GET", path: "/api/v1/runners"}, 200, &rs)
	require.Len(t, rs.Items[0].CurrentJobs, 1, "a private project's running job is not shown to anonymous callers")
	require.Equal(t, "pub", rs.Items[0].CurrentJobs[0].Project)
}
