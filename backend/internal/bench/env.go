// Package bench measures Aura from outside, the way its users meet it: it starts a
// PostgreSQL cluster, the real `aura` server and real `aura-runner` processes on
// loopback, drives them over HTTP and websockets, and reports each figure beside
// its target. backend/cmd/aura-bench runs it; scripts/bench runs that.
//
// A scenario that cannot go on stops with fail (a panic that Run recovers): the
// scenarios are long straight lines of steps, and each step's error would
// otherwise take three lines to say "this scenario is over".
package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// secretKey seals the secrets of every server the suite starts (32 bytes, hex).
const secretKey = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// adminToken is every bench server's admin token.
const adminToken = "AURA_ADMINKEY_bench-admin"

// benchFailure carries a scenario's error through fail's panic.
type benchFailure struct{ err error }

// fail ends the running scenario with an error.
func fail(format string, args ...any) {
	panic(benchFailure{fmt.Errorf(format, args...)})
}

// check ends the running scenario if err is not nil.
func check(err error, what string) {
	if err != nil {
		fail("%s: %w", what, err)
	}
}

// Env is what the scenarios run on: a PostgreSQL server, the binaries, a scratch
// folder, and the processes started so far (stopped by Close).
type Env struct {
	// MaintURL is the URL of a maintenance database on the PostgreSQL server;
	// each server gets a fresh database created from it.
	MaintURL string
	// StatStatements is true when the server preloads pg_stat_statements.
	StatStatements bool
	// BinDir holds aura and aura-runner.
	BinDir string
	// PGBinDir holds the server's PostgreSQL programs (pgbench); empty: unknown.
	PGBinDir string
	// Full asks for the long counts (--full) rather than the quick ones.
	Full bool
	// Scale divides the quick counts further (the smoke test); 0 or 1: as is.
	Scale int
	// Root is the source tree (for the captured webhook deliveries).
	Root string
	// Logf reports progress.
	Logf func(format string, args ...any)

	// Ctx ends the run early (SIGINT, SIGTERM): every wait gives up once it is done.
	Ctx context.Context
	// PeersDir is the peers' Go module (bench/ of the source tree).
	PeersDir string

	emit  func(Figure) // records a figure of the running scenario
	notes []string

	tmp     string
	dbSeq   atomic.Int64
	mu      sync.Mutex
	procs   []*exec.Cmd
	dbs     []string
	servers []*Server
}

// NewEnv prepares an Env whose scratch files go in a new folder under tmpParent
// (empty: the system's temporary folder).
func NewEnv(maintURL, binDir, tmpParent string) (*Env, error) {
	tmp, err := os.MkdirTemp(tmpParent, "aura-bench-")
	if err != nil {
		return nil, err
	}
	e := &Env{MaintURL: maintURL, BinDir: binDir, tmp: tmp, Ctx: context.Background(), Logf: func(string, ...any) {}}
	var libs string
	if err := e.queryRow(maintURL, `SHOW shared_preload_libraries`, &libs); err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("bench: reach PostgreSQL: %w", err)
	}
	e.StatStatements = strings.Contains(libs, "pg_stat_statements")
	return e, nil
}

// Close stops every process the Env started, drops its databases and removes its
// scratch folder.
func (e *Env) Close() {
	e.mu.Lock()
	procs, dbs := e.procs, e.dbs
	e.procs, e.dbs = nil, nil
	e.mu.Unlock()
	for _, p := range procs {
		stopProcess(p)
	}
	for _, db := range dbs {
		e.DropDatabase(e.urlOf(db))
	}
	_ = os.RemoveAll(e.tmp)
}

// pick returns quick for --quick and full for --full, n divided by Scale in the smoke test.
func (e *Env) pick(quick, full int) int {
	if e.Full {
		return full
	}
	if e.Scale > 1 {
		return max(1, quick/e.Scale)
	}
	return quick
}

// TempDir returns a new folder in the scratch folder.
func (e *Env) TempDir() string {
	d, err := os.MkdirTemp(e.tmp, "d")
	check(err, "scratch folder")
	return d
}

// NewDatabase creates an empty database and returns its URL.
func (e *Env) NewDatabase(prefix string) string {
	name := fmt.Sprintf("%s_%d_%d", prefix, os.Getpid(), e.dbSeq.Add(1))
	check(e.exec(e.MaintURL, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()), "create database")
	e.mu.Lock()
	e.dbs = append(e.dbs, name)
	e.mu.Unlock()
	return e.urlOf(name)
}

func (e *Env) urlOf(name string) string {
	u, err := url.Parse(e.MaintURL)
	check(err, "database URL")
	u.Path = "/" + name
	return u.String()
}

// DropDatabase drops a database NewDatabase made, once its servers are stopped.
func (e *Env) DropDatabase(dbURL string) {
	u, err := url.Parse(dbURL)
	if err != nil {
		return
	}
	_ = e.exec(e.MaintURL, fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, pgx.Identifier{strings.TrimPrefix(u.Path, "/")}.Sanitize()))
}

