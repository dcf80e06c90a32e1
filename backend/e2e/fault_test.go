package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Fault tests. Each runs a quick variant always and the slow one with
// AURA_FAULT=1; each ends with faultCheck.check, the invariants every fault
// must leave intact (fault_invariants_test.go).

// killPoints are where TestFaultRunnerKill kills a runner with SIGKILL.
var killPoints = []string{"after-claim", "before-first-log", "mid-log", "after-exit"}

// TestFaultRunnerKill kills the runner of a job with SIGKILL at a random point
// of the job (after its claim, before its first log line, in the middle of its
// log, after its process exited but perhaps before its runner reported it) and
// starts another runner: each job ends exactly once, succeeded, on its first
// attempt when the kill came after the result was in or before the claim was
// acknowledged, and otherwise on the next one after the lost attempt; its log is
// the last attempt's whole output.
//
// 100 kills with AURA_FAULT=1 (10 lanes of 10 rounds at once: a round waits out a
// 2 s lease, so one lane alone would take minutes), 5 otherwise (5 lanes of 1).
func TestFaultRunnerKill(t *testing.T) {
	t.Parallel()
	lanes, rounds := faultScale(10, 5), faultScale(10, 1)
	s := startServer(t, "--lease", "2s", "--ack-timeout", "2s")
	tok := s.project("proj")
	fc := newFaultCheck(s.dbURL, s)
	fc.base(t)
	var mu sync.Mutex
	current := make([]*runner, lanes)
	for l := range lanes {
		current[l] = fc.runner(t, s, fmt.Sprintf("lane%d-0", l), "--tag", fmt.Sprintf("lane%d", l))
	}
	s.waitCheckedIn(t, lanes)
	tab := dialViewer(t, s, s.admin)
	tab.subscribe(t, "project:proj")
	fc.viewers = append(fc.viewers, record(t, tab))

	marks := t.TempDir()
	const lines = 20
	var want strings.Builder
	want.WriteString("start ***\n")
	for i := 1; i <= lines; i++ {
		fmt.Fprintf(&want, "line %d\n", i)
	}
	want.WriteString("end\n")
	// The job sleeps before its first line, and touches its mark after its last
	// one, right before it exits.
	cmd := fmt.Sprintf(`sleep 0.3; echo "start $FAULT_SECRET"; for i in $(seq 1 %d); do echo line $i; sleep 0.02; done; echo end; touch "$MARK"`, lines)

	var wg sync.WaitGroup
	type result struct {
		point   string
		attempt int
	}
	results := make(chan result, lanes*rounds)
	for l := range lanes {
		wg.Go(func() {
			tag := fmt.Sprintf("lane%d", l)
			rng := rand.New(rand.NewPCG(uint64(l), uint64(time.Now().UnixNano())))
			for round := range rounds {
				if t.Failed() {
					return
				}
				mark := filepath.Join(marks, fmt.Sprintf("%d-%d", l, round))
				point := killPoints[rng.IntN(len(killPoints))]
				j := s.submit(tok, map[string]any{"entityVal": fmt.Sprintf("%d-%d", l, round), "tag": tag, "cmd": cmd,
					"env": map[string]string{"MARK": mark}, "secretEnv": map[string]string{"FAULT_SECRET": faultSecret}})
				var status string
				var acked bool
				var logLength int64
				poll := func() {
					_ = dbQueryRow(t, s.dbURL, fmt.Sprintf(`SELECT status, acked, log_length FROM jobs WHERE id = %d`, j.ID), &status, &acked, &logLength)
				}
				reached := func() bool {
					switch point {
					case "after-claim":
						poll()
						return status == "running"
					case "before-first-log":
						poll()
						return status == "running" && acked
					case "mid-log":
						poll()
						return logLength > 0
					default:
						_, err := os.Stat(mark)
						return err == nil
					}
				}
				deadline := time.Now().Add(20 * time.Second)
				for !reached() && time.Now().Before(deadline) {
					time.Sleep(2 * time.Millisecond)
				}
				if !reached() {
					t.Errorf("job %d never reached %s (status %s)", j.ID, point, status)
					return
				}
				if point == "mid-log" {
					time.Sleep(time.Duration(rng.IntN(200)) * time.Millisecond)
				}
				mu.Lock()
				victim := current[l]
				mu.Unlock()
				victim.kill()
				next := fc.runner(t, s, fmt.Sprintf("lane%d-%d", l, round+1), "--tag", tag)
				mu.Lock()
				current[l] = next
				mu.Unlock()
				got := s.waitStatus(j.ID, 40*time.Second, "succeeded", "failed", "cancelled", "timed_out", "lost")
				if got.Status != "succeeded" || got.Attempt > 2 {
					t.Errorf("job %d killed %s: %s on attempt %d (%s)", j.ID, point, got.Status, got.Attempt, got.Reason)
					return
				}
				if log := s.log(j.ID); log != want.String() {
					t.Errorf("job %d killed %s: its log is\n%q", j.ID, point, log)
					return
				}
				results <- result{point, got.Attempt}
			}
		})
	}
	wg.Wait()
	close(results)
	byPoint := map[string][2]int{}
	n := 0
	for r := range results {
		c := byPoint[r.point]
		c[r.attempt-1]++
		byPoint[r.point] = c
		n++
	}
	require.Equal(t, lanes*rounds, n, "every round ended in one success")
	for _, p := range killPoints {
		t.Logf("killed %-16s: %d succeeded on attempt 1, %d on attempt 2", p, byPoint[p][0], byPoint[p][1])
	}
	fc.check(t)
}
