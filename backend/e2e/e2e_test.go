package e2e

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestDAG runs build → (test-linux, test-mac) → deploy with a delay, each on a
// runner with the right tags, in the right order.
func TestDAG(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	tok := s.project("proj")
	startRunner(t, s, "linux-runner", "--tag", "native,linux")
	startRunner(t, s, "mac-runner", "--tag", "native,mac")
	var out struct{ Items []job }
	s.call("POST", "/api/v1/jobs/batch", tok, map[string]any{"jobs": []map[string]any{
		{"entityKey": "commit", "entityVal": "c1", "name": "build", "cmd": "echo built", "tag": "native,linux"},
		{"entityKey": "commit", "entityVal": "c1", "name": "test-linux", "cmd": "echo linux ok", "tag": "native,linux", "precedingNames": []string{"build"}},
		{"entityKey": "commit", "entityVal": "c1", "name": "test-mac", "cmd": "echo mac ok", "tag": "native,mac", "precedingNames": []string{"build"}},
		{"entityKey": "commit", "entityVal": "c1", "name": "deploy", "cmd": "echo deployed", "tag": "native,linux",
			"precedingNames": []string{"test-linux", "test-mac"}, "earliestStart": time.Now().Add(time.Second).Format(time.RFC3339Nano)},
	}}, &out, 201)
	ids := map[string]int64{}
	for _, j := range out.Items {
		ids[j.Name] = j.ID
	}
	deploy := s.waitStatus(ids["deploy"], 20*time.Second, "succeeded")
	build, tl, tm := s.job(ids["build"]), s.job(ids["test-linux"]), s.job(ids["test-mac"])
	for _, j := range []job{build, tl, tm, deploy} {
		require.Equal(t, "succeeded", j.Status, j.Name)
	}
	require.Equal(t, "linux-runner", build.RunnerName)
	require.Equal(t, "linux-runner", tl.RunnerName)
	require.Equal(t, "mac-runner", tm.RunnerName)
	require.False(t, tl.StartedAt.Before(*build.EndedAt))
	require.False(t, tm.StartedAt.Before(*build.EndedAt))
	require.False(t, deploy.StartedAt.Before(*tl.EndedAt))
	require.False(t, deploy.StartedAt.Before(*tm.EndedAt))
	require.Equal(t, "mac ok\n", s.log(ids["test-mac"]))
	var ent struct{ Status, Summary string }
	s.call("GET", "/api/v1/projects/proj/entities/commit/c1", "", nil, &ent, 200)
	require.Equal(t, "success", ent.Status)
	require.Equal(t, "4 succeeded", ent.Summary)
}

// TestChildJobs: a job submits its own children with its job token, which stops
// working when the job ends.
func TestChildJobs(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	tok := s.project("proj")
	dir := t.TempDir()
	startRunner(t, s, "r1", "--tag", "linux", "--concurrency", "2")
	parent := s.submit(tok, map[string]any{"name": "parent", "env": map[string]string{"OUT": dir}, "cmd": `
		set -e
		echo "$AURA_JOB_TOKEN" > "$OUT/token"
		first=$(aura-runner submit --name child-1 --cmd 'echo one' --tag linux)
		aura-runner submit --name child-2 --cmd 'echo two' --tag linux --after "$first" --entity-val other > "$OUT/second"
		echo submitted $first`})
	p := s.waitStatus(parent.ID, 20*time.Second, "succeeded", "failed")
	require.Equal(t, "succeeded", p.Status, s.log(parent.ID))
	second, err := strconv.ParseInt(waitFile(t, filepath.Join(dir, "second"), time.Second), 10, 64)
	require.NoError(t, err)
	child := s.waitStatus(second, 20*time.Second, "succeeded")
	require.Equal(t, parent.ID, *child.ParentJob)
	require.Equal(t, "two\n", s.log(second))

	token := waitFile(t, filepath.Join(dir, "token"), time.Second)
	s.call("POST", "/api/v1/jobs", token, map[string]any{"entityKey": "k", "entityVal": "v", "name": "n", "cmd": "true", "tag": "linux"}, nil, 401)
}

