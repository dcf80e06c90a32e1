package job

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// The runner starts every job's supervisor ahead of its job, as a spare: it
// starts itself again as `aura-runner job-spare-idle`, which waits on its
// lifeline for a job (see encodeJob), then shows itself as `aura-runner
// job-supervisor` (the same length: it rewrites its command line in place),
// starts the job's shell and keeps it for as long as the runner lives. Starting
// the 10 MB binary costs milliseconds the job need not wait for.
const (
	spareCommand      = "job-spare-idle"
	supervisorCommand = "job-supervisor"
)

// init turns any program that can start jobs (aura-runner, and the test binaries
// of the packages that start jobs) into a supervisor when started as one, before
// its main or TestMain: a test binary without that would run its tests again.
func init() {
	if len(os.Args) > 1 && os.Args[1] == spareCommand {
		os.Exit(supervise())
	}
}

// The supervisor's file descriptors besides stdin, stdout and stderr, which it
// passes on to the shell (the job's output pipe on 1 and 2).
const (
	// statusFD carries the supervisor's lines to the runner: "ahead <pid>"
	// first from a spare given a shell to start ahead (ahead.go), then
	// "started <pid>" or "failed <why>", then "exit <code>" when the shell
	// exits.
	statusFD = 3
	// shellInputFD, in a spare given a shell to start ahead, is the read end
	// of the pipe that becomes that shell's standard input; the runner holds
	// its write end (see startedShell).
	shellInputFD = 5
	// lifelineFD is a pipe whose write end only the runner holds. It first
	// carries the job (see encodeJob), then reads EOF when the runner closes
	// it (the job is over) or when the runner dies in any way, kill -9
	// included: the kernel closes a dead process's files. Unlike Pdeathsig, it
	// fires for the process and not the thread that started the supervisor,
	// and cannot be missed by a runner dying before the supervisor set it up.
	lifelineFD = 4
)

// supervise runs the supervisor of one job and returns its exit code, the
// shell's. It is the child subreaper of the job's processes, so everything the
// job starts, detached or not, stays its descendant; when its lifeline reads EOF
// it kills them all with SIGKILL, and exits. Stopping the job gracefully is the
// runner's part: its signals go to the job's process group and marked
// processes, never to the supervisor, which keeps the job within reach until
// the runner lets go. A spare let go before it got a job exits quietly.
func supervise() int {
	if len(os.Args) != 2 || syscall.Fstat(statusFD, &syscall.Stat_t{}) != nil || syscall.Fstat(lifelineFD, &syscall.Stat_t{}) != nil {
		fmt.Fprintf(os.Stderr, "aura-runner %s: runs one job for aura-runner; not for use by hand\n", spareCommand)
		return 2
	}
	syscall.CloseOnExec(statusFD)
	syscall.CloseOnExec(lifelineFD)
	status := os.NewFile(statusFD, "status")
	lifeline := bufio.NewReader(os.NewFile(lifelineFD, "lifeline"))
	// A SIGTERM, SIGINT or SIGHUP meant for the job (a whole session's, a
	// terminal's) must not take its keeper away. Caught signals are reset to their
	// default in the shell when it starts, ignored ones would not be.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	_ = setSubreaper() // Linux only; elsewhere the process group is what it kills
	ahead := startShellAhead(status)

	if _, err := lifeline.Peek(1); err != nil {
		// A spare no job came to: the runner exited or let it go. The
		// shell started ahead and the workspace made ahead with it go too.
		ahead.kill()
		if dir := os.Getenv(spareWorkspaceVar); dir != "" {
			(&workspace{dir: dir}).remove()
		}
		return 0
	}
	j, err := readJob(lifeline)
	if err != nil {
		ahead.kill()
		fmt.Fprintf(status, "failed reading the job: %v\n", err)
		return ExitNotStarted
	}
	retitle(supervisorCommand)
	var pid int
	if j.ahead && ahead != 0 {
		// The runner handed the job to the shell started ahead itself.
		pid = int(ahead)
	} else {
		// Unused, the shell started ahead ends here, reaped before the job
		// starts: left to exit at the end of its input, which the runner
		// closed, it could outlive this supervisor, and be the runner's to reap.
		ahead.kill()
		pid, err = syscall.ForkExec(j.path, []string{j.name, "-c", j.cmd}, &syscall.ProcAttr{
			Dir:   j.dir,
			Env:   append(j.env, markVar+"="+j.mark),
			Files: []uintptr{0, 1, 2},
			Sys:   &syscall.SysProcAttr{Setpgid: true},
		})
		if err != nil {
			fmt.Fprintf(status, "failed %v\n", err)
			return ExitNotStarted
		}
	}
	fmt.Fprintf(status, "started %d\n", pid)

	shellExited := make(chan int, 1)
	allReaped := make(chan struct{})
	go func() {
		defer close(allReaped)
		reapChildren(pid, shellExited)
	}()
	released := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, lifeline)
		close(released)
	}()

	code := 128 + int(syscall.SIGKILL)
	select {
	case code = <-shellExited:
		// The runner ends what the shell left behind, gracefully, then lets go.
		fmt.Fprintf(status, "exit %d\n", code)
		<-released
	case <-released:
		// The runner died: the job dies with it, at once, as a dropped one.
	}
	select {
	case <-allReaped:
		// As the job's subreaper, with no child left it has no descendant left.
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	default:
		killDescendants(pid)
	}
	return code
}

