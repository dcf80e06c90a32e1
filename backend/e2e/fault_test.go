package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/dbtest"
)

// Fault tests. Each runs a quick variant always and the slow one with
// AURA_FAULT=1; each ends with faultCheck.check, the invariants every fault
// must leave intact (fault_invariants_test.go).

// TestFault runs every fault test at once, each on its own server (and
// database), so that the slow set takes as long as its slowest test (the
// database gone for a minute), not their sum: subtests marked parallel would
// run two at a time on a 2-core machine (go test's -parallel), these do not
// wait for each other. Select one with -run 'TestFault/RunnerKill'.
func TestFault(t *testing.T) {
	t.Parallel()
	if faultFull() {
		t.Log("AURA_FAULT=1: the slow fault tests")
	} else {
		t.Log("the quick fault tests; AURA_FAULT=1 runs the slow ones (more rounds, longer outages)")
	}
	tests := map[string]func(*testing.T){"RunnerKill": faultRunnerKill, "ServerKill": faultServerKill, "Database": faultDatabase,
		"TwoServers": faultTwoServers, "PoolExhausted": faultPoolExhausted, "StoreFull": faultStoreFull}
	names := make([]string, 0, len(tests))
	for name := range tests {
		names = append(names, name)
	}
	slices.Sort(names)
	runAtOnce(t, names, func(t *testing.T, name string) { tests[name](t) })
}

// runAtOnce runs fn as a subtest for each name, all at the same time, and
// waits for them.
func runAtOnce(t *testing.T, names []string, fn func(t *testing.T, name string)) {
	var wg sync.WaitGroup
	for _, name := range names {
		wg.Go(func() { t.Run(name, func(t *testing.T) { fn(t, name) }) })
	}
	wg.Wait()
}

// killPoints are where faultRunnerKill kills a runner with SIGKILL.
var killPoints = []string{"after-claim", "before-first-log", "mid-log", "after-exit"}

