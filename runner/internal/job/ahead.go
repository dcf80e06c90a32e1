package job

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// A spare supervisor that comes with the next job's workspace also starts the
// next job's shell ahead, in that workspace, reading its commands from a pipe
// whose write end the runner holds: starting dash (exec, the dynamic linker,
// its own set-up) took a millisecond of every job's start on a small machine,
// more than everything else the runner does between the server's answer and
// the job's first command. When the job comes, the runner writes the shell one
// line itself, without waiting for the supervisor, which sets the job's
// environment and then runs the job's command as it would have run under
// `sh -c`:
//
//	exec </dev/null 2>&1; export NAME='value' …; <the command>
//
// It is the same shell, started with the same name ($0), in the same folder,
// process group and mark, with the same environment; the command starts on
// line 1, so the shell's messages name the same lines; its standard input is
// /dev/null. That holds only if the shell reads the whole line before it runs
// any of it (the `exec` takes the pipe away from it), so the line goes in one
// write of at most PIPE_BUF bytes, which a pipe hands over whole, and only to
// dash, which reads what its input has in one read and nothing at start-up
// that the environment could change but the variables exported below. Any
// other job (another shell, a longer command, a variable the shell reads as
// it starts) is started as before: the supervisor ends the shell started
// ahead, and reaps it, before it starts the job's own.

// Variables a spare supervisor is given in its environment for the shell it
// starts ahead, besides spareWorkspaceVar: the shell's path and the name it
// is started as, and the mark of the workspace made ahead.
const (
	spareShellVar     = "AURA_SPARE_SHELL"
	spareShellNameVar = "AURA_SPARE_SHELL_NAME"
	spareMarkVar      = "AURA_SPARE_MARK"
)

// shell is a shell to start: its path, and the name it is started as ($0).
type shell struct{ path, name string }

// pipeBuf is POSIX's PIPE_BUF on Linux: a write to a pipe of at most this
// many bytes is never split.
const pipeBuf = 4096

// startedShell is a shell a spare started ahead, as the runner knows it: its
// pid (0: none), what it is and where.
type startedShell struct {
	pid int
	shell
	dir, mark string // its workspace's
}

// aheadShell is the pid of the shell a spare supervisor started ahead (0: none).
type aheadShell int

// startShellAhead starts the shell a spare was given (spareShellVar) in the
// workspace made ahead, on the standard input the runner gave it
// (shellInputFD), and says so on status: "ahead <pid>", or "ahead 0" when it
// started none. It starts none when it was given none.
func startShellAhead(status *os.File) aheadShell {
	path, name := os.Getenv(spareShellVar), os.Getenv(spareShellNameVar)
	dir, mark := os.Getenv(spareWorkspaceVar), os.Getenv(spareMarkVar)
	if path == "" || syscall.Fstat(shellInputFD, &syscall.Stat_t{}) != nil {
		return 0
	}
	syscall.CloseOnExec(shellInputFD)
	input := os.NewFile(shellInputFD, "shell input")
	defer input.Close()
	// Its standard error goes nowhere until its line makes it the job's
	// output: what it says while unused (its folder removed meanwhile) is no
	// job's.
	null, err := os.Open(os.DevNull)
	if err != nil {
		fmt.Fprintf(status, "ahead 0\n")
		return 0
	}
	defer null.Close()
	pid, err := syscall.ForkExec(path, []string{name}, &syscall.ProcAttr{
		Dir:   dir,
		Env:   []string{markVar + "=" + mark},
		Files: []uintptr{shellInputFD, 1, null.Fd()},
		Sys:   &syscall.SysProcAttr{Setpgid: true},
	})
	if err != nil {
		pid = 0
	}
	fmt.Fprintf(status, "ahead %d\n", pid)
	return aheadShell(pid)
}

// kill ends the shell, unused, and reaps it.
func (a aheadShell) kill() {
	if a == 0 {
		return
	}
	_ = syscall.Kill(int(a), syscall.SIGKILL)
	_, _ = syscall.Wait4(int(a), nil, 0, nil)
}

// readAhead reads the spare's "ahead <pid>" line from its status pipe, a byte
// at a time, so that nothing after it is read here.
func readAhead(status *os.File) startedShell {
	var line []byte
	b := make([]byte, 1)
	for {
		if n, err := status.Read(b); n == 0 || err != nil {
			return startedShell{}
		}
		if b[0] == '\n' {
			break
		}
		line = append(line, b[0])
	}
	word, rest, _ := strings.Cut(string(line), " ")
	pid, err := strconv.Atoi(rest)
	if word != "ahead" || err != nil {
		return startedShell{}
	}
	return startedShell{pid: pid}
}

