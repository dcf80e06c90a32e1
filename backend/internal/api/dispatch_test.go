package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

func logPath(id int64, attempt, offset int) string {
	return fmt.Sprintf("/api/v1/jobs/%d/log?attempt=%d&offset=%d", id, attempt, offset)
}

// pollWaiting starts a long poll as poll does, and returns once it waits for
// work (the dispatcher's WaiterRegistered signal): a job queued from then on
// must wake it, since the poll's first look found nothing.
func (b *testBundle) pollWaiting(runnerID int64, token string, capacity int, tags ...string) <-chan []claimed {
	b.t.Helper()
	registered := &b.disp.TestSignals.WaiterRegistered
	registered.Init(b.t) // a fresh channel: no signal of an earlier poll counts
	got := b.poll(token, capacity, tags...)
	registered.WaitFor(func(id int64) bool { return id == runnerID })
	return got
}

// poll starts a 20 s long-poll claim in the background; its answer arrives on
// the channel (nil if the request failed). It runs off the test's goroutine, so
// it reports through the channel, never through require.
func (b *testBundle) poll(token string, capacity int, tags ...string) <-chan []claimed {
	got := make(chan []claimed, 1)
	body, _ := json.Marshal(map[string]any{"tags": tags, "capacity": capacity, "waitSeconds": 20})
	go func() {
		req, _ := http.NewRequest("POST", b.url+"/api/v1/runner/claim", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := b.client.Do(req)
		if err != nil {
			got <- nil
			return
		}
		defer resp.Body.Close()
		var out struct{ Jobs []claimed }
		_ = jsonDecode(resp, &out)
		got <- out.Jobs
	}()
	return got
}

func TestLongPollWakesOnSubmit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("proj", false)
	runID, run := b.runner("r1", "linux", "mac")
	got := b.pollWaiting(runID, run, 2, "mac", "linux")
	j := b.submit(tok, nil)
	select {
	case jobs := <-got:
		require.Len(t, jobs, 1)
		require.Equal(t, j.ID, jobs[0].ID)
	case <-time.After(5 * time.Second):
		t.Fatal("the long poll was not woken by the submit")
	}
	// A long poll with nothing to do ends empty after its wait.
	var resp struct{ Jobs []claimed }
	b.json(call{method: "POST", path: "/api/v1/runner/claim", token: run,
		body: map[string]any{"tags": []string{"linux"}, "capacity": 1, "waitSeconds": 1}}, 200, &resp)
	require.Empty(t, resp.Jobs)
}

func TestClaimOrderAndTags(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("proj", false)
	_, run := b.runner("r1", "linux", "mac")
	b.submit(tok, map[string]any{"name": "mac-job", "tag": "mac"})
	b.submit(tok, map[string]any{"name": "low", "tag": "linux"})
	b.submit(tok, map[string]any{"name": "high", "tag": "linux", "priority": 10})
	b.submit(tok, map[string]any{"name": "other", "tag": "windows"})
	jobs := b.claim(run, 10, "linux", "mac")
	names := []string{}
	for _, j := range jobs {
		names = append(names, j.Name)
	}
	require.Equal(t, []string{"high", "low", "mac-job"}, names, "tags in the runner's order, then priority, then age")
}

