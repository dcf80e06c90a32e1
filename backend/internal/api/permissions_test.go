package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gorilla/mux"
	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/api"
)

// The callers of the permission table, in the order of its columns (and of the
// calls on one fixture: those that change most come last).
var permCallers = []string{
	"none",     // no token
	"revoked",  // a token of own, deleted
	"ended",    // the job token of a job of own that has ended
	"runner",   // the runner token of the runner that holds the running jobs
	"otherPrj", // a project token of project other
	"otherJob", // the job token of another running job of own
	"thisJob",  // the job token of job this (running, in own)
	"thisPrj",  // a project token of own
	"admin",    // the admin token
}

// permRoutes is the specification of who may call what: every route of the
// router, the status each caller gets. Paths use the fixture of permFixture:
// private projects own and other, job this (running, of own, on commit/abc, in
// collection ref/main), integration and secret API_KEY of own, token spare of own
// (job other runs in own too).
// 401: a token is needed; 403: this token may not; 404: the caller may not
// see the project or job, so it is not named. Other codes past the policy come
// from the request itself (409: retry of a running job, approve of an ungated
// one, a test status without an access token).
// fresh: each caller gets its own fixture, as the call changes what the next ones see.
var permRoutes = map[string]struct {
	path  string
	body  any
	raw   string
	codes string // one per permCallers
	fresh bool
}{
	//                                                                    none rev end run oPrj oJob tJob tPrj admin
	"GET /healthz": {path: "/healthz", codes: "200 200 200 200 200 200 200 200 200"},
	"GET /readyz":  {path: "/readyz", codes: "200 200 200 200 200 200 200 200 200"},
	"POST /api/v1/hooks/{integration}": {path: "/api/v1/hooks/{integration}", body: map[string]any{},
		codes: "401 401 401 401 401 401 401 401 401"}, // a forge's signature, never a token
	"POST /api/submit/gitea": {path: "/api/submit/gitea", body: map[string]any{}, codes: "401 401 401 401 401 401 401 401 401"},
	"POST /api/submit/darke": {path: "/api/submit/darke", body: map[string]any{}, codes: "401 401 401 401 401 401 401 401 401"},
	"GET /badge/{project}/c/{key}/{val}.svg": {path: "/badge/own/c/ref/main.svg",
		codes: "404 401 401 404 404 403 403 200 200"},
	"GET /badge/{project}/{key}/{val}.svg": {path: "/badge/own/commit/abc.svg",
		codes: "404 401 401 404 404 403 403 200 200"},
	"GET /api/v1/me":       {path: "/api/v1/me", codes: "200 401 401 200 200 200 200 200 200"},
	"GET /api/v1/audit":    {path: "/api/v1/audit", codes: "401 401 401 403 403 403 403 403 200"},
	"GET /api/v1/projects": {path: "/api/v1/projects", codes: "200 401 401 200 200 200 200 200 200"},
	"POST /api/v1/projects": {path: "/api/v1/projects", body: map[string]any{"slug": "new", "name": "New"},
		codes: "401 401 401 403 403 403 403 403 201"},
	"GET /api/v1/projects/{project}": {path: "/api/v1/projects/own",
		codes: "404 401 401 404 404 200 200 200 200"}, // a job token reads its project, as it lists it
	"PATCH /api/v1/projects/{project}": {path: "/api/v1/projects/own", body: map[string]any{"name": "Own"},
		codes: "401 401 401 403 403 403 403 403 200"},
	"DELETE /api/v1/projects/{project}": {path: "/api/v1/projects/own",
		codes: "401 401 401 403 403 403 403 403 204"},
	"GET /api/v1/projects/{project}/entities": {path: "/api/v1/projects/own/entities",
		codes: "404 401 401 404 404 403 403 200 200"}, // but not what it holds
	"GET /api/v1/projects/{project}/entities/{key}": {path: "/api/v1/projects/own/entities/commit",
		codes: "404 401 401 404 404 403 403 200 200"},
	"GET /api/v1/projects/{project}/entities/{key}/{val}": {path: "/api/v1/projects/own/entities/commit/abc",
		codes: "404 401 401 404 404 403 403 200 200"},
	"POST /api/v1/projects/{project}/entities/{key}/{val}/retry-failed": {path: "/api/v1/projects/own/entities/commit/abc/retry-failed",
		codes: "401 401 401 403 404 403 403 200 200"}, // a job token retries no whole build
	"POST /api/v1/projects/{project}/entities/{key}/{val}/cancel": {path: "/api/v1/projects/own/entities/commit/abc/cancel", fresh: true,
		codes: "401 401 401 403 404 404 404 200 200"}, // nor cancels one
	"GET /api/v1/projects/{project}/builds": {path: "/api/v1/projects/own/builds",
		codes: "404 401 401 404 404 403 403 200 200"},
	"GET /api/v1/projects/{project}/collections": {path: "/api/v1/projects/own/collections",
		codes: "404 401 401 404 404 403 403 200 200"},
	"GET /api/v1/projects/{project}/collections/{key}": {path: "/api/v1/projects/own/collections/ref",
		codes: "404 401 401 404 404 403 403 200 200"},
	"GET /api/v1/projects/{project}/collections/{key}/{val}": {path: "/api/v1/projects/own/collections/ref/main",
		codes: "404 401 401 404 404 403 403 200 200"},
	"GET /api/v1/projects/{project}/tokens": {path: "/api/v1/projects/own/tokens",
		codes: "401 401 401 403 403 403 403 403 200"},
	"POST /api/v1/projects/{project}/tokens": {path: "/api/v1/projects/own/tokens", body: map[string]any{"name": "more"},
		codes: "401 401 401 403 403 403 403 403 201"},
	"DELETE /api/v1/projects/{project}/tokens/{id}": {path: "/api/v1/projects/own/tokens/{spare}",
		codes: "401 401 401 403 403 403 403 403 204"},
	"GET /api/v1/projects/{project}/secrets": {path: "/api/v1/projects/own/secrets",
		codes: "401 401 401 403 403 403 403 403 200"},
	"PUT /api/v1/projects/{project}/secrets/{name}": {path: "/api/v1/projects/own/secrets/API_KEY", body: map[string]any{"value": "12345678"},
		codes: "401 401 401 403 403 403 403 403 200"},
	"DELETE /api/v1/projects/{project}/secrets/{name}": {path: "/api/v1/projects/own/secrets/API_KEY",
		codes: "401 401 401 403 403 403 403 403 204"},
	"GET /api/v1/projects/{project}/integrations": {path: "/api/v1/projects/own/integrations",
		codes: "401 401 401 403 403 403 403 403 200"},
	"POST /api/v1/projects/{project}/integrations": {path: "/api/v1/projects/own/integrations",
		body:  map[string]any{"kind": "github", "repository": "o/r2", "jobs": []map[string]any{{"name": "b", "cmd": "make", "tag": "linux"}}},
		codes: "401 401 401 403 403 403 403 403 201"},
	"GET /api/v1/projects/{project}/integrations/{id}": {path: "/api/v1/projects/own/integrations/{integration}",
		codes: "401 401 401 403 403 403 403 403 200"},
	"PATCH /api/v1/projects/{project}/integrations/{id}": {path: "/api/v1/projects/own/integrations/{integration}", body: map[string]any{},
		codes: "401 401 401 403 403 403 403 403 200"},
	"DELETE /api/v1/projects/{project}/integrations/{id}": {path: "/api/v1/projects/own/integrations/{integration}",
		codes: "401 401 401 403 403 403 403 403 204"},
	"POST /api/v1/projects/{project}/integrations/{id}/test": {path: "/api/v1/projects/own/integrations/{integration}/test", body: map[string]any{"sha": strings.Repeat("a", 40)},
		codes: "401 401 401 403 403 403 403 403 409"},
	"GET /api/v1/projects/{project}/notifications": {path: "/api/v1/projects/own/notifications",
		codes: "401 401 401 403 403 403 403 403 200"},
	"POST /api/v1/projects/{project}/notifications": {path: "/api/v1/projects/own/notifications",
		body:  map[string]any{"kind": "slack", "url": "https://hooks.slack.test/T/B/x", "on": []string{"failure"}},
		codes: "401 401 401 403 403 403 403 403 201"},
	"PATCH /api/v1/projects/{project}/notifications/{id}": {path: "/api/v1/projects/own/notifications/{notification}", body: map[string]any{},
		codes: "401 401 401 403 403 403 403 403 200"},
	"DELETE /api/v1/projects/{project}/notifications/{id}": {path: "/api/v1/projects/own/notifications/{notification}",
		codes: "401 401 401 403 403 403 403 403 204"},
	"POST /api/v1/jobs": {path: "/api/v1/jobs", body: permJob,
		codes: "401 401 401 403 403 201 201 201 201"},
	"POST /api/v1/jobs/batch": {path: "/api/v1/jobs/batch", body: map[string]any{"jobs": []any{permJob}},
		codes: "401 401 401 403 403 201 201 201 201"},
	"GET /api/v1/jobs/{id}": {path: "/api/v1/jobs/{this}",
		codes: "404 401 401 404 404 404 200 200 200"},
	"POST /api/v1/jobs/{id}/cancel": {path: "/api/v1/jobs/{this}/cancel", fresh: true,
		codes: "404 401 401 404 404 404 200 200 200"},
	"POST /api/v1/jobs/{id}/retry": {path: "/api/v1/jobs/{this}/retry",
		codes: "404 401 401 404 404 404 403 409 409"},
	"POST /api/v1/jobs/{id}/approve": {path: "/api/v1/jobs/{this}/approve",
		codes: "404 401 401 404 404 404 403 409 409"},
	"GET /api/v1/queue":   {path: "/api/v1/queue", codes: "200 401 401 200 200 200 200 200 200"},
	"GET /api/v1/runners": {path: "/api/v1/runners", codes: "200 401 401 200 200 200 200 200 200"},
	"POST /api/v1/runners": {path: "/api/v1/runners", body: map[string]any{"name": "more", "tags": []string{"linux"}},
		codes: "401 401 401 403 403 403 403 403 201"},
	"DELETE /api/v1/runners/{id}": {path: "/api/v1/runners/{runner}",
		codes: "401 401 401 403 403 403 403 403 204"},
	"GET /api/v1/tags": {path: "/api/v1/tags", codes: "200 401 401 200 200 200 200 200 200"},
	"POST /api/v1/runner/claim": {path: "/api/v1/runner/claim", body: map[string]any{"tags": []string{"linux"}, "capacity": 1, "waitSeconds": 0},
		codes: "401 401 401 200 403 403 403 403 403"},
	"POST /api/v1/runner/cancels": {path: "/api/v1/runner/cancels", body: map[string]any{"jobs": []any{}, "waitSeconds": 0},
		codes: "401 401 401 200 403 403 403 403 403"},
	"POST /api/v1/jobs/{id}/heartbeat": {path: "/api/v1/jobs/{this}/heartbeat", body: map[string]any{"attempt": 1},
		codes: "401 401 401 200 403 403 200 403 403"},
	"PATCH /api/v1/jobs/{id}/log": {path: "/api/v1/jobs/{this}/log?attempt=1&offset=0", raw: "hello\n",
		codes: "401 401 401 200 403 403 200 403 403"},
	"GET /api/v1/jobs/{id}/log": {path: "/api/v1/jobs/{this}/log",
		codes: "404 401 401 404 404 404 200 200 200"},
	"GET /api/v1/jobs/{id}/log/times": {path: "/api/v1/jobs/{this}/log/times",
		codes: "404 401 401 404 404 404 200 200 200"},
	"GET /api/v1/jobs/{id}/annotations": {path: "/api/v1/jobs/{this}/annotations",
		codes: "404 401 401 404 404 404 200 200 200"},
	// Any job of the project downloads what another built, even in a private one.
	"GET /api/v1/jobs/{id}/artifacts": {path: "/api/v1/jobs/{this}/artifacts",
		codes: "404 401 401 404 404 200 200 200 200"},
	"GET /api/v1/jobs/{id}/artifacts/{path}": {path: "/api/v1/jobs/{this}/artifacts/report.txt",
		codes: "404 401 401 404 404 200 200 200 200"},
	// Only the job's own token uploads (400 here: the body has no X-Aura-Sha256).
	"PUT /api/v1/jobs/{id}/artifacts/{path}": {path: "/api/v1/jobs/{this}/artifacts/new.txt", raw: "x",
		codes: "401 401 401 403 403 403 400 403 403"},
	"POST /api/v1/jobs/{id}/complete": {path: "/api/v1/jobs/{this}/complete", body: map[string]any{"attempt": 1, "exitCode": 0}, fresh: true,
		codes: "401 401 401 200 403 403 200 403 403"},
	"GET /api/v1/events": {path: "/api/v1/events", codes: "400 401 401 400 400 400 400 400 400"}, // not an upgrade; TestPermissionTopics covers it
	"GET /api/v1/caches": {path: "/api/v1/caches?key=go-mod/abc", // none saved: 404 past the policy
		codes: "401 401 401 403 403 404 404 403 403"},
	"PUT /api/v1/caches": {path: "/api/v1/caches?key=go-mod/abc", raw: "archive", // the first save stores, the next is a no-op
		codes: "401 401 401 403 403 201 200 403 403"},
	"POST /api/submit": {path: "/api/submit", body: map[string]any{"project": "own", "entityKey": "commit", "entityVal": "abc", "name": "old", "cmd": "true", "tag": "linux"},
		codes: "401 401 401 403 403 200 200 200 200"},
	"POST /api/runner": {path: "/api/runner", body: map[string]any{"name": "r", "tags": []string{"linux"}, "limit": 0},
		codes: "401 401 401 200 403 403 403 403 403"},
	"POST /api/job": {path: "/api/job", body: map[string]any{"name": "this", "id": "{this}", "exitCode": 0}, fresh: true,
		codes: "401 401 401 200 403 403 403 403 403"},
	"POST /api/storage/{jobId}/log": {path: "/api/storage/{this}/log", raw: "hello\n",
		codes: "401 401 401 200 403 403 200 403 403"},
	// Sign-in (issue 15): the sign-in page's buttons.
	"GET /api/v1/auth/providers": {path: "/api/v1/auth/providers", codes: "200 401 401 200 200 200 200 200 200"},
}