// TestCancelRunningJob: the whole process tree is gone within the grace period,
// the job ends cancelled and so do its dependents.
func TestCancelRunningJob(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--lease", "3s")
	tok := s.project("proj")
	dir := t.TempDir()
	startRunner(t, s, "r1", "--tag", "linux")
	j := s.submit(tok, map[string]any{"env": map[string]string{"OUT": dir}, "cmd": `
		sleep 600 & echo $! > "$OUT/child"
		echo $$ > "$OUT/shell"
		wait`})
	dep := s.submit(tok, map[string]any{"name": "after", "precedingJobs": []int64{j.ID}})
	shell, _ := strconv.Atoi(waitFile(t, filepath.Join(dir, "shell"), 10*time.Second))
	child, _ := strconv.Atoi(waitFile(t, filepath.Join(dir, "child"), time.Second))
	require.False(t, processGone(child))
	s.call("POST", fmt.Sprintf("/api/v1/jobs/%d/cancel", j.ID), tok, nil, nil, 200)
	require.Eventually(t, func() bool { return processGone(shell) && processGone(child) }, 5*time.Second, 20*time.Millisecond,
		"the job's processes must be gone within the grace period")
	// The job ends when the runner reports the processes gone, a moment later.
	require.Eventually(t, func() bool { return s.job(j.ID).Status == "cancelled" }, 5*time.Second, 20*time.Millisecond)
	require.Equal(t, "cancelled", s.job(dep.ID).Status)
}

// TestRunnerKilled: kill -9 the runner mid-job; the job is lost within the lease
// and succeeds as attempt 2 on another runner, completed once.
func TestRunnerKilled(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--lease", "2s")
	tok := s.project("proj")
	dir := t.TempDir()
	first := startRunner(t, s, "first", "--tag", "linux")
	j := s.submit(tok, map[string]any{"env": map[string]string{"OUT": dir}, "cmd": `
		echo "attempt $AURA_JOB_ID" >> "$OUT/starts"
		if [ ! -f "$OUT/once" ]; then echo once > "$OUT/once"; exec sleep 30; fi
		echo second time lucky`})
	require.Equal(t, "running", s.waitStatus(j.ID, 10*time.Second, "running").Status)
	// Killed before it wrote once, the job dies with its runner and attempt 2 sleeps too.
	waitFile(t, filepath.Join(dir, "once"), 10*time.Second)
	// A claim never acknowledged is not an attempt, and would be re-run as attempt 1.
	s.waitAcked(t, j.ID)
	require.NoError(t, first.cmd.Process.Signal(syscall.SIGKILL))
	_ = first.cmd.Wait()
	startRunner(t, s, "second", "--tag", "linux")
	done := s.waitStatus(j.ID, 20*time.Second, "succeeded", "failed", "lost")
	require.Equal(t, "succeeded", done.Status)
	require.Equal(t, 2, done.Attempt)
	require.Equal(t, "second", done.RunnerName)
	require.Equal(t, "second time lucky\n", s.log(j.ID))
}

// TestServerRestart: the server stops and comes back while a job keeps printing;
// the job finishes and its log is byte for byte what the command printed.
func TestServerRestart(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	tok := s.project("proj")
	startRunner(t, s, "r1", "--tag", "linux")
	j := s.submit(tok, map[string]any{"cmd": `for i in $(seq 1 60); do echo "line $i of the job"; sleep 0.05; done`})
	s.waitStatus(j.ID, 10*time.Second, "running")
	require.Eventually(t, func() bool { return strings.Contains(s.log(j.ID), "line 10 of the job") }, 10*time.Second, 10*time.Millisecond)
	s.stop()
	time.Sleep(1500 * time.Millisecond) // the server away for a while is what is tested
	s.start()
	done := s.waitStatus(j.ID, 30*time.Second, "succeeded", "failed")
	require.Equal(t, "succeeded", done.Status)
	var want strings.Builder
	for i := 1; i <= 60; i++ {
		fmt.Fprintf(&want, "line %d of the job\n", i)
	}
	require.Equal(t, want.String(), s.log(j.ID))
}

