package job

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestRunnerDeathEndsTheJob: when the runner dies (kill -9 included), the kernel
// closes its end of the supervisor's lifeline, and the supervisor kills the job's
// shell, its detached processes and the double fork at once. The test closes
// that end itself: it cannot die and still check.
func TestRunnerDeathEndsTheJob(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	b := setup(t, escapees(out, "echo ready; sleep 600"))
	b.spec.Grace = time.Minute // no grace: the runner is gone
	p := start(t, b.spec)
	daemon, forked := readPid(t, filepath.Join(out, "daemon")), readPid(t, filepath.Join(out, "forked"))
	require.Eventually(t, func() bool { return b.out.String() == "ready\n" }, 10*time.Second, time.Millisecond)

	require.NoError(t, p.lifeline.Close())
	requireGone(t, time.Second, p.Pgid(), daemon, forked)
	requireGroupGone(t, p.Pgid(), time.Second)
	res := p.Wait()
	require.Equal(t, 128+9, res.ExitCode)
}

// TestUnmarkedProcessEndsWithTheJob: a process that clears its environment and
// leaves the group is beyond the mark, but not beyond the supervisor, whose
// descendant it stays.
func TestUnmarkedProcessEndsWithTheJob(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	b := setup(t, `setsid env -i sleep 600 </dev/null >/dev/null 2>&1 & echo $! > `+out+`/pid.tmp; mv `+out+`/pid.tmp `+out+`/pid`)
	res := start(t, b.spec).Wait()
	require.Equal(t, 0, res.ExitCode, b.out.String())
	requireGone(t, time.Second, readPid(t, filepath.Join(out, "pid")))
}

// TestSupervisorIsInvisible: the shell gets the job's environment (later entries
// winning) with its own mark only (also under a runner that runs inside a job),
// and neither of the supervisor's pipes to the runner; the job's environment does
// not change the supervisor (GODEBUG=inittrace=1 would print into the job's output).
func TestSupervisorIsInvisible(t *testing.T) {
	t.Parallel()
	b := setup(t, `echo "$GREETING"; env | grep -c "^`+markVar+`="; env | grep -c "^`+markVar+`=outer$"; ls -l /proc/$$/fd`)
	b.spec.Env = append(b.spec.Env, markVar+"=outer", "GODEBUG=inittrace=1", "GREETING=second")
	p := start(t, b.spec)
	var pipes []string
	for _, f := range []*os.File{p.statusR, p.lifeline} {
		var st syscall.Stat_t
		require.NoError(t, syscall.Fstat(int(f.Fd()), &st))
		pipes = append(pipes, fmt.Sprintf("pipe:[%d]", st.Ino))
	}
	require.Equal(t, 0, p.Wait().ExitCode)
	require.True(t, strings.HasPrefix(b.out.String(), "second\n1\n0\ntotal"), b.out.String())
	for _, pipe := range pipes {
		require.NotContains(t, b.out.String(), pipe)
	}
	require.Contains(t, b.out.String(), "1 -> pipe:[")
}

// TestStartRefusesNULInTheEnvironment, as exec would, before anything runs.
func TestStartRefusesNULInTheEnvironment(t *testing.T) {
	t.Parallel()
	b := setup(t, "true")
	b.spec.Env = append(b.spec.Env, "BAD=a\x00b")
	_, err := Start(b.spec)
	require.ErrorContains(t, err, `"BAD"`)
	require.Empty(t, jobsLeft(t, b.spec.WorkDir), "no workspace left behind")
}

// cmdline reads a process's command line, its arguments separated by spaces.
func cmdline(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	require.NoError(t, err)
	return strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
}

// idleSpares lists this process's children that wait for a job as spares.
func idleSpares(t *testing.T) []int {
	t.Helper()
	var pids []int
	for _, p := range processes() {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.pid)); err == nil &&
			p.ppid == os.Getpid() && p.running() && strings.Contains(string(b), spareCommand) {
			pids = append(pids, p.pid)
		}
	}
	return pids
}

// TestJobsRunInSpareSupervisors: after a job started, an idle supervisor waits
// for the next one (shown as job-spare-idle), which runs in it (then shown as
// job-supervisor), in its workspace, with its output.
func TestJobsRunInSpareSupervisors(t *testing.T) {
	first := start(t, setup(t, "true").spec)
	require.Equal(t, 0, first.Wait().ExitCode)
	var idle *supervisor
	require.Eventually(t, func() bool {
		spare.Lock()
		defer spare.Unlock()
		idle = spare.idle
		return idle != nil
	}, 10*time.Second, time.Millisecond)
	require.Equal(t, "aura-runner "+spareCommand, cmdline(t, idle.cmd.Process.Pid))

	b := setup(t, `pwd; echo "$GREETING"; echo to stderr >&2; tr '\0' ' ' < /proc/$PPID/cmdline; exit 3`)
	p := start(t, b.spec)
	require.Equal(t, idle.cmd.Process.Pid, p.cmd.Process.Pid, "the job ran in the spare")
	require.Equal(t, 3, p.Wait().ExitCode)
	require.Equal(t, p.Dir()+"\nhello world\nto stderr\naura-runner "+supervisorCommand+" ", b.out.String())
}

// TestIdleSpareExitsQuietly: a spare let go before it got a job (the runner
// exits) exits with 0 and writes nothing.
func TestIdleSpareExitsQuietly(t *testing.T) {
	t.Parallel()
	s, err := startSupervisor(nil, shell{})
	require.NoError(t, err)
	require.NoError(t, s.release())
	out, err := io.ReadAll(s.output)
	require.NoError(t, err)
	require.Empty(t, string(out))
	require.NoError(t, s.output.Close())
}

