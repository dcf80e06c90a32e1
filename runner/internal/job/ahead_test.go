package job

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// aheadProbe is a job command that shows what a job sees of its shell: its
// name, arguments, folder, environment, standard input and open files, the
// line numbers of its messages, and its exit code. Its last line waits for
// the test to read the shell's command line.
const aheadProbe = `echo "0=$0 #=$#"; pwd; env | sort
echo "in: $(readlink /proc/$$/fd/0)"; cat; read x || echo "stdin ends"
for fd in 3 4 5 6 7 8 9; do [ -e /proc/$$/fd/$fd ] && echo "fd $fd is open"; done
nosuchcommand
printf '%s\n' "$GREETING"
sleep 0.3; exit 3`

// TestShellStartedAheadRunsTheJobAsShC: a job the spare's shell started ahead
// runs sees what it would see under `sh -c`, its messages name the same
// lines, and it ends with the same code; only its shell was started ahead.
func TestShellStartedAheadRunsTheJobAsShC(t *testing.T) {
	// Not parallel: it takes the package's spare.
	if !readsWholeLine("/bin/sh") {
		t.Skip("sh is not dash: no shell is started ahead")
	}
	run := func(ahead bool) (out string, cmdline string) {
		b := setup(t, aheadProbe)
		b.spec.Env = append(b.spec.Env, `GREETING=it's "quoted" $HOME `+"`x` \\ and\ta tab")
		takeSpare(t)
		if ahead {
			// A job in the work folder: the spare refilled after it comes with
			// the next job's workspace and shell.
			first := b.spec
			first.Cmd = "true"
			require.Equal(t, 0, start(t, first).Wait().ExitCode)
			spareReady(t, b.spec.WorkDir)
		}
		p := start(t, b.spec)
		require.Eventually(t, func() bool { return strings.Contains(b.out.String(), "$HOME") }, 5*time.Second, time.Millisecond)
		cmd, err := os.ReadFile("/proc/" + strconv.Itoa(p.Pgid()) + "/cmdline")
		require.NoError(t, err)
		require.Equal(t, 3, p.Wait().ExitCode, b.out.String())
		return strings.NewReplacer(p.Dir(), "<workspace>", p.mark, "<mark>").Replace(b.out.String()), string(cmd)
	}
	asUsual, usualCmd := run(false)
	ahead, aheadCmd := run(true)
	require.Equal(t, "sh\x00-c\x00"+aheadProbe+"\x00", usualCmd)
	require.Equal(t, "sh\x00", aheadCmd, "the shell was started ahead")
	require.Equal(t, asUsual, ahead)
	require.Contains(t, ahead, "sh: 4: nosuchcommand: not found\n")
	require.Contains(t, ahead, "in: /dev/null\nstdin ends\nsh: 4: nosuchcommand")
	require.Contains(t, ahead, "it's \"quoted\" $HOME `x` \\ and\ta tab\n")
}

// TestJobsNotForAShellStartedAheadStartAsUsual: a command too long for one
// write, a variable the shell reads only as it starts, or another shell are
// started by exec as before; the shell started ahead exits unused.
func TestJobsNotForAShellStartedAheadStartAsUsual(t *testing.T) {
	// Not parallel: it takes the package's spare.
	if !readsWholeLine("/bin/sh") {
		t.Skip("sh is not dash: no shell is started ahead")
	}
	for name, change := range map[string]func(*Spec){
		"long command":     func(s *Spec) { s.Cmd += "; : " + strings.Repeat("x", pipeBuf) },
		"IFS":              func(s *Spec) { s.Env = append(s.Env, "IFS=:") },
		"not a shell name": func(s *Spec) { s.Env = append(s.Env, "A-B=1") },
		"a new line":       func(s *Spec) { s.Env = append(s.Env, "KEY=a\nb") },
	} {
		t.Run(name, func(t *testing.T) {
			b := setup(t, "echo started; sleep 0.3; true")
			takeSpare(t)
			first := b.spec
			first.Cmd = "true"
			require.Equal(t, 0, start(t, first).Wait().ExitCode)
			ahead := spareReady(t, b.spec.WorkDir)
			change(&b.spec)
			p := start(t, b.spec)
			require.Eventually(t, func() bool { return b.out.String() == "started\n" }, 5*time.Second, time.Millisecond)
			cmd, err := os.ReadFile("/proc/" + strconv.Itoa(p.Pgid()) + "/cmdline")
			require.NoError(t, err)
			require.True(t, strings.HasPrefix(string(cmd), "sh\x00-c\x00"), "%q", cmd)
			// Reaped before the job's shell started, not left to exit by itself.
			require.Equal(t, []int{p.Pgid()}, children(t, ahead), "the shell started ahead exited unused")
			require.Equal(t, 0, p.Wait().ExitCode, b.out.String())
		})
	}
}

