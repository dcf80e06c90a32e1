package job

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// supervisorCommand is the hidden aura-runner subcommand every job runs under:
// the runner starts itself again as `aura-runner job-supervisor <mark> <shell
// path> <shell name> <cmd>`, which starts the job's shell and keeps it for as
// long as the runner lives.
const supervisorCommand = "job-supervisor"

// init turns any program that can start jobs (aura-runner, and the test binaries
// of the packages that start jobs) into a supervisor when started as one, before
// its main or TestMain: a test binary without that would run its tests again.
func init() {
	if len(os.Args) > 1 && os.Args[1] == supervisorCommand {
		os.Exit(supervise(os.Args[2:]))
	}
}

// The supervisor's file descriptors besides stdin, stdout and stderr, which it
// passes on to the shell (the job's output pipe on 1 and 2).
const (
	// statusFD carries the supervisor's lines to the runner: "started <pid>" or
	// "failed <why>", then "exit <code>" when the shell exits.
	statusFD = 3
	// lifelineFD is a pipe whose write end only the runner holds. It first
	// carries the job's environment (see encodeEnv), then reads EOF when the
	// runner closes it (the job is over) or when the runner dies in any
	// way, kill -9 included: the kernel closes a dead process's files. Unlike
	// Pdeathsig, it fires for the process and not the thread that started the
	// supervisor, and cannot be missed by a runner dying before the supervisor
	// set it up.
	lifelineFD = 4
)

// supervise runs the supervisor of one job, with its arguments after
// supervisorCommand, and returns its exit code, the shell's. It is the child
// subreaper of the job's processes, so everything the job starts, detached or
// not, stays its descendant; when its lifeline reads EOF it kills them all with
// SIGKILL, and exits. Stopping the job gracefully is the runner's part: its
// signals go to the job's process group and marked processes, never to the
// supervisor, which keeps the job within reach until the runner lets go.
func supervise(args []string) int {
	if len(args) != 4 {
		fmt.Fprintf(os.Stderr, "aura-runner %s: runs one job for aura-runner; not for use by hand\n", supervisorCommand)
		return 2
	}
	mark, path, name, cmd := args[0], args[1], args[2], args[3]
	syscall.CloseOnExec(statusFD)
	syscall.CloseOnExec(lifelineFD)
	status := os.NewFile(statusFD, "status")
	lifeline := bufio.NewReader(os.NewFile(lifelineFD, "lifeline"))
	// A SIGTERM, SIGINT or SIGHUP meant for the job (a whole session's, a
	// terminal's) must not take its keeper away. Caught signals are reset to their
	// default in the shell when it starts, ignored ones would not be.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	_ = setSubreaper() // Linux only; elsewhere the process group is what it kills

	env, err := readEnv(lifeline)
	if err != nil {
		fmt.Fprintf(status, "failed reading the job's environment: %v\n", err)
		return ExitNotStarted
	}
	pid, err := syscall.ForkExec(path, []string{name, "-c", cmd}, &syscall.ProcAttr{
		Env:   append(env, markVar+"="+mark),
		Files: []uintptr{0, 1, 2},
		Sys:   &syscall.SysProcAttr{Setpgid: true},
	})
	if err != nil {
		fmt.Fprintf(status, "failed %v\n", err)
		return ExitNotStarted
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

// startSupervisor starts the supervisor of a job in its workspace dir, with the
// job's environment, its output on out, and returns it with the read end of its
// status pipe and the write end of its lifeline.
func startSupervisor(dir, mark, shell string, spec Spec, out *os.File) (*exec.Cmd, *os.File, *os.File, error) {
	path, err := supervisorPath()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("find the runner's binary for the job supervisor: %w", err)
	}
	env, err := encodeEnv(append(slices.Clip(spec.Env), "PWD="+dir))
	if err != nil {
		return nil, nil, nil, err
	}
	statusR, statusW, err := os.Pipe()
	if err != nil {
		return nil, nil, nil, err
	}
	lifelineR, lifelineW, err := os.Pipe()
	if err != nil {
		_ = statusR.Close()
		_ = statusW.Close()
		return nil, nil, nil, err
	}
	cmd := &exec.Cmd{
		Path:   path,
		Args:   []string{"aura-runner", supervisorCommand, mark, shell, spec.Shell, spec.Cmd},
		Dir:    dir,
		Env:    []string{}, // the job's goes through the lifeline: see encodeEnv
		Stdout: out,
		Stderr: out,
		// Files 3 and 4: statusFD and lifelineFD.
		ExtraFiles: []*os.File{statusW, lifelineR},
		// Its own process group: a terminal's Ctrl-C for the runner is not for it.
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	supervisors.Lock()
	err = cmd.Start()
	if err == nil {
		supervisors.pids[cmd.Process.Pid] = true
	}
	supervisors.Unlock()
	_ = statusW.Close()
	_ = lifelineR.Close()
	if err != nil {
		_ = statusR.Close()
		_ = lifelineW.Close()
		return nil, nil, nil, err
	}
	// Should the supervisor be gone already, its status pipe says so.
	_, _ = lifelineW.Write(env)
	return cmd, statusR, lifelineW, nil
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
