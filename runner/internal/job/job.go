// Package job runs one job's command: in a fresh workspace folder, under a shell,
// in a process group of its own, with its output (stdout and stderr merged, in
// order) written to one writer. It stops the whole process group on cancel,
// timeout or shutdown: SIGTERM first, SIGKILL after a grace period. Processes that
// left the group (setsid, double forks) are found by a mark in their environment
// and end with the job too. Each job's shell runs under a supervisor (supervise)
// that kills the job's processes when the runner dies, kill -9 included; one is
// kept started ahead of the next job (a spare), so that starting the runner's
// binary again is not part of the job's wait, and the next job's workspace is
// made along with it, so that no file-system change is either. A ".run"
// file beside the workspace keeps the mark, so a runner starting after a crash
// the supervisor did not survive either ends what was left (Recover).
package job

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Spec describes a job to run.
type Spec struct {
	// ID and Attempt name the job in its workspace's record (and the
	// workspace, when it is not one made ahead).
	ID      int64
	Attempt int
	// Cmd is run as `Shell -c Cmd`, or as if it were by a shell started
	// ahead (ahead.go).
	Cmd   string
	Shell string
	// Env is the complete environment; later entries win over earlier ones.
	Env []string
	// WorkDir is the folder the workspace is created in.
	WorkDir string
	// Timeout stops the job when it runs longer; zero means no limit.
	Timeout time.Duration
	// Grace is how long a stopped job has between SIGTERM and SIGKILL.
	Grace time.Duration
	// Output receives stdout and stderr, merged, and the runner's notes about
	// stopping the job. Writes to it come from one goroutine at a time.
	Output io.Writer
}

// StopReason says why the runner stopped a job.
type StopReason int

// Reasons to stop a job, by increasing urgency.
const (
	NotStopped StopReason = iota
	// Cancelled: the server said the job was cancelled.
	Cancelled
	// TimedOut: the job ran past its timeout.
	TimedOut
	// Shutdown: the runner is shutting down.
	Shutdown
	// Dropped: the attempt is no longer this runner's; killed at once.
	Dropped
)

// String returns how a log line says it: "cancelled", "timed out", ….
func (r StopReason) String() string {
	switch r {
	case Cancelled:
		return "cancelled"
	case TimedOut:
		return "timed out"
	case Shutdown:
		return "stopped by the runner's shutdown"
	case Dropped:
		return "dropped"
	}
	return "not stopped"
}

// Exit codes the runner reports for jobs it stopped or could not start.
const (
	ExitTimedOut   = 124 // as timeout(1)
	ExitNotStarted = 127 // as a shell for a missing command
	ExitStopped    = 128 + int(syscall.SIGTERM)
)

// Result is how a job ended.
type Result struct {
	// ExitCode is the shell's exit code, 128+n for a signal n. A stopped job never
	// reports 0: a timed-out one reports ExitTimedOut, another ExitStopped.
	ExitCode int
	Stopped  StopReason
	Duration time.Duration
}

// Process is a running job.
type Process struct {
	spec Spec
	// cmd is the job's supervisor (see supervise), which runs its shell.
	cmd      *exec.Cmd
	status   *bufio.Reader // the supervisor's lines
	statusR  *os.File
	lifeline *os.File // closing it lets the supervisor end
	pgid     int      // the shell's process group
	mark     string   // the value of markVar in every process of this job
	dir      string
	out      *noteWriter
	started  time.Time
	copied   chan struct{}
	read     *os.File

	mu        sync.Mutex
	stopped   StopReason
	exited    bool
	killTimer *time.Timer
	timeout   *time.Timer
	notes     sync.WaitGroup
}