func (e *Env) exec(dbURL, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

func (e *Env) queryRow(dbURL, sql string, dst ...any) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return conn.QueryRow(ctx, sql).Scan(dst...)
}

func (e *Env) track(cmd *exec.Cmd) {
	e.mu.Lock()
	e.procs = append(e.procs, cmd)
	e.mu.Unlock()
}

// stopProcess ends a process with SIGTERM, then SIGKILL after 10 s.
func stopProcess(cmd *exec.Cmd) {
	if cmd.Process == nil || cmd.ProcessState != nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// logBuffer keeps the end of a process's output for error reports.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buf.Len() > 4<<20 {
		l.buf.Next(2 << 20)
	}
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) tail() string {
	s := l.String()
	if len(s) > 3000 {
		s = "…" + s[len(s)-3000:]
	}
	return s
}

// Server is a running `aura serve` on its own database.
type Server struct {
	URL   string
	DBURL string
	Admin string
	cmd   *exec.Cmd
	out   *logBuffer
	env   *Env
	pool  *pgxpool.Pool
	// Retried counts the calls answered 503 and sent again.
	Retried atomic.Int64
	counts  atomic.Int64 // statementCount's calls, whose own transactions it leaves out
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err, "free port")
	defer ln.Close()
	return ln.Addr().String()
}

// StartServer starts aura on a fresh database; args are extra flags.
func (e *Env) StartServer(args ...string) *Server {
	dbURL := e.NewDatabase("bench")
	addr := freeAddr()
	s := &Server{URL: "http://" + addr, DBURL: dbURL, Admin: adminToken, out: &logBuffer{}, env: e}
	full := append([]string{"serve", "--addr", addr, "--database-url", dbURL, "--admin-token", adminToken,
		"--base-url", s.URL, "--secret-key", secretKey, "--data", e.TempDir(), "--log-format", "text"}, args...)
	s.cmd = exec.Command(filepath.Join(e.BinDir, "aura"), full...)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	check(s.cmd.Start(), "start aura")
	e.track(s.cmd)
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			fail("aura did not start:\n%s", s.out.tail())
		}
		time.Sleep(20 * time.Millisecond)
	}
	pool, err := pgxpool.New(context.Background(), dbURL)
	check(err, "connect to the server's database")
	s.pool = pool
	e.mu.Lock()
	e.servers = append(e.servers, s)
	e.mu.Unlock()
	return s
}

// Stop stops the server and drops its database.
func (s *Server) Stop() {
	s.noteRetries()
	s.pool.Close()
	stopProcess(s.cmd)
	s.env.DropDatabase(s.DBURL)
}

// Pid is the server process's id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Exec runs SQL on the server's database.
func (s *Server) Exec(sql string, args ...any) {
	ctx, cancel := context.WithTimeout(s.env.Ctx, 30*time.Minute)
	defer cancel()
	_, err := s.pool.Exec(ctx, sql, args...)
	check(err, "SQL")
}

// QueryRow runs SQL returning one row on the server's database.
func (s *Server) QueryRow(sql string, dst ...any) error {
	return s.pool.QueryRow(s.env.Ctx, sql).Scan(dst...)
}

var client = &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}

// Call sends a JSON request and decodes the answer, requiring status want.
// A 503 (the server's database calls ran out of time) is retried after a pause,
// as the runner does, and counted in Retried.
func (s *Server) Call(method, path, token string, body, out any, want int) {
	for attempt := 1; ; attempt++ {
		err := s.call(method, path, token, body, out, want)
		if err == nil {
			return
		}
		if !errors.Is(err, errUnavailable) || attempt == 120 {
			var n int
			_ = s.QueryRow(`SELECT count(*) FROM runners`, &n)
			fail("%v (%d runners registered; the server said:\n%s)", err, n, s.out.tail())
		}
		s.Retried.Add(1)
		s.env.pause(500 * time.Millisecond)
	}
}

var errUnavailable = errors.New("503 Service Unavailable")

func (s *Server) call(method, path, token string, body, out any, want int) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(s.env.Ctx, method, s.URL+path, r)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusServiceUnavailable && want != http.StatusServiceUnavailable {
		return fmt.Errorf("%s %s: %w: %.300s", method, path, errUnavailable, data)
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %d, want %d: %.500s", method, path, resp.StatusCode, want, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: %w: %.200s", method, path, err, data)
		}
	}
	return nil
}

// Project creates a project and returns a project token.
func (s *Server) Project(slug string) string {
	s.Call("POST", "/api/v1/projects", s.Admin, map[string]any{"slug": slug, "name": slug}, nil, 201)
	var tok struct{ Token string }
	s.Call("POST", "/api/v1/projects/"+slug+"/tokens", s.Admin, map[string]any{"name": "ci"}, &tok, 201)
	return tok.Token
}

