package job

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// markVar names the variable that marks every process of one job attempt. A
// process keeps its environment across setsid and double forks, which take it
// out of the job's process group, so the mark finds those too. (A process that
// replaces its whole environment and leaves the group escapes the mark, but not
// the job's supervisor, which kills it when the job is over.)
const markVar = "AURA_JOB_RUN"

func newMark() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// procStat is what the runner reads of a process in /proc/<pid>/stat.
type procStat struct {
	pid, ppid, pgid int
	state           byte
}

func readStat(pid string) (procStat, bool) {
	stat, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return procStat{}, false
	}
	// pid (comm) state ppid pgrp …; comm may contain spaces and parentheses.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return procStat{}, false
	}
	fields := strings.Fields(string(stat[i+1:]))
	if len(fields) < 3 || len(fields[0]) != 1 {
		return procStat{}, false
	}
	p := procStat{state: fields[0][0]}
	p.pid, _ = strconv.Atoi(pid)
	p.ppid, _ = strconv.Atoi(fields[1])
	p.pgid, _ = strconv.Atoi(fields[2])
	return p, true
}

// processes lists the processes in /proc.
func processes() []procStat {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []procStat
	for _, e := range entries {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		if p, ok := readStat(e.Name()); ok {
			out = append(out, p)
		}
	}
	return out
}

func (p procStat) running() bool { return p.state != 'Z' && p.state != 'X' }

// hasMark reports whether pid's environment carries mark.
func hasMark(pid int, mark string) bool {
	env, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return false // gone, or another user's
	}
	needle := []byte(markVar + "=" + mark + "\x00")
	return bytes.HasPrefix(env, needle) || bytes.Contains(env, append([]byte{0}, needle...))
}

// markedPids lists the running processes of the whole machine whose environment
// carries mark. Reading every process's environment is slow on a busy machine
// (it waits for each process's memory lock), so only Recover does it.
func markedPids(mark string) []int {
	self := os.Getpid()
	var pids []int
	for _, p := range processes() {
		if p.running() && p.pid != self && hasMark(p.pid, mark) {
			pids = append(pids, p.pid)
		}
	}
	return pids
}

// descendants lists the running descendants of pid. It reads the parent of
// every process rather than the kernel's children lists, which skip entries
// while children come and go.
func descendants(pid int) []procStat {
	all := processes()
	children := map[int][]procStat{}
	for _, p := range all {
		children[p.ppid] = append(children[p.ppid], p)
	}
	var out []procStat
	queue := []int{pid}
	for len(queue) > 0 {
		for _, c := range children[queue[0]] {
			if c.running() {
				out = append(out, c)
			}
			queue = append(queue, c.pid)
		}
		queue = queue[1:]
	}
	return out
}

// jobPids lists the running processes of a job: those of its process group and
// those carrying its mark. As subreaper, the runner finds them all among its
// descendants; otherwise, only the group is within reach cheaply.
func jobPids(pgid int, mark string) []int {
	var pids []int
	if !adopted.Load() {
		if groupAlive(pgid) {
			pids = append(pids, -pgid)
		}
		return pids
	}
	for _, p := range descendants(os.Getpid()) {
		if p.pgid == pgid || hasMark(p.pid, mark) {
			pids = append(pids, p.pid)
		}
	}
	return pids
}

// signalTree sends sig to the job's process group and to every other process
// of it, once each: a shell's trap runs for every SIGTERM it gets.
func signalTree(pgid int, mark string, sig syscall.Signal) {
	if pgid > 0 {
		_ = kill(-pgid, sig)
	}
	if !adopted.Load() {
		return // only the group is known
	}
	for _, p := range descendants(os.Getpid()) {
		if p.pgid != pgid && hasMark(p.pid, mark) {
			_ = kill(p.pid, sig)
		}
	}
}

// kill is syscall.Kill; a test counts the signals sent through it.
var kill = syscall.Kill

// treeAlive reports whether a process of the job still runs.
func treeAlive(pgid int, mark string) bool {
	return len(jobPids(pgid, mark)) > 0
}

// The job supervisors the runner started and waits for itself: the orphan reaper
// leaves them to exec.Cmd.Wait. The lock spans starting one and recording it, so
// the reaper never takes the exit status of one it has not heard of yet.
var supervisors = struct {
	sync.Mutex
	pids map[int]bool
}{pids: map[int]bool{}}

