package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// The fault tests (fault_test.go) run a quick variant of each fault always and
// the slow one (more rounds, longer outages) only with AURA_FAULT=1.
func faultFull() bool { return os.Getenv("AURA_FAULT") == "1" }

// faultScale is full with AURA_FAULT=1, quick otherwise.
func faultScale[T any](full, quick T) T {
	if faultFull() {
		return full
	}
	return quick
}

// faultSecret is the value of the secret every fault test hands its jobs: it may
// appear nowhere in the database, a log or the store.
const faultSecret = "fault-secret-7f3a91c2e4"

// finalStatuses are the statuses a job attempt ends in.
var finalStatuses = map[string]bool{"succeeded": true, "failed": true, "cancelled": true, "timed_out": true, "lost": true}

// procStats is what a server process holds: goroutines (from /metrics) and open
// files (/proc/<pid>/fd).
type procStats struct {
	pid, goroutines, fds, poolConns int
}

func measureServer(t testing.TB, s *server) procStats {
	t.Helper()
	st := procStats{pid: s.cmd.Process.Pid, goroutines: -1}
	if fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", st.pid)); err == nil {
		st.fds = len(fds)
	} else {
		st.fds = -1
	}
	req, err := http.NewRequest("GET", s.url+"/metrics", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+s.admin)
	resp, err := httpClient.Do(req)
	if err != nil {
		return st
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			st.goroutines = int(f)
		}
		if v, ok := strings.CutPrefix(sc.Text(), "aura_db_pool_total_connections "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			st.poolConns = int(f)
		}
	}
	return st
}

// faultCheck gathers what the invariants are checked against; check runs them.
type faultCheck struct {
	dbURL    string
	servers  []*server
	baseline map[*server]procStats
	viewers  []*recorder
	mu       sync.Mutex
	runners  []*runner
	// dirs are more folders to search for the secret (a store outside the data folder).
	dirs []string
}

func newFaultCheck(dbURL string, servers ...*server) *faultCheck {
	return &faultCheck{dbURL: dbURL, servers: servers, baseline: map[*server]procStats{}}
}

// runner starts a runner on s that check stops before it measures.
func (fc *faultCheck) runner(t testing.TB, s *server, name string, args ...string) *runner {
	r := startRunner(t, s, name, args...)
	fc.mu.Lock()
	fc.runners = append(fc.runners, r)
	fc.mu.Unlock()
	return r
}

// base records each server's goroutines and open files before any client
// (runner, viewer) connects: check stops the clients before it compares.
func (fc *faultCheck) base(t testing.TB) {
	t.Helper()
	for _, s := range fc.servers {
		fc.baseline[s] = measureServer(t, s)
		b := fc.baseline[s]
		t.Logf("baseline of %s: %d goroutines, %d open files (%d to the database)", s.addr, b.goroutines, b.fds, b.poolConns)
	}
}