// readsWholeLine tells whether the shell at path is dash (Debian's and
// Ubuntu's sh), which reads its input a buffer at a time.
func readsWholeLine(path string) bool {
	real, err := filepath.EvalSymlinks(path)
	return err == nil && filepath.Base(real) == "dash"
}

// handAhead hands j to the shell sup started ahead, when it is the shell j
// asks for, in j's workspace, and j can run so (aheadLine): it writes the
// shell its line, then sends the supervisor j, marked as handed to that
// shell. It returns the shell's pid, or 0 when it did not hand j over: then
// the shell exits unused, and sup takes j as usual.
func handAhead(sup *supervisor, j supervisedJob) (pid int, err error) {
	a := sup.ahead
	input := sup.shellInput
	sup.shellInput = nil
	if input == nil {
		return 0, nil
	}
	defer input.Close()
	line, ok := aheadLine(j)
	if !ok || a.pid == 0 || a != (startedShell{pid: a.pid, shell: shell{j.path, j.name}, dir: j.dir, mark: j.mark}) {
		return 0, nil
	}
	j.ahead = true
	job, err := encodeJob(j)
	if err != nil {
		return 0, err
	}
	// The shell first, so that it runs the job before the supervisor wakes
	// to take it: on a small machine they wait for the same CPUs. A
	// supervisor that is gone (the OOM killer) would leave the job without
	// its keeper: its lifeline says so before anything is written, and its
	// job is started as usual, by another.
	if !hasReader(sup.lifeline) {
		return 0, nil
	}
	if n, err := input.Write(line); err != nil || n != len(line) {
		// The shell is gone (killed while idle): the supervisor starts the
		// job's shell itself.
		return 0, nil
	}
	if _, err := sup.lifeline.Write(job); err != nil {
		// The supervisor died just now: the job's shell would run without
		// its keeper. It ends, rather than run twice.
		_ = syscall.Kill(-a.pid, syscall.SIGKILL)
		return 0, errors.New("the job supervisor ended as the job started")
	}
	return a.pid, nil
}

// hasReader tells whether the read end of the pipe w writes to is still open
// somewhere: a pipe without a reader polls as an error.
func hasReader(w *os.File) bool {
	fds := []unix.PollFd{{Fd: int32(w.Fd()), Events: unix.POLLOUT}}
	n, err := unix.Poll(fds, 0)
	return err != nil || n == 0 || fds[0].Revents&unix.POLLERR == 0
}

// aheadLine is the line that runs j in a shell started ahead, and whether j
// can run so: every variable of its environment is one the shell may be given
// after it started, on one line, and the line fits in one write that a pipe
// never splits.
func aheadLine(j supervisedJob) ([]byte, bool) {
	b := []byte("exec </dev/null 2>&1;")
	if len(j.env) > 0 {
		b = append(b, " export"...)
		for _, kv := range j.env {
			name, value, _ := strings.Cut(kv, "=")
			// A new line in a value would make the command start on a
			// later line than 1, and the shell's messages name it so.
			if !exportable(name) || strings.IndexByte(value, '\n') >= 0 {
				return nil, false
			}
			b = append(append(append(b, ' '), name...), '=')
			b = appendQuoted(b, value)
		}
		b = append(b, ';')
	}
	b = append(append(append(b, ' '), j.cmd...), '\n')
	return b, len(b) <= pipeBuf
}

// exportable tells whether a variable of the job's environment may be set by
// export in a shell that already started: a name the shell can set, and none
// whose value dash sets itself as it starts (IFS, OPTIND and PPID, which it
// takes from no environment, and LINENO). PWD is exportable: the runner sets
// it to the workspace, where the shell started.
func exportable(name string) bool {
	switch name {
	case "", "IFS", "OPTIND", "PPID", "LINENO":
		return false
	}
	for i, c := range name {
		switch {
		case c == '_', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// appendQuoted appends s to b in single quotes, the one quoting that takes
// every byte as it is: a quote inside ends the quoting, adds an escaped quote
// and starts it again.
func appendQuoted(b []byte, s string) []byte {
	b = append(b, '\'')
	for {
		i := strings.IndexByte(s, '\'')
		if i < 0 {
			break
		}
		b = append(append(b, s[:i]...), `'\''`...)
		s = s[i+1:]
	}
	return append(append(b, s...), '\'')
}
