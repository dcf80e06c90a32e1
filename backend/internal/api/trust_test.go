package api_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/store"
)

// These tests are the attacks and races of the trust review: a job's result, log
// and secrets are exactly what its own runner produced.

func (b *testBundle) heartbeat(runToken string, c claimed) {
	b.t.Helper()
	b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/heartbeat", c.ID), token: runToken,
		body: map[string]any{"attempt": c.Attempt}}, 200, nil)
}

// TestCompatCannotForgeResults: with the 0.4 routes another runner can neither end
// a running job of someone else nor a queued job that never ran, nor write its log.
func TestCompatCannotForgeResults(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("secret", true)
	_, holder := b.runner("holder", "linux")
	_, attacker := b.runner("attacker", "other")
	running := b.submit(tok, nil)
	c := b.claim(holder, 1, "linux")[0]
	b.heartbeat(holder, c)
	queued := b.submit(tok, map[string]any{"name": "never-ran", "tag": "nobody"})

	for _, id := range []int64{running.ID, queued.ID} {
		b.fail(call{method: "POST", path: "/api/job", token: attacker, body: map[string]any{"name": "attacker", "id": id, "exitCode": 0}}, 410)
		b.fail(call{method: "POST", path: fmt.Sprintf("/api/storage/%d/log", id), token: attacker, raw: []byte("forged"), contentType: "text/plain"}, 410)
		b.fail(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/complete", id), token: attacker, body: map[string]any{"attempt": 1, "exitCode": 0}}, 410)
		b.fail(call{method: "PATCH", path: logPath(id, 1, 0), token: attacker, raw: []byte("forged"), contentType: "application/octet-stream"}, 410)
	}
	require.Equal(t, "running", b.job(running.ID).Status)
	require.Equal(t, "queued", b.job(queued.ID).Status)
	require.Nil(t, b.job(queued.ID).ExitCode)
	require.Zero(t, b.count("log_chunks"))

	// The holder itself still finishes it over the 0.4 route.
	b.json(call{method: "POST", path: "/api/job", token: holder, body: map[string]any{"name": "holder", "id": running.ID, "exitCode": 0}}, 200, nil)
	require.Equal(t, "succeeded", b.job(running.ID).Status)
}

// TestLateCompleteAfterLost: the reaper declared the attempt lost (its runner went
// quiet); a late complete is refused and writes nothing.
func TestLateCompleteAfterLost(t *testing.T) {
	t.Parallel()
	b := setupWith(t, bundleOptions{lease: time.Second, ack: time.Second})
	tok := b.project("proj", false)
	_, run := b.runner("r1", "linux")
	j := b.submit(tok, map[string]any{"maxAttempts": 1})
	c := b.claim(run, 1, "linux")[0]
	b.heartbeat(run, c)
	require.Eventually(t, func() bool { return b.job(j.ID).Status == "lost" }, 10*time.Second, 50*time.Millisecond)
	b.fail(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/complete", c.ID), token: run, body: map[string]any{"attempt": 1, "exitCode": 0}}, 410)
	b.fail(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/complete", c.ID), token: c.Token, body: map[string]any{"attempt": 1, "exitCode": 0}}, 401)
	b.fail(call{method: "POST", path: "/api/job", token: run, body: map[string]any{"name": "r1", "id": c.ID, "exitCode": 0}}, 410)
	got := b.job(j.ID)
	require.Equal(t, "lost", got.Status)
	require.Nil(t, got.ExitCode)
}

// TestLogClosedAtEnd: once the attempt ended, neither its runner nor its job token
// can add to the log.
func TestLogClosedAtEnd(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("proj", false)
	_, run := b.runner("r1", "linux")
	j := b.submit(tok, nil)
	c := b.claim(run, 1, "linux")[0]
	b.json(call{method: "PATCH", path: logPath(c.ID, 1, 0), token: run, raw: []byte("mine\n"), contentType: "application/octet-stream"}, 200, nil)
	b.finish(run, c, 0)
	b.fail(call{method: "PATCH", path: logPath(c.ID, 1, 5), token: run, raw: []byte("late"), contentType: "application/octet-stream"}, 410)
	b.fail(call{method: "PATCH", path: logPath(c.ID, 1, 5), token: c.Token, raw: []byte("late"), contentType: "application/octet-stream"}, 401)
	b.fail(call{method: "POST", path: fmt.Sprintf("/api/storage/%d/log", c.ID), token: c.Token, raw: []byte("late"), contentType: "text/plain"}, 401)
	_, body := b.do(call{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d/log", j.ID)})
	require.Equal(t, "mine\n", string(body))
}

// TestEndedJobTokenIsWorthless tries the token of a finished job on every route
// it could reach while the job ran: 401 everywhere.
func TestEndedJobTokenIsWorthless(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("priv", true)
	_, run := b.runner("r1", "linux")
	j := b.submit(tok, nil)
	other := b.submit(tok, map[string]any{"name": "other", "tag": "nobody"})
	c := b.claim(run, 1, "linux")[0]
	b.finish(run, c, 0)
	jt := c.Token
	calls := []call{
		{method: "GET", path: "/api/v1/projects/priv"},
		{method: "GET", path: "/api/v1/projects/priv/entities/commit/abc"},
		{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d", j.ID)},
		{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d/log", j.ID)},
		{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/cancel", other.ID)},
		{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/retry", j.ID)},
		{method: "POST", path: "/api/v1/jobs", body: map[string]any{"entityKey": "commit", "entityVal": "abc", "name": "child", "cmd": "true", "tag": "linux"}},
		{method: "POST", path: "/api/v1/jobs/batch", body: map[string]any{"jobs": []map[string]any{{"entityKey": "commit", "entityVal": "abc", "name": "child", "cmd": "true", "tag": "linux"}}}},
		{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/heartbeat", j.ID), body: map[string]any{"attempt": 1}},
		{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/complete", j.ID), body: map[string]any{"attempt": 1, "exitCode": 0}},
		{method: "PATCH", path: logPath(j.ID, 1, 0), raw: []byte("x"), contentType: "application/octet-stream"},
		{method: "POST", path: "/api/submit", body: map[string]any{"project": "priv", "entityKey": "commit", "entityVal": "abc", "name": "child", "cmd": "true", "tag": "linux"}},
		{method: "GET", path: "/api/v1/queue"},
	}
	for _, c := range calls {
		c.token = jt
		b.fail(c, 401)
	}
	require.Equal(t, "queued", b.job(other.ID).Status)
}

// TestJobTokenScope: a running job's token submits children, reads itself and
// its descendants, and cancels only those; it retries nothing and sees no other
// job of a private project, only the project itself.
func TestJobTokenScope(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("priv", true)
	_, run := b.runner("r1", "linux", "t2")
	parent := b.submit(tok, nil)
	sibling := b.submit(tok, map[string]any{"name": "sibling", "tag": "nobody"})
	c := b.claim(run, 1, "linux")[0]
	require.Equal(t, parent.ID, c.ID)
	b.heartbeat(run, c)
	child := b.submit(c.Token, map[string]any{"name": "child", "tag": "nobody"})
	require.Equal(t, parent.ID, *child.ParentJob)

	var got jobResp
	b.json(call{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d", parent.ID), token: c.Token}, 200, &got)
	b.json(call{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d", child.ID), token: c.Token}, 200, &got)
	b.fail(call{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d", sibling.ID), token: c.Token}, 404)
	// It sees its project, as GET /projects lists it, but nothing the project holds.
	b.json(call{method: "GET", path: "/api/v1/projects/priv", token: c.Token}, 200, nil)
	b.fail(call{method: "GET", path: "/api/v1/projects/priv/entities", token: c.Token}, 403)

	e := b.fail(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/cancel", sibling.ID), token: c.Token}, 404)
	require.NotEmpty(t, e.Message)
	b.fail(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/retry", child.ID), token: c.Token}, 403)
	b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/cancel", child.ID), token: c.Token}, 200, &got)
	require.Equal(t, "cancelled", got.Status)
	require.Equal(t, "queued", b.job(sibling.ID).Status)

	// In a public project it reads like anyone, but still cancels only its own.
	pub := b.project("pub", false)
	other := b.submit(pub, map[string]any{"tag": "nobody"})
	j2 := b.submit(pub, map[string]any{"name": "two", "tag": "t2"})
	c2 := b.claim(run, 1, "t2")[0]
	require.Equal(t, j2.ID, c2.ID)
	b.heartbeat(run, c2)
	b.json(call{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d", other.ID), token: c2.Token}, 200, &got)
	b.fail(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/cancel", other.ID), token: c2.Token}, 403)
}

// TestUnacknowledgedClaimsAreNotAttempts: a claim nobody acknowledges goes back to
// the queue without costing an attempt; past the cap the job fails saying why.
func TestUnacknowledgedClaimsAreNotAttempts(t *testing.T) {
	t.Parallel()
	b := setupWith(t, bundleOptions{ack: 200 * time.Millisecond})
	tok := b.project("proj", false)
	_, run := b.runner("r1", "linux")
	j := b.submit(tok, map[string]any{"maxAttempts": 1})
	for i := 0; i < store.MaxHandouts; i++ {
		var got []claimed
		require.Eventually(t, func() bool { got = b.claim(run, 1, "linux"); return len(got) == 1 }, 5*time.Second, 20*time.Millisecond)
		require.Equal(t, 1, got[0].Attempt)
		cur := b.job(j.ID)
		require.Equal(t, 1, cur.Attempt)
		require.Equal(t, 1, cur.MaxAttempts)
	}
	require.Eventually(t, func() bool { return b.job(j.ID).Status == "failed" }, 5*time.Second, 20*time.Millisecond)
	got := b.job(j.ID)
	require.Contains(t, got.Reason, "never acknowledged")
	require.Equal(t, 1, got.Attempt)
}

// TestFrozenRunnerGetsNoWork: a runner whose lease ran out while its long poll
// stayed open (a frozen process) does not get the re-queued job: a live runner
// does, at once. Once the frozen one shows life again it gets work again.
func TestFrozenRunnerGetsNoWork(t *testing.T) {
	t.Parallel()
	b := setupWith(t, bundleOptions{lease: time.Second, ack: time.Second})
	tok := b.project("proj", false)
	frozenID, frozen := b.runner("frozen", "linux")
	_, live := b.runner("live", "linux")
	j := b.submit(tok, nil)
	c := b.claim(frozen, 1, "linux")[0]
	b.heartbeat(frozen, c)
	// Open, then the process "freezes"; it waits first, so it is woken first.
	frozenPoll := b.pollWaiting(frozenID, frozen, 1, "linux")
	livePoll := b.poll(live, 1, "linux")
	select {
	case got := <-livePoll:
		require.Len(t, got, 1, "the live runner gets the re-queued job")
		require.Equal(t, j.ID, got[0].ID)
		require.Equal(t, 2, got[0].Attempt)
	case got := <-frozenPoll:
		t.Fatalf("the frozen runner's open poll got %v", got)
	case <-time.After(10 * time.Second):
		t.Fatal("nobody got the re-queued job")
	}
	// The frozen runner wakes up: its old attempt is refused, and a new poll works.
	b.fail(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/heartbeat", c.ID), token: frozen, body: map[string]any{"attempt": 1}}, 410)
	b.submit(tok, map[string]any{"name": "next"})
	require.Len(t, b.claim(frozen, 1, "linux"), 1)
}

// TestRetryRacesPrecedingCompletion retries a dependent while its preceding job
// completes, many times: the dependent never waits for ever.
func TestRetryRacesPrecedingCompletion(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("proj", false)
	_, run := b.runner("r1", "linux")
	for i := range 30 {
		val := fmt.Sprint(i)
		pre := b.submit(tok, map[string]any{"entityVal": val})
		dep := b.submit(tok, map[string]any{"entityVal": val, "name": "dep", "precedingJobs": []int64{pre.ID}})
		b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/cancel", dep.ID), token: tok}, 200, nil)
		c := b.claim(run, 1, "linux")[0]
		b.heartbeat(run, c)
		var wg sync.WaitGroup
		wg.Go(func() {
			b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/complete", c.ID), token: run, body: map[string]any{"attempt": 1, "exitCode": 0}}, 200, nil)
		})
		wg.Go(func() {
			b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/retry", dep.ID), token: tok}, 200, nil)
		})
		wg.Wait()
		require.Equal(t, "queued", b.job(dep.ID).Status, "try %d", i)
		b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/cancel", dep.ID), token: tok}, 200, nil)
	}
}

// TestServerMasksSecretForms sends a log straight to the server, as a runner that
// masks nothing would: every form of the secrets is masked, also across chunks,
// and so are the job's and the runner's tokens.
func TestServerMasksSecretForms(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("proj", false)
	_, run := b.runner("r1", "linux")
	const multi = "first-line-of-key\nsecond-line-of-key"
	const single = "pa55word/with+url&chars"
	j := b.submit(tok, map[string]any{"secretEnv": map[string]string{"KEY": multi, "PASS": single}})
	c := b.claim(run, 1, "linux")[0]
	b.heartbeat(run, c)
	encoded := base64.StdEncoding.EncodeToString([]byte(single + "\n"))
	lines := []string{
		"env: KEY=" + multi,
		"tail -1: second-line-of-key",
		"base64: " + encoded,
		"url: " + url.QueryEscape(single),
		`json: {"k":"first-line-of-key\nsecond-line-of-key"}`,
		"tokens: " + c.Token + " " + run,
		"innocent words: first second line key password",
		"split: " + single,
	}
	log := strings.Join(lines, "\n") + "\n"
	// Cut right inside the last secret, so it straddles two chunks.
	cut := strings.LastIndex(log, single) + 5
	b.json(call{method: "PATCH", path: logPath(c.ID, 1, 0), token: run, raw: []byte(log[:cut]), contentType: "application/octet-stream"}, 200, nil)
	b.json(call{method: "PATCH", path: logPath(c.ID, 1, cut), token: run, raw: []byte(log[cut:]), contentType: "application/octet-stream"}, 200, nil)
	_, body := b.do(call{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d/log", j.ID)})
	got := string(body)
	require.Len(t, got, len(log), "masking keeps offsets")
	for _, leak := range []string{"first-line-of-key", "second-line-of-key", strings.TrimRight(encoded, "="), url.QueryEscape(single), single, c.Token, run, single[:5]} {
		require.NotContains(t, got, leak)
	}
	require.Contains(t, got, "innocent words: first second line key password", "nothing else is masked")
}

// TestShortSecretsRefused: a secret too short to mask safely is refused.
func TestShortSecretsRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("proj", false)
	e := b.fail(call{method: "POST", path: "/api/v1/jobs", token: tok, invalid: true, body: map[string]any{
		"entityKey": "commit", "entityVal": "abc", "name": "build", "cmd": "true", "tag": "linux",
		"secretEnv": map[string]string{"AB": "ab"},
	}}, 400)
	require.Equal(t, "secretEnv[AB]", e.Field)
	require.Contains(t, e.Message, "at least 8 characters")
	require.Zero(t, b.count("jobs"))
}

// TestSecretsSealedAtRest: nothing in the database shows a secret value.
func TestSecretsSealedAtRest(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("proj", false)
	const secret = "correct-horse-battery-staple"
	b.submit(tok, map[string]any{"secretEnv": map[string]string{"PASSWORD": secret}})
	var n int
	require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT count(*) FROM jobs WHERE jobs::text LIKE '%' || $1 || '%'`, secret).Scan(&n))
	require.Zero(t, n)
	_, run := b.runner("r1", "linux")
	require.Equal(t, secret, b.claim(run, 1, "linux")[0].SecretEnv["PASSWORD"], "the runner gets it opened")
}

// TestSubmitLimits: a job's children, the depth of job-submits-job chains and a
// batch's size are bounded, with an answer naming the limit and its setting.
func TestSubmitLimits(t *testing.T) {
	t.Parallel()
	b := setupWith(t, bundleOptions{limits: &store.SubmitLimits{ChildrenPerJob: 3, Depth: 2}, maxBatch: 2})
	tok := b.project("proj", false)
	_, run := b.runner("r1", "linux", "deeper", "deepest")
	b.submit(tok, nil)
	c := b.claim(run, 1, "linux")[0]
	b.heartbeat(run, c)
	for i := range 3 {
		b.submit(c.Token, map[string]any{"name": fmt.Sprint("child", i), "tag": "deeper"})
	}
	e := b.fail(call{method: "POST", path: "/api/v1/jobs", token: c.Token, body: map[string]any{
		"entityKey": "commit", "entityVal": "abc", "name": "one-too-many", "cmd": "true", "tag": "linux"}}, 429)
	require.Contains(t, e.Message, "AURA_MAX_CHILDREN")

	// Depth: child (1) submits grandchild (2); the grandchild may not submit.
	c1 := b.claim(run, 1, "deeper")[0]
	b.heartbeat(run, c1)
	b.submit(c1.Token, map[string]any{"name": "grandchild", "tag": "deepest"})
	c2 := b.claim(run, 1, "deepest")[0]
	b.heartbeat(run, c2)
	e = b.fail(call{method: "POST", path: "/api/v1/jobs", token: c2.Token, body: map[string]any{
		"entityKey": "commit", "entityVal": "abc", "name": "too-deep", "cmd": "true", "tag": "linux"}}, 422)
	require.Contains(t, e.Message, "AURA_MAX_DEPTH")

	job := map[string]any{"entityKey": "commit", "entityVal": "abc", "name": "b", "cmd": "true", "tag": "linux"}
	e = b.fail(call{method: "POST", path: "/api/v1/jobs/batch", token: tok, body: map[string]any{"jobs": []any{job, job, job}}}, 422)
	require.Contains(t, e.Message, "AURA_MAX_BATCH")
	require.Equal(t, 5, b.count("jobs"), "nothing of the refused submits was written")
}

// TestUnclaimAfterHangUp: a runner hangs up while its claim is being made; the
// claim still commits, and the server puts the job straight back in the queue
// rather than leaving it to the acknowledgement timeout.
func TestUnclaimAfterHangUp(t *testing.T) {
	t.Parallel()
	b := setupWith(t, bundleOptions{ack: 30 * time.Second})
	tok := b.project("proj", false)
	_, run := b.runner("r1", "linux")
	j := b.submit(tok, nil)

	ctx := context.Background()
	var queuedAt time.Time
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT queued_at FROM jobs WHERE id = $1`, j.ID).Scan(&queuedAt))

	// Hold the claim statement up until the runner has gone.
	tx, err := b.pool.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `LOCK TABLE jobs IN ACCESS EXCLUSIVE MODE`)
	require.NoError(t, err)
	reqCtx, hangUp := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(reqCtx, "POST", b.url+"/api/v1/runner/claim",
		strings.NewReader(`{"tags":["linux"],"capacity":1,"waitSeconds":0}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+run)
	done := make(chan error, 1)
	go func() {
		resp, err := b.client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	// The claim statement is under way, held by the lock.
	require.Eventually(t, func() bool {
		var n int
		err := b.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE $1`, claimLook).Scan(&n)
		return err == nil && n > 0
	}, 10*time.Second, 5*time.Millisecond, "the claim never reached the database")
	hangUp()
	require.Error(t, <-done, "the runner hung up before any answer")
	// The server notices the closed connection on its own read of it, which no
	// test can watch: give it a moment before the claim may commit.
	time.Sleep(200 * time.Millisecond)
	require.NoError(t, tx.Rollback(ctx))

	// The claim commits once the lock is gone, then is undone at once: queued
	// again (a new queued_at), with no runner and no hand-out counted.
	require.Eventually(t, func() bool {
		var status string
		var handouts int
		var runnerID *int64
		var requeued time.Time
		require.NoError(t, b.pool.QueryRow(ctx, `SELECT status, handouts, runner_id, queued_at FROM jobs WHERE id = $1`, j.ID).
			Scan(&status, &handouts, &runnerID, &requeued))
		return status == "queued" && handouts == 0 && runnerID == nil && requeued.After(queuedAt)
	}, 3*time.Second, 20*time.Millisecond, "the job waits for the acknowledgement timeout")
}

// TestRunnerTokenSharedByTwoProcesses: while one aura-runner process has a claim
// open, another process claiming with the same runner token is refused, naming
// both; once the first is gone, the second may claim.
func TestRunnerTokenSharedByTwoProcesses(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, run := b.runner("shared", "linux", "native")
	first := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("POST", b.url+"/api/v1/runner/claim",
			strings.NewReader(`{"tags":["linux"],"capacity":1,"waitSeconds":3,"instance":"host-a:1:aa"}`))
		req.Header.Set("Authorization", "Bearer "+run)
		resp, err := b.client.Do(req)
		if err != nil {
			first <- 0
			return
		}
		resp.Body.Close()
		first <- resp.StatusCode
	}()
	second := call{method: "POST", path: "/api/v1/runner/claim", token: run,
		body: map[string]any{"tags": []string{"native"}, "capacity": 1, "waitSeconds": 0, "instance": "host-b:2:bb"}}
	// The first process's poll is open once its check-in shows (the hold is taken
	// before it); only then does the second ask, so it cannot take the hold first.
	require.Eventually(t, func() bool {
		var list struct {
			Items []struct{ LastCheckIn *time.Time }
		}
		b.json(call{method: "GET", path: "/api/v1/runners", token: b.admin}, 200, &list)
		return len(list.Items) == 1 && list.Items[0].LastCheckIn != nil
	}, 5*time.Second, 10*time.Millisecond)
	e := b.fail(second, http.StatusConflict)
	require.Contains(t, e.Message, "host-a:1:aa")
	require.Contains(t, e.Message, "host-b:2:bb")
	require.Equal(t, http.StatusOK, <-first)
	b.json(second, 200, nil) // the first process is gone: the second may take over
}