// Start starts the job's shell in a workspace of its own: the one made ahead
// with the spare supervisor, or a new one.
func Start(spec Spec) (*Process, error) {
	workDir, err := filepath.Abs(spec.WorkDir)
	if err != nil {
		return nil, err
	}
	shellPath, cached, err := lookShell(spec.Shell)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Shell, err)
	}
	sup, fromSpare, err := takeSupervisor()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Shell, err)
	}
	// The next job most likely asks for the same shell.
	defer time.AfterFunc(refillDelay, func() { refillSpare(workDir, shell{path: shellPath, name: spec.Shell}) })
	ws, err := takeWorkspace(sup, workDir, spec)
	if err != nil {
		_ = sup.release()
		return nil, err
	}
	fail := func(err error) (*Process, error) {
		ws.remove()
		return nil, fmt.Errorf("start %s: %w", spec.Shell, err)
	}
	env := append(slices.Clip(spec.Env), "PWD="+ws.dir)
	hand := func(sup *supervisor, fromSpare bool, path string) (*supervisor, *bufio.Reader, int, error) {
		j := supervisedJob{dir: ws.dir, mark: ws.mark, path: path, name: spec.Shell, cmd: spec.Cmd, env: env}
		pid, err := handAhead(sup, j)
		switch {
		case err != nil:
			_ = sup.release()
			return nil, nil, 0, err
		case pid != 0:
			// The shell runs the job: its "started" line is read with the rest.
			return sup, bufio.NewReader(sup.statusR), pid, nil
		}
		handover, err := encodeJob(j)
		if err != nil {
			_ = sup.release()
			return nil, nil, 0, err
		}
		return handOver(sup, fromSpare, handover)
	}
	sup, status, pgid, err := hand(sup, fromSpare, shellPath)
	if err != nil && cached {
		// The shell found for an earlier job may have moved: look again, and
		// try once more if it did.
		forgetShell(spec.Shell)
		if again, _, lerr := lookShell(spec.Shell); lerr == nil && again != shellPath {
			if sup, err = startSupervisor(nil, shell{}); err == nil {
				sup, status, pgid, err = hand(sup, false, again)
			}
		}
	}
	if err != nil {
		return fail(err)
	}

	p := &Process{
		spec:     spec,
		cmd:      sup.cmd,
		status:   status,
		statusR:  sup.statusR,
		lifeline: sup.lifeline,
		pgid:     pgid,
		mark:     ws.mark,
		dir:      ws.dir,
		out:      &noteWriter{w: spec.Output},
		started:  time.Now(),
		copied:   make(chan struct{}),
		read:     sup.output,
	}
	go func() {
		defer close(p.copied)
		_, _ = io.CopyBuffer(p.out, p.read, make([]byte, 32<<10))
	}()
	if spec.Timeout > 0 {
		p.timeout = time.AfterFunc(spec.Timeout, func() { p.Stop(TimedOut) })
	}
	return p, nil
}

// workspace is a job's folder and, beside it, the record (dir + ".run") that
// lets a runner starting after a crash end what the job left running (see
// Recover), with the mark the job's processes carry.
type workspace struct {
	dir, mark string
}

// remove removes the workspace and its record.
func (ws *workspace) remove() {
	_ = removeAll(ws.dir)
	_ = os.Remove(ws.dir + ".run")
}

// takeWorkspace returns the workspace made ahead with the spare supervisor sup,
// when it is in workDir and still there, or makes one. Making one waits for the
// file system's journal, which on a machine whose disk is busy (a database
// committing) took half a millisecond of every job's start; the spare's was
// made while the runner was idle. Its record names no job yet: it gets the
// job's id and attempt in the background, off the job's start.
func takeWorkspace(sup *supervisor, workDir string, spec Spec) (*workspace, error) {
	ws := sup.workspace
	sup.workspace = nil
	if ws != nil && filepath.Dir(ws.dir) == workDir {
		if fi, err := os.Lstat(ws.dir); err == nil && fi.IsDir() {
			go func() { _ = nameRecord(ws.dir+".run", record{ID: spec.ID, Attempt: spec.Attempt, Mark: ws.mark}) }()
			return ws, nil
		}
	}
	if ws != nil {
		go ws.remove()
	}
	return makeWorkspace(workDir, spec.ID, spec.Attempt)
}

// makeWorkspace creates a workspace folder in workDir and its record. The two
// are made at once: each is a change to the work folder, which waits for the
// file system's journal on a busy machine, and neither needs the other. The
// work folder itself is created only when it is missing (the runner made it
// when it started), and only for a job. A workspace made ahead for the next job (id 0) is named
// job-<random>; one made for a job, job-<id>-<attempt>-<random>.
func makeWorkspace(workDir string, id int64, attempt int) (*workspace, error) {
	rec := record{ID: id, Attempt: attempt, Mark: newMark()}
	for range 100 {
		name := fmt.Sprintf("job-%d-%d-%d", id, attempt, rand.Uint32())
		if id == 0 {
			name = fmt.Sprintf("job-%d", rand.Uint32())
		}
		ws := filepath.Join(workDir, name)
		recorded := make(chan error, 1)
		go func() { recorded <- writeRecord(ws+".run", rec) }()
		err := os.Mkdir(ws, 0o700)
		rerr := <-recorded
		if err == nil && rerr == nil {
			return &workspace{dir: ws, mark: rec.Mark}, nil
		}
		// Undo what was made, and only that: a name already taken (EEXIST)
		// is another job's.
		if err == nil {
			_ = os.Remove(ws)
		}
		if rerr == nil {
			_ = os.Remove(ws + ".run")
		}
		switch {
		case errors.Is(err, fs.ErrExist) || errors.Is(rerr, fs.ErrExist):
			continue // another name
		case errors.Is(err, fs.ErrNotExist) && id == 0:
			// No work folder to make one ahead in (it was removed): the
			// next job makes it.
			return nil, fmt.Errorf("create the workspace: %w", err)
		case errors.Is(err, fs.ErrNotExist):
			if err := os.MkdirAll(workDir, 0o755); err != nil {
				return nil, fmt.Errorf("create the work folder: %w", err)
			}
			continue
		case err != nil:
			return nil, fmt.Errorf("create the workspace: %w", err)
		default:
			return nil, fmt.Errorf("record the job: %w", rerr)
		}
	}
	return nil, fmt.Errorf("create the workspace: no free name in %s", workDir)
}