// retitle replaces the supervisor's first argument, as ps and /proc/<pid>/cmdline
// show it, by one of the same length: os.Args[1] is the kernel's copy itself.
func retitle(arg string) {
	if runtime.GOOS != "linux" || len(os.Args) < 2 || len(os.Args[1]) != len(arg) {
		return
	}
	copy(unsafe.Slice(unsafe.StringData(os.Args[1]), len(arg)), arg)
}

// supervisedJob is what the runner hands a spare supervisor.
type supervisedJob struct {
	dir, mark, path, name, cmd string
	env                        []string
	// ahead: the runner handed the job to the shell the spare started ahead.
	ahead bool
}

// encodeJob is a job as the runner sends it to its supervisor: its workspace
// dir, mark, shell path, shell name, command and whether the shell started
// ahead runs it ("ahead" or ""), each ending with a NUL, then its environment
// (see encodeEnv).
func encodeJob(j supervisedJob) ([]byte, error) {
	var b []byte
	ahead := ""
	if j.ahead {
		ahead = "ahead"
	}
	for _, f := range []struct{ what, s string }{{"workspace", j.dir}, {"mark", j.mark}, {"shell path", j.path}, {"shell", j.name}, {"command", j.cmd}, {"", ahead}} {
		if strings.IndexByte(f.s, 0) >= 0 {
			return nil, fmt.Errorf("a NUL byte in the job's %s", f.what)
		}
		b = append(append(b, f.s...), 0)
	}
	env, err := encodeEnv(j.env)
	if err != nil {
		return nil, err
	}
	return append(b, env...), nil
}

// readJob reads what encodeJob made.
func readJob(r *bufio.Reader) (supervisedJob, error) {
	var fields [6]string
	for i := range fields {
		f, err := r.ReadString(0)
		if err != nil {
			return supervisedJob{}, err
		}
		fields[i] = f[:len(f)-1]
	}
	env, err := readEnv(r)
	if err != nil {
		return supervisedJob{}, err
	}
	return supervisedJob{dir: fields[0], mark: fields[1], path: fields[2], name: fields[3], cmd: fields[4],
		ahead: fields[5] == "ahead", env: env}, nil
}

// encodeEnv is the job's environment as the runner sends it to the supervisor:
// each entry ends with a NUL, and an empty entry ends the list. The supervisor's
// own environment stays empty, so what the job sets for Go programs
// (GODEBUG=inittrace=1, GOGC) or the dynamic linker (LD_PRELOAD) never changes
// the supervisor, nor writes into the job's output; and unlike its command line,
// a pipe shows no other user the job's secrets. Later entries win over earlier
// ones, and a mark the runner carries (it runs inside a job) gives way to the
// job's own.
func encodeEnv(env []string) ([]byte, error) {
	seen := map[string]bool{markVar: true}
	var keep []string
	for _, kv := range slices.Backward(env) {
		if strings.IndexByte(kv, 0) >= 0 {
			return nil, fmt.Errorf("a NUL byte in the environment variable %q", strings.SplitN(kv, "=", 2)[0])
		}
		key, _, _ := strings.Cut(kv, "=")
		if kv == "" || seen[key] {
			continue
		}
		seen[key] = true
		keep = append(keep, kv)
	}
	var b []byte
	for _, kv := range slices.Backward(keep) {
		b = append(append(b, kv...), 0)
	}
	return append(b, 0), nil
}

// readEnv reads what encodeEnv made.
func readEnv(r *bufio.Reader) ([]string, error) {
	var env []string
	for {
		kv, err := r.ReadString(0)
		if err != nil {
			return nil, err
		}
		if kv == "\x00" {
			return env, nil
		}
		env = append(env, kv[:len(kv)-1])
	}
}

// reapChildren reaps the supervisor's children, the shell and every orphan of the
// job, and sends the shell's exit code (128+n for a signal n) to shellExited.
func reapChildren(shell int, shellExited chan<- int) {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, 0, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return // ECHILD: no process of the job is left, and none can come
		}
		if pid == shell {
			code := ws.ExitStatus()
			if ws.Signaled() {
				code = 128 + int(ws.Signal())
			}
			shellExited <- code
		}
	}
}