// RunnerToken registers a runner for tags and returns its token.
func (s *Server) RunnerToken(name string, tags ...string) string {
	var r struct{ Token string }
	s.Call("POST", "/api/v1/runners", s.Admin, map[string]any{"name": name, "tags": tags}, &r, 201)
	return r.Token
}

// Job is what the bench reads of a job.
type Job struct {
	ID        int64
	Status    string
	Reason    string
	StartedAt *time.Time
	EndedAt   *time.Time
}

// Submit submits one job on tag linux; fields override the defaults.
func (s *Server) Submit(token string, fields map[string]any) Job {
	body := map[string]any{"entityKey": "commit", "entityVal": "abc", "name": "build", "cmd": "true", "tag": "linux"}
	for k, v := range fields {
		body[k] = v
	}
	var j Job
	s.Call("POST", "/api/v1/jobs", token, body, &j, 201)
	return j
}

// Job reads a job.
func (s *Server) Job(id int64) Job {
	var j Job
	s.Call("GET", fmt.Sprintf("/api/v1/jobs/%d", id), s.Admin, nil, &j, 200)
	return j
}

// WaitStatus waits until job id has one of the statuses.
func (s *Server) WaitStatus(id int64, within time.Duration, statuses ...string) Job {
	deadline := time.Now().Add(within)
	for {
		j := s.Job(id)
		for _, st := range statuses {
			if j.Status == st {
				return j
			}
		}
		if time.Now().After(deadline) {
			fail("job %d is %s (%s), not %v after %v", id, j.Status, j.Reason, statuses, within)
		}
		s.env.pause(5 * time.Millisecond)
	}
}

// WaitCheckedIn waits until n runners have checked in: each has a claim open,
// whose long-poll waiter is registered right after the check-in.
func (s *Server) WaitCheckedIn(n int, within time.Duration) {
	deadline := time.Now().Add(within)
	for {
		var got int
		err := s.QueryRow(`SELECT count(*) FROM runners WHERE last_check_in IS NOT NULL`, &got)
		if err == nil && got >= n {
			return
		}
		if time.Now().After(deadline) {
			fail("%d of %d runners checked in within %v", got, n, within)
		}
		s.env.pause(20 * time.Millisecond)
	}
}

// Metric reads one sample of the server's /metrics (the sum over its labels).
func (s *Server) Metric(name string) (float64, error) {
	req, _ := http.NewRequest("GET", s.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+s.Admin)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return 0, fmt.Errorf("GET /metrics: %d", resp.StatusCode)
	}
	data, _ := io.ReadAll(resp.Body)
	var sum float64
	found := false
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err == nil {
			sum += v
			found = true
		}
	}
	if !found {
		return 0, errors.New("no " + name + " in /metrics")
	}
	return sum, nil
}

// Runner is a running aura-runner process.
type Runner struct {
	cmd *exec.Cmd
	out *logBuffer
}

// StartRunner registers a runner for tag and starts it with concurrency 1.
func (s *Server) StartRunner(name, tag string, args ...string) *Runner {
	token := s.RunnerToken(name, tag)
	full := append([]string{"--server", s.URL, "--token", token, "--work-dir", s.env.TempDir(), "--grace", "2s",
		"--tag", tag, "--concurrency", "1"}, args...)
	r := &Runner{cmd: exec.Command(filepath.Join(s.env.BinDir, "aura-runner"), full...), out: &logBuffer{}}
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	r.cmd.Env = append(os.Environ(), "AURA_RUNNER_TOKEN=", "AURA_TAGS=")
	check(r.cmd.Start(), "start aura-runner")
	s.env.track(r.cmd)
	return r
}

// StartRunners starts n runners on tag, a few at a time.
func (s *Server) StartRunners(prefix, tag string, n int) []*Runner {
	rs := make([]*Runner, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	var failed atomic.Value
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			defer func() {
				if r := recover(); r != nil {
					failed.Store(r)
				}
			}()
			rs[i] = s.StartRunner(fmt.Sprintf("%s%d", prefix, i), tag)
		}()
	}
	wg.Wait()
	if r := failed.Load(); r != nil {
		panic(r)
	}
	return rs
}

// Stop kills the runner.
func (r *Runner) Stop() { stopProcess(r.cmd) }

// Pid is the runner process's id.
func (r *Runner) Pid() int { return r.cmd.Process.Pid }

// noteRetries leaves a note when calls had to be retried.
func (s *Server) noteRetries() {
	if n := s.Retried.Swap(0); n > 0 {
		s.env.mu.Lock()
		s.env.notes = append(s.env.notes, fmt.Sprintf("%d set-up call(s) answered 503 (the database calls ran out of time) and were retried", n))
		s.env.mu.Unlock()
	}
}

// pause sleeps for d, or ends the scenario if the run is interrupted meanwhile.
func (e *Env) pause(d time.Duration) {
	select {
	case <-time.After(d):
	case <-e.Ctx.Done():
		fail("interrupted")
	}
}