var permJob = map[string]any{"project": "own", "entityKey": "commit", "entityVal": "abc", "name": "new", "cmd": "true", "tag": "linux"}

// permFixture is a server with one of everything a route may name.
type permFixture struct {
	b      *testBundle
	tokens map[string]string // by caller
	vars   map[string]string // {this}, {spare}, {integration}, {runner}
}

func newPermFixture(t *testing.T) *permFixture {
	b := setup(t)
	f := &permFixture{b: b, tokens: map[string]string{"admin": b.admin}, vars: map[string]string{}}
	f.tokens["thisPrj"] = b.project("own", true)
	f.tokens["otherPrj"] = b.project("other", true)
	var tok struct {
		ID    int64
		Token string
	}
	b.json(call{method: "POST", path: "/api/v1/projects/own/tokens", token: b.admin, body: map[string]any{"name": "gone"}}, 201, &tok)
	b.json(call{method: "DELETE", path: fmt.Sprintf("/api/v1/projects/own/tokens/%d", tok.ID), token: b.admin}, 204, nil)
	f.tokens["revoked"] = tok.Token
	b.json(call{method: "POST", path: "/api/v1/projects/own/tokens", token: b.admin, body: map[string]any{"name": "spare"}}, 201, &tok)
	f.vars["{spare}"] = fmt.Sprint(tok.ID)
	runnerID, run := b.runner("r", "linux")
	f.tokens["runner"] = run
	f.vars["{runner}"] = fmt.Sprint(runnerID)

	b.submit(f.tokens["thisPrj"], map[string]any{"name": "ended", "collections": map[string]string{"ref": "main"}})
	ended := b.claim(run, 1, "linux")
	b.finish(run, ended[0], 0)
	f.tokens["ended"] = ended[0].Token
	this := b.submit(f.tokens["thisPrj"], map[string]any{"name": "this"})
	other := b.submit(f.tokens["thisPrj"], map[string]any{"name": "other"})
	f.vars["{other}"] = fmt.Sprint(other.ID)
	for _, c := range b.claim(run, 2, "linux") {
		f.tokens[c.Name+"Job"] = c.Token
	}
	f.vars["{this}"] = fmt.Sprint(this.ID)
	code, body := b.putArtifact(f.tokens["thisJob"], this.ID, "report.txt", []byte("report"), nil)
	require.Equal(t, 201, code, "%s", body)
	in := b.integration("own", map[string]any{"kind": "github", "repository": "o/r"})
	f.vars["{integration}"] = fmt.Sprint(in.ID)
	var rule struct{ ID int64 }
	b.json(call{method: "POST", path: "/api/v1/projects/own/notifications", token: b.admin, body: map[string]any{
		"kind": "webhook", "url": "https://hooks.test/aura", "on": []string{"failure"}}}, 201, &rule)
	f.vars["{notification}"] = fmt.Sprint(rule.ID)
	b.json(call{method: "PUT", path: "/api/v1/projects/own/secrets/API_KEY", token: b.admin, body: map[string]any{"value": "12345678"}}, 201, nil)
	for _, c := range permCallers {
		if c != "none" {
			require.NotEmpty(t, f.tokens[c], c)
		}
	}
	return f
}

