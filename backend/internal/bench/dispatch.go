package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// startedAt waits for the start time a job wrote to path ($(date +%s%N)).
func (e *Env) startedAt(path string, within time.Duration) time.Time {
	deadline := time.Now().Add(within)
	for {
		b, err := os.ReadFile(path)
		if err == nil && len(b) > 0 && b[len(b)-1] == '\n' {
			ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
			check(err, "job start time")
			return time.Unix(0, ns)
		}
		if time.Now().After(deadline) {
			fail("no job wrote %s within %v", path, within)
		}
		e.pause(time.Millisecond)
	}
}

// stamp is a job command that writes its process's start time to path.
func stamp(path string) string { return "date +%s%N > " + path }

// Dispatch measures: submit → job process started with 50 parked runners, and a job's
// preceding job finished → its process started.
func Dispatch(e *Env) {
	parked := e.pick(50, 50)
	n := e.pick(200, 1000)
	s := e.StartServer()
	tok := s.Project("proj")
	dir := e.TempDir()
	s.StartRunners("r", "linux", parked)
	s.WaitCheckedIn(parked, 2*time.Minute)
	time.Sleep(500 * time.Millisecond) // the last check-ins' long polls are parked now
	ds := submitToStart(s, tok, dir, n, 0)
	label := fmt.Sprintf("submit → job process started, %d parked runners", parked)
	e.emit(atMost(Figure{Key: "dispatch_p50_ms", Label: label + ": p50", Value: quantile(ds, 0.5), Unit: "ms"}, 3))
	e.emit(atMost(Figure{Key: "dispatch_p99_ms", Label: label + ": p99", Value: quantile(ds, 0.99), Unit: "ms"}, 10))

	var chain []time.Duration
	for i := range e.pick(100, 500) {
		out := filepath.Join(dir, fmt.Sprint("chain", i))
		first := s.Submit(tok, map[string]any{"entityVal": fmt.Sprint("c", i), "name": "first", "cmd": "true"})
		second := s.Submit(tok, map[string]any{"entityVal": fmt.Sprint("c", i), "name": "second", "cmd": stamp(out),
			"precedingJobs": []int64{first.ID}})
		start := e.startedAt(out, 30*time.Second)
		ended := s.WaitStatus(first.ID, 30*time.Second, "succeeded").EndedAt
		chain = append(chain, start.Sub(*ended))
		s.WaitStatus(second.ID, 30*time.Second, "succeeded")
	}
	e.emit(atMost(Figure{Key: "chain_p50_ms", Label: "preceding job finished → next started: p50", Value: quantile(chain, 0.5), Unit: "ms"}, 3))
	e.emit(atMost(Figure{Key: "chain_p99_ms", Label: "preceding job finished → next started: p99", Value: quantile(chain, 0.99), Unit: "ms"}, 10))
}

// submitToStart submits n jobs one after the other, each once the one before it
// started, and returns the times from sending each submit to its process
// starting. Jobs sleep for hold first (0: they end at once and each is awaited).
func submitToStart(s *Server, tok, dir string, n int, hold time.Duration) []time.Duration {
	var ds []time.Duration
	prefix := fmt.Sprint(time.Now().UnixNano())
	for i := range n {
		out := filepath.Join(dir, fmt.Sprint(prefix, "-", i))
		cmd := stamp(out)
		if hold > 0 {
			cmd += fmt.Sprintf("; sleep %d", int(hold.Seconds()))
		}
		sent := time.Now()
		j := s.Submit(tok, map[string]any{"entityVal": fmt.Sprint(prefix, "-", i), "cmd": cmd})
		ds = append(ds, s.env.startedAt(out, 30*time.Second).Sub(sent))
		if hold == 0 {
			s.WaitStatus(j.ID, 30*time.Second, "succeeded")
		}
	}
	return ds
}