func TestHeartbeatLogAndComplete(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("proj", false)
	_, run := b.runner("r1", "linux")
	_, other := b.runner("r2", "linux")
	j := b.submit(tok, map[string]any{"secretEnv": map[string]string{"TOKEN": "s3cr3t-value"}})
	c := b.claim(run, 1, "linux")[0]
	require.Equal(t, "s3cr3t-value", c.SecretEnv["TOKEN"], "the runner gets the secrets")

	var hb struct {
		Cancel bool
		Status string
	}
	b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/heartbeat", j.ID), token: run, body: map[string]any{"attempt": 1}}, 200, &hb)
	require.False(t, hb.Cancel)
	require.Equal(t, "running", hb.Status)
	b.fail(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/heartbeat", j.ID), token: other, body: map[string]any{"attempt": 1}}, 410)
	b.fail(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/heartbeat", j.ID), token: run, body: map[string]any{"attempt": 2}}, 410)

	appendLog := func(offset int, data string) (int, string) {
		code, body := b.do(call{method: "PATCH", path: logPath(j.ID, 1, offset), token: run, raw: []byte(data), contentType: "application/octet-stream"})
		return code, string(body)
	}
	code, body := appendLog(0, "hello ")
	require.Equal(t, 200, code, body)
	code, body = appendLog(0, "hello ") // a retry after a timeout
	require.Equal(t, 200, code, body)
	require.Contains(t, body, `"length":6`)
	code, body = appendLog(3, "lo world s3cr3t-value\n") // overlapping
	require.Equal(t, 200, code, body)
	code, body = appendLog(100, "gap")
	require.Equal(t, 416, code)
	require.Contains(t, body, `"length":25`)

	resp, err := http.Get(b.url + fmt.Sprintf("/api/v1/jobs/%d/log", j.ID))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, "25", resp.Header.Get("X-Log-Length"))
	code, logBody := b.do(call{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d/log", j.ID)})
	require.Equal(t, 200, code)
	require.Equal(t, "hello world ************\n", string(logBody), "the server masks secrets too")
	_, part := b.do(call{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d/log?offset=6&limit=5", j.ID)})
	require.Equal(t, "world", string(part))

	sum := sha256.Sum256([]byte("hello world ************\n"))
	complete := map[string]any{"attempt": 1, "exitCode": 0, "logLength": 25, "logSha256": hex.EncodeToString(sum[:])}
	var done jobResp
	b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/complete", j.ID), token: run, body: complete}, 200, &done)
	require.Equal(t, "succeeded", done.Status)
	b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/complete", j.ID), token: run, body: complete}, 200, &done)
	require.Equal(t, "succeeded", done.Status, "completing twice is harmless")
	b.fail(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/complete", j.ID), token: other, body: complete}, 410)

	// A checksum that does not match what was stored is visible on the job.
	j2 := b.submit(tok, map[string]any{"name": "second"})
	c2 := b.claim(run, 1, "linux")[0]
	require.Equal(t, j2.ID, c2.ID)
	var mism struct{ LogMismatch bool }
	b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/complete", c2.ID), token: run,
		body: map[string]any{"attempt": 1, "exitCode": 0, "logLength": 99}}, 200, &mism)
	require.True(t, mism.LogMismatch)
}

func TestCancelReachesRunner(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("proj", false)
	_, run := b.runner("r1", "linux")
	j := b.submit(tok, nil)
	dep := b.submit(tok, map[string]any{"name": "after", "precedingJobs": []int64{j.ID}})
	c := b.claim(run, 1, "linux")[0]
	b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/heartbeat", c.ID), token: run, body: map[string]any{"attempt": 1}}, 200, nil)
	b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/cancel", j.ID), token: tok}, 200, nil)
	var hb struct {
		Cancel bool
		Status string
	}
	b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/heartbeat", c.ID), token: run, body: map[string]any{"attempt": 1}}, 200, &hb)
	require.True(t, hb.Cancel)
	require.Equal(t, "running", hb.Status, "running until the runner confirms the process ended")
	got := b.job(j.ID)
	require.Equal(t, "running", got.Status)
	require.NotNil(t, got.CancelRequestedAt)
	require.Equal(t, "waiting", b.job(dep.ID).Status)
	// The runner may still send the end of the log, then confirms.
	b.json(call{method: "PATCH", path: logPath(c.ID, 1, 0), token: run, raw: []byte("Terminated\n"), contentType: "application/octet-stream"}, 200, nil)
	var done jobResp
	b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/complete", c.ID), token: run,
		body: map[string]any{"attempt": 1, "exitCode": 143}}, 200, &done)
	require.Equal(t, "cancelled", done.Status, "the confirmation ends it as cancelled")
	require.Equal(t, 143, *done.ExitCode, "and records how the process ended")
	require.Equal(t, "cancelled by user", done.Reason)
	require.Equal(t, "cancelled", b.job(dep.ID).Status)
	// The attempt is over: no more log, heartbeats or completes.
	b.fail(call{method: "PATCH", path: logPath(c.ID, 1, 11), token: run, raw: []byte("late"), contentType: "application/octet-stream"}, 410)
	b.fail(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/heartbeat", c.ID), token: run, body: map[string]any{"attempt": 1}}, 410)
	b.fail(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/complete", c.ID), token: run, body: map[string]any{"attempt": 1, "exitCode": 0}}, 410)
}

// TestCancelUnacknowledgedClaim: a cancel that comes before the runner's first
// heartbeat still lets the runner stop the process gracefully (its runner may have
// started it); a claim no runner ever acknowledges ends cancelled, not re-queued.
func TestCancelUnacknowledgedClaim(t *testing.T) {
	t.Parallel()
	b := setupWith(t, bundleOptions{ack: 500 * time.Millisecond})
	tok := b.project("proj", false)
	_, run := b.runner("r1", "linux")
	j := b.submit(tok, nil)
	c := b.claim(run, 1, "linux")[0]
	b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/cancel", j.ID), token: tok}, 200, nil)
	got := b.job(j.ID)
	require.Equal(t, "running", got.Status, "running until the runner confirms the process ended")
	require.NotNil(t, got.CancelRequestedAt)
	var hb struct{ Cancel bool }
	b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/heartbeat", c.ID), token: run, body: map[string]any{"attempt": 1}}, 200, &hb)
	require.True(t, hb.Cancel, "the first heartbeat acknowledges the claim and hears of the cancel")
	var done jobResp
	b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/complete", c.ID), token: run,
		body: map[string]any{"attempt": 1, "exitCode": 143}}, 200, &done)
	require.Equal(t, "cancelled", done.Status)

	lost := b.submit(tok, map[string]any{"entityVal": "def"})
	require.Len(t, b.claim(run, 1, "linux"), 1)
	b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/cancel", lost.ID), token: tok}, 200, nil)
	require.Eventually(t, func() bool { return b.job(lost.ID).Status == "cancelled" }, 10*time.Second, 20*time.Millisecond,
		"the ack timeout ends a cancelled claim nobody acknowledged")
	require.Equal(t, 1, b.job(lost.ID).Attempt)
}

// TestCancelGrace: a runner that never confirms a cancel does not keep the job
// running: after the grace it is cancelled anyway.
func TestCancelGrace(t *testing.T) {
	t.Parallel()
	b := setupWith(t, bundleOptions{cancelGrace: 300 * time.Millisecond})
	tok := b.project("proj", false)
	_, run := b.runner("r1", "linux")
	j := b.submit(tok, nil)
	c := b.claim(run, 1, "linux")[0]
	b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/heartbeat", c.ID), token: run, body: map[string]any{"attempt": 1}}, 200, nil)
	b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/cancel", j.ID), token: tok}, 200, nil)
	require.Eventually(t, func() bool { return b.job(j.ID).Status == "cancelled" }, 5*time.Second, 50*time.Millisecond)
	require.Contains(t, b.job(j.ID).Reason, "did not confirm")
	b.fail(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/complete", c.ID), token: run, body: map[string]any{"attempt": 1, "exitCode": 0}}, 410)
}

func TestLostJobIsRetriedAndFenced(t *testing.T) {
	t.Parallel()
	b := setupWith(t, bundleOptions{lease: time.Second, ack: time.Second})
	tok := b.project("proj", false)
	_, r1 := b.runner("r1", "linux")
	_, r2 := b.runner("r2", "linux")
	listen, err := pgx.Connect(context.Background(), b.dbURL)
	require.NoError(t, err)
	defer listen.Close(context.Background())
	_, err = listen.Exec(context.Background(), "LISTEN aura_events")
	require.NoError(t, err)
	j := b.submit(tok, map[string]any{"maxAttempts": 2})
	c := b.claim(r1, 1, "linux")[0]
	b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/heartbeat", j.ID), token: r1, body: map[string]any{"attempt": 1}}, 200, nil)
	// r1 goes silent: the lease runs out and the job is queued as attempt 2.
	require.Eventually(t, func() bool { return b.job(j.ID).Attempt == 2 }, 5*time.Second, 50*time.Millisecond)
	// Each transition was announced, in order: the lost attempt before the new one.
	var seen []string
	for len(seen) < 4 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		n, err := listen.WaitForNotification(ctx)
		cancel()
		require.NoError(t, err, "events so far: %v", seen)
		var e struct {
			Type    string
			Status  string
			Attempt int
		}
		require.NoError(t, json.Unmarshal([]byte(n.Payload), &e))
		if e.Type != "job" {
			continue // runner check-ins are events too
		}
		seen = append(seen, fmt.Sprintf("%s/%d", e.Status, e.Attempt))
	}
	require.Equal(t, []string{"queued/1", "running/1", "lost/1", "queued/2"}, seen)
	require.Contains(t, b.job(j.ID).Reason, "attempt 1 was lost")
	c2 := b.claim(r2, 1, "linux")[0]
	require.Equal(t, 2, c2.Attempt)
	// r1 comes back late: every call about attempt 1 is refused with 410.
	b.fail(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/complete", j.ID), token: r1, body: map[string]any{"attempt": c.Attempt, "exitCode": 0}}, 410)
	b.fail(call{method: "PATCH", path: logPath(j.ID, 1, 0), token: r1, raw: []byte("x"), contentType: "application/octet-stream"}, 410)
	b.fail(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/heartbeat", j.ID), token: c.Token, body: map[string]any{"attempt": 1}}, 401)
	done := b.finish(r2, c2, 0)
	require.Equal(t, "succeeded", done.Status)
	require.Equal(t, 2, done.Attempt)

	// On its last attempt a lost job stays lost, and its dependents are cancelled.
	last := b.submit(tok, map[string]any{"name": "last", "maxAttempts": 1})
	dep := b.submit(tok, map[string]any{"name": "dep", "precedingJobs": []int64{last.ID}})
	c3 := b.claim(r1, 1, "linux")[0]
	b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/heartbeat", c3.ID), token: r1, body: map[string]any{"attempt": 1}}, 200, nil)
	require.Eventually(t, func() bool { return b.job(last.ID).Status == "lost" }, 5*time.Second, 50*time.Millisecond)
	require.Equal(t, "cancelled", b.job(dep.ID).Status)
}

func TestUnacknowledgedClaimReturnsToQueue(t *testing.T) {
	t.Parallel()
	b := setupWith(t, bundleOptions{ack: 500 * time.Millisecond})
	tok := b.project("proj", false)
	_, run := b.runner("r1", "linux")
	j := b.submit(tok, map[string]any{"maxAttempts": 1})
	b.claim(run, 1, "linux") // the answer is "lost": no heartbeat follows
	require.Eventually(t, func() bool { return b.job(j.ID).Status == "queued" }, 5*time.Second, 50*time.Millisecond)
	c := b.claim(run, 1, "linux")[0]
	require.Equal(t, j.ID, c.ID)
	require.Equal(t, "succeeded", b.finish(run, c, 0).Status, "a lost answer does not use up an attempt")
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("proj", false)
	_, run := b.runner("r1", "linux")
	j := b.submit(tok, map[string]any{"timeoutSeconds": 1})
	c := b.claim(run, 1, "linux")[0]
	b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/heartbeat", c.ID), token: run, body: map[string]any{"attempt": 1}}, 200, nil)
	require.Eventually(t, func() bool { return b.job(j.ID).Status == "timed_out" }, 5*time.Second, 50*time.Millisecond)
	// The attempt is over: the runner is told to drop it, and a late complete is refused.
	b.fail(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/heartbeat", c.ID), token: run, body: map[string]any{"attempt": 1}}, 410)
	b.fail(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/complete", c.ID), token: run, body: map[string]any{"attempt": 1, "exitCode": 0}}, 410)
	b.fail(call{method: "PATCH", path: logPath(c.ID, 1, 0), token: run, raw: []byte("late"), contentType: "application/octet-stream"}, 410)
	got := b.job(j.ID)
	require.Equal(t, "timed_out", got.Status)
	require.Nil(t, got.ExitCode, "nothing was written")
}

func TestLogLimit(t *testing.T) {
	t.Parallel()
	b := setupWith(t, bundleOptions{logLimit: 1000})
	tok := b.project("proj", false)
	_, run := b.runner("r1", "linux")
	j := b.submit(tok, nil)
	c := b.claim(run, 1, "linux")[0]
	var out strings.Builder
	offset := 0
	for i := 0; offset < 3000; i++ {
		chunk := fmt.Sprintf("line %04d ......................................\n", i)
		var res struct {
			Length int64
			Cancel bool
		}
		b.json(call{method: "PATCH", path: logPath(c.ID, 1, offset), token: run, raw: []byte(chunk), contentType: "application/octet-stream"}, 200, &res)
		out.WriteString(chunk)
		offset += len(chunk)
		if offset > 1000 {
			require.True(t, res.Cancel, "past the limit the runner is told to stop")
		}
	}
	require.Equal(t, "running", b.job(j.ID).Status, "until the runner confirms the stop")
	b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/complete", c.ID), token: run,
		body: map[string]any{"attempt": 1, "exitCode": 143}}, 200, nil)
	got := b.job(j.ID)
	require.Equal(t, "failed", got.Status)
	require.Equal(t, "log limit exceeded", got.Reason)
	_, logBody := b.do(call{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d/log", j.ID)})
	full := out.String()
	require.True(t, strings.HasPrefix(string(logBody), full[:700]), "the beginning is kept")
	require.True(t, strings.HasSuffix(string(logBody), full[len(full)-250:]), "the last part is kept")
	require.Contains(t, string(logBody), "log limit exceeded]")
	require.Less(t, len(logBody), 1500)
}

// TestConcurrentClaimers has 50 runners claim and complete 10,000 jobs at once:
// each job is handed out, and run, exactly once.
func TestConcurrentClaimers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("proj", false)
	const jobs, runners = 10000, 50
	for i := 0; i < jobs; i += 1000 {
		batch := make([]map[string]any, 1000)
		for k := range batch {
			batch[k] = map[string]any{"entityKey": "commit", "entityVal": fmt.Sprint(i + k), "name": "j", "cmd": "true", "tag": "linux"}
		}
		b.json(call{method: "POST", path: "/api/v1/jobs/batch", token: tok, body: map[string]any{"jobs": batch}}, 201, nil)
	}
	tokens := make([]string, runners)
	for i := range tokens {
		_, tokens[i] = b.runner(fmt.Sprint("r", i), "linux")
	}
	var mu sync.Mutex
	seen := map[int64]int{}
	var wg sync.WaitGroup
	for _, rt := range tokens {
		wg.Go(func() {
			for {
				got := claimRaw(t, b, rt)
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, id := range got {
					seen[id]++
				}
				mu.Unlock()
				for _, id := range got {
					completeRaw(t, b, rt, id)
				}
			}
		})
	}
	wg.Wait()
	require.Len(t, seen, jobs)
	for id, n := range seen {
		require.Equal(t, 1, n, "job %d was claimed %d times", id, n)
	}
	var succeeded int
	require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT count(*) FROM jobs WHERE status = 'succeeded' AND attempt = 1`).Scan(&succeeded))
	require.Equal(t, jobs, succeeded)
}

// completeRaw completes attempt 1 of a job without contract validation (it runs concurrently).
func completeRaw(t testing.TB, b *testBundle, token string, id int64) {
	req, _ := http.NewRequest("POST", fmt.Sprintf("%s/api/v1/jobs/%d/complete", b.url, id), strings.NewReader(`{"attempt":1,"exitCode":0}`))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := b.client.Do(req)
	if err != nil {
		t.Error(err)
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("complete job %d: %d", id, resp.StatusCode)
	}
}

// claimRaw claims up to 8 jobs without contract validation (it runs concurrently).
func claimRaw(t testing.TB, b *testBundle, token string) []int64 {
	req, _ := http.NewRequest("POST", b.url+"/api/v1/runner/claim", strings.NewReader(`{"tags":["linux"],"capacity":8,"waitSeconds":0}`))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := b.client.Do(req)
	if err != nil {
		t.Error(err)
		return nil
	}
	defer resp.Body.Close()
	var out struct{ Jobs []struct{ ID int64 } }
	if err := jsonDecode(resp, &out); err != nil {
		t.Error(err)
		return nil
	}
	ids := make([]int64, len(out.Jobs))
	for i, j := range out.Jobs {
		ids[i] = j.ID
	}
	return ids
}

// TestCompat04 runs a job end to end the way an unchanged 0.4 runner and submit
// script do: plain HTTP calls as documented in AURA-0.4-API.md.
func TestCompat04(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("proj", false)
	_, run := b.runner("old-runner", "native,linux")
	var sub struct{ ID int64 }
	b.json(call{method: "POST", path: "/api/submit", token: tok, body: map[string]any{
		"project": "proj", "entityKey": "commit", "entityVal": "f2ac9bab", "name": "build",
		"cmd": "echo building $GREETING", "env": "GREETING=hello\n# comment\nexport OTHER='x y'\n", "tag": "native,linux",
		"collections": map[string]string{"ref": "main"}, "precedingJobs": []int64{}, "earliestStart": nil,
	}}, 200, &sub)
	var got struct {
		Jobs []struct {
			ID               int64
			Cmd, Env, JobKey string
		}
	}
	b.json(call{method: "POST", path: "/api/runner", token: run, body: map[string]any{"name": "old-runner", "tags": []string{"native,linux"}, "limit": 1}}, 200, &got)
	require.Len(t, got.Jobs, 1)
	require.Equal(t, sub.ID, got.Jobs[0].ID)
	require.Contains(t, got.Jobs[0].Env, "GREETING=hello")
	require.True(t, strings.HasPrefix(got.Jobs[0].JobKey, "AURA_JOBKEY_"))

	// The old runner runs the command and uploads its log, then reports the result.
	cmd := exec.Command("sh", "-c", got.Jobs[0].Cmd)
	cmd.Env = []string{"GREETING=hello"}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err)
	b.json(call{method: "POST", path: fmt.Sprintf("/api/storage/%d/log", sub.ID), token: run, raw: out, contentType: "text/plain"}, 200, nil)
	b.json(call{method: "POST", path: "/api/job", token: run, body: map[string]any{"name": "old-runner", "id": sub.ID, "exitCode": 0}}, 200, nil)
	j := b.job(sub.ID)
	require.Equal(t, "succeeded", j.Status)
	_, logBody := b.do(call{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d/log", sub.ID)})
	require.Equal(t, "building hello\n", string(logBody))
	var ent struct{ Status string }
	b.json(call{method: "GET", path: "/api/v1/projects/proj/entities/commit/f2ac9bab"}, 200, &ent)
	require.Equal(t, "success", ent.Status)
	// /metrics counts the 0.4 routes too.
	fams := b.scrape(b.admin)
	require.Equal(t, 1.0, metricValue(fams, "aura_claims_total"))
	require.Equal(t, 1.0, metricValue(fams, "aura_job_duration_seconds", "status", "succeeded"))
	require.Equal(t, float64(len("building hello\n")), metricValue(fams, "aura_log_received_bytes_total"))

	// 0.4 let a runner finish a job it never started; that forged results, so no more.
	b.json(call{method: "POST", path: "/api/submit", token: tok, body: map[string]any{
		"project": "proj", "entityKey": "commit", "entityVal": "f2ac9bab", "name": "skipped", "cmd": "true", "tag": "native,linux",
	}}, 200, &sub)
	b.fail(call{method: "POST", path: "/api/job", token: run, body: map[string]any{"name": "old-runner", "id": sub.ID, "exitCode": 3}}, 410)
	require.Equal(t, "queued", b.job(sub.ID).Status)
	b.fail(call{method: "POST", path: "/api/submit", token: run, body: map[string]any{
		"project": "proj", "entityKey": "commit", "entityVal": "x", "name": "n", "cmd": "true", "tag": "t"}}, 403)
}

// TestJobTokensAuthenticate heartbeats 40 jobs with their own job tokens: among
// 40 signatures some contain "_" and "-", which the token format must survive.
func TestJobTokensAuthenticate(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("proj", false)
	_, run := b.runner("r1", "linux")
	for i := range 40 {
		b.submit(tok, map[string]any{"entityVal": fmt.Sprint(i)})
	}
	underscores := 0
	for _, c := range b.claim(run, 40, "linux") {
		if strings.Count(c.Token, "_") > 3 {
			underscores++
		}
		b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/heartbeat", c.ID), token: c.Token,
			body: map[string]any{"attempt": c.Attempt}}, 200, nil)
	}
	require.NotZero(t, underscores)
}

// TestClaimNotBlockedByDependentSubmit: submitting B after a queued A locks A for
// a moment, so a claim racing it skips A; the submit must announce A again, or
// the waiting runner only finds it at the end of its long poll.
func TestClaimNotBlockedByDependentSubmit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("proj", false)
	_, run := b.runner("r1", "linux")
	for i := range 40 {
		a := b.submit(tok, map[string]any{"entityVal": fmt.Sprint(i), "name": "a"})
		got := b.poll(run, 1, "linux")
		// B's submit locks A while the claim above runs.
		b.submit(tok, map[string]any{"entityVal": fmt.Sprint(i), "name": "b", "precedingJobs": []int64{a.ID}})
		select {
		case jobs := <-got:
			require.Len(t, jobs, 1)
			require.Equal(t, a.ID, jobs[0].ID)
		case <-time.After(5 * time.Second):
			t.Fatalf("iteration %d: queued job %d was not handed to the waiting runner", i, a.ID)
		}
		b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/cancel", a.ID), token: tok}, 200, nil)
	}
}

// TestListenerReconnects kills the server's LISTEN connection: it reconnects, and
// a long poll waiting meanwhile still gets the next job.
func TestListenerReconnects(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("proj", false)
	runID, run := b.runner("r1", "linux")
	got := b.pollWaiting(runID, run, 1, "linux")
	b.listener.TestSignals.Init(t)
	var killed []int32
	require.NoError(t, b.pool.QueryRow(context.Background(), `
		SELECT array_agg(pid) FROM (SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE datname = current_database() AND query LIKE 'LISTEN%') t`).Scan(&killed))
	require.Len(t, killed, 1)
	// Wait until the listener is back on a new backend before submitting, so the
	// test is about reconnecting, not about a notification sent while nobody
	// listened.
	require.NotEqual(t, uint32(killed[0]), b.listener.TestSignals.Reconnected.Wait())
	j := b.submit(tok, nil)
	select {
	case jobs := <-got:
		require.Len(t, jobs, 1)
		require.Equal(t, j.ID, jobs[0].ID)
	case <-time.After(10 * time.Second):
		t.Fatal("the long poll was not woken after the listener reconnected")
	}
}

// TestWakeIsNotLost: r1 serves tags b then a, r2 serves a. Jobs for a and b arrive
// together; r1 may be woken for both while it takes only b. The wake it does not
// use must reach r2, or r2 sleeps until its long poll ends.
func TestWakeIsNotLost(t *testing.T) {
	t.Parallel()
	// Claims here are never acknowledged: the ack timeout must not put the
	// jobs of the first rounds back in the queue while the last ones run.
	b := setupWith(t, bundleOptions{ack: time.Minute})
	tok := b.project("proj", false)
	id1, r1 := b.runner("r1", "a", "b")
	id2, r2 := b.runner("r2", "a")
	for i := range 30 {
		got1 := b.pollWaiting(id1, r1, 1, "b", "a") // r1 waits first, so it is woken first
		got2 := b.pollWaiting(id2, r2, 1, "a")
		var out struct{ Items []jobResp }
		b.json(call{method: "POST", path: "/api/v1/jobs/batch", token: tok, body: map[string]any{"jobs": []map[string]any{
			{"entityKey": "k", "entityVal": fmt.Sprint(i), "name": "for-a", "cmd": "true", "tag": "a"},
			{"entityKey": "k", "entityVal": fmt.Sprint(i), "name": "for-b", "cmd": "true", "tag": "b"},
		}}}, 201, &out)
		claimedIDs := map[int64]bool{}
		for _, ch := range []<-chan []claimed{got1, got2} {
			select {
			case jobs := <-ch:
				for _, j := range jobs {
					claimedIDs[j.ID] = true
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("iteration %d: a runner slept while a job for it was queued", i)
			}
		}
		require.Len(t, claimedIDs, 2)
	}
}

// TestStartOverWaitsForRetriedPrecedingJob: a job that starts over (a lost
// attempt, a claim nobody acknowledged) waits again for a preceding job that
// was retried while it ran, as a retried job does, rather than running beside
// it on what its first attempt left.
func TestStartOverWaitsForRetriedPrecedingJob(t *testing.T) {
	t.Parallel()
	for _, acked := range []bool{true, false} {
		t.Run(map[bool]string{true: "lost", false: "unacknowledged"}[acked], func(t *testing.T) {
			t.Parallel()
			b := setupWith(t, bundleOptions{lease: time.Second, ack: 500 * time.Millisecond}).sub(t)
			tok := b.project("proj", false)
			_, r1 := b.runner("r1", "linux")
			_, r2 := b.runner("r2", "linux")
			build := b.submit(tok, map[string]any{"name": "build"})
			test := b.submit(tok, map[string]any{"name": "test", "precedingJobs": []int64{build.ID}})
			require.Equal(t, "succeeded", b.finish(r1, b.claim(r1, 1, "linux")[0], 0).Status)
			c := b.claim(r1, 1, "linux")[0]
			require.Equal(t, test.ID, c.ID)
			if acked {
				b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/heartbeat", c.ID), token: r1, body: map[string]any{"attempt": 1}}, 200, nil)
			}
			b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/retry", build.ID), token: tok}, 200, nil)
			// r1 goes silent: the test job starts over, and waits for the new build.
			require.Eventually(t, func() bool { return b.job(test.ID).Status != "running" }, 5*time.Second, 20*time.Millisecond)
			j := b.job(test.ID)
			require.Equal(t, "waiting", j.Status)
			require.Equal(t, build.ID, j.WaitingFor.Jobs[0].ID)
			next := b.claim(r2, 1, "linux")
			require.Len(t, next, 1)
			require.Equal(t, build.ID, next[0].ID, "only the build is runnable")
			b.finish(r2, next[0], 0)
			require.Equal(t, "queued", b.job(test.ID).Status)
			again := b.claim(r2, 1, "linux")[0]
			require.Equal(t, test.ID, again.ID)
			require.Equal(t, "succeeded", b.finish(r2, again, 0).Status)
		})
	}
}
