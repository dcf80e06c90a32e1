package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// escapeJob starts a setsid daemon and a detached double fork, writes their
// pids and its shell's to $OUT, and sleeps.
const escapeJob = `
	setsid sleep 600 </dev/null >/dev/null 2>&1 & echo $! > "$OUT/daemon"
	(setsid sh -c 'sleep 600 & echo $! > "$1"' _ "$OUT/forked.tmp" </dev/null >/dev/null 2>&1 &)
	while [ ! -s "$OUT/forked.tmp" ]; do sleep 0.01; done
	echo >> "$OUT/forked.tmp"; mv "$OUT/forked.tmp" "$OUT/forked"
	echo $$ > "$OUT/shell"
	sleep 600`

func escapedPids(t *testing.T, dir string) []int {
	t.Cleanup(func() { killLeftovers(dir) })
	var pids []int
	for _, name := range []string{"shell", "daemon", "forked"} {
		pid, err := strconv.Atoi(waitFile(t, filepath.Join(dir, name), 10*time.Second))
		require.NoError(t, err)
		require.False(t, processGone(pid), "%s %d is not running", name, pid)
		pids = append(pids, pid)
	}
	return pids
}

func requireAllGone(t *testing.T, within time.Duration, pids []int) {
	t.Helper()
	require.Eventually(t, func() bool {
		for _, pid := range pids {
			if !processGoneOrZombie(pid) {
				return false
			}
		}
		return true
	}, within, 20*time.Millisecond, "the job's processes %v outlived it", pids)
}

// processGoneOrZombie: an orphan killed after its runner died is reaped by PID 1,
// which may take its time; a zombie runs nothing.
func processGoneOrZombie(pid int) bool {
	if processGone(pid) {
		return true
	}
	var state string
	err := procState(pid, &state)
	return err != nil || state == "Z"
}

// TestCancelKillsDetachedProcesses: a cancel ends the setsid daemon and the
// double fork with the job.
func TestCancelKillsDetachedProcesses(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	tok := s.project("proj")
	dir := t.TempDir()
	startRunner(t, s, "r1", "--tag", "linux")
	j := s.submit(tok, map[string]any{"env": map[string]string{"OUT": dir}, "cmd": escapeJob})
	pids := escapedPids(t, dir)
	s.call("POST", fmt.Sprintf("/api/v1/jobs/%d/cancel", j.ID), tok, nil, nil, 200)
	requireAllGone(t, 5*time.Second, pids)
}

// TestRunnerKilledEndsItsJobs: kill -9 of a runner ends its job's processes
// (its shell, a setsid daemon, a double fork) at once, without any runner
// starting again, so the job's next attempt never runs beside them.
func TestRunnerKilledEndsItsJobs(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	tok := s.project("proj")
	dir := t.TempDir()
	r := startRunner(t, s, "r1", "--tag", "linux")
	s.submit(tok, map[string]any{"env": map[string]string{"OUT": dir}, "cmd": escapeJob})
	pids := escapedPids(t, dir)
	require.NoError(t, r.cmd.Process.Signal(syscall.SIGKILL))
	began := time.Now()
	_ = r.cmd.Wait()
	requireAllGone(t, time.Second, pids)
	t.Logf("the job's processes were gone %s after kill -9 of the runner", time.Since(began).Round(time.Millisecond))
}

// TestRunnerCrashLeavesNoProcesses: when a runner and its job's supervisor both
// die at once (kill -9 of both, the OOM killer), what the job left running is
// killed by the next runner on the same work folder before it claims.
func TestRunnerCrashLeavesNoProcesses(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--lease", "2s")
	tok := s.project("proj")
	dir, work := t.TempDir(), t.TempDir()
	first := startRunner(t, s, "first", "--tag", "linux", "--work-dir", work)
	s.submit(tok, map[string]any{"env": map[string]string{"OUT": dir}, "cmd": escapeJob})
	pids := escapedPids(t, dir)
	// Stopped first, the runner cannot end the job when its supervisor dies.
	runner := first.cmd.Process.Pid
	require.NoError(t, syscall.Kill(runner, syscall.SIGSTOP))
	supervisors := childrenRunning(t, runner, "job-supervisor")
	require.Len(t, supervisors, 1)
	require.NoError(t, syscall.Kill(supervisors[0], syscall.SIGKILL))
	require.NoError(t, syscall.Kill(runner, syscall.SIGKILL))
	_ = first.cmd.Wait()
	// A while with nothing left to end them (the duration is the test): they live on.
	time.Sleep(100 * time.Millisecond)
	for _, pid := range pids {
		require.False(t, processGoneOrZombie(pid), "nothing is left to end the job's processes")
	}
	second := startRunner(t, s, "second", "--tag", "other", "--work-dir", work)
	requireAllGone(t, 5*time.Second, pids)
	require.Eventually(t, func() bool {
		return strings.Contains(second.out.String(), "cleaning up after an earlier runner: job")
	}, 5*time.Second, 20*time.Millisecond)
}

// killLeftovers kills what a failed test left running: the processes of a job
// whose environment names dir as OUT.
func killLeftovers(dir string) {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, _ := os.ReadFile("/proc/" + e.Name() + "/environ")
		if bytes.Contains(env, []byte("\x00OUT="+dir+"\x00")) || bytes.HasPrefix(env, []byte("OUT="+dir+"\x00")) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// childrenRunning lists the children of parent whose command line contains word.
func childrenRunning(t *testing.T, parent int, word string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		cmdline, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if len(f) > 1 && f[1] == strconv.Itoa(parent) && bytes.Contains(cmdline, []byte(word)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// procState reads a process's state letter from /proc.
func procState(pid int, state *string) error {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return err
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	*state = f[0]
	return nil
}