// TestIdleSpareEndsItsShell: the shell a spare starts ahead writes its errors
// nowhere until it gets a job; a spare let go without a job ends that shell,
// then removes its workspace.
func TestIdleSpareEndsItsShell(t *testing.T) {
	t.Parallel()
	if !readsWholeLine("/bin/sh") {
		t.Skip("sh is not dash: no shell is started ahead")
	}
	ws, err := makeWorkspace(workDir(t), 0, 0)
	require.NoError(t, err)
	s, err := startSupervisor(ws, shell{path: "/bin/sh", name: "sh"})
	require.NoError(t, err)
	var shells []int
	require.Eventually(t, func() bool {
		shells = children(t, s.cmd.Process.Pid)
		if len(shells) != 1 {
			return false
		}
		cmd, _ := os.ReadFile("/proc/" + strconv.Itoa(shells[0]) + "/cmdline")
		return string(cmd) == "sh\x00"
	}, 5*time.Second, time.Millisecond, "the spare starts its shell")
	// What it says while unused (its folder removed, say) is no job's output.
	stderr, err := os.Readlink("/proc/" + strconv.Itoa(shells[0]) + "/fd/2")
	require.NoError(t, err)
	require.Equal(t, os.DevNull, stderr)
	require.NoError(t, s.release())
	requireGone(t, time.Second, shells[0])
	require.NoDirExists(t, ws.dir)
}

func TestAheadLine(t *testing.T) {
	t.Parallel()
	line, ok := aheadLine(supervisedJob{cmd: "echo hi", env: []string{"A=it's", "PATH=/bin", "_x1=", "PWD=/w"}})
	require.True(t, ok)
	require.Equal(t, `exec </dev/null 2>&1; export A='it'\''s' PATH='/bin' _x1='' PWD='/w'; echo hi`+"\n", string(line))
	line, ok = aheadLine(supervisedJob{cmd: "echo hi"})
	require.True(t, ok)
	require.Equal(t, "exec </dev/null 2>&1; echo hi\n", string(line))
	for _, env := range []string{"IFS= ", "PPID=1", "OPTIND=2", "LINENO=3", "1A=x", "A.B=x", "=x"} {
		_, ok := aheadLine(supervisedJob{cmd: "true", env: []string{env}})
		require.False(t, ok, env)
	}
	_, ok = aheadLine(supervisedJob{cmd: strings.Repeat("x", pipeBuf)})
	require.False(t, ok, "longer than one write a pipe never splits")
}

// takeSpare lets the package's spare go, and any on its way, so that the
// next job starts a supervisor of its own, without a shell started ahead.
func takeSpare(t *testing.T) {
	t.Helper()
	time.Sleep(2 * refillDelay) // refills of earlier jobs come first
	for {
		spare.Lock()
		idle, starting := spare.idle, spare.starting
		spare.idle = nil
		spare.Unlock()
		if idle != nil {
			require.NoError(t, idle.release())
		}
		if starting == nil {
			return
		}
		<-starting
	}
}

// spareReady waits for the spare refilled after a job in workDir, with the
// next job's workspace and its shell, and returns the spare's pid.
func spareReady(t *testing.T, workDir string) int {
	t.Helper()
	var pid int
	require.Eventually(t, func() bool {
		spare.Lock()
		defer spare.Unlock()
		if spare.idle == nil || spare.idle.workspace == nil || filepath.Dir(spare.idle.workspace.dir) != workDir {
			return false
		}
		pid = spare.idle.cmd.Process.Pid
		return true
	}, 10*time.Second, time.Millisecond)
	require.Eventually(t, func() bool { return len(children(t, pid)) == 1 }, 5*time.Second, time.Millisecond,
		"the spare starts its shell")
	return pid
}

// children lists pid's child processes.
func children(t *testing.T, pid int) []int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + strconv.Itoa(pid) + "/children")
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		n, err := strconv.Atoi(f)
		require.NoError(t, err)
		pids = append(pids, n)
	}
	return pids
}

// TestJobRunsWhenTheShellStartedAheadDied: a shell started ahead that died
// while idle takes nothing; its supervisor is let go, and the job runs under
// another.
func TestJobRunsWhenTheShellStartedAheadDied(t *testing.T) {
	// Not parallel: it takes the package's spare.
	if !readsWholeLine("/bin/sh") {
		t.Skip("sh is not dash: no shell is started ahead")
	}
	b := setup(t, `echo "$GREETING"`)
	takeSpare(t)
	first := b.spec
	first.Cmd = "true"
	require.Equal(t, 0, start(t, first).Wait().ExitCode)
	spareReady(t, b.spec.WorkDir)
	spare.Lock()
	shellPid := spare.idle.ahead.pid
	spare.Unlock()
	require.NotZero(t, shellPid)
	require.NoError(t, syscall.Kill(shellPid, syscall.SIGKILL))
	require.Eventually(t, func() bool {
		st, err := os.ReadFile("/proc/" + strconv.Itoa(shellPid) + "/stat")
		return err != nil || strings.Contains(string(st), ") Z ")
	}, 5*time.Second, time.Millisecond)
	p := start(t, b.spec)
	require.NotEqual(t, shellPid, p.Pgid())
	require.Equal(t, 0, p.Wait().ExitCode)
	require.Equal(t, "hello world\n", b.out.String())
}
