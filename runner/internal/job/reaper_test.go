package job

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestOrphanReapedWithoutPolling: an orphan the runner adopted is reaped once it
// exits, and an idle runner does not read /proc meanwhile (with hundreds of
// runners on a machine, each reading every process's stat every second took
// both cores).
func TestOrphanReapedWithoutPolling(t *testing.T) {
	// Not parallel: no other test's processes exit meanwhile.
	before := orphanScans.Load()
	time.Sleep(2500 * time.Millisecond)
	require.Equal(t, before, orphanScans.Load(), "an idle runner scanned /proc")

	// The shell exits at once; its sleep is reparented to this process (the
	// subreaper), which must reap it when it exits. The shell is a child this
	// process waits for itself, started as the runner starts its supervisors:
	// any other child that exits is the reaper's.
	var out strings.Builder
	cmd := exec.Command("sh", "-c", "sleep 0.3 & echo $!")
	cmd.Stdout = &out
	require.NoError(t, startWaited(cmd))
	time.Sleep(100 * time.Millisecond) // the shell has exited: the reaper had its chance
	require.NoError(t, cmd.Wait(), "the reaper took the exit of a child the runner waits for")
	forgetSupervisor(cmd.Process.Pid)
	pid, err := strconv.Atoi(strings.TrimSpace(out.String()))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, err := os.Stat("/proc/" + strconv.Itoa(pid))
		return os.IsNotExist(err)
	}, 5*time.Second, 10*time.Millisecond, "the orphan was not reaped")
}