// TestConcurrentStarts: jobs started at once each get a supervisor of their
// own, and at most one spare is left waiting.
func TestConcurrentStarts(t *testing.T) {
	var wg sync.WaitGroup
	results := make([]string, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := setup(t, fmt.Sprintf("sleep 0.2; echo %d $PPID", i))
			p, err := Start(b.spec)
			if err != nil {
				results[i] = err.Error()
				return
			}
			if res := p.Wait(); res.ExitCode != 0 {
				results[i] = fmt.Sprint(res)
				return
			}
			results[i] = b.out.String()
		}()
	}
	wg.Wait()
	supervisorPids := map[string]bool{}
	for i, out := range results {
		n, pid, _ := strings.Cut(strings.TrimSpace(out), " ")
		require.Equal(t, fmt.Sprint(i), n, out)
		supervisorPids[pid] = true
	}
	require.Len(t, supervisorPids, len(results), "a supervisor runs one job")
	require.Eventually(t, func() bool {
		spare.Lock()
		defer spare.Unlock()
		return spare.starting == nil
	}, 10*time.Second, time.Millisecond)
	require.LessOrEqual(t, len(idleSpares(t)), 1)
}

// TestJobWaitsForTheSpareOnItsWay: a job that comes while the spare is being
// started (the previous job began less than refillDelay ago, or just ended)
// runs in it once it is ready, rather than in a supervisor started for it.
func TestJobWaitsForTheSpareOnItsWay(t *testing.T) {
	// Not parallel: it counts the supervisors the package starts.
	spare.Lock()
	idle, starting := spare.idle, spare.starting
	spare.idle = nil
	spare.Unlock()
	if starting != nil {
		<-starting
		spare.Lock()
		idle, spare.idle = spare.idle, nil
		spare.Unlock()
	}
	if idle != nil {
		require.NoError(t, idle.release())
	}

	before := supervisorStarts.Load()
	b := setup(t, `echo started; sleep 0.3; true`)
	Prestart(b.spec.WorkDir, "sh")
	p := start(t, b.spec)
	require.Equal(t, before+1, supervisorStarts.Load(), "a supervisor was started for the job")
	if readsWholeLine("/bin/sh") {
		// Even a runner's first job finds its workspace made and its shell started.
		require.Eventually(t, func() bool { return b.out.String() == "started\n" }, 5*time.Second, time.Millisecond)
		cmd, err := os.ReadFile("/proc/" + strconv.Itoa(p.Pgid()) + "/cmdline")
		require.NoError(t, err)
		require.Equal(t, "sh\x00", string(cmd), "the shell was started ahead")
		require.Regexp(t, `/job-\d+$`, p.Dir(), "the workspace was made ahead")
	}
	require.Equal(t, 0, p.Wait().ExitCode)
}

// TestNextJobRunsInWorkspaceMadeAhead: the spare started after a job comes
// with the next job's workspace, made in the same work folder while the runner
// was idle; the next job runs in it, its record names the job, and it is
// removed as the job ends.
func TestNextJobRunsInWorkspaceMadeAhead(t *testing.T) {
	// Not parallel: it takes the package's spare. The refills the tests
	// before it left on their way come first.
	time.Sleep(2 * refillDelay)
	require.Eventually(t, func() bool {
		spare.Lock()
		defer spare.Unlock()
		return spare.starting == nil
	}, 10*time.Second, time.Millisecond)
	first := setup(t, "true")
	require.Equal(t, 0, start(t, first.spec).Wait().ExitCode)
	var ahead string
	require.Eventually(t, func() bool {
		spare.Lock()
		defer spare.Unlock()
		if spare.idle != nil && spare.idle.workspace != nil {
			ahead = spare.idle.workspace.dir
		}
		return filepath.Dir(ahead) == first.spec.WorkDir
	}, 10*time.Second, time.Millisecond)
	require.DirExists(t, ahead)
	rec, err := readRecord(ahead + ".run")
	require.NoError(t, err)
	require.Zero(t, rec.ID, "no job yet")

	next := setup(t, "pwd; sleep 0.3")
	next.spec.WorkDir, next.spec.ID, next.spec.Attempt = first.spec.WorkDir, 43, 2
	p := start(t, next.spec)
	require.Equal(t, ahead, p.Dir())
	require.Eventually(t, func() bool {
		rec, err := readRecord(ahead + ".run")
		return err == nil && rec.ID == 43 && rec.Attempt == 2 && rec.Mark == p.mark
	}, 5*time.Second, time.Millisecond, "the record names the job")
	require.Equal(t, 0, p.Wait().ExitCode)
	require.Equal(t, ahead+"\n", next.out.String())
	require.NoDirExists(t, ahead)
	require.NoFileExists(t, ahead+".run")
	require.Empty(t, jobsLeft(t, first.spec.WorkDir))
}

// TestIdleSpareRemovesItsWorkspace: a spare let go without a job (the runner
// exits) removes the workspace made ahead with it.
func TestIdleSpareRemovesItsWorkspace(t *testing.T) {
	t.Parallel()
	ws, err := makeWorkspace(workDir(t), 0, 0)
	require.NoError(t, err)
	s, err := startSupervisor(ws, shell{})
	require.NoError(t, err)
	require.NoError(t, s.release())
	require.NoDirExists(t, ws.dir)
	require.NoFileExists(t, ws.dir+".run")
}

func readRecord(path string) (record, error) {
	var r record
	b, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(b, &r)
	}
	return r, err
}
