package pgcluster

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Freeze stops every process of the cluster with SIGSTOP: the postmaster first, so
// it forks no new backend, then its children. Their sockets stay open, so the
// cluster looks like a stalled disk, a paused VM or a network partition: TCP
// connects succeed and queries never answer. Tests use it; Thaw resumes them.
func (c *Cluster) Freeze() error {
	c.freezeMu.Lock()
	defer c.freezeMu.Unlock()
	if c.frozen != nil {
		return nil
	}
	master := c.proc.Pid
	if err := syscall.Kill(master, syscall.SIGSTOP); err != nil {
		return fmt.Errorf("pgcluster: freeze postmaster %d: %w", master, err)
	}
	// A signal takes effect when the process next runs: until the postmaster is
	// stopped it may still fork, so wait for that, then stop children until a
	// pass finds none left running.
	waitStopped(master)
	frozen := []int{master}
	stopped := map[int]bool{master: true}
	for more := true; more; {
		more = false
		for _, pid := range children(master) {
			if !stopped[pid] && syscall.Kill(pid, syscall.SIGSTOP) == nil {
				stopped[pid], more = true, true
				frozen = append(frozen, pid)
				waitStopped(pid)
			}
		}
	}
	c.frozen = frozen
	c.logf("PostgreSQL on port %d frozen (%d processes stopped)", c.port, len(frozen))
	return nil
}

// Thaw resumes the processes Freeze stopped. It does nothing when the cluster is
// not frozen.
func (c *Cluster) Thaw() error {
	c.freezeMu.Lock()
	defer c.freezeMu.Unlock()
	if c.frozen == nil {
		return nil
	}
	var firstErr error
	// Children first: the postmaster then finds them running, not stopped.
	for i := len(c.frozen) - 1; i >= 0; i-- {
		if err := syscall.Kill(c.frozen[i], syscall.SIGCONT); err != nil && !errors.Is(err, syscall.ESRCH) && firstErr == nil {
			firstErr = fmt.Errorf("pgcluster: thaw process %d: %w", c.frozen[i], err)
		}
	}
	c.frozen = nil
	c.logf("PostgreSQL on port %d thawed", c.port)
	return firstErr
}

// waitStopped waits (a second at most) until pid is stopped or gone.
func waitStopped(pid int) {
	for range 1000 {
		st, ok := procStat(pid)
		if !ok || len(st) == 0 || st[0] == "T" || st[0] == "t" || st[0] == "Z" {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// procStat returns the fields of /proc/<pid>/stat after the command name,
// starting with the state.
func procStat(pid int) ([]string, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil, false
	}
	// The command name, in parentheses, may hold spaces: fields start after it.
	s := string(b)
	end := strings.LastIndexByte(s, ')')
	if end < 0 {
		return nil, false
	}
	return strings.Fields(s[end+1:]), true
}

// children lists the processes whose parent is pid, from /proc.
func children(pid int) []int {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var kids []int
	for _, p := range stats {
		kid, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if err != nil {
			continue
		}
		fields, ok := procStat(kid)
		if !ok || len(fields) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(fields[1]); err == nil && ppid == pid {
			kids = append(kids, kid)
		}
	}
	return kids
}
