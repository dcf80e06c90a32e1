package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/mux"
	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/api"
	"github.com/aura-ci/aura/backend/internal/auth"
	"github.com/aura-ci/aura/backend/internal/store"
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
	// Users (permFixture.users): by session cookie, except where a token is said.
	"signedOut",  // the cookie of a session of vic's, signed out
	"disabled",   // the cookie of user gone, disabled
	"expiredTok", // a personal token of vic's, expired
	"nonMember",  // user out, a member of no project
	"viewer",     // user vic, viewer of own
	"developer",  // a personal token of user dev, developer of own
	"thisPrj",    // a project token of own
	"maintainer", // user max, maintainer of own
	"adminUser",  // user root, an admin
	"admin",      // the admin token
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
// Without fresh, the callers of a row share one fixture, in column order: a call
// that succeeds changes what the callers after it see (the maintainer deletes
// the project, so the admin user and the admin token then get 404 for it; the
// admin user registers runner "more", so the admin token gets 409).
// fresh: each caller gets its own fixture, as the call changes what the next ones see.
// AURA_PERM_PRINT=1 go test -v -run TestPermission prints each row's answers instead of comparing them.
var permRoutes = map[string]struct {
	path  string
	body  any
	raw   string
	codes string // one per permCallers
	fresh bool
}{
	// Columns: none rev end run oPrj oJob tJob | sOut dis expT nonM view dev | tPrj maint aUser admin
	"GET /healthz": {path: "/healthz", codes: "200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200"},
	"GET /readyz":  {path: "/readyz", codes: "200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200"},
	"GET /metrics": {path: "/metrics", codes: "401 401 401 403 403 403 403 401 401 401 403 403 403 403 403 200 200"},
	"POST /api/v1/hooks/{integration}": {path: "/api/v1/hooks/{integration}", body: map[string]any{},
		codes: "401 401 401 401 401 401 401 401 401 401 401 401 401 401 401 401 401"}, // a forge's signature, never a token
	"POST /api/submit/gitea": {path: "/api/submit/gitea", body: map[string]any{}, codes: "401 401 401 401 401 401 401 401 401 401 401 401 401 401 401 401 401"},
	"POST /api/submit/darke": {path: "/api/submit/darke", body: map[string]any{}, codes: "401 401 401 401 401 401 401 401 401 401 401 401 401 401 401 401 401"},
	"GET /badge/{project}/c/{key}/{val}.svg": {path: "/badge/own/c/ref/main.svg",
		codes: "404 401 401 404 404 403 403 401 401 401 404 200 200 200 200 200 200"},
	"GET /badge/{project}/{key}/{val}.svg": {path: "/badge/own/commit/abc.svg",
		codes: "404 401 401 404 404 403 403 401 401 401 404 200 200 200 200 200 200"},
	"GET /api/v1/me":       {path: "/api/v1/me", codes: "200 401 401 200 200 200 200 401 401 401 200 200 200 200 200 200 200"},
	"GET /api/v1/projects": {path: "/api/v1/projects", codes: "200 401 401 200 200 200 200 401 401 401 200 200 200 200 200 200 200"},
	"GET /api/v1/audit":    {path: "/api/v1/audit", codes: "401 401 401 403 403 403 403 401 401 401 403 403 403 403 403 200 200"},
	"POST /api/v1/projects": {path: "/api/v1/projects", body: map[string]any{"slug": "new", "name": "New"},
		codes: "401 401 401 403 403 403 403 401 401 401 403 403 403 403 403 201 409"},
	"GET /api/v1/projects/{project}": {path: "/api/v1/projects/own",
		codes: "404 401 401 404 404 200 200 401 401 401 404 200 200 200 200 200 200"}, // a job token reads its project, as it lists it
	"PATCH /api/v1/projects/{project}": {path: "/api/v1/projects/own", body: map[string]any{"name": "Own"},
		codes: "401 401 401 403 403 403 403 401 401 401 403 403 403 403 200 200 200"},
	"DELETE /api/v1/projects/{project}": {path: "/api/v1/projects/own",
		codes: "401 401 401 403 403 403 403 401 401 401 403 403 403 403 204 404 404"},
	"GET /api/v1/projects/{project}/entities": {path: "/api/v1/projects/own/entities",
		codes: "404 401 401 404 404 403 403 401 401 401 404 200 200 200 200 200 200"}, // but not what it holds
	"GET /api/v1/projects/{project}/entities/{key}": {path: "/api/v1/projects/own/entities/commit",
		codes: "404 401 401 404 404 403 403 401 401 401 404 200 200 200 200 200 200"},
	"GET /api/v1/projects/{project}/entities/{key}/{val}": {path: "/api/v1/projects/own/entities/commit/abc",
		codes: "404 401 401 404 404 403 403 401 401 401 404 200 200 200 200 200 200"},
	"POST /api/v1/projects/{project}/entities/{key}/{val}/retry-failed": {path: "/api/v1/projects/own/entities/commit/abc/retry-failed",
		codes: "401 401 401 403 404 403 403 401 401 401 403 403 200 200 200 200 200"}, // a job token retries no whole build
	"POST /api/v1/projects/{project}/entities/{key}/{val}/cancel": {path: "/api/v1/projects/own/entities/commit/abc/cancel", fresh: true,
		codes: "401 401 401 403 404 404 404 401 401 401 403 403 200 200 200 200 200"}, // nor cancels one
	"GET /api/v1/projects/{project}/builds": {path: "/api/v1/projects/own/builds",
		codes: "404 401 401 404 404 403 403 401 401 401 404 200 200 200 200 200 200"},
	"GET /api/v1/projects/{project}/collections": {path: "/api/v1/projects/own/collections",
		codes: "404 401 401 404 404 403 403 401 401 401 404 200 200 200 200 200 200"},
	"GET /api/v1/projects/{project}/collections/{key}": {path: "/api/v1/projects/own/collections/ref",
		codes: "404 401 401 404 404 403 403 401 401 401 404 200 200 200 200 200 200"},
	"GET /api/v1/projects/{project}/collections/{key}/{val}": {path: "/api/v1/projects/own/collections/ref/main",
		codes: "404 401 401 404 404 403 403 401 401 401 404 200 200 200 200 200 200"},
	"GET /api/v1/projects/{project}/caches": {path: "/api/v1/projects/own/caches",
		codes: "404 401 401 404 404 403 403 401 401 401 404 200 200 200 200 200 200"},
	"DELETE /api/v1/projects/{project}/caches/{key}": {path: "/api/v1/projects/own/caches/fixture%2Fkey",
		codes: "401 401 401 403 403 403 403 401 401 401 403 403 403 403 204 404 404"}, // a maintainer's
	"GET /api/v1/projects/{project}/tokens": {path: "/api/v1/projects/own/tokens",
		codes: "401 401 401 403 403 403 403 401 401 401 403 403 403 403 200 200 200"},
	"POST /api/v1/projects/{project}/tokens": {path: "/api/v1/projects/own/tokens", body: map[string]any{"name": "more"},
		codes: "401 401 401 403 403 403 403 401 401 401 403 403 403 403 201 201 201"},
	"DELETE /api/v1/projects/{project}/tokens/{id}": {path: "/api/v1/projects/own/tokens/{spare}",
		codes: "401 401 401 403 403 403 403 401 401 401 403 403 403 403 204 404 404"},
	"GET /api/v1/projects/{project}/secrets": {path: "/api/v1/projects/own/secrets",
		codes: "401 401 401 403 403 403 403 401 401 401 403 403 403 403 200 200 200"},
	"PUT /api/v1/projects/{project}/secrets/{name}": {path: "/api/v1/projects/own/secrets/API_KEY", body: map[string]any{"value": "12345678"},
		codes: "401 401 401 403 403 403 403 401 401 401 403 403 403 403 200 200 200"},
	"DELETE /api/v1/projects/{project}/secrets/{name}": {path: "/api/v1/projects/own/secrets/API_KEY",
		codes: "401 401 401 403 403 403 403 401 401 401 403 403 403 403 204 404 404"},
	"GET /api/v1/projects/{project}/integrations": {path: "/api/v1/projects/own/integrations",
		codes: "401 401 401 403 403 403 403 401 401 401 403 403 403 403 200 200 200"},
	"POST /api/v1/projects/{project}/integrations": {path: "/api/v1/projects/own/integrations",
		body:  map[string]any{"kind": "github", "repository": "o/r2", "jobs": []map[string]any{{"name": "b", "cmd": "make", "tag": "linux"}}},
		codes: "401 401 401 403 403 403 403 401 401 401 403 403 403 403 201 201 201"},
	"GET /api/v1/projects/{project}/integrations/{id}": {path: "/api/v1/projects/own/integrations/{integration}",
		codes: "401 401 401 403 403 403 403 401 401 401 403 403 403 403 200 200 200"},
	"PATCH /api/v1/projects/{project}/integrations/{id}": {path: "/api/v1/projects/own/integrations/{integration}", body: map[string]any{},
		codes: "401 401 401 403 403 403 403 401 401 401 403 403 403 403 200 200 200"},
	"DELETE /api/v1/projects/{project}/integrations/{id}": {path: "/api/v1/projects/own/integrations/{integration}",
		codes: "401 401 401 403 403 403 403 401 401 401 403 403 403 403 204 404 404"},
	"POST /api/v1/projects/{project}/integrations/{id}/test": {path: "/api/v1/projects/own/integrations/{integration}/test", body: map[string]any{"sha": strings.Repeat("a", 40)},
		codes: "401 401 401 403 403 403 403 401 401 401 403 403 403 403 409 409 409"},
	"POST /api/v1/projects/{project}/integrations/{id}/run": {path: "/api/v1/projects/own/integrations/{integration}/run", body: map[string]any{"branch": "main"},
		codes: "401 401 401 403 404 201 201 401 401 401 403 403 201 201 201 201 201"},
	"GET /api/v1/projects/{project}/schedules": {path: "/api/v1/projects/own/schedules",
		codes: "404 401 401 404 404 403 403 401 401 401 404 200 200 200 200 200 200"},
	"POST /api/v1/projects/{project}/schedules": {path: "/api/v1/projects/own/schedules", body: permSchedule("new"),
		codes: "401 401 401 403 403 403 403 401 401 401 403 403 403 403 201 409 409"},
	"PATCH /api/v1/projects/{project}/schedules/{id}": {path: "/api/v1/projects/own/schedules/{schedule}", body: map[string]any{"cron": "@hourly"},
		codes: "401 401 401 403 403 403 403 401 401 401 403 403 403 403 200 200 200"},
	"DELETE /api/v1/projects/{project}/schedules/{id}": {path: "/api/v1/projects/own/schedules/{schedule}",
		codes: "401 401 401 403 403 403 403 401 401 401 403 403 403 403 204 404 404"},
	"POST /api/v1/projects/{project}/schedules/{id}/run": {path: "/api/v1/projects/own/schedules/{schedule}/run", body: map[string]any{},
		codes: "401 401 401 403 404 201 201 401 401 401 403 403 201 201 201 201 201"},
	"GET /api/v1/projects/{project}/notifications": {path: "/api/v1/projects/own/notifications",
		codes: "401 401 401 403 403 403 403 401 401 401 403 403 403 403 200 200 200"},
	"POST /api/v1/projects/{project}/notifications": {path: "/api/v1/projects/own/notifications",
		body:  map[string]any{"kind": "slack", "url": "https://hooks.slack.test/T/B/x", "on": []string{"failure"}},
		codes: "401 401 401 403 403 403 403 401 401 401 403 403 403 403 201 201 201"},
	"PATCH /api/v1/projects/{project}/notifications/{id}": {path: "/api/v1/projects/own/notifications/{notification}", body: map[string]any{},
		codes: "401 401 401 403 403 403 403 401 401 401 403 403 403 403 200 200 200"},
	"DELETE /api/v1/projects/{project}/notifications/{id}": {path: "/api/v1/projects/own/notifications/{notification}",
		codes: "401 401 401 403 403 403 403 401 401 401 403 403 403 403 204 404 404"},
	"POST /api/v1/jobs": {path: "/api/v1/jobs", body: permJob,
		codes: "401 401 401 403 403 201 201 401 401 401 403 403 201 201 201 201 201"},
	"POST /api/v1/jobs/batch": {path: "/api/v1/jobs/batch", body: map[string]any{"jobs": []any{permJob}},
		codes: "401 401 401 403 403 201 201 401 401 401 403 403 201 201 201 201 201"},
	"GET /api/v1/jobs/{id}": {path: "/api/v1/jobs/{this}",
		codes: "404 401 401 404 404 404 200 401 401 401 404 200 200 200 200 200 200"},
	"POST /api/v1/jobs/{id}/cancel": {path: "/api/v1/jobs/{this}/cancel", fresh: true,
		codes: "404 401 401 404 404 404 200 401 401 401 404 403 200 200 200 200 200"},
	"POST /api/v1/jobs/{id}/retry": {path: "/api/v1/jobs/{this}/retry",
		codes: "404 401 401 404 404 404 403 401 401 401 404 403 409 409 409 409 409"},
	"POST /api/v1/jobs/{id}/approve": {path: "/api/v1/jobs/{this}/approve",
		codes: "404 401 401 404 404 404 403 401 401 401 404 403 409 409 409 409 409"},
	"GET /api/v1/queue":   {path: "/api/v1/queue", codes: "200 401 401 200 200 200 200 401 401 401 200 200 200 200 200 200 200"},
	"GET /api/v1/runners": {path: "/api/v1/runners", codes: "200 401 401 200 200 200 200 401 401 401 200 200 200 200 200 200 200"},
	"POST /api/v1/runners": {path: "/api/v1/runners", body: map[string]any{"name": "more", "tags": []string{"linux"}},
		codes: "401 401 401 403 403 403 403 401 401 401 403 403 403 403 403 201 409"},
	"DELETE /api/v1/runners/{id}": {path: "/api/v1/runners/{runner}",
		codes: "401 401 401 403 403 403 403 401 401 401 403 403 403 403 403 204 404"},
	"GET /api/v1/tags": {path: "/api/v1/tags", codes: "200 401 401 200 200 200 200 401 401 401 200 200 200 200 200 200 200"},
	"POST /api/v1/runner/claim": {path: "/api/v1/runner/claim", body: map[string]any{"tags": []string{"linux"}, "capacity": 1, "waitSeconds": 0},
		codes: "401 401 401 200 403 403 403 401 401 401 403 403 403 403 403 403 403"},
	"POST /api/v1/runner/cancels": {path: "/api/v1/runner/cancels", body: map[string]any{"jobs": []any{}, "waitSeconds": 0},
		codes: "401 401 401 200 403 403 403 401 401 401 403 403 403 403 403 403 403"},
	"POST /api/v1/jobs/{id}/heartbeat": {path: "/api/v1/jobs/{this}/heartbeat", body: map[string]any{"attempt": 1},
		codes: "401 401 401 200 403 403 200 401 401 401 403 403 403 403 403 403 403"},
	"PATCH /api/v1/jobs/{id}/log": {path: "/api/v1/jobs/{this}/log?attempt=1&offset=0", raw: "hello\n",
		codes: "401 401 401 200 403 403 200 401 401 401 403 403 403 403 403 403 403"},
	"GET /api/v1/jobs/{id}/log": {path: "/api/v1/jobs/{this}/log",
		codes: "404 401 401 404 404 404 200 401 401 401 404 200 200 200 200 200 200"},
	"GET /api/v1/jobs/{id}/log/times": {path: "/api/v1/jobs/{this}/log/times",
		codes: "404 401 401 404 404 404 200 401 401 401 404 200 200 200 200 200 200"},
	"GET /api/v1/jobs/{id}/annotations": {path: "/api/v1/jobs/{this}/annotations",
		codes: "404 401 401 404 404 404 200 401 401 401 404 200 200 200 200 200 200"},
	// Any job of the project downloads what another built, even in a private one.
	"GET /api/v1/jobs/{id}/artifacts": {path: "/api/v1/jobs/{this}/artifacts",
		codes: "404 401 401 404 404 200 200 401 401 401 404 200 200 200 200 200 200"},
	"GET /api/v1/jobs/{id}/artifact-link": {path: "/api/v1/jobs/{this}/artifact-link?path=report.txt",
		codes: "404 401 401 404 404 200 200 401 401 401 404 200 200 200 200 200 200"},
	"GET /api/v1/jobs/{id}/artifacts/{path}": {path: "/api/v1/jobs/{this}/artifacts/report.txt",
		codes: "404 401 401 404 404 200 200 401 401 401 404 200 200 200 200 200 200"},
	// Only the job's own token uploads (400 here: the body has no X-Aura-Sha256).
	"PUT /api/v1/jobs/{id}/artifacts/{path}": {path: "/api/v1/jobs/{this}/artifacts/new.txt", raw: "x",
		codes: "401 401 401 403 403 403 400 401 401 401 403 403 403 403 403 403 403"},
	"POST /api/v1/jobs/{id}/complete": {path: "/api/v1/jobs/{this}/complete", body: map[string]any{"attempt": 1, "exitCode": 0}, fresh: true,
		codes: "401 401 401 200 403 403 200 401 401 401 403 403 403 403 403 403 403"},
	"GET /api/v1/events": {path: "/api/v1/events", codes: "400 401 401 400 400 400 400 401 401 401 400 400 400 400 400 400 400"}, // not an upgrade; TestPermissionTopics covers it
	"GET /api/v1/caches": {path: "/api/v1/caches?key=go-mod/abc", // none saved: 404 past the policy
		codes: "401 401 401 403 403 404 404 401 401 401 403 403 403 403 403 403 403"},
	"PUT /api/v1/caches": {path: "/api/v1/caches?key=go-mod/abc", raw: "archive", // the first save stores, the next is a no-op
		codes: "401 401 401 403 403 201 200 401 401 401 403 403 403 403 403 403 403"},
	// Users, sessions, members and personal tokens. The calls share a fixture:
	// what one caller changes, the later ones see (a deleted project or user is
	// 404 to them, a second user of one name 409).
	"POST /api/v1/session": {path: "/api/v1/session", body: map[string]any{"user": "sam", "password": testPassword},
		codes: "200 401 401 200 200 200 200 200 200 401 200 200 200 200 200 200 200"}, // a dead cookie is no bar to signing in
	"DELETE /api/v1/session": {path: "/api/v1/session", codes: "204 401 401 204 204 204 204 204 204 401 204 204 204 204 204 204 204"},
	"GET /api/v1/users":      {path: "/api/v1/users", codes: "401 401 401 403 403 403 403 401 401 401 403 403 403 403 403 200 200"},
	"POST /api/v1/users": {path: "/api/v1/users", body: map[string]any{"name": "newbie"},
		codes: "401 401 401 403 403 403 403 401 401 401 403 403 403 403 403 201 409"},
	"PATCH /api/v1/users/{user}": {path: "/api/v1/users/vic", body: map[string]any{"displayName": "Vic"},
		codes: "401 401 401 403 403 403 403 401 401 401 403 200 403 403 403 200 200"}, // vic changes their own account
	"DELETE /api/v1/users/{user}": {path: "/api/v1/users/spare",
		codes: "401 401 401 403 403 403 403 401 401 401 403 403 403 403 403 204 404"},
	"POST /api/v1/users/{user}/invitation": {path: "/api/v1/users/spare/invitation",
		codes: "401 401 401 403 403 403 403 401 401 401 403 403 403 403 403 201 201"},
	"GET /api/v1/invitations/{token}": {path: "/api/v1/invitations/{invite}",
		codes: "200 401 401 200 200 200 200 200 200 401 200 200 200 200 200 200 200"}, // the link is the credential
	"POST /api/v1/invitations/{token}": {path: "/api/v1/invitations/{invite}", body: map[string]any{"password": testPassword},
		codes: "200 401 401 404 404 404 404 404 404 401 404 404 404 404 404 404 404"}, // once
	"GET /api/v1/projects/{project}/members": {path: "/api/v1/projects/own/members",
		codes: "401 401 401 403 404 403 403 401 401 401 403 200 200 200 200 200 200"},
	"PUT /api/v1/projects/{project}/members/{user}": {path: "/api/v1/projects/own/members/out", body: map[string]any{"role": "developer"},
		codes: "401 401 401 403 403 403 403 401 401 401 403 403 403 403 200 200 200"},
	"DELETE /api/v1/projects/{project}/members/{user}": {path: "/api/v1/projects/own/members/spare",
		codes: "401 401 401 403 403 403 403 401 401 401 403 403 403 403 204 404 404"},
	"GET /api/v1/me/tokens": {path: "/api/v1/me/tokens", codes: "401 401 401 403 403 403 403 401 401 401 200 200 200 403 200 200 403"},
	"POST /api/v1/me/tokens": {path: "/api/v1/me/tokens", body: map[string]any{"name": "more"},
		codes: "401 401 401 403 403 403 403 401 401 401 201 201 201 403 201 201 403"},
	"DELETE /api/v1/me/tokens/{id}": {path: "/api/v1/me/tokens/{vicToken}",
		codes: "401 401 401 403 403 403 403 401 401 401 404 204 404 403 404 404 403"}, // vic's: nobody else's
	"GET /api/v1/me/sessions": {path: "/api/v1/me/sessions", codes: "401 401 401 403 403 403 403 401 401 401 200 200 200 403 200 200 403"},
	"DELETE /api/v1/me/sessions/{id}": {path: "/api/v1/me/sessions/{vicSession}",
		codes: "401 401 401 403 403 403 403 401 401 401 404 204 404 403 404 404 403"},
	"POST /api/submit": {path: "/api/submit", body: map[string]any{"project": "own", "entityKey": "commit", "entityVal": "abc", "name": "old", "cmd": "true", "tag": "linux"},
		codes: "401 401 401 403 403 200 200 401 401 401 403 403 200 200 200 200 200"},
	"POST /api/runner": {path: "/api/runner", body: map[string]any{"name": "r", "tags": []string{"linux"}, "limit": 0},
		codes: "401 401 401 200 403 403 403 401 401 401 403 403 403 403 403 403 403"},
	"POST /api/job": {path: "/api/job", body: map[string]any{"name": "this", "id": "{this}", "exitCode": 0}, fresh: true,
		codes: "401 401 401 200 403 403 403 401 401 401 403 403 403 403 403 403 403"},
	"POST /api/storage/{jobId}/log": {path: "/api/storage/{this}/log", raw: "hello\n",
		codes: "401 401 401 200 403 403 200 401 401 401 403 403 403 403 403 403 403"},
	// Sign-in (issue 15): the sign-in page's buttons.
	"GET /api/v1/auth/providers": {path: "/api/v1/auth/providers", codes: "200 401 401 200 200 200 200 401 401 401 200 200 200 200 200 200 200"},
}

