package job

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
	entries, err := os.ReadDir(b.spec.WorkDir)
	require.NoError(t, err)
	require.Empty(t, entries, "no workspace left behind")
}
