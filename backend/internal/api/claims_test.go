package api_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// These tests are attackers' clients against the claims and job tokens: a job
// token is worth only its own hand-out, a runner claims only what it was
// registered for, and the database does not hold what signs job tokens.

// TestUnacknowledgedClaimTokenDies: a runner claims a job and never acknowledges
// it; the job goes back to the queue with the same attempt and another runner
// runs it. The first claimant kept the job token of its hand-out, and with it
// tries every route a job token opens: none may touch the other runner's run.
func TestUnacknowledgedClaimTokenDies(t *testing.T) {
	t.Parallel()
	b := setupWith(t, bundleOptions{ack: 300 * time.Millisecond})
	tok := b.project("proj", false)
	_, first := b.runner("first", "linux")
	_, second := b.runner("second", "linux")
	j := b.submit(tok, map[string]any{"maxAttempts": 1})

	stale := b.claim(first, 1, "linux")[0] // never acknowledged
	require.Eventually(t, func() bool { return b.job(j.ID).Status == "queued" }, 5*time.Second, 20*time.Millisecond)
	var cur []claimed
	require.Eventually(t, func() bool { cur = b.claim(second, 1, "linux"); return len(cur) == 1 }, 5*time.Second, 20*time.Millisecond)
	live := cur[0]
	require.Equal(t, stale.ID, live.ID)
	require.Equal(t, stale.Attempt, live.Attempt, "an unacknowledged claim costs no attempt")
	b.heartbeat(second, live)
	b.json(call{method: "PATCH", path: logPath(live.ID, live.Attempt, 0), token: second,
		raw: []byte("the real run\n"), contentType: "application/octet-stream"}, 200, nil)

	// The stale hand-out's token, on every route: dead (401), nothing changed.
	attacks := []call{
		{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/complete", live.ID), body: map[string]any{"attempt": live.Attempt, "exitCode": 0}},
		{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/heartbeat", live.ID), body: map[string]any{"attempt": live.Attempt}},
		{method: "PATCH", path: logPath(live.ID, live.Attempt, 13), raw: []byte("forged\n"), contentType: "application/octet-stream"},
		{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/cancel", live.ID)},
		{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d", live.ID)},
		{method: "POST", path: "/api/v1/jobs", body: map[string]any{
			"entityKey": "commit", "entityVal": "abc", "name": "forged-child", "cmd": "true", "tag": "linux"}},
		{method: "POST", path: fmt.Sprintf("/api/storage/%d/log", live.ID), raw: []byte("forged\n"), contentType: "text/plain"},
	}
	for _, c := range attacks {
		c.token = stale.Token
		b.fail(c, http.StatusUnauthorized)
	}
	got := b.job(live.ID)
	require.Equal(t, "running", got.Status)
	require.Nil(t, got.ExitCode)
	require.Nil(t, got.CancelRequestedAt)
	require.Equal(t, 1, b.count("jobs"), "no job was submitted with the stale token")
	var log string
	require.NoError(t, b.pool.QueryRow(context.Background(),
		`SELECT string_agg(convert_from(data, 'UTF8'), '' ORDER BY "offset") FROM log_chunks WHERE job_id = $1`, live.ID).Scan(&log))
	require.Equal(t, "the real run\n", log)

	// The live hand-out has a token of its own, which works, and the runner
	// finishes its own run.
	require.NotEqual(t, stale.Token, live.Token, "every hand-out has its own job token")
	b.json(call{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d", live.ID), token: live.Token}, 200, nil)
	require.Equal(t, "failed", b.finish(second, live, 3).Status)
}

// TestReclaimedJobTokenDies: the same holds when a hung-up claim is put back at
// once, and when the same runner is handed the job again: the first token dies.
func TestReclaimedJobTokenDies(t *testing.T) {
	t.Parallel()
	b := setupWith(t, bundleOptions{ack: 300 * time.Millisecond})
	tok := b.project("proj", false)
	_, run := b.runner("r1", "linux")
	j := b.submit(tok, nil)
	stale := b.claim(run, 1, "linux")[0]
	require.Eventually(t, func() bool { return b.job(j.ID).Status == "queued" }, 5*time.Second, 20*time.Millisecond)
	b.fail(call{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d", j.ID), token: stale.Token}, http.StatusUnauthorized)
	var cur []claimed
	require.Eventually(t, func() bool { cur = b.claim(run, 1, "linux"); return len(cur) == 1 }, 5*time.Second, 20*time.Millisecond)
	b.fail(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/heartbeat", j.ID), token: stale.Token,
		body: map[string]any{"attempt": stale.Attempt}}, http.StatusUnauthorized)
	require.NotEqual(t, stale.Token, cur[0].Token)
	b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/heartbeat", j.ID), token: cur[0].Token,
		body: map[string]any{"attempt": cur[0].Attempt}}, 200, nil)
}

// TestRunnerClaimsOnlyItsRegisteredTags: a runner registered for "onlythis" asks
// for another tag, alone or beside its own, on /api/v1 and on the 0.4 route: it
// is refused, naming the tags, and the other project's job and its secret stay
// where they were.
func TestRunnerClaimsOnlyItsRegisteredTags(t *testing.T) {
	t.Parallel()
	b := setup(t)
	prod := b.project("prod", true)
	deploy := b.submit(prod, map[string]any{"name": "deploy-prod", "tag": "deploy",
		"secretEnv": map[string]string{"DEPLOY_KEY": "s3cret-deploy-key"}})
	_, attacker := b.runner("attacker", "onlythis")

	for _, tags := range [][]string{{"deploy"}, {"onlythis", "deploy"}} {
		e := b.fail(call{method: "POST", path: "/api/v1/runner/claim", token: attacker,
			body: map[string]any{"tags": tags, "capacity": 1, "waitSeconds": 0}}, http.StatusForbidden)
		require.Equal(t, "tags", e.Field)
		require.Contains(t, e.Message, `"deploy"`)
		require.Contains(t, e.Message, `"onlythis"`)
	}
	code, body := b.do(call{method: "POST", path: "/api/runner", token: attacker,
		body: map[string]any{"name": "attacker", "tags": []string{"deploy"}, "limit": 1}})
	require.Equal(t, http.StatusForbidden, code, "%s", body)
	require.NotContains(t, string(body), "s3cret")
	require.Equal(t, "queued", b.job(deploy.ID).Status)

	// Its own tag it may claim; a runner with no tags cannot be made.
	require.Empty(t, b.claim(attacker, 1, "onlythis"))
	e := b.fail(call{method: "POST", path: "/api/v1/runners", token: b.admin, body: map[string]any{"name": "untagged"}, invalid: true}, 400)
	require.Equal(t, "tags", e.Field)
}

// TestRunnerLimitedToProjects: a runner registered for some projects never gets
// another project's job, even of its own tag, on /api/v1 and on the 0.4 route.
func TestRunnerLimitedToProjects(t *testing.T) {
	t.Parallel()
	b := setup(t)
	mine := b.project("mine", false)
	other := b.project("other", true)
	theirs := b.submit(other, map[string]any{"name": "theirs", "priority": 10,
		"secretEnv": map[string]string{"TOKEN": "their-secret-token"}})
	ours := b.submit(mine, map[string]any{"name": "ours"})

	var created struct {
		ID       int64
		Token    string
		Projects []string
	}
	b.json(call{method: "POST", path: "/api/v1/runners", token: b.admin,
		body: map[string]any{"name": "bound", "tags": []string{"linux"}, "projects": []string{"mine"}}}, 201, &created)
	require.Equal(t, []string{"mine"}, created.Projects)

	got := b.claim(created.Token, 10, "linux")
	require.Len(t, got, 1)
	require.Equal(t, ours.ID, got[0].ID)
	code, body := b.do(call{method: "POST", path: "/api/runner", token: created.Token,
		body: map[string]any{"name": "bound", "tags": []string{"linux"}, "limit": 10}})
	require.Equal(t, http.StatusOK, code)
	require.NotContains(t, string(body), "their-secret")
	require.Equal(t, "queued", b.job(theirs.ID).Status)

	var list struct {
		Items []struct {
			Name     string
			Projects []string
		}
	}
	b.json(call{method: "GET", path: "/api/v1/runners"}, 200, &list)
	require.Equal(t, []string{"mine"}, list.Items[0].Projects)

	// A project that does not exist is refused, and nothing is registered.
	e := b.fail(call{method: "POST", path: "/api/v1/runners", token: b.admin,
		body: map[string]any{"name": "typo", "tags": []string{"linux"}, "projects": []string{"mine", "nope"}}}, 400)
	require.Equal(t, "projects", e.Field)
	require.Contains(t, e.Message, "nope")
	require.Equal(t, 1, b.count("runners"))
}

// TestJobTokenKeyNotInDatabase: whoever reads the database (a backup, a read-only
// user) finds no key that signs job tokens, and a key such a reader took from an
// older database mints nothing.
func TestJobTokenKeyNotInDatabase(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	tok := b.project("proj", false)
	_, run := b.runner("r1", "linux")
	j := b.submit(tok, map[string]any{"name": "deploy-prod"})
	c := b.claim(run, 1, "linux")[0]
	b.heartbeat(run, c)

	// What an attacker with the database finds: no key material.
	var keys int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM settings WHERE key ILIKE '%key%'`).Scan(&keys))
	require.Zero(t, keys, "the database holds a signing key")

	// A key in plain text in the database (as older versions kept it) signs
	// nothing now, in the token formats old and new.
	old := make([]byte, 32)
	copy(old, "a key left in an old backup.....")
	_, err := b.pool.Exec(ctx, `INSERT INTO settings (key, value) VALUES ('server_key', $1)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, hex.EncodeToString(old))
	require.NoError(t, err)
	mint := func(key []byte, body string) string {
		m := hmac.New(sha256.New, key)
		m.Write([]byte("job:" + body))
		return "AURA_JOBKEY_" + body + "_" + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}
	parts := strings.Split(strings.TrimPrefix(c.Token, "AURA_JOBKEY_"), "_")
	for _, forged := range []string{
		mint(old, fmt.Sprintf("%d_%d", j.ID, c.Attempt)),
		mint(old, fmt.Sprintf("%d_%d_%s", j.ID, c.Attempt, parts[2])),
	} {
		b.fail(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/complete", j.ID), token: forged,
			body: map[string]any{"attempt": c.Attempt, "exitCode": 0}}, http.StatusUnauthorized)
	}
	require.Equal(t, "running", b.job(j.ID).Status)
}

// TestUnacknowledgedClaimLeavesNoLog: a hand-out that wrote log bytes but never
// acknowledged its claim goes back to the queue with the same attempt; the next
// hand-out's log starts empty, at offset 0, with none of the first one's bytes.
func TestUnacknowledgedClaimLeavesNoLog(t *testing.T) {
	t.Parallel()
	b := setupWith(t, bundleOptions{ack: 300 * time.Millisecond})
	tok := b.project("proj", false)
	_, first := b.runner("first", "linux")
	_, second := b.runner("second", "linux")
	j := b.submit(tok, nil)

	stale := b.claim(first, 1, "linux")[0]
	b.json(call{method: "PATCH", path: logPath(stale.ID, stale.Attempt, 0), token: first,
		raw: []byte("the first hand-out's output\n"), contentType: "application/octet-stream"}, 200, nil)
	require.Eventually(t, func() bool { return b.job(j.ID).Status == "queued" }, 5*time.Second, 20*time.Millisecond)
	var cur []claimed
	require.Eventually(t, func() bool { cur = b.claim(second, 1, "linux"); return len(cur) == 1 }, 5*time.Second, 20*time.Millisecond)
	live := cur[0]
	require.Equal(t, stale.Attempt, live.Attempt)
	b.heartbeat(second, live)
	b.json(call{method: "PATCH", path: logPath(live.ID, live.Attempt, 0), token: second,
		raw: []byte("the real run\n"), contentType: "application/octet-stream"}, 200, nil)
	code, body := b.do(call{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d/log", live.ID)})
	require.Equal(t, 200, code)
	require.Equal(t, "the real run\n", string(body))
}
