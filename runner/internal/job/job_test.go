package job

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// syncBuffer is a bytes.Buffer safe to read while the job writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type testBundle struct {
	out  *syncBuffer
	spec Spec
}

func setup(t *testing.T, cmd string) *testBundle {
	t.Helper()
	out := &syncBuffer{}
	return &testBundle{out: out, spec: Spec{
		ID: 42, Attempt: 1, Cmd: cmd, Shell: "sh",
		Env:     append(os.Environ(), "GREETING=hello world"),
		WorkDir: workDir(t), Grace: 2 * time.Second, Output: out,
	}}
}

// workDir is a work folder for t's jobs. Unlike t.TempDir, its removal
// tolerates the next job's workspace being made ahead in it meanwhile.
func workDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "aura-job-test")
	require.NoError(t, err)
	t.Cleanup(func() {
		for range 100 {
			if os.RemoveAll(dir) == nil {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Errorf("cannot remove %s", dir)
	})
	return dir
}

// aheadName matches the names of a workspace made ahead for the next job and
// of its record.
var aheadName = regexp.MustCompile(`^job-[0-9]+(\.run)?$`)

// jobsLeft lists what jobs left in workDir: all but the workspace made ahead
// for the next job. A job that ran in one removed it as it ended.
func jobsLeft(t *testing.T, workDir string) []string {
	t.Helper()
	entries, err := os.ReadDir(workDir)
	require.NoError(t, err)
	var left []string
	for _, e := range entries {
		if !aheadName.MatchString(e.Name()) {
			left = append(left, e.Name())
		}
	}
	return left
}

func start(t *testing.T, spec Spec) *Process {
	t.Helper()
	p, err := Start(spec)
	require.NoError(t, err)
	return p
}

// groupPids lists the live (non-zombie) processes of a process group.
func groupPids(t *testing.T, pgid int) []int {
	t.Helper()
	var pids []int
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if fields[2] == strconv.Itoa(pgid) && fields[0] != "Z" {
			pids = append(pids, pid)
		}
	}
	return pids
}

// gone reports whether pid no longer runs (a zombie counts as gone).
func gone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	return fields[0] == "Z"
}

// requireGroupGone checks that no process of the group runs any more: kill -0 on
// the group finds none, or only zombies. Orphaned processes are reaped by PID 1,
// which may take its time (seconds, on some machines), so zombies count as gone.
func requireGroupGone(t *testing.T, pgid int, within time.Duration) {
	t.Helper()
	require.Eventually(t, func() bool {
		return errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH) || len(groupPids(t, pgid)) == 0
	}, max(within, 100*time.Millisecond), 5*time.Millisecond, "process group %d still has processes", pgid)
}

func TestRunOutputEnvAndExitCode(t *testing.T) {
	t.Parallel()

	b := setup(t, `echo "out $GREETING"; echo err >&2; printf 'cwd %s\n' "$(pwd)"; echo last; exit 3`)
	p := start(t, b.spec)
	dir := p.Dir()
	require.DirExists(t, dir)
	res := p.Wait()

	require.Equal(t, 3, res.ExitCode)
	require.Equal(t, NotStopped, res.Stopped)
	// stdout and stderr share one pipe, so their order is kept.
	require.Equal(t, "out hello world\nerr\ncwd "+dir+"\nlast\n", b.out.String())
	require.NoDirExists(t, dir, "the workspace is removed")
}

func TestRunWorkspace(t *testing.T) {
	t.Parallel()

	b := setup(t, `touch a && mkdir -p ro/deep && touch ro/deep/f && chmod -R a-w ro && ls`)
	p := start(t, b.spec)
	require.Contains(t, p.Dir(), "job-42-1-")
	res := p.Wait()
	require.Equal(t, 0, res.ExitCode, b.out.String())
	require.Equal(t, "a\nro\n", b.out.String())
	require.NoDirExists(t, p.Dir(), "read-only folders are removed too")

	require.Empty(t, jobsLeft(t, b.spec.WorkDir))
}