// shells caches where each shell was found on the runner's PATH, so that a
// job's start does not search PATH again (a stat per folder before the one
// that has it).
var shells sync.Map // name → path

// lookShell returns the path of the shell name; cached tells that it was
// found for an earlier job.
func lookShell(name string) (path string, cached bool, err error) {
	if p, ok := shells.Load(name); ok {
		return p.(string), true, nil
	}
	path, err = exec.LookPath(name)
	if err != nil {
		return "", false, err
	}
	shells.Store(name, path)
	return path, false, nil
}

// forgetShell drops the cached path of the shell name.
func forgetShell(name string) { shells.Delete(name) }

// handOver hands a job, as encodeJob made it, to the supervisor sup (the
// spare, when fromSpare), and returns the supervisor once it started the job's
// shell, with its status lines after "started" and the shell's process group.
func handOver(sup *supervisor, fromSpare bool, job []byte) (*supervisor, *bufio.Reader, int, error) {
	for attempt := 1; ; attempt++ {
		// Should the supervisor be gone already, its status pipe says so.
		_, _ = sup.lifeline.Write(job)
		status := bufio.NewReader(sup.statusR)
		word, rest, ok := supervisorLine(status)
		pgid, err := supervisorNumber(rest)
		if ok && word == "started" && err == nil {
			return sup, status, pgid, nil
		}
		werr := sup.release()
		_ = sup.output.Close()
		switch {
		case word == "failed":
			err = errors.New(rest)
		case !ok && fromSpare && attempt == 1:
			// A spare that died while idle (the OOM killer): another one.
			if sup, err = startSupervisor(nil, shell{}); err == nil {
				fromSpare = false
				continue
			}
		case !ok:
			err = fmt.Errorf("the job supervisor ended: %v", werr)
		}
		return nil, nil, 0, err
	}
}

// Dir returns the workspace folder.
func (p *Process) Dir() string { return p.dir }

// Pgid returns the job's process group id.
func (p *Process) Pgid() int { return p.pgid }

// Stop asks the job to end: SIGTERM to its process group now, SIGKILL after the
// grace period. Dropped kills at once. The first reason is the one reported, except
// that Dropped overrides any other.
func (p *Process) Stop(reason StopReason) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited || reason == NotStopped || (p.stopped != NotStopped && reason != Dropped) || p.stopped == Dropped {
		return
	}
	escalate := p.stopped != NotStopped
	p.stopped = reason
	if reason == Dropped {
		p.signal(syscall.SIGKILL)
		return
	}
	if escalate {
		return
	}
	// The note goes first so that it precedes what the job prints as it ends, unless
	// the output is stalled (the server is away and the buffer full).
	noted := p.note("%s: sending SIGTERM to the job's processes (SIGKILL in %s)", stopNote(reason, p.spec.Timeout), p.spec.Grace)
	select {
	case <-noted:
	case <-time.After(100 * time.Millisecond):
	}
	p.signal(syscall.SIGTERM)
	p.killTimer = time.AfterFunc(p.spec.Grace, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if !p.exited {
			p.note("still running %s after SIGTERM: sending SIGKILL", p.spec.Grace)
			p.signal(syscall.SIGKILL)
		}
	})
}

func stopNote(reason StopReason, timeout time.Duration) string {
	switch reason {
	case Cancelled:
		return "the job was cancelled"
	case TimedOut:
		return "the job timed out after " + timeout.String()
	case Shutdown:
		return "the runner is shutting down"
	}
	return reason.String()
}

// signal sends sig to the job's process group and its processes outside it.
func (p *Process) signal(sig syscall.Signal) {
	signalTree(p.pgid, p.mark, sig)
}

// note writes a line from the runner into the job's output, in the background so
// that a stalled output never delays stopping the job, and returns a channel closed
// once it is written. Called with p.mu held.
func (p *Process) note(format string, args ...any) <-chan struct{} {
	line := "aura-runner: " + fmt.Sprintf(format, args...) + "\n"
	done := make(chan struct{})
	p.notes.Add(1)
	go func() {
		defer p.notes.Done()
		defer close(done)
		p.out.writeNote(line)
	}()
	return done
}

