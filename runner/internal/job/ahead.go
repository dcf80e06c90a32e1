package job

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// A spare supervisor that comes with the next job's workspace also starts the
// next job's shell ahead, in that workspace, reading its commands from a pipe:
// starting dash (exec, the dynamic linker, its own set-up) took a millisecond
// of every job's start on a small machine, more than everything else the
// runner does between the server's answer and the job's first command. When
// the job comes, the supervisor writes the shell one line, which sets the
// job's environment and then runs the job's command as it would have run
// under `sh -c`:
//
//	exec </dev/null; export NAME='value' …; <the command>
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
// it starts) is started as before, and the shell started ahead exits unused.

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

// shellAhead is a job's shell started before its job, waiting on its input.
type shellAhead struct {
	pid                   int
	input                 *os.File // the write end of the shell's standard input
	path, name, dir, mark string
}

// startShellAhead starts the shell a spare was given (spareShellVar) in the
// workspace made ahead, or returns nil when it was given none, the shell is
// not dash, or it did not start.
func startShellAhead() *shellAhead {
	path, name := os.Getenv(spareShellVar), os.Getenv(spareShellNameVar)
	dir, mark := os.Getenv(spareWorkspaceVar), os.Getenv(spareMarkVar)
	if path == "" || name == "" || dir == "" || mark == "" || !readsWholeLine(path) {
		return nil
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil
	}
	defer r.Close()
	pid, err := syscall.ForkExec(path, []string{name}, &syscall.ProcAttr{
		Dir:   dir,
		Env:   []string{markVar + "=" + mark},
		Files: []uintptr{r.Fd(), 1, 2},
		Sys:   &syscall.SysProcAttr{Setpgid: true},
	})
	if err != nil {
		_ = w.Close()
		return nil
	}
	return &shellAhead{pid: pid, input: w, path: path, name: name, dir: dir, mark: mark}
}

// readsWholeLine tells whether the shell at path is dash (Debian's and
// Ubuntu's sh), which reads its input a buffer at a time.
func readsWholeLine(path string) bool {
	real, err := filepath.EvalSymlinks(path)
	return err == nil && filepath.Base(real) == "dash"
}

// run hands j to the shell, when it is the shell j asks for in j's workspace,
// and tells whether it did; otherwise the shell exits unused (discard).
func (a *shellAhead) run(j supervisedJob) bool {
	line, ok := aheadLine(j)
	if ok && j.path == a.path && j.name == a.name && j.dir == a.dir && j.mark == a.mark {
		n, err := a.input.Write(line)
		_ = a.input.Close()
		// A shell that is gone (killed while idle) takes nothing: EPIPE.
		return err == nil && n == len(line)
	}
	a.discard()
	return false
}

// discard lets the shell go: at the end of its input it exits, unused.
func (a *shellAhead) discard() { _ = a.input.Close() }

// aheadLine is the line that runs j in a shell started ahead, and whether j
// can run so: every variable of its environment is one the shell may be given
// after it started, on one line, and the line fits in one write that a pipe
// never splits.
func aheadLine(j supervisedJob) ([]byte, bool) {
	b := []byte("exec </dev/null;")
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