func TestRunSignalExitCode(t *testing.T) {
	t.Parallel()

	b := setup(t, `kill -9 $$`)
	require.Equal(t, 128+9, start(t, b.spec).Wait().ExitCode)
}

func TestStartFails(t *testing.T) {
	t.Parallel()

	b := setup(t, "true")
	b.spec.Shell = "/nonexistent/shell"
	_, err := Start(b.spec)
	require.ErrorContains(t, err, "/nonexistent/shell")
	require.Empty(t, jobsLeft(t, b.spec.WorkDir), "no workspace left behind")
}

// TestStopKillsTheProcessGroup cancels a job whose shell waits for two sleeps, one
// in the background: every process of the group is gone within the grace period.
func TestStopKillsTheProcessGroup(t *testing.T) {
	t.Parallel()

	b := setup(t, `sleep 600 & sleep 600; wait`)
	p := start(t, b.spec)
	require.Eventually(t, func() bool { return len(groupPids(t, p.Pgid())) == 3 }, 5*time.Second, 10*time.Millisecond,
		"sh and two sleeps")
	pids := groupPids(t, p.Pgid())

	began := time.Now()
	p.Stop(Cancelled)
	res := p.Wait()
	took := time.Since(began)

	require.Less(t, took, b.spec.Grace, "stopped within the grace period")
	for _, pid := range pids {
		require.True(t, gone(pid), "process %d still runs", pid)
	}
	requireGroupGone(t, p.Pgid(), b.spec.Grace-took)
	require.Equal(t, Cancelled, res.Stopped)
	require.Equal(t, 128+int(syscall.SIGTERM), res.ExitCode)
	require.Contains(t, b.out.String(), "aura-runner: the job was cancelled: sending SIGTERM")
	require.NoDirExists(t, p.Dir())
}

// TestStopEscalatesToSIGKILL stops a job that ignores SIGTERM.
func TestStopEscalatesToSIGKILL(t *testing.T) {
	t.Parallel()

	b := setup(t, `trap '' TERM; echo ready; sleep 600 & wait`)
	b.spec.Grace = 300 * time.Millisecond
	p := start(t, b.spec)
	require.Eventually(t, func() bool { return strings.Contains(b.out.String(), "ready") }, 5*time.Second, 10*time.Millisecond)

	began := time.Now()
	p.Stop(Shutdown)
	res := p.Wait()
	took := time.Since(began)

	require.GreaterOrEqual(t, took, b.spec.Grace)
	require.Less(t, took, b.spec.Grace+2*time.Second)
	require.Equal(t, 128+9, res.ExitCode)
	require.Equal(t, Shutdown, res.Stopped)
	require.Contains(t, b.out.String(), "sending SIGKILL")
	requireGroupGone(t, p.Pgid(), time.Second)
}

func TestDroppedKillsAtOnce(t *testing.T) {
	t.Parallel()

	b := setup(t, `trap '' TERM; echo ready; sleep 600`)
	b.spec.Grace = time.Minute
	p := start(t, b.spec)
	// Not before the trap is set: under load a shell takes its time to start.
	require.Eventually(t, func() bool { return b.out.String() == "ready\n" }, 10*time.Second, time.Millisecond)
	p.Stop(Cancelled)
	p.Stop(Dropped) // the attempt turned out stale while the job was stopping
	began := time.Now()
	res := p.Wait()
	require.Less(t, time.Since(began), 5*time.Second)
	require.Equal(t, Dropped, res.Stopped)
	require.Equal(t, 128+9, res.ExitCode)
}

func TestTimeout(t *testing.T) {
	t.Parallel()

	b := setup(t, `trap 'echo got TERM; exit 0' TERM; echo start; sleep 600 & wait`)
	b.spec.Timeout = 300 * time.Millisecond
	res := start(t, b.spec).Wait()
	require.Equal(t, TimedOut, res.Stopped)
	require.Equal(t, ExitTimedOut, res.ExitCode, "a timed-out job never reports success")
	require.Less(t, res.Duration, b.spec.Grace)
	require.Equal(t, "start\naura-runner: the job timed out after 300ms: sending SIGTERM to the job's processes (SIGKILL in 2s)\ngot TERM\n",
		b.out.String())
}