// faultRunnerKill kills the runner of a job with SIGKILL at a random point
// of the job (after its claim, before its first log line, in the middle of its
// log, after its process exited but perhaps before its runner reported it) and
// starts another runner: each job ends exactly once, succeeded, on its first
// attempt when the kill came after the result was in or before the claim was
// acknowledged, and otherwise on the next one after the lost attempt; its log is
// the last attempt's whole output.
//
// 100 kills with AURA_FAULT=1 (10 lanes of 10 rounds at once: a round waits out
// a 4 s lease, so one lane alone would take minutes), 5 otherwise (5 lanes of 1).
func faultRunnerKill(t *testing.T) {
	lanes, rounds := faultScale(10, 5), faultScale(10, 1)
	// A short lease, so that a lost attempt is retried soon; shorter than 4 s,
	// heartbeats of live runners came late on a loaded machine (load 300 on 2
	// cores) and their attempts were lost too.
	s := startServer(t, "--lease", "4s", "--ack-timeout", "4s")
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
	// The job waits for its gate before its first line, and touches its mark
	// after its last one, right before it exits. A round that kills before the
	// first line opens the gate only after the kill: on a loaded machine a job
	// that ran on could end between two looks at its status.
	cmd := fmt.Sprintf(`while [ ! -e "$GATE" ]; do sleep 0.01; done; echo "start $FAULT_SECRET"; for i in $(seq 1 %d); do echo line $i; sleep 0.02; done; echo end; touch "$MARK"`, lines)
	// One pool for every look: a connection per look took long enough under
	// load to miss a state, and its errors went unseen.
	pool, err := pgxpool.New(context.Background(), s.dbURL)
	require.NoError(t, err)
	defer pool.Close()

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
				gate := mark + ".gate"
				point := killPoints[rng.IntN(len(killPoints))]
				gatedUntilKill := point == "after-claim" || point == "before-first-log"
				openGate := func() bool {
					if err := os.WriteFile(gate, nil, 0o644); err != nil {
						t.Error(err)
						return false
					}
					return true
				}
				if !gatedUntilKill && !openGate() {
					return
				}
				j := s.submit(tok, map[string]any{"entityVal": fmt.Sprintf("%d-%d", l, round), "tag": tag, "cmd": cmd,
					"env": map[string]string{"MARK": mark, "GATE": gate}, "secretEnv": map[string]string{"FAULT_SECRET": faultSecret}})
				var status string
				var acked bool
				var logLength int64
				poll := func() {
					err := pool.QueryRow(context.Background(), `SELECT status, acked, log_length FROM jobs WHERE id = $1`, j.ID).Scan(&status, &acked, &logLength)
					if err != nil {
						t.Logf("job %d: %v", j.ID, err)
					}
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
				deadline := time.Now().Add(40 * time.Second)
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
				if gatedUntilKill && !openGate() {
					return
				}
				next := fc.runner(t, s, fmt.Sprintf("lane%d-%d", l, round+1), "--tag", tag)
				mu.Lock()
				current[l] = next
				mu.Unlock()
				got := s.waitStatus(j.ID, 40*time.Second, "succeeded", "failed", "cancelled", "timed_out", "lost")
				// Attempt 2 after a lost one; 3 if the next runner lost its lease
				// too (late heartbeats on a loaded machine), which the design allows.
				if got.Status != "succeeded" || got.Attempt > 3 {
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
	byPoint := map[string][3]int{}
	n := 0
	for r := range results {
		c := byPoint[r.point]
		c[r.attempt-1]++
		byPoint[r.point] = c
		n++
	}
	require.Equal(t, lanes*rounds, n, "every round ended in one success")
	for _, p := range killPoints {
		t.Logf("killed %-16s: %d succeeded on attempt 1, %d on attempt 2, %d on attempt 3", p, byPoint[p][0], byPoint[p][1], byPoint[p][2])
	}
	fc.check(t)
}

// seededLines is a small program that prints pseudo-random lines from a seed:
// `gen SEED BYTES PAUSE` prints exactly BYTES bytes, pausing PAUSE after each
// 256 KiB, so the test gets the same bytes (and their SHA-256) by running it
// itself.
const seededLines = `package main

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"time"
)

func main() {
	seed, _ := strconv.ParseUint(os.Args[1], 10, 64)
	total, _ := strconv.Atoi(os.Args[2])
	pause, _ := time.ParseDuration(os.Args[3])
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	w := bufio.NewWriterSize(os.Stdout, 64<<10)
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 +/-_"
	line := make([]byte, 0, 256)
	for i, n, block := 0, 0, 0; n < total; i++ {
		line = fmt.Appendf(line[:0], "%08d ", i)
		for k := 10 + rng.IntN(150); k > 0; k-- {
			line = append(line, alphabet[rng.IntN(len(alphabet))])
		}
		line = append(line, '\n')
		if n+len(line) > total {
			line = line[:total-n]
			line[len(line)-1] = '\n'
		}
		w.Write(line)
		n += len(line)
		if block += len(line); block >= 256<<10 {
			w.Flush()
			time.Sleep(pause)
			block = 0
		}
	}
	w.Flush()
}
`

// buildSeededLines builds seededLines and returns the program's path.
func buildSeededLines(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "gen.go")
	require.NoError(t, os.WriteFile(src, []byte(seededLines), 0o644))
	bin := filepath.Join(dir, "gen")
	cmd := exec.Command("go", "build", "-o", bin, src)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	return bin
}

// faultServerKill SIGKILLs `aura serve` and starts it again on the same
// address and database, again and again, while a job prints seeded
// pseudo-random lines: the job succeeds on its first attempt and the stored
// log's SHA-256 is that of what the job printed, which the test computes by
// running the same program with the same seed.
//
// 20 kills while the job prints 50 MB with AURA_FAULT=1, 3 kills and 5 MB
// otherwise; the job paces itself to print for about as long as the kills take.
func faultServerKill(t *testing.T) {
	kills, size := faultScale(20, 3), faultScale(50<<20, 5<<20)
	gen := buildSeededLines(t)
	const seed = 20261206
	blocks := size / (256 << 10)
	pause := time.Duration(kills) * 1500 * time.Millisecond / time.Duration(blocks)
	args := []string{fmt.Sprint(seed), fmt.Sprint(size)}
	out, err := exec.Command(gen, append(args, "0s")...).Output()
	require.NoError(t, err)
	require.Len(t, out, size)
	want := sha256.Sum256(out)
	out = nil

	s := startServer(t)
	tok := s.project("proj")
	fc := newFaultCheck(s.dbURL, s)
	r := fc.runner(t, s, "r1", "--tag", "linux")
	s.waitCheckedIn(t, 1)
	j := s.submit(tok, map[string]any{"cmd": fmt.Sprintf("%s %s %s %s; echo \"$FAULT_SECRET\" >/dev/null", gen, args[0], args[1], pause),
		"secretEnv": map[string]string{"FAULT_SECRET": faultSecret}})
	s.waitAcked(t, j.ID)
	rng := rand.New(rand.NewPCG(seed, 1))
	started := time.Now()
	var during int
	for i := range kills {
		time.Sleep(time.Duration(200+rng.IntN(600)) * time.Millisecond)
		var length int64
		var status string
		require.NoError(t, dbQueryRow(t, s.dbURL, fmt.Sprintf(`SELECT status, log_length FROM jobs WHERE id = %d`, j.ID), &status, &length))
		if status == "running" {
			during++
		}
		require.NoError(t, s.cmd.Process.Kill())
		_ = s.cmd.Wait()
		s.cmd = nil
		s.start()
		t.Logf("kill %d at %v: job %s, %d bytes stored", i+1, time.Since(started).Round(time.Millisecond), status, length)
	}
	got := s.waitStatus(j.ID, 2*time.Minute, "succeeded", "failed", "cancelled", "timed_out", "lost")
	require.Equal(t, "succeeded", got.Status, "%s; the runner said:\n%s", got.Reason, r.out)
	require.Equal(t, 1, got.Attempt, "the job ran once")
	t.Logf("%d of %d kills while the job ran; it took %v", during, kills, got.EndedAt.Sub(*got.StartedAt).Round(time.Millisecond))
	h := sha256.New()
	n := copyLog(t, s, j.ID, h)
	require.EqualValues(t, size, n, "the stored log's length")
	require.Equal(t, hex.EncodeToString(want[:]), hex.EncodeToString(h.Sum(nil)), "the stored log's SHA-256")
	// The server process is not the one a baseline could be taken of before its
	// clients came: goroutines and open files are checked by the other tests.
	fc.check(t)
}

// faultDatabase restarts PostgreSQL, stops it, and freezes it (SIGSTOP)
// while jobs run, each for longer than the lease: meanwhile every route answers
// 503 with Retry-After within 5 s (checkFrozenAnswers, as TestDatabaseFrozen),
// the server serves again within 5 s of the database's return, and no job is
// declared lost: each succeeds on its first attempt. TestDatabaseOutage and
// TestDatabaseFrozen are the short single-case versions, with their own checks.
//
// With AURA_FAULT=1 the database is gone 60 s with 20 jobs running; otherwise
// 8 s with 6 jobs. The three cases run at once, each on its own cluster.
func faultDatabase(t *testing.T) {
	outage, jobs := faultScale(60*time.Second, 8*time.Second), faultScale(20, 6)
	lease := outage / 3
	runAtOnce(t, []string{"restart", "stop", "freeze"}, func(t *testing.T, fault string) {
		pg := startOwnCluster(t)
		s := startServerOn(t, pg.url(), "--lease", lease.String())
		tok := s.project("proj")
		fc := newFaultCheck(s.dbURL, s)
		fc.base(t)
		fc.runner(t, s, "r1", "--tag", "linux", "--concurrency", fmt.Sprint(jobs/2))
		fc.runner(t, s, "r2", "--tag", "linux", "--concurrency", fmt.Sprint(jobs-jobs/2))
		tab := dialViewer(t, s, s.admin)
		tab.subscribe(t, "project:proj")
		fc.viewers = append(fc.viewers, record(t, tab))
		var ids []int64
		// Every job runs past the database's return (begun before the outage, it
		// ends a few seconds after it).
		run := outage + 5*time.Second
		for i := range jobs {
			ids = append(ids, s.submit(tok, map[string]any{"entityVal": fmt.Sprint(i),
				"cmd":       fmt.Sprintf(`echo "start $FAULT_SECRET"; sleep %g; echo done`, run.Seconds()),
				"secretEnv": map[string]string{"FAULT_SECRET": faultSecret}}).ID)
		}
		for _, id := range ids {
			s.waitAcked(t, id)
		}

		began := time.Now()
		switch fault {
		case "restart":
			pg.stop()
			pg.start()
		case "stop":
			pg.stop()
		case "freeze":
			require.NoError(t, pg.c.Freeze())
		}
		if fault != "restart" {
			for round := range 2 {
				checkFrozenAnswers(t, s, tok, ids[0], round)
			}
			time.Sleep(outage - time.Since(began)) // the outage lasting this long is what is tested
			if fault == "stop" {
				pg.start()
			} else {
				require.NoError(t, pg.c.Thaw())
			}
		}
		back := time.Now()
		require.Eventually(t, func() bool { return get(s.url+"/api/v1/projects") == 200 }, 5*time.Second, 20*time.Millisecond,
			"serving again within 5 s of the database's return")
		t.Logf("%s: database gone %v; serving again %v after its return", fault, back.Sub(began).Round(time.Millisecond),
			time.Since(back).Round(time.Millisecond))

		for id, j := range waitFinal(t, s, ids, run+time.Minute) {
			require.Equal(t, "succeeded", j.Status, "job %d: %s", id, j.Reason)
			require.Equal(t, 1, j.Attempt, "job %d ran once: %s", id, j.Reason)
			require.Equal(t, "start ***\ndone\n", s.log(id))
		}
		fc.check(t)
	})
}

// faultTwoServers runs two `aura serve` on one database, with runners and
// websocket viewers spread over both and jobs submitted through both: every job
// succeeds once, every viewer on either server hears every job succeed, and a
// schedule due on both servers at the same moment fires once.
//
// 60 jobs and 4 runners with AURA_FAULT=1, 12 jobs otherwise.
func faultTwoServers(t *testing.T) {
	jobs := faultScale(60, 12)
	a := startServer(t)
	b := startServerOn(t, a.dbURL)
	servers := []*server{a, b}
	tok := a.project("proj")
	fc := newFaultCheck(a.dbURL, a, b)
	fc.base(t)
	for i := range 4 {
		fc.runner(t, servers[i%2], fmt.Sprintf("r%d", i), "--tag", "linux", "--concurrency", "3")
	}
	for i := range 4 {
		tab := dialViewer(t, servers[i%2], a.admin)
		tab.subscribe(t, "project:proj")
		fc.viewers = append(fc.viewers, record(t, tab))
	}

	// A schedule on both servers' timers: made due in a second by hand (its cron
	// would fire next year), both told at once.
	var sc struct{ ID int64 }
	b.call("POST", "/api/v1/projects/proj/schedules", a.admin, map[string]any{"name": "nightly", "cron": "@yearly", "timezone": "UTC",
		"entityKey": "nightly", "jobs": []map[string]any{{"name": "scheduled", "cmd": "echo scheduled", "tag": "linux"}}}, &sc, 201)
	require.NoError(t, dbQueryRow(t, a.dbURL, fmt.Sprintf(`WITH u AS (UPDATE schedules SET next_run_at = now() + interval '1 second' WHERE id = %d RETURNING id)
		SELECT pg_notify('aura_schedules', '') FROM u`, sc.ID), new(string)))

	var ids []int64
	for i := range jobs {
		ids = append(ids, servers[i%2].submit(tok, map[string]any{"entityVal": fmt.Sprint(i),
			"cmd":       `echo "start $FAULT_SECRET"; sleep 0.2; echo done`,
			"secretEnv": map[string]string{"FAULT_SECRET": faultSecret}}).ID)
	}
	var scheduled []int64
	require.Eventually(t, func() bool {
		rows, err := pgxQueryIDs(a.dbURL, `SELECT id FROM jobs WHERE name = 'scheduled'`)
		scheduled = rows
		return err == nil && len(rows) > 0
	}, 20*time.Second, 50*time.Millisecond, "the schedule never fired")
	ids = append(ids, scheduled...)
	for id, j := range waitFinal(t, a, ids, time.Minute) {
		require.Equal(t, "succeeded", j.Status, "job %d: %s", id, j.Reason)
		require.Equal(t, 1, j.Attempt, "job %d: %s", id, j.Reason)
	}
	time.Sleep(2 * time.Second) // a second firing would be in by now
	scheduled, err := pgxQueryIDs(a.dbURL, `SELECT id FROM jobs WHERE name = 'scheduled'`)
	require.NoError(t, err)
	require.Len(t, scheduled, 1, "the schedule fired once")
	for i, v := range fc.viewers {
		require.Eventually(t, func() bool {
			for _, id := range ids {
				if !v.seen(id, "succeeded") {
					return false
				}
			}
			return true
		}, 10*time.Second, 50*time.Millisecond, "viewer %d (on server %d) missed a job's success", i, i%2)
	}
	fc.check(t)
}

// pgxQueryIDs runs q, which selects one bigint column, on a new connection.
func pgxQueryIDs(url, q string) ([]int64, error) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	rows, _ := conn.Query(ctx, q)
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// poolAnswerWithin is how soon a request must be answered while the pool is
// exhausted: as while the database is frozen.
const poolAnswerWithin = freezeAnswerWithin

// faultPoolExhausted gives the server a pool of 4 connections and holds them
// all: requests that each wait on a table another connection locks. Meanwhile
// /readyz says 503 (the server cannot serve, though the database answers), and
// every request, those holding a connection and those waiting for one, ends
// with 503 and Retry-After within 5 s. Once the lock goes the server serves
// again, and nothing leaks (the invariants).
//
// Three rounds of 12 requests with AURA_FAULT=1, one otherwise.
func faultPoolExhausted(t *testing.T) {
	rounds := faultScale(3, 1)
	dbURL := dbtest.NewURL(t)
	sep := "?"
	if strings.Contains(dbURL, "?") {
		sep = "&"
	}
	s := startServerOn(t, dbURL+sep+"pool_max_conns=4")
	tok := s.project("proj")
	fc := newFaultCheck(dbURL, s)
	fc.base(t)
	fc.runner(t, s, "r1", "--tag", "linux")
	ctx := context.Background()
	for round := range rounds {
		lock, err := pgx.Connect(ctx, dbURL)
		require.NoError(t, err)
		tx, err := lock.Begin(ctx)
		require.NoError(t, err)
		_, err = tx.Exec(ctx, `LOCK TABLE projects IN ACCESS EXCLUSIVE MODE`)
		require.NoError(t, err)

		client := &http.Client{Timeout: 4 * poolAnswerWithin}
		type answer struct {
			status int
			retry  string
			took   time.Duration
			err    error
		}
		const n = 12
		answers := make([]answer, n+1)
		var wg sync.WaitGroup
		for i := range n + 1 {
			wg.Go(func() {
				path := "/api/v1/projects"
				if i == n {
					time.Sleep(time.Second) // once the others hold the pool
					path = "/readyz"
				}
				start := time.Now()
				resp, err := client.Get(s.url + path)
				a := answer{took: time.Since(start), err: err}
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					a.status, a.retry = resp.StatusCode, resp.Header.Get("Retry-After")
				}
				answers[i] = a
			})
		}
		wg.Wait()
		require.NoError(t, tx.Rollback(ctx))
		lock.Close(ctx)
		for i, a := range answers {
			require.NoError(t, a.err, "round %d request %d", round, i)
			t.Logf("round %d request %d: %d in %v", round, i, a.status, a.took.Round(time.Millisecond))
			require.Equal(t, 503, a.status, "round %d request %d with the pool exhausted", round, i)
			require.NotEmpty(t, a.retry, "round %d request %d: Retry-After", round, i)
			require.Less(t, a.took, poolAnswerWithin, "round %d request %d", round, i)
		}
		require.Eventually(t, func() bool { return get(s.url+"/api/v1/projects") == 200 && get(s.url+"/readyz") == 200 },
			5*time.Second, 20*time.Millisecond, "serving again once the pool is free")
	}
	j := s.submit(tok, map[string]any{"cmd": `echo "$FAULT_SECRET"`, "secretEnv": map[string]string{"FAULT_SECRET": faultSecret}})
	require.Equal(t, "succeeded", s.waitStatus(j.ID, 20*time.Second, "succeeded", "failed").Status)
	fc.check(t)
}