// reapOrphans reaps the exited processes that were reparented to this runner
// as their subreaper (what a job left behind, when its supervisor died), leaving
// its own supervisors alone.
func reapOrphans() {
	orphanScans.Add(1)
	self := os.Getpid()
	supervisors.Lock()
	defer supervisors.Unlock()
	for _, p := range processes() {
		if p.ppid == self && !p.running() && !supervisors.pids[p.pid] {
			var ws syscall.WaitStatus
			_, _ = syscall.Wait4(p.pid, &ws, syscall.WNOHANG, nil)
		}
	}
}

var (
	orphanScans atomic.Int64 // how often reapOrphans read /proc, for a test
	reaperOnce  sync.Once
	adopted     atomic.Bool // this process is the subreaper of its jobs
)

// AdoptOrphans makes this process the subreaper of everything its jobs start
// (their supervisors are subreapers below it): a process that a job forks twice
// or detaches with setsid becomes a child of one of them rather than of init when
// its parent exits, so it stays within reach. Call it once, before the first job
// starts.
func AdoptOrphans() error {
	if err := setSubreaper(); err != nil {
		return err
	}
	adopted.Store(true)
	reaperOnce.Do(func() {
		// An orphan to reap announces itself: a child that exits sends SIGCHLD.
		// Scanning /proc every second instead cost every idle runner a read of
		// every process's stat, which on a machine with hundreds of runners
		// (hundreds of runners scanning each other) took both cores.
		exited := make(chan os.Signal, 1)
		signal.Notify(exited, syscall.SIGCHLD)
		go func() {
			for range exited {
				reapOrphans()
			}
		}()
	})
	return nil
}

// record is what a workspace's ".run" file keeps, so a runner starting after a
// crash can end what the job left running.
type record struct {
	ID      int64  `json:"id"`
	Attempt int    `json:"attempt"`
	Mark    string `json:"mark"`
}

// nameRecord writes r, which names its job, over the record at path, made
// ahead with the workspace for no job yet. It never creates the record (a job
// that ended already removed it), nor truncates it: r is at least as long as
// the record it replaces (ids and attempts start at 1, the mark is the same),
// so one write replaces it whole, and a runner killed meanwhile leaves one or
// the other for Recover, never an empty file.
func nameRecord(path string, r record) error {
	b, _ := json.Marshal(r)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	return errors.Join(err, f.Close())
}

// writeRecord writes the record to a new file (another job's is never
// overwritten) in three system calls: os.WriteFile's file
// first tries to join the network poller (four calls more, which a regular file
// always refuses), and the record is on the way of every job's start.
func writeRecord(path string, r record) error {
	b, _ := json.Marshal(r)
	fd, err := syscall.Open(path, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_EXCL|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	for len(b) > 0 && err == nil {
		var n int
		switch n, err = syscall.Write(fd, b); {
		case err == syscall.EINTR:
			err = nil
		case err == nil && n == 0:
			err = io.ErrShortWrite
		}
		b = b[max(n, 0):]
	}
	if cerr := syscall.Close(fd); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return &os.PathError{Op: "write", Path: path, Err: err}
	}
	return nil
}

// Recover ends what jobs of an earlier runner in workDir left behind (the runner
// was killed, or the machine lost power): it kills every process still carrying
// such a job's mark and removes its workspace. It returns a line per job it
// cleaned up. Call it before claiming.
func Recover(workDir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(workDir, "job-*.run"))
	if err != nil {
		return nil, err
	}
	var done []string
	var errs []error
	for _, f := range files {
		b, err := os.ReadFile(f)
		var r record
		if err == nil {
			err = json.Unmarshal(b, &r)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f, err))
			_ = os.Remove(f)
			continue
		}
		killed := map[int]bool{}
		for range 50 {
			pids := markedPids(r.Mark)
			if len(pids) == 0 {
				break
			}
			for _, pid := range pids {
				if syscall.Kill(pid, syscall.SIGKILL) == nil {
					killed[pid] = true
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err := removeAll(strings.TrimSuffix(f, ".run")); err != nil {
			errs = append(errs, err)
		}
		_ = os.Remove(f)
		switch {
		case r.ID != 0:
			done = append(done, fmt.Sprintf("job %d attempt %d: killed %d process(es) it left running, removed its workspace", r.ID, r.Attempt, len(killed)))
		case len(killed) > 0:
			// Made ahead, and taken by a job whose record was not named yet.
			done = append(done, fmt.Sprintf("a job that was starting: killed %d process(es) it left running, removed its workspace", len(killed)))
		}
		// Otherwise it was a workspace made ahead that no job took: nothing to say.
	}
	return done, errors.Join(errs...)
}