// check requires every invariant of the fault tests:
//   - no job running without a live lease;
//   - a final status carries its end (and a success exit code 0);
//   - no log of an attempt the job never reached (one that was superseded and
//     then wrote on regardless);
//   - the stored log is the acknowledged chunks: contiguous from 0, its length the
//     job's log_length, and GET …/log answers exactly those bytes;
//   - no viewer saw one attempt end twice with different results;
//   - faultSecret nowhere in a pg_dump of the database, any log, or the store;
//   - no panic in any server's output;
//   - goroutines and open files of each server back near their baseline.
func (fc *faultCheck) check(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, fc.dbURL)
	require.NoError(t, err)
	defer conn.Close(ctx)

	ids := func(q string) []int64 {
		t.Helper()
		rows, err := conn.Query(ctx, q)
		require.NoError(t, err)
		out, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		require.NoError(t, err)
		return out
	}
	require.Empty(t, ids(`SELECT id FROM jobs WHERE status = 'running' AND (lease_expires_at IS NULL OR lease_expires_at < now())`),
		"jobs running without a live lease")
	require.Empty(t, ids(`SELECT id FROM jobs WHERE status IN ('succeeded','failed','cancelled','timed_out','lost') AND ended_at IS NULL`),
		"final jobs without an end")
	require.Empty(t, ids(`SELECT id FROM jobs WHERE status = 'succeeded' AND exit_code IS DISTINCT FROM 0`),
		"succeeded jobs without exit code 0")
	require.Empty(t, ids(`SELECT DISTINCT c.job_id FROM log_chunks c JOIN jobs j ON j.id = c.job_id WHERE c.attempt > j.attempt
		UNION SELECT a.job_id FROM log_archives a JOIN jobs j ON j.id = a.job_id WHERE a.attempt > j.attempt`),
		"logs of attempts the job never reached")

	// The stored log of each job's current attempt, read in one snapshot: the
	// archiver may move a finished log out of log_chunks meanwhile (a job's end
	// wakes it), and the archive holds the same bytes.
	snap, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	require.NoError(t, err)
	defer func() { _ = snap.Rollback(ctx) }()
	type jobLog struct {
		id, length       int64
		attempt          int
		truncated, arch  bool
		archLength, next int64
		chunks           int
	}
	rows, err := snap.Query(ctx, `SELECT j.id, j.attempt, j.log_length, j.log_truncated, a.job_id IS NOT NULL, coalesce(a.length, 0)
		FROM jobs j LEFT JOIN log_archives a ON a.job_id = j.id AND a.attempt = j.attempt ORDER BY j.id`)
	require.NoError(t, err)
	var logs []*jobLog
	for rows.Next() {
		l := &jobLog{}
		require.NoError(t, rows.Scan(&l.id, &l.attempt, &l.length, &l.truncated, &l.arch, &l.archLength))
		logs = append(logs, l)
	}
	require.NoError(t, rows.Err())
	byID := map[int64]*jobLog{}
	for _, l := range logs {
		byID[l.id] = l
	}
	rows, err = snap.Query(ctx, `SELECT c.job_id, c."offset", length(c.data) FROM log_chunks c JOIN jobs j ON j.id = c.job_id AND c.attempt = j.attempt
		ORDER BY c.job_id, c."offset"`)
	require.NoError(t, err)
	for rows.Next() {
		var id, off, n int64
		require.NoError(t, rows.Scan(&id, &off, &n))
		l := byID[id]
		if !l.truncated {
			require.Equal(t, l.next, off, "job %d attempt %d: a chunk at %d after %d stored bytes (a gap or an overlap)", id, l.attempt, off, l.next)
		}
		l.next = off + n
		l.chunks++
	}
	require.NoError(t, rows.Err())
	s := fc.servers[0]
	for _, l := range logs {
		switch {
		case l.arch:
			require.Equal(t, l.length, l.archLength, "job %d: the archived log's length", l.id)
			require.Zero(t, l.chunks, "job %d: chunks left beside its archived log", l.id)
		case !l.truncated:
			require.Equal(t, l.length, l.next, "job %d attempt %d: log_length against the stored chunks", l.id, l.attempt)
		}
		if l.length > 8<<20 {
			continue // the test that wrote it compares it itself
		}
		var b strings.Builder
		copyLog(t, s, l.id, &b)
		got := b.String()
		require.NotContains(t, got, faultSecret, "job %d's log", l.id)
		if !l.arch && !l.truncated {
			var stored []byte
			require.NoError(t, snap.QueryRow(ctx, `SELECT coalesce(string_agg(data, ''::bytea ORDER BY "offset"), ''::bytea)
				FROM log_chunks WHERE job_id = $1 AND attempt = $2`, l.id, l.attempt).Scan(&stored))
			require.Equal(t, string(stored), got, "job %d: GET log against the stored chunks", l.id)
		}
	}

	for _, v := range fc.viewers {
		v.requireOneResultPerAttempt(t)
	}

	// The secret: in a dump of the whole database, plain or as bytea hex.
	dump := exec.CommandContext(ctx, "pg_dump", "--data-only", "--no-owner", fc.dbURL)
	out, err := dump.Output()
	require.NoError(t, err, "pg_dump")
	require.NotContains(t, string(out), faultSecret, "the database holds the test secret")
	require.NotContains(t, string(out), hex.EncodeToString([]byte(faultSecret)), "the database holds the test secret as bytes")
	dirs := fc.dirs
	for _, srv := range fc.servers {
		if dir := dataDir(srv); dir != "" {
			dirs = append(dirs, dir)
		}
		requireNoPanic(t, srv)
	}
	for _, dir := range dirs {
		_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			b, err := os.ReadFile(path)
			if err == nil && bytes.Contains(b, []byte(faultSecret)) {
				t.Errorf("%s holds the test secret", path)
			}
			return nil
		})
	}

	// Goroutines and open files settle back near their baseline once the
	// clients are gone. The pool's connections to PostgreSQL are open files the
	// pool may keep (idle) after the load: they do not count.
	fc.mu.Lock()
	for _, r := range fc.runners {
		r.kill()
	}
	fc.mu.Unlock()
	for _, v := range fc.viewers {
		v.conn.Close()
	}
	for _, srv := range fc.servers {
		b, ok := fc.baseline[srv]
		if !ok || srv.cmd == nil {
			continue
		}
		var now procStats
		settled := func() bool {
			now = measureServer(t, srv)
			if now.pid != b.pid {
				return true // another process: its baseline is not this one's
			}
			return (b.goroutines < 0 || now.goroutines <= b.goroutines+3) &&
				(b.fds < 0 || now.fds-now.poolConns <= b.fds-b.poolConns+2)
		}
		deadline := time.Now().Add(15 * time.Second)
		for !settled() && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
		}
		require.True(t, settled(), "server %s: %d goroutines and %d open files (%d to the database), baseline %d and %d (%d)", srv.addr,
			now.goroutines, now.fds, now.poolConns, b.goroutines, b.fds, b.poolConns)
		t.Logf("server %s at the end: %d goroutines, %d open files (%d to the database); baseline %d, %d (%d)", srv.addr,
			now.goroutines, now.fds, now.poolConns, b.goroutines, b.fds, b.poolConns)
	}
}