// killDescendants kills the job's process group and every descendant of the
// supervisor until none is left (a process may fork between the scan and the
// kill).
func killDescendants(pgid int) {
	self := os.Getpid()
	for range 200 {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		left := descendants(self)
		if len(left) == 0 && !groupAlive(pgid) {
			return
		}
		for _, p := range left {
			_ = syscall.Kill(p.pid, syscall.SIGKILL)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// supervisor is a started supervisor, with the runner's ends of its pipes.
type supervisor struct {
	cmd      *exec.Cmd
	statusR  *os.File // the supervisor's lines
	lifeline *os.File // the job goes through it; closing it lets the supervisor end
	output   *os.File // the read end of the job's output, the supervisor's stdout and stderr
	// workspace, of a spare, is the one made ahead for its job (or nil).
	workspace *workspace
	// ahead, of a spare, is the shell it started ahead in its workspace, and
	// shellInput the write end of that shell's standard input (nil when it
	// started none).
	ahead      startedShell
	shellInput *os.File
}

// spareWorkspaceVar names, in a spare's environment, the workspace made ahead
// with it, which it removes when it is let go without a job.
const spareWorkspaceVar = "AURA_SPARE_WORKSPACE"

// startSupervisor starts an idle supervisor, waiting for its job on its
// lifeline; ws, when not nil, is the workspace made ahead for that job, and
// sh, when set, the shell it starts ahead in it (see startShellAhead), which
// it waits for.
func startSupervisor(ws *workspace, sh shell) (*supervisor, error) {
	path, err := supervisorPath()
	if err != nil {
		return nil, fmt.Errorf("find the runner's binary for the job supervisor: %w", err)
	}
	var files []*os.File
	closeAll := func() {
		for _, f := range files {
			_ = f.Close()
		}
	}
	pipes := 3
	ahead := ws != nil && sh.path != "" && readsWholeLine(sh.path)
	if ahead {
		pipes++ // the shell's standard input
	}
	for range pipes {
		r, w, err := os.Pipe()
		if err != nil {
			closeAll()
			return nil, err
		}
		files = append(files, r, w)
	}
	// One pipe for both stdout and stderr keeps their order as the job wrote it.
	outR, outW, statusR, statusW, lifelineR, lifelineW := files[0], files[1], files[2], files[3], files[4], files[5]
	// The job's environment goes through the lifeline (see encodeEnv); the
	// supervisor's own holds one setting, for a runner built with the race
	// detector (others ignore it): such a binary sleeps a second as it exits
	// (atexit_sleep_ms, 1000 by default), and every job's end would wait for it.
	env := []string{"GORACE=atexit_sleep_ms=0"}
	extra := []*os.File{statusW, lifelineR}
	var shellInput *os.File
	if ws != nil {
		env = append(env, spareWorkspaceVar+"="+ws.dir)
	}
	if ahead {
		env = append(env, spareShellVar+"="+sh.path, spareShellNameVar+"="+sh.name, spareMarkVar+"="+ws.mark)
		extra = append(extra, files[6]) // shellInputFD
		shellInput = files[7]
	}
	cmd := &exec.Cmd{
		Path:   path,
		Args:   []string{"aura-runner", spareCommand},
		Dir:    "/", // the job's own goes through the lifeline
		Env:    env,
		Stdout: outW,
		Stderr: outW,
		// Files 3, 4 and 5: statusFD, lifelineFD and shellInputFD.
		ExtraFiles: extra,
		// Its own process group: a terminal's Ctrl-C for the runner is not for it.
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	supervisorStarts.Add(1)
	err = startWaited(cmd)
	_ = outW.Close()
	_ = statusW.Close()
	_ = lifelineR.Close()
	if ahead {
		_ = files[6].Close()
	}
	if err != nil {
		_ = outR.Close()
		_ = statusR.Close()
		_ = lifelineW.Close()
		if shellInput != nil {
			_ = shellInput.Close()
		}
		return nil, err
	}
	s := &supervisor{cmd: cmd, statusR: statusR, lifeline: lifelineW, output: outR, workspace: ws}
	if ahead {
		s.ahead, s.shellInput = readAhead(statusR), shellInput
		s.ahead.shell, s.ahead.dir, s.ahead.mark = sh, ws.dir, ws.mark
		if s.ahead.pid == 0 {
			_ = shellInput.Close()
			s.shellInput = nil
		}
	}
	return s, nil
}

// release lets a supervisor go, and waits for it to exit; a spare exits quietly.
func (s *supervisor) release() error {
	if s.shellInput != nil {
		_ = s.shellInput.Close()
	}
	_ = s.lifeline.Close()
	err := s.cmd.Wait()
	forgetSupervisor(s.cmd.Process.Pid)
	_ = s.statusR.Close()
	return err
}

// spare is the idle supervisor kept for the next job, started in the background
// after the previous one was taken; at most one is kept and one being started.
var spare struct {
	sync.Mutex
	idle *supervisor
	// starting, while a spare is being started, is closed once it is idle (or
	// failed to start).
	starting chan struct{}
}

// supervisorStarts counts the supervisors started, for a test.
var supervisorStarts atomic.Int64

// takeSupervisor returns the spare supervisor; without a spare ready, it waits
// for the one being started (it is ready sooner than another would be), or
// starts one. Call refillSpare once the job is handed over.
func takeSupervisor() (s *supervisor, fromSpare bool, err error) {
	spare.Lock()
	s, spare.idle = spare.idle, nil
	starting := spare.starting
	spare.Unlock()
	if s == nil && starting != nil {
		<-starting
		spare.Lock()
		s, spare.idle = spare.idle, nil
		spare.Unlock()
	}
	if s != nil {
		return s, true, nil
	}
	s, err = startSupervisor(nil, shell{})
	return s, false, err
}

// Prestart starts a spare supervisor in the background, so that even a
// runner's first job starts without waiting for one, with the first job's
// workspace made ahead in workDir and the shell named shellName started ahead
// in it (none when it is not found).
func Prestart(workDir, shellName string) {
	dir, err := filepath.Abs(workDir)
	if err != nil {
		refillSpare("", shell{})
		return
	}
	var sh shell
	if path, _, err := lookShell(shellName); err == nil {
		sh = shell{path: path, name: shellName}
	}
	refillSpare(dir, sh)
}

// refillDelay is how long after a job's hand-over the next spare starts: its
// start (a 10 MB binary) must not take the CPU from the job's shell and the
// first commands on a small machine.
const refillDelay = 100 * time.Millisecond

// refillSpare starts the next spare supervisor in the background, unless one is
// idle or starting, with the next job's workspace made ahead in workDir (none
// for "") and the shell sh started ahead in it (none when unset). It runs after
// a job's shell started, not before: on a small machine, starting the binary
// would take the CPU from the job's own start.
func refillSpare(workDir string, sh shell) {
	spare.Lock()
	if spare.idle != nil || spare.starting != nil {
		spare.Unlock()
		return
	}
	started := make(chan struct{})
	spare.starting = started
	spare.Unlock()
	go func() {
		var ws *workspace
		if workDir != "" {
			ws, _ = makeWorkspace(workDir, 0, 0) // without one, the job makes its own
		}
		next, err := startSupervisor(ws, sh)
		if err != nil && ws != nil {
			ws.remove()
		}
		spare.Lock()
		spare.starting = nil
		if err == nil && spare.idle == nil {
			spare.idle, next = next, nil
		}
		spare.Unlock()
		close(started)
		if err == nil && next != nil {
			_ = next.release()
		}
	}()
}

// startWaited starts cmd as a child the runner waits for itself (exec.Cmd.Wait,
// then forgetSupervisor): the orphan reaper, which reaps every other child that
// exits, leaves it alone.
func startWaited(cmd *exec.Cmd) error {
	supervisors.Lock()
	defer supervisors.Unlock()
	if err := cmd.Start(); err != nil {
		return err
	}
	supervisors.pids[cmd.Process.Pid] = true
	return nil
}

// forgetSupervisor lets the orphan reaper have pid again, once the runner waited
// for it.
func forgetSupervisor(pid int) {
	supervisors.Lock()
	delete(supervisors.pids, pid)
	supervisors.Unlock()
}

// supervisorPath is the binary to start supervisors from: this one. On Linux
// /proc/self/exe still finds it after the file was replaced (an upgrade).
func supervisorPath() (string, error) {
	if runtime.GOOS == "linux" {
		return "/proc/self/exe", nil
	}
	return os.Executable()
}

// supervisorLine reads the supervisor's next line from its status pipe: its
// word ("started", "failed", "exit") and the rest. ok is false at EOF, when the
// supervisor died without saying more.
func supervisorLine(r *bufio.Reader) (word, rest string, ok bool) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", "", false
	}
	word, rest, _ = strings.Cut(strings.TrimSuffix(line, "\n"), " ")
	return word, rest, true
}

// supervisorNumber reads the number a "started" or "exit" line carries.
func supervisorNumber(rest string) (int, error) {
	n, err := strconv.Atoi(rest)
	if err != nil {
		return 0, fmt.Errorf("the job supervisor said %q", rest)
	}
	return n, nil
}