var permJob = map[string]any{"project": "own", "entityKey": "commit", "entityVal": "abc", "name": "new", "cmd": "true", "tag": "linux"}

// permFixture is a server with one of everything a route may name.
type permFixture struct {
	b       *testBundle
	tokens  map[string]string // by caller
	cookies map[string]string // session secrets, by caller
	vars    map[string]string // {this}, {spare}, {integration}, {schedule}, {runner}, {invite}, {vicToken}, {vicSession}
}

// permPassword is sam's, who signs in on POST /api/v1/session: hashed once.
var permPassword = sync.OnceValue(func() string { return auth.HashPassword(testPassword) })

// addUsers adds the users of the permission table, through the store (no
// password is hashed but sam's, once): root (admin), max (maintainer of own),
// dev (developer), vic (viewer), out (a member of nothing), gone (disabled),
// spare (viewer of own, and invited), sam (with a password).
func (f *permFixture) addUsers(t *testing.T) {
	ctx := context.Background()
	st := f.b.store
	own, err := st.ProjectGet(ctx, "own")
	require.NoError(t, err)
	ids := map[string]int64{}
	for _, name := range []string{"root", "max", "dev", "vic", "out", "gone", "spare", "sam"} {
		p := &store.UserCreateParams{Name: name, Admin: name == "root"}
		if name == "sam" {
			hash := permPassword()
			p.PasswordHash = &hash
		}
		u, err := st.UserCreate(ctx, p, nil)
		require.NoError(t, err)
		ids[name] = u.ID
	}
	for name, role := range map[string]string{"max": "maintainer", "dev": "developer", "vic": "viewer", "spare": "viewer", "gone": "maintainer"} {
		_, err := st.MemberPut(ctx, own.ID, ids[name], role, nil)
		require.NoError(t, err)
	}
	session := func(name string) (string, int64) {
		secret, hash := auth.NewSecret(auth.PrefixSession, "")
		s, err := st.SessionCreate(ctx, &store.SessionCreateParams{UserID: ids[name], Hash: hash, ExpiresAt: time.Now().Add(time.Hour)})
		require.NoError(t, err)
		return secret, s.ID
	}
	token := func(name, label string, expires *time.Time) (string, int64) {
		secret, hash := auth.NewSecret(auth.PrefixUser, name)
		tok, err := st.UserTokenCreate(ctx, ids[name], label, hash, expires, nil)
		require.NoError(t, err)
		return secret, tok.ID
	}
	f.cookies["adminUser"], _ = session("root")
	f.cookies["maintainer"], _ = session("max")
	f.cookies["viewer"], _ = session("vic")
	f.cookies["nonMember"], _ = session("out")
	f.tokens["developer"], _ = token("dev", "cli", nil)
	var gone int64
	f.cookies["signedOut"], gone = session("vic")
	require.NoError(t, st.SessionRevoke(ctx, ids["vic"], gone, nil))
	f.cookies["disabled"], _ = session("gone")
	disabled := true
	_, err = st.UserUpdate(ctx, ids["gone"], &store.UserUpdateParams{Disabled: &disabled}, nil)
	require.NoError(t, err)
	past := time.Now().Add(-time.Minute)
	f.tokens["expiredTok"], _ = token("vic", "old", &past)
	_, id := token("vic", "spare", nil)
	f.vars["{vicToken}"] = fmt.Sprint(id)
	_, id = session("vic")
	f.vars["{vicSession}"] = fmt.Sprint(id)
	invite, hash := auth.NewSecret("", "")
	require.NoError(t, st.InvitationCreate(ctx, ids["spare"], hash, time.Now().Add(time.Hour), nil))
	f.vars["{invite}"] = invite
}