var goroutineDump = regexp.MustCompile(`(?m)^goroutine \d+ \[`)

func requireNoPanic(t testing.TB, s *server) {
	t.Helper()
	out := s.out.String()
	require.NotContains(t, out, "panic:", "the server panicked")
	require.False(t, goroutineDump.MatchString(out), "the server printed a goroutine dump")
}

// dataDir is the --data folder a test server was started with.
func dataDir(s *server) string {
	for i, a := range s.args {
		if a == "--data" && i+1 < len(s.args) {
			return s.args[i+1]
		}
	}
	return ""
}

// recorder is a websocket viewer that records every job event of its topics in
// the background.
type recorder struct {
	mu     sync.Mutex
	conn   *websocket.Conn
	events []message
	finals map[[2]int64][]string // (job, attempt) → the final statuses seen
}

type jobMessage struct {
	Type    string
	JobID   int64
	Attempt int64
	Status  string
}

// record starts recording v's messages (after its subscriptions).
func record(t testing.TB, v *viewer) *recorder {
	r := &recorder{conn: v.conn, finals: map[[2]int64][]string{}}
	add := func(data []byte) {
		var m message
		var jm jobMessage
		_ = json.Unmarshal(data, &m)
		_ = json.Unmarshal(data, &jm)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.events = append(r.events, m)
		if jm.Type == "job" && finalStatuses[jm.Status] {
			k := [2]int64{jm.JobID, jm.Attempt}
			r.finals[k] = append(r.finals[k], jm.Status)
		}
	}
	for _, m := range v.pending {
		b, _ := json.Marshal(map[string]any{"type": m.Type, "jobId": m.JobID, "status": m.Status})
		add(b)
	}
	v.pending = nil
	go func() {
		_ = r.conn.SetReadDeadline(time.Time{})
		for {
			_, data, err := r.conn.ReadMessage()
			if err != nil {
				return
			}
			add(data)
		}
	}()
	return r
}

// seen reports whether the recorder saw job id reach status.
func (r *recorder) seen(id int64, status string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, sts := range r.finals {
		if k[0] == id {
			for _, s := range sts {
				if s == status {
					return true
				}
			}
		}
	}
	return false
}

func (r *recorder) requireOneResultPerAttempt(t testing.TB) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, sts := range r.finals {
		for _, s := range sts[1:] {
			require.Equal(t, sts[0], s, "job %d attempt %d ended twice: %v", k[0], k[1], sts)
		}
	}
}

// waitAll waits until every job in ids has a final status and returns them.
func waitFinal(t testing.TB, s *server, ids []int64, within time.Duration) map[int64]job {
	t.Helper()
	out := map[int64]job{}
	deadline := time.Now().Add(within)
	for _, id := range ids {
		out[id] = s.waitStatus(id, time.Until(deadline)+time.Second, "succeeded", "failed", "cancelled", "timed_out", "lost")
	}
	return out
}

// copyLog copies the whole log of job id's current attempt to w, in as many
// reads as the server's cap on one read takes, and returns its length.
func copyLog(t testing.TB, s *server, id int64, w io.Writer) int64 {
	t.Helper()
	var n int64
	for {
		resp, err := http.Get(fmt.Sprintf("%s/api/v1/jobs/%d/log?offset=%d", s.url, id, n))
		require.NoError(t, err)
		require.Equal(t, 200, resp.StatusCode)
		length, err := strconv.ParseInt(resp.Header.Get("X-Log-Length"), 10, 64)
		require.NoError(t, err)
		m, err := io.Copy(w, resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		if n += m; n >= length || m == 0 {
			return n
		}
	}
}