// Wait waits for the job's shell to exit, ends what is left of its process
// group, waits for the output to be written, and removes the workspace. It must be
// called exactly once.
func (p *Process) Wait() Result {
	code, reported := p.shellExit()
	duration := time.Since(p.started)
	if p.timeout != nil {
		p.timeout.Stop()
	}

	p.mu.Lock()
	stopped := p.stopped
	p.mu.Unlock()
	// Processes the shell left behind, in the background, detached or still
	// finishing, end with the job: SIGTERM, SIGKILL when the grace period is over.
	grace := p.spec.Grace
	if stopped == Dropped {
		grace = 0
	}
	p.endGroup(grace)

	p.mu.Lock()
	p.exited = true
	if p.killTimer != nil {
		p.killTimer.Stop()
	}
	p.mu.Unlock()

	// Letting go of the supervisor kills what neither the group nor the mark
	// found (a process that cleared its environment and left the group), and
	// ends it.
	_ = p.lifeline.Close()
	err := p.cmd.Wait()
	forgetSupervisor(p.cmd.Process.Pid)
	_ = p.statusR.Close()
	if !reported {
		code = exitCode(err)
	}

	// A process that left the group (setsid) may still hold the pipe open.
	select {
	case <-p.copied:
	case <-time.After(2 * time.Second):
		_ = p.read.Close()
		<-p.copied
	}
	_ = p.read.Close()
	p.notes.Wait()

	if err := removeAll(p.dir); err != nil {
		p.out.writeNote(fmt.Sprintf("aura-runner: could not remove the workspace: %v\n", err))
	}
	_ = os.Remove(p.dir + ".run")

	switch {
	case stopped == TimedOut:
		code = ExitTimedOut
	case stopped != NotStopped && code == 0:
		code = ExitStopped
	}
	return Result{ExitCode: code, Stopped: stopped, Duration: duration}
}

// shellExit waits for the supervisor to report the shell's exit code. reported is
// false when the supervisor died without saying it.
func (p *Process) shellExit() (code int, reported bool) {
	for {
		word, rest, ok := supervisorLine(p.status)
		if !ok {
			return 0, false
		}
		if word == "exit" {
			if code, err := supervisorNumber(rest); err == nil {
				return code, true
			}
		}
	}
}

// endGroup sends SIGTERM to what is left of the job's processes, waits up to
// grace for them to go, and then sends SIGKILL until none is left.
func (p *Process) endGroup(grace time.Duration) {
	if !treeAlive(p.pgid, p.mark) {
		return
	}
	if grace > 0 {
		p.signal(syscall.SIGTERM)
		deadline := time.Now().Add(grace)
		for time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
			if !treeAlive(p.pgid, p.mark) {
				return
			}
		}
	}
	// A process may fork between the scan and the kill: kill until none is left.
	for range 50 {
		p.signal(syscall.SIGKILL)
		if !treeAlive(p.pgid, p.mark) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// groupAlive reports whether a process of the group is still running. Zombies do
// not count: under a PID 1 that does not reap them they would linger for ever.
func groupAlive(pgid int) bool {
	if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return true
	}
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp …; comm may contain spaces and parentheses.
		i := strings.LastIndexByte(string(stat), ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(stat[i+1:]))
		if len(fields) >= 3 && fields[2] == strconv.Itoa(pgid) && fields[0] != "Z" && fields[0] != "X" {
			return true
		}
	}
	return false
}

// exitCode turns the shell's wait error into an exit code.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return exitErr.ExitCode()
	}
	return ExitNotStarted
}

// removeAll removes a workspace, also when the job left read-only folders in it
// (Go's module cache does that).
func removeAll(dir string) error {
	if err := os.RemoveAll(dir); err == nil {
		return nil
	}
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(path, 0o700)
		}
		return nil
	})
	return os.RemoveAll(dir)
}

// noteWriter serialises the job's output with the runner's notes, and starts a
// note on a line of its own.
type noteWriter struct {
	mu   sync.Mutex
	w    io.Writer
	last byte
}

func (nw *noteWriter) Write(p []byte) (int, error) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	n, err := nw.w.Write(p)
	if n > 0 {
		nw.last = p[n-1]
	}
	return n, err
}

func (nw *noteWriter) writeNote(line string) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	if nw.last != 0 && nw.last != '\n' {
		line = "\n" + line
	}
	if _, err := io.WriteString(nw.w, line); err == nil {
		nw.last = '\n'
	}
}