func newPermFixture(t *testing.T) *permFixture {
	b := setup(t)
	f := &permFixture{b: b, tokens: map[string]string{"admin": b.admin}, cookies: map[string]string{}, vars: map[string]string{}}
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
	b.saveCache(f.tokens["thisJob"], "fixture/key", "archive", http.StatusCreated)
	in := b.integration("own", map[string]any{"kind": "github", "repository": "o/r"})
	f.vars["{integration}"] = fmt.Sprint(in.ID)
	var sc struct{ ID int64 }
	b.json(call{method: "POST", path: "/api/v1/projects/own/schedules", token: b.admin, body: permSchedule("nightly")}, 201, &sc)
	f.vars["{schedule}"] = fmt.Sprint(sc.ID)
	var rule struct{ ID int64 }
	b.json(call{method: "POST", path: "/api/v1/projects/own/notifications", token: b.admin, body: map[string]any{
		"kind": "webhook", "url": "https://hooks.test/aura", "on": []string{"failure"}}}, 201, &rule)
	f.vars["{notification}"] = fmt.Sprint(rule.ID)
	b.json(call{method: "PUT", path: "/api/v1/projects/own/secrets/API_KEY", token: b.admin, body: map[string]any{"value": "12345678"}}, 201, nil)
	f.addUsers(t)
	for _, c := range permCallers {
		if c != "none" {
			require.NotEmpty(t, f.tokens[c]+f.cookies[c], c)
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
				c := call{method: method, path: f.fill(row.path), token: f.tokens[caller], cookie: f.cookies[caller], invalid: true}
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
			if os.Getenv("AURA_PERM_PRINT") != "" {
				fmt.Printf("PERMROW %s|%s\n", key, strings.Join(got, " "))
				return
			}
			require.Equal(t, row.codes, strings.Join(got, " "), "%s, callers %v", key, permCallers)
		})
	}
}