// TestLeftoverProcessesEnd checks that a background process the job left behind
// ends with the job instead of keeping it (and its output pipe) open.
func TestLeftoverProcessesEnd(t *testing.T) {
	t.Parallel()

	b := setup(t, `sleep 600 & echo started`)
	p := start(t, b.spec)
	began := time.Now()
	res := p.Wait()
	require.Equal(t, 0, res.ExitCode)
	require.Less(t, time.Since(began), b.spec.Grace)
	requireGroupGone(t, p.Pgid(), time.Second)
	require.Equal(t, "started\n", b.out.String())
}

// TestEscapedProcessDoesNotHang checks that a process that left the group but
// keeps the output pipe open delays the end of the job by a bounded time only.
func TestEscapedProcessDoesNotHang(t *testing.T) {
	t.Parallel()

	b := setup(t, `setsid sleep 4 & echo started`)
	began := time.Now()
	res := start(t, b.spec).Wait()
	require.Equal(t, 0, res.ExitCode)
	require.Less(t, time.Since(began), 3500*time.Millisecond)
	require.Equal(t, "started\n", b.out.String())
}

func TestNoteStartsOnItsOwnLine(t *testing.T) {
	t.Parallel()

	b := setup(t, `printf 'no newline'; sleep 600`)
	p := start(t, b.spec)
	require.Eventually(t, func() bool { return b.out.String() == "no newline" }, 5*time.Second, 10*time.Millisecond)
	p.Stop(Cancelled)
	p.Wait()
	require.True(t, strings.HasPrefix(b.out.String(), "no newline\naura-runner: the job was cancelled"), b.out.String())
}

// TestShellLookedUpOnce: the shell is searched on PATH for the first job only
// (a job's start saves a stat per PATH folder); when it moved, the next job
// finds it again.
func TestShellLookedUpOnce(t *testing.T) {
	sh, err := exec.LookPath("sh")
	require.NoError(t, err)
	name := fmt.Sprintf("aura-test-sh-%d", time.Now().UnixNano())
	first, second := t.TempDir(), t.TempDir()
	require.NoError(t, os.Symlink(sh, filepath.Join(first, name)))
	path := os.Getenv("PATH")
	run := func() string {
		t.Helper()
		b := setup(t, `echo "ran $0"`)
		b.spec.Shell = name
		p := start(t, b.spec)
		require.Equal(t, 0, p.Wait().ExitCode)
		return b.out.String()
	}

	t.Setenv("PATH", first+string(os.PathListSeparator)+path)
	require.Equal(t, "ran "+name+"\n", run())
	// Not on PATH any more, but where it was found: no search.
	t.Setenv("PATH", path)
	require.Equal(t, "ran "+name+"\n", run())

	// Moved: the hand-over fails, and the shell is searched for again.
	require.NoError(t, os.Rename(filepath.Join(first, name), filepath.Join(second, name)))
	t.Setenv("PATH", second+string(os.PathListSeparator)+path)
	require.Equal(t, "ran "+name+"\n", run())

	// Gone: the job cannot start, and says why.
	require.NoError(t, os.Remove(filepath.Join(second, name)))
	b := setup(t, "true")
	b.spec.Shell = name
	_, err = Start(b.spec)
	require.ErrorContains(t, err, name)
}

// TestWorkFolderCreated: a work folder that is missing (removed while the
// runner ran) is created for the next job.
func TestWorkFolderCreated(t *testing.T) {
	t.Parallel()

	b := setup(t, "pwd")
	b.spec.WorkDir = filepath.Join(b.spec.WorkDir, "gone", "work")
	p := start(t, b.spec)
	require.Equal(t, 0, p.Wait().ExitCode)
	require.True(t, strings.HasPrefix(b.out.String(), filepath.Join(b.spec.WorkDir, "job-42-1-")), b.out.String())
}
