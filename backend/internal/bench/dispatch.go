package bench

import (
	"fmt"
	"time"
)

// Dispatch measures: submit → job process started with 50 parked runners, and a job's
// preceding job finished → its process started. A job's process has started when
// its shell runs the job's first command; the time its first program (date)
// started is reported beside, as it adds an exec of the machine's date. Both
// are counted after a warm-up, as the first after the server started is
// reported apart.
func Dispatch(e *Env) {
	parked := e.pick(50, 50)
	n := e.pick(200, 1000)
	s := e.StartServer()
	tok := s.Project("proj")
	starts := e.watchStarts()
	defer starts.stop()
	s.StartRunners("r", "linux", parked)
	s.WaitCheckedIn(parked, 2*time.Minute)
	time.Sleep(500 * time.Millisecond) // the last check-ins' long polls are parked now
	// The first dispatches after the server started are warm-up, not counted
	// (River's peer does the same): each of the pool's connections plans a
	// statement anew on its first uses (the claim alone takes 0.7-3 ms to
	// plan), and a new connection starts with empty caches. The first is
	// reported beside.
	warm, _ := submitToStart(s, tok, starts, dispatchWarmUp, 0)
	ds, programs := submitToStart(s, tok, starts, n, 0)
	label := fmt.Sprintf("submit → job process started, %d parked runners", parked)
	e.emit(Figure{Key: "dispatch_first_ms", Label: "submit → job process started, the first after the server started", Value: float64(warm[0].Microseconds()) / 1000, Unit: "ms"})
	e.emit(atMost(Figure{Key: "dispatch_p50_ms", Label: label + ": p50", Value: quantile(ds, 0.5), Unit: "ms"}, 3))
	e.emit(atMost(Figure{Key: "dispatch_p99_ms", Label: label + ": p99", Value: quantile(ds, 0.99), Unit: "ms"}, 10))
	e.emit(Figure{Key: "dispatch_program_p50_ms", Label: "submit → job's first program (date) started: p50", Value: quantile(programs, 0.5), Unit: "ms"})

	var chain []time.Duration
	for i := range chainWarmUp + e.pick(100, 500) {
		name := fmt.Sprint("chain", i)
		first := s.Submit(tok, map[string]any{"entityVal": fmt.Sprint("c", i), "name": "first", "cmd": "true"})
		second := s.Submit(tok, map[string]any{"entityVal": fmt.Sprint("c", i), "name": "second", "cmd": starts.stamp(name),
			"precedingJobs": []int64{first.ID}})
		start := starts.shellStarted(e, name, 30*time.Second)
		ended := s.WaitStatus(first.ID, 30*time.Second, "succeeded").EndedAt
		if i >= chainWarmUp {
			chain = append(chain, start.Sub(*ended))
		}
		s.WaitStatus(second.ID, 30*time.Second, "succeeded")
	}
	e.emit(atMost(Figure{Key: "chain_p50_ms", Label: "preceding job finished → next started: p50", Value: quantile(chain, 0.5), Unit: "ms"}, 3))
	e.emit(atMost(Figure{Key: "chain_p99_ms", Label: "preceding job finished → next started: p99", Value: quantile(chain, 0.99), Unit: "ms"}, 10))
}

// dispatchWarmUp and chainWarmUp are the dispatches and chains Dispatch does
// not count, after the server started.
const (
	dispatchWarmUp = 20
	chainWarmUp    = 10
)

// submitToStart submits n jobs one after the other, each once the one before it
// started, and returns the times from sending each submit to its shell starting
// and to its first program starting. Jobs sleep for hold first (0: they end at
// once and each is awaited).
func submitToStart(s *Server, tok string, starts *startWatch, n int, hold time.Duration) (shells, programs []time.Duration) {
	prefix := fmt.Sprint(time.Now().UnixNano())
	for i := range n {
		name := fmt.Sprint(prefix, "-", i)
		cmd := starts.stamp(name)
		if hold > 0 {
			cmd += fmt.Sprintf("; sleep %d", int(hold.Seconds()))
		}
		sent := time.Now()
		j := s.Submit(tok, map[string]any{"entityVal": name, "cmd": cmd})
		shells = append(shells, starts.shellStarted(s.env, name, 30*time.Second).Sub(sent))
		programs = append(programs, starts.programStarted(s.env, name, 30*time.Second).Sub(sent))
		if hold == 0 {
			s.WaitStatus(j.ID, 30*time.Second, "succeeded")
		}
	}
	return shells, programs
}
