package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
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
	time.Sleep(1500 * time.Millisecond) // a heartbeat acknowledges the claim
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
	time.Sleep(500 * time.Millisecond)
	require.Equal(t, "succeeded", s.job(j.ID).Status, "the stale runner changed nothing")
	require.Equal(t, "finished elsewhere\n", s.log(j.ID))
}

// TestDumpHoldsNoSecret: pg_dump of Aura's database shows no secret value.
func TestDumpHoldsNoSecret(t *testing.T) {
	t.Parallel()
	pgDump, err := exec.LookPath("pg_dump")
	if err != nil {
		found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_dump")
		require.NotEmpty(t, found, "pg_dump comes with PostgreSQL")
		pgDump = found[len(found)-1]
	}
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
