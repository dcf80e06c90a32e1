package e2e

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestFrozenRunner stops a runner with SIGSTOP past its lease: its job is re-queued
// and finished by a live runner, not handed back to the frozen one's open poll.
// When the frozen runner continues, it is refused and kills what it ran.
func TestFrozenRunner(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--lease", "2s")
	tok := s.project("proj")
	dir := t.TempDir()
	frozen := startRunner(t, s, "frozen", "--tag", "linux")
	j := s.submit(tok, map[string]any{"env": map[string]string{"OUT": dir}, "cmd": `
		if [ ! -f "$OUT/once" ]; then touch "$OUT/once"; echo $$ > "$OUT/pid"; exec sleep 60; fi
		echo finished elsewhere`})
	pid, err := strconv.Atoi(waitFile(t, filepath.Join(dir, "pid"), 10*time.Second))
	require.NoError(t, err)
	s.waitAcked(t, j.ID)
	require.NoError(t, frozen.cmd.Process.Signal(syscall.SIGSTOP))
	startRunner(t, s, "live", "--tag", "linux")

	done := s.waitStatus(j.ID, 20*time.Second, "succeeded", "failed", "lost")
	require.Equal(t, "succeeded", done.Status)
	require.Equal(t, "live", done.RunnerName)
	require.Equal(t, 2, done.Attempt)
	require.Equal(t, "finished elsewhere\n", s.log(j.ID))

	require.NoError(t, frozen.cmd.Process.Signal(syscall.SIGCONT))
	require.Eventually(t, func() bool { return processGone(pid) }, 20*time.Second, 50*time.Millisecond,
		"the woken runner kills the attempt it lost")
	// The runner is done with the attempt once it says it dropped it.
	frozen.waitOutput(t, fmt.Sprintf("dropped job %d attempt 1", j.ID))
	require.Equal(t, "succeeded", s.job(j.ID).Status, "the stale runner changed nothing")
	require.Equal(t, "finished elsewhere\n", s.log(j.ID))
}

// pgDump finds pg_dump.
func pgDump(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("pg_dump")
	if err != nil {
		found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_dump")
		require.NotEmpty(t, found, "pg_dump comes with PostgreSQL")
		path = found[len(found)-1]
	}
	return path
}

// TestDumpHoldsNoSecret: pg_dump of Aura's database shows no secret value.
func TestDumpHoldsNoSecret(t *testing.T) {
	t.Parallel()
	pgDump := pgDump(t)
	s := startServer(t)
	tok := s.project("proj")
	const secret = "dump-me-if-you-can-7f3a"
	j := s.submit(tok, map[string]any{"secretEnv": map[string]string{"DEPLOY_KEY": secret},
		"cmd": `echo "key is $DEPLOY_KEY"`})
	startRunner(t, s, "r1", "--tag", "linux")
	require.Equal(t, "succeeded", s.waitStatus(j.ID, 20*time.Second, "succeeded", "failed").Status)
	require.Equal(t, "key is ***\n", s.log(j.ID))
	cmd := exec.Command(pgDump, "--no-owner", s.dbURL)
	cmd.Env = append(os.Environ(), "PGCONNECT_TIMEOUT=10")
	dump, err := cmd.Output()
	require.NoError(t, err)
	require.Contains(t, string(dump), "DEPLOY_KEY", "the dump is of the right database")
	require.False(t, strings.Contains(string(dump), secret), "the dump holds the secret")
}

// status sends a JSON request and returns the answer's status.
func (s *server) status(method, path, token string, body any) int {
	s.t.Helper()
	b, err := json.Marshal(body)
	require.NoError(s.t, err)
	req, err := http.NewRequest(method, s.url+path, bytes.NewReader(b))
	require.NoError(s.t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(s.t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// TestDumpMintsNoJobToken: an attacker with a dump of the database (a backup, a
// read-only user) tries every key-sized value in it to mint the token of a running
// deploy job and complete it as succeeded: the database holds no such key.
func TestDumpMintsNoJobToken(t *testing.T) {
	t.Parallel()
	pgDump := pgDump(t)
	s := startServer(t)
	tok := s.project("proj")
	dir := t.TempDir()
	j := s.submit(tok, map[string]any{"name": "deploy-prod", "env": map[string]string{"OUT": dir},
		"cmd": `echo "$AURA_JOB_TOKEN" > "$OUT/token"; exec sleep 60`})
	startRunner(t, s, "r1", "--tag", "linux")
	real := strings.TrimSpace(waitFile(t, filepath.Join(dir, "token"), 20*time.Second))
	require.True(t, strings.HasPrefix(real, "AURA_JOBKEY_"))

	cmd := exec.Command(pgDump, "--no-owner", s.dbURL)
	cmd.Env = append(os.Environ(), "PGCONNECT_TIMEOUT=10")
	dump, err := cmd.Output()
	require.NoError(t, err)
	require.True(t, strings.Contains(string(dump), "deploy-prod"), "the dump is of the right database")

	mint := func(key []byte, body string) string {
		m := hmac.New(sha256.New, key)
		m.Write([]byte("job:" + body))
		return "AURA_JOBKEY_" + body + "_" + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}
	claim := strings.Split(strings.TrimPrefix(real, "AURA_JOBKEY_"), "_")[2]
	candidates := regexp.MustCompile(`[0-9a-f]{64}`).FindAllString(string(dump), 500)
	complete := fmt.Sprintf("/api/v1/jobs/%d/complete", j.ID)
	for _, c := range candidates {
		key, _ := hex.DecodeString(c)
		for _, forged := range []string{mint(key, fmt.Sprintf("%d_1", j.ID)), mint(key, fmt.Sprintf("%d_1_%s", j.ID, claim))} {
			require.Equal(t, http.StatusUnauthorized, s.status("POST", complete, forged, map[string]any{"attempt": 1, "exitCode": 0}),
				"a token minted from a value in the dump works")
		}
	}
	require.False(t, strings.Contains(string(dump), "server_key"), "the dump holds a server_key setting")
	require.Equal(t, "running", s.job(j.ID).Status)
	s.call("POST", fmt.Sprintf("/api/v1/jobs/%d/cancel", j.ID), s.admin, nil, nil, 200)
}

// TestRunnerStartedWithForeignTag: a runner registered for one tag and started
// with another gets none of that tag's jobs (nor their secrets), and says why.
func TestRunnerStartedWithForeignTag(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	tok := s.project("proj")
	j := s.submit(tok, map[string]any{"name": "deploy-prod", "tag": "deploy",
		"secretEnv": map[string]string{"DEPLOY_KEY": "never-for-the-wrong-runner"}, "cmd": `echo "$DEPLOY_KEY"`})
	token := s.runnerToken("onlythis", "onlythis")
	r := &runner{cmd: exec.Command(filepath.Join(binDir, "aura-runner"), "--server", s.url, "--token", token,
		"--work-dir", t.TempDir(), "--tag", "onlythis", "--tag", "deploy"), out: &logBuffer{}}
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	r.cmd.Env = append(os.Environ(), "AURA_RUNNER_TOKEN=", "AURA_TAGS=")
	require.NoError(t, r.cmd.Start())
	t.Cleanup(r.kill)
	require.Eventually(t, func() bool {
		return strings.Contains(r.out.String(), "may not claim") || s.job(j.ID).Status != "queued"
	}, 20*time.Second, 50*time.Millisecond)
	require.Equal(t, "queued", s.job(j.ID).Status, "a runner ran a job of a tag it was not registered for")
	require.Contains(t, r.out.String(), `may not claim ["deploy"]`)
}