// TestSecretsMasked: a secret printed whole, split across two writes and across a
// chunk boundary never reaches the server in clear.
func TestSecretsMasked(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	tok := s.project("proj")
	startRunner(t, s, "r1", "--tag", "linux")
	const secret = "correct-horse-battery-staple"
	j := s.submit(tok, map[string]any{"secretEnv": map[string]string{"PASSWORD": secret}, "cmd": `
		echo "whole: $PASSWORD"
		printf 'split: %s' "$(printf %s "$PASSWORD" | cut -c1-10)"; sleep 0.4; printf '%s\n' "$(printf %s "$PASSWORD" | cut -c11-)"
		head -c 65530 /dev/zero | tr '\0' 'x'; echo "$PASSWORD"
		echo done`})
	done := s.waitStatus(j.ID, 20*time.Second, "succeeded", "failed")
	require.Equal(t, "succeeded", done.Status)
	logText := s.log(j.ID)
	require.NotContains(t, logText, secret)
	require.NotContains(t, logText, secret[:10]+"\n")
	require.Contains(t, logText, "whole: ***\n")
	require.Contains(t, logText, "split: ***\n")
	require.Contains(t, logText, "x***\ndone\n")
	var rows int
	require.NoError(t, dbQueryRow(t, s.dbURL, `SELECT count(*) FROM log_chunks WHERE position('\x`+fmt.Sprintf("%x", secret)+`'::bytea in data) > 0`, &rows))
	require.Zero(t, rows, "no stored chunk holds the secret")
}

// TestTimeoutAndLogLimit: a job past its timeout ends timed_out; a job whose log
// outgrows the limit is stopped and fails, keeping the head and the tail.
func TestTimeoutAndLogLimit(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--log-limit", "200000")
	tok := s.project("proj")
	startRunner(t, s, "r1", "--tag", "linux", "--concurrency", "2")
	slow := s.submit(tok, map[string]any{"name": "slow", "timeoutSeconds": 1, "cmd": "echo start; sleep 60"})
	chatty := s.submit(tok, map[string]any{"name": "chatty", "cmd": `i=0; while true; do i=$((i+1)); echo "line $i"; done`})
	require.Equal(t, "timed_out", s.waitStatus(slow.ID, 15*time.Second, "timed_out", "failed", "succeeded").Status)
	c := s.waitStatus(chatty.ID, 15*time.Second, "failed", "succeeded")
	require.Equal(t, "log limit exceeded", c.Reason)
	logText := s.log(chatty.ID)
	require.True(t, strings.HasPrefix(logText, "line 1\nline 2\n"), "the log keeps its beginning")
	require.True(t, strings.Contains(logText, "bytes of log omitted: log limit exceeded]"), "a marker shows the cut")
	require.Less(t, len(logText), 260000, "head and tail only")
}

// TestTwoServersShareDatabase: a job submitted through one server process wakes a
// runner long-polling on another, through PostgreSQL.
func TestTwoServersShareDatabase(t *testing.T) {
	t.Parallel()
	a := startServer(t)
	b := startServerOn(t, a.dbURL)
	tok := a.project("proj")
	startRunner(t, b, "r1", "--tag", "linux")
	a.waitCheckedIn(t, 1) // the runner is long-polling on b now
	start := time.Now()
	j := a.submit(tok, map[string]any{"cmd": "echo via b"})
	done := a.waitStatus(j.ID, 10*time.Second, "succeeded")
	require.Equal(t, "r1", done.RunnerName)
	require.Less(t, time.Since(start), 5*time.Second, "woken by NOTIFY, not by the end of the long poll")
	require.Equal(t, "via b\n", b.log(j.ID))
}

// TestRunnerGracefulShutdown: on SIGTERM the runner stops claiming, lets its
// running job finish and report, then exits.
func TestRunnerGracefulShutdown(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	tok := s.project("proj")
	r := startRunner(t, s, "r1", "--tag", "linux")
	j := s.submit(tok, map[string]any{"cmd": "sleep 1; echo finished"})
	s.waitStatus(j.ID, 10*time.Second, "running")
	require.NoError(t, r.cmd.Process.Signal(syscall.SIGTERM))
	r.waitOutput(t, "shutting down: waiting up to") // the runner has dropped its long poll
	later := s.submit(tok, map[string]any{"name": "later"})
	require.NoError(t, r.cmd.Wait(), "the runner exits cleanly")
	done := s.job(j.ID)
	require.Equal(t, "succeeded", done.Status)
	require.Equal(t, "finished\n", s.log(j.ID))
	require.Equal(t, "queued", s.job(later.ID).Status, "a stopping runner claims nothing new")
}
