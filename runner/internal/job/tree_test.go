package job

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// escapees starts a setsid daemon and a detached double fork, writes their pids
// to $OUT/daemon and $OUT/forked, and then runs rest.
func escapees(out, rest string) string {
	return `
		OUT=` + out + `
		setsid sleep 600 </dev/null >/dev/null 2>&1 & echo $! > "$OUT/daemon.tmp"
		(setsid sh -c 'sleep 600 & echo $! > "$1"' _ "$OUT/forked.tmp" </dev/null >/dev/null 2>&1 &)
		while [ ! -s "$OUT/forked.tmp" ]; do sleep 0.01; done
		mv "$OUT/daemon.tmp" "$OUT/daemon"; mv "$OUT/forked.tmp" "$OUT/forked"
		` + rest
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	var pid int
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(path)
		if err != nil {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	}, 10*time.Second, 5*time.Millisecond, "no pid in %s", path)
	return pid
}

func requireGone(t *testing.T, within time.Duration, pids ...int) {
	t.Helper()
	require.Eventually(t, func() bool {
		for _, pid := range pids {
			if !gone(pid) {
				return false
			}
		}
		return true
	}, within, 10*time.Millisecond, "processes %v outlived their job", pids)
}

func TestDetachedProcessesEndWithTheJob(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	b := setup(t, escapees(out, "echo done"))
	res := start(t, b.spec).Wait()
	require.Equal(t, 0, res.ExitCode)
	requireGone(t, time.Second, readPid(t, filepath.Join(out, "daemon")), readPid(t, filepath.Join(out, "forked")))
}

func TestDetachedProcessesEndOnCancel(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	b := setup(t, escapees(out, "sleep 600"))
	p := start(t, b.spec)
	daemon, forked := readPid(t, filepath.Join(out, "daemon")), readPid(t, filepath.Join(out, "forked"))
	p.Stop(Cancelled)
	requireGone(t, time.Second, daemon, forked)
	res := p.Wait()
	require.Equal(t, Cancelled, res.Stopped)
}

// TestRecover: what a crashed runner's job left running is killed by the next
// runner on the same work folder, and its workspace removed.
func TestRecover(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	b := setup(t, escapees(out, "sleep 600"))
	p := start(t, b.spec)
	daemon, forked := readPid(t, filepath.Join(out, "daemon")), readPid(t, filepath.Join(out, "forked"))
	require.Eventually(t, func() bool { return len(groupPids(t, p.Pgid())) == 2 }, 5*time.Second, 5*time.Millisecond,
		"the shell and its sleep")

	done, err := Recover(b.spec.WorkDir)
	require.NoError(t, err)
	require.Len(t, done, 1)
	require.Contains(t, done[0], "job 42 attempt 1: killed 4 process(es)")
	requireGone(t, time.Second, daemon, forked, p.Pgid())
	p.Wait()
	require.Empty(t, jobsLeft(t, b.spec.WorkDir), "the workspace and its record are removed")
}

// TestRecoverIsQuietAboutWorkspacesMadeAhead: a workspace made ahead for a
// next job that never came is removed without a word.
func TestRecoverIsQuietAboutWorkspacesMadeAhead(t *testing.T) {
	t.Parallel()
	dir := workDir(t)
	_, err := makeWorkspace(dir, 0, 0)
	require.NoError(t, err)
	done, err := Recover(dir)
	require.NoError(t, err)
	require.Empty(t, done)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, entries)
}