// permTopics is who may follow each kind of websocket topic: "ok" subscribes,
// 404 is refused (as a topic that does not exist), 401 is the socket refused.
var permTopics = map[string]string{
	// Columns: none rev end run oPrj oJob tJob | sOut dis expT nonM view dev | tPrj maint aUser admin
	"queue":                   "ok 401 401 ok ok ok ok 401 401 401 ok ok ok ok ok ok ok",
	"runners":                 "ok 401 401 ok ok ok ok 401 401 401 ok ok ok ok ok ok ok",
	"project:own":             "404 401 401 404 404 404 404 401 401 401 404 ok ok ok ok ok ok", // integration events in it: TestEventsIntegration
	"entity:own/commit/abc":   "404 401 401 404 404 404 404 401 401 401 404 ok ok ok ok ok ok",
	"collection:own/ref/main": "404 401 401 404 404 404 404 401 401 401 404 ok ok ok ok ok ok",
	"job:{this}":              "404 401 401 404 404 404 ok 401 401 401 404 ok ok ok ok ok ok", // a job token follows its job, as over REST
	"log:{this}":              "404 401 401 404 404 404 ok 401 401 401 404 ok ok ok ok ok ok",
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
		if c := f.cookies[caller]; c != "" {
			h.Set("Cookie", "aura_session="+c)
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
	if os.Getenv("AURA_PERM_PRINT") != "" {
		for topic := range permTopics {
			fmt.Printf("PERMTOPIC %s|%s\n", topic, strings.Join(got[topic], " "))
		}
		return
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
	// The child's own "queued" may still be on its way (it was submitted before
	// the subscription); the cancel follows it.
	for {
		m := s.nextOf("job")
		require.EqualValues(t, child.ID, m["jobId"])
		if m["status"] == "cancelled" {
			break
		}
		require.Equal(t, "queued", m["status"])
	}
}

func permSchedule(name string) map[string]any {
	return map[string]any{"name": name, "cron": "@daily", "timezone": "UTC", "entityKey": "nightly",
		"jobs": []map[string]any{{"name": "b", "cmd": "make", "tag": "linux"}}}
}