func (f *permFixture) fill(s string) string {
	for k, v := range f.vars {
		s = strings.ReplaceAll(s, k, v)
	}
	return s
}

// routeKeys lists every route of the router as "METHOD template".
func routeKeys(t *testing.T) []string {
	var keys []string
	err := api.NewRouter(api.Deps{}).Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := route.GetPathTemplate()
		if err != nil {
			return nil
		}
		tpl = routeVarPattern.ReplaceAllString(tpl, "{$1}")
		methods, err := route.GetMethods()
		if err != nil {
			return nil
		}
		for _, m := range methods {
			keys = append(keys, m+" "+tpl)
		}
		return nil
	})
	require.NoError(t, err)
	slices.Sort(keys)
	return keys
}

// TestPermissionRoutes walks every route of the router with every kind of
// caller and compares the answers with permRoutes. A route without a row fails.
func TestPermissionRoutes(t *testing.T) {
	t.Parallel()
	keys := routeKeys(t)
	var missing []string
	for _, k := range keys {
		if _, ok := permRoutes[k]; !ok {
			missing = append(missing, k)
		}
	}
	require.Empty(t, missing, "routes without a row in permRoutes: say who may call them")
	require.Len(t, permRoutes, len(keys), "permRoutes has rows for routes that do not exist")
	for _, key := range keys {
		row := permRoutes[key]
		method, _, _ := strings.Cut(key, " ")
		want := strings.Fields(row.codes)
		require.Len(t, want, len(permCallers), key)
		t.Run(key, func(t *testing.T) {
			t.Parallel()
			var f *permFixture
			var got []string
			for _, caller := range permCallers {
				if f == nil || row.fresh {
					f = newPermFixture(t)
				}
				c := call{method: method, path: f.fill(row.path), token: f.tokens[caller], invalid: true}
				switch {
				case row.raw != "":
					c.raw, c.contentType = []byte(row.raw), "application/octet-stream"
				case row.body != nil:
					c.raw = []byte(f.fill(mustJSON(t, row.body)))
				}
				code, body := f.b.sub(t).do(c)
				got = append(got, fmt.Sprint(code))
				if fmt.Sprint(code) != want[len(got)-1] {
					t.Logf("%s as %s: %d %s", key, caller, code, body)
				}
			}
			require.Equal(t, row.codes, strings.Join(got, " "), "%s, callers %v", key, permCallers)
		})
	}
}

