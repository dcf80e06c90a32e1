package job

import (
	"os/exec"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSignalTreeSignalsEachProcessOnce: a process of the job's group gets a
// signal once, not once for the group and again as a member (a shell's trap
// ran twice on a timeout, and printed its line twice).
func TestSignalTreeSignalsEachProcessOnce(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, cmd.Start())
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	pid := cmd.Process.Pid

	var sent []int
	kill = func(pid int, sig syscall.Signal) error {
		sent = append(sent, pid)
		return syscall.Kill(pid, sig)
	}
	defer func() { kill = syscall.Kill }()
	signalTree(pid, "", syscall.SIGCONT)
	require.Equal(t, []int{-pid}, sent, "the group once, and no member again")
}