// mountSmallStore mounts a tmpfs of size bytes for a folder store and fills it
// up; free frees the space again. The test is skipped where mounting is not
// allowed (not root, or no tmpfs).
func mountSmallStore(t *testing.T, size int) (dir string, fill, free func()) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "store")
	require.NoError(t, os.Mkdir(dir, 0o755))
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("no tmpfs for a store that runs out of space (mount needs root): %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	filler := filepath.Join(dir, "filler")
	fill = func() {
		f, err := os.Create(filler)
		require.NoError(t, err)
		block := make([]byte, 64<<10)
		for {
			if _, err := f.Write(block); err != nil {
				require.ErrorIs(t, err, syscall.ENOSPC)
				break
			}
		}
		for _, n := range []int{4096, 512, 1} { // the last bytes
			for {
				if _, err := f.Write(block[:n]); err != nil {
					break
				}
			}
		}
		require.NoError(t, f.Close())
	}
	free = func() { require.NoError(t, os.Remove(filler)) }
	return dir, fill, free
}

// faultStoreFull runs the folder store (artifacts and archived logs) out of
// space, on a small tmpfs: an artifact upload is answered 507, the job stays
// running (its runner retries) and is never reported succeeded, and once space
// returns the upload goes through and the job succeeds with the same bytes;
// logs that could not move to the full store stay readable in PostgreSQL and
// are archived once it has room.
//
// With AURA_FAULT=1 a job also meets a store that stays full for longer than
// its runner's retries (about 16 s): it fails, never succeeds.
func faultStoreFull(t *testing.T) {
	dir, fill, free := mountSmallStore(t, 4<<20)
	s := startServer(t, "--store", "dir:"+dir, "--log-archive-after", "1s")
	tok := s.project("proj")
	fc := newFaultCheck(s.dbURL, s)
	fc.dirs = append(fc.dirs, dir)
	fc.base(t)
	fc.runner(t, s, "r1", "--tag", "linux")
	out := t.TempDir()
	upload := func(i int) job {
		return s.submit(tok, map[string]any{"entityVal": fmt.Sprint(i), "env": map[string]string{"OUT": out},
			"secretEnv": map[string]string{"FAULT_SECRET": faultSecret}, "cmd": fmt.Sprintf(`set -e
				head -c 1000000 /dev/urandom > a.bin
				echo "$FAULT_SECRET" > secret.txt
				sha256sum a.bin | cut -d' ' -f1 > "$OUT/sum-%d"
				aura-runner artifact upload a.bin
				echo uploaded`, i)})
	}
	refused := func() int { return strings.Count(s.out.String(), "status=507") }
	fill()
	var ids []int64
	if faultFull() {
		j := upload(0)
		ids = append(ids, j.ID)
		got := s.waitStatus(j.ID, time.Minute, "succeeded", "failed", "lost", "timed_out")
		require.Equal(t, "failed", got.Status, "a job whose upload never found room")
		require.NotZero(t, refused(), "the uploads were refused with 507")
		t.Logf("with the store full for good: %s", strings.TrimSpace(s.log(j.ID)))
	}
	j := upload(1)
	ids = append(ids, j.ID)
	before := refused()
	require.Eventually(t, func() bool { return refused() > before }, 30*time.Second, 20*time.Millisecond,
		"no upload answered 507 with the store full:\n%s", s.out)
	for range 10 { // the runner retries: the job is not done
		require.Equal(t, "running", s.job(j.ID).Status)
		time.Sleep(100 * time.Millisecond)
	}
	free()
	got := s.waitStatus(j.ID, 30*time.Second, "succeeded", "failed", "lost", "timed_out")
	require.Equal(t, "succeeded", got.Status, "once the store has room again: %s", s.log(j.ID))
	var list struct {
		Items []struct{ Path, Sha256 string }
	}
	s.call("GET", fmt.Sprintf("/api/v1/jobs/%d/artifacts", j.ID), "", nil, &list, 200)
	require.Len(t, list.Items, 1)
	require.Equal(t, waitFile(t, filepath.Join(out, "sum-1"), time.Second), list.Items[0].Sha256)

	// The logs that waited for room are archived now.
	require.Eventually(t, func() bool {
		var n int
		return dbQueryRow(t, s.dbURL, `SELECT count(*) FROM log_archives`, &n) == nil && n == len(ids)
	}, 30*time.Second, 100*time.Millisecond, "the logs were not archived once the store had room")
	fc.check(t)
}