// permTopics is who may follow each kind of websocket topic: "ok" subscribes,
// 404 is refused (as a topic that does not exist), 401 is the socket refused.
var permTopics = map[string]string{
	//                                      none rev end run oPrj oJob tJob tPrj admin
	"queue":                   "ok 401 401 ok ok ok ok ok ok",
	"runners":                 "ok 401 401 ok ok ok ok ok ok",
	"project:own":             "404 401 401 404 404 404 404 ok ok", // integration events in it: TestEventsIntegration
	"entity:own/commit/abc":   "404 401 401 404 404 404 404 ok ok",
	"collection:own/ref/main": "404 401 401 404 404 404 404 ok ok",
	"job:{this}":              "404 401 401 404 404 404 ok ok ok", // a job token follows its job, as over REST
	"log:{this}":              "404 401 401 404 404 404 ok ok ok",
}

// TestPermissionTopics subscribes every kind of caller to every kind of topic
// and compares the answers with permTopics.
func TestPermissionTopics(t *testing.T) {
	t.Parallel()
	f := newPermFixture(t)
	got := map[string][]string{}
	for _, caller := range permCallers {
		h := http.Header{}
		if tok := f.tokens[caller]; tok != "" {
			h.Set("Authorization", "Bearer "+tok)
		}
		conn, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(f.b.url, "http")+"/api/v1/events", h)
		if err != nil {
			require.NotNil(t, resp, caller)
			resp.Body.Close()
			for topic := range permTopics {
				got[topic] = append(got[topic], fmt.Sprint(resp.StatusCode))
			}
			continue
		}
		resp.Body.Close()
		for topic := range permTopics {
			require.NoError(t, conn.WriteJSON(map[string]any{"op": "subscribe", "topic": f.fill(topic)}))
			for {
				var m map[string]any
				require.NoError(t, conn.ReadJSON(&m))
				if m["topic"] != f.fill(topic) || (m["type"] != "subscribed" && m["type"] != "error") {
					continue // an event, or a log catch-up
				}
				if m["type"] == "subscribed" {
					got[topic] = append(got[topic], "ok")
				} else {
					got[topic] = append(got[topic], fmt.Sprint(m["code"]))
				}
				break
			}
		}
		conn.Close()
	}
	for topic, want := range permTopics {
		require.Equal(t, want, strings.Join(got[topic], " "), "%s, callers %v", topic, permCallers)
	}
}

// mustJSON marshals v; a "{var}" string in it becomes the bare value, so an id stays a number.
func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return strings.NewReplacer(`"{this}"`, `{this}`).Replace(string(b))
}

// TestEventsJobTokenFollowsItsJobs: a job token follows its own job and the jobs
// it submitted, live, in a private project, as it reads them over REST; and
// not another job of that project.
func TestEventsJobTokenFollowsItsJobs(t *testing.T) {
	t.Parallel()
	f := newPermFixture(t)
	b := f.b
	var child jobResp
	b.json(call{method: "POST", path: "/api/v1/jobs", token: f.tokens["thisJob"],
		body: map[string]any{"entityKey": "commit", "entityVal": "abc", "name": "child", "cmd": "true", "tag": "none"}}, 201, &child)
	s := openEvents(t, b.url, f.tokens["thisJob"])
	s.subscribe(f.fill("job:{this}"))
	s.subscribe(fmt.Sprintf("job:%d", child.ID))
	s.send(map[string]any{"op": "subscribe", "topic": f.fill("job:{other}")})
	require.EqualValues(t, 404, s.nextOf("error")["code"], "another job of the project")
	b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/cancel", child.ID), token: f.tokens["thisJob"]}, 200, nil)
	m := s.nextOf("job")
	require.EqualValues(t, child.ID, m["jobId"])
	require.Equal(t, "cancelled", m["status"])
}
