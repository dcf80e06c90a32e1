// Package e2e runs the real aura and aura-runner binaries against a real
// PostgreSQL and real shell commands, the way a user runs them.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/dbtest"
)

var binDir string

var httpClient = &http.Client{Timeout: 5 * time.Second}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "aura-e2e-bin-")
	if err != nil {
		panic(err)
	}
	binDir = dir
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	for _, b := range []struct{ out, pkg string }{{"aura", "./backend/cmd/aura"}, {"aura-runner", "./runner/cmd/aura-runner"}} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, b.out), b.pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", b.pkg, err, out)
			os.Exit(1)
		}
	}
	defer os.RemoveAll(dir)
	dbtest.Main(m)
}

// logBuffer collects a process's output for failure reports.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// server is a running `aura serve`.
type server struct {
	t     testing.TB
	url   string
	addr  string
	dbURL string
	admin string
	args  []string
	cmd   *exec.Cmd
	out   *logBuffer
}

func freeAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// startServer starts aura on a fresh database; args are extra flags.
// testSecretKey seals the secrets of every server the tests start (32 bytes, hex).
const testSecretKey = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func startServer(t testing.TB, args ...string) *server {
	return startServerOn(t, dbtest.NewURL(t), args...)
}

func startServerOn(t testing.TB, dbURL string, args ...string) *server {
	addr := freeAddr(t)
	// Servers sharing a database share its secret key; the data folder (here only
	// the key's default home) is the test's own, not the source tree.
	args = append([]string{"--secret-key", testSecretKey, "--data", t.TempDir()}, args...)
	s := &server{t: t, addr: addr, url: "http://" + addr, dbURL: dbURL, admin: "AURA_ADMINKEY_e2e-admin", args: args}
	s.start()
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("aura output:\n%s", s.out)
		}
	})
	return s
}

func (s *server) start() {
	s.t.Helper()
	args := append([]string{"serve", "--addr", s.addr, "--database-url", s.dbURL, "--admin-token", s.admin,
		"--base-url", s.url}, s.args...)
	s.cmd = exec.Command(filepath.Join(binDir, "aura"), args...)
	if s.out == nil {
		s.out = &logBuffer{}
	}
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	require.NoError(s.t, s.cmd.Start())
	require.Eventually(s.t, func() bool {
		resp, err := http.Get(s.url + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, 20*time.Second, 20*time.Millisecond, "aura did not start:\n%s", s.out)
}

func (s *server) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	s.cmd = nil
}

// call sends a JSON request and decodes the answer, requiring status want.
func (s *server) call(method, path, token string, body, out any, want int) {
	s.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(s.t, err)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.url+path, r)
	require.NoError(s.t, err)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	require.Equal(s.t, want, resp.StatusCode, "%s %s: %s", method, path, data)
	if out != nil {
		require.NoError(s.t, json.Unmarshal(data, out), "%s", data)
	}
}

// project creates a project and returns a project token.
func (s *server) project(slug string) string {
	s.call("POST", "/api/v1/projects", s.admin, map[string]any{"slug": slug, "name": slug}, nil, 201)
	var tok struct{ Token string }
	s.call("POST", "/api/v1/projects/"+slug+"/tokens", s.admin, map[string]any{"name": "ci"}, &tok, 201)
	return tok.Token
}

// runnerToken registers a runner for tags (a runner claims only its registered
// tags; none given: "linux").
func (s *server) runnerToken(name string, tags ...string) string {
	if len(tags) == 0 {
		tags = []string{"linux"}
	}
	var r struct{ Token string }
	s.call("POST", "/api/v1/runners", s.admin, map[string]any{"name": name, "tags": tags}, &r, 201)
	return r.Token
}

type job struct {
	ID         int64
	Name       string
	Status     string
	Attempt    int
	Reason     string
	RunnerName string
	ExitCode   *int
	StartedAt  *time.Time
	EndedAt    *time.Time
	ParentJob  *int64
}

func (s *server) submit(token string, fields map[string]any) job {
	s.t.Helper()
	body := map[string]any{"entityKey": "commit", "entityVal": "abc", "name": "build", "cmd": "true", "tag": "linux"}
	for k, v := range fields {
		body[k] = v
	}
	var j job
	s.call("POST", "/api/v1/jobs", token, body, &j, 201)
	return j
}

func (s *server) job(id int64) job {
	s.t.Helper()
	var j job
	s.call("GET", fmt.Sprintf("/api/v1/jobs/%d", id), s.admin, nil, &j, 200)
	return j
}

func (s *server) log(id int64) string {
	s.t.Helper()
	resp, err := http.Get(fmt.Sprintf("%s/api/v1/jobs/%d/log", s.url, id))
	require.NoError(s.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// waitStatus waits until job id has one of the statuses.
func (s *server) waitStatus(id int64, within time.Duration, statuses ...string) job {
	s.t.Helper()
	var j job
	require.Eventually(s.t, func() bool {
		j = s.job(id)
		for _, st := range statuses {
			if j.Status == st {
				return true
			}
		}
		return false
	}, within, 20*time.Millisecond, "job %d did not reach %v", id, statuses)
	return j
}

// runner is a running aura-runner process.
type runner struct {
	cmd *exec.Cmd
	out *logBuffer
}

func startRunner(t testing.TB, s *server, name string, args ...string) *runner {
	t.Helper()
	var tags []string
	for i, arg := range args {
		if arg == "--tag" && i+1 < len(args) {
			tags = append(tags, args[i+1])
		}
	}
	token := s.runnerToken(name, tags...)
	work := t.TempDir()
	full := append([]string{"--server", s.url, "--token", token, "--work-dir", work, "--grace", "2s"}, args...)
	r := &runner{cmd: exec.Command(filepath.Join(binDir, "aura-runner"), full...), out: &logBuffer{}}
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	// The runner puts itself on its jobs' PATH (for `aura-runner submit`): the
	// binaries' folder is not on it.
	r.cmd.Env = append(os.Environ(), "AURA_RUNNER_TOKEN=", "AURA_TAGS=")
	require.NoError(t, r.cmd.Start())
	t.Cleanup(func() {
		r.kill()
		if t.Failed() {
			t.Logf("aura-runner %s output:\n%s", name, r.out)
		}
	})
	return r
}

func (r *runner) kill() {
	if r.cmd.ProcessState != nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
}

// processGone reports whether no process has pid.
func processGone(pid int) bool {
	return syscall.Kill(pid, 0) == syscall.ESRCH
}

func waitFile(t testing.TB, path string, within time.Duration) string {
	t.Helper()
	var data []byte
	require.Eventually(t, func() bool {
		var err error
		data, err = os.ReadFile(path)
		return err == nil && len(data) > 0 && bytes.HasSuffix(data, []byte("\n"))
	}, within, 10*time.Millisecond, "no %s", path)
	return strings.TrimSpace(string(data))
}

func dbQueryRow(t testing.TB, url, q string, dst ...any) error {
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return conn.QueryRow(context.Background(), q).Scan(dst...)
}

func jsonDecode(resp *http.Response, out any) error {
	return json.NewDecoder(resp.Body).Decode(out)
}

// waitCheckedIn waits until n runners have checked in on the database: each has
// a claim open, and a claim registers its long-poll waiter right after its
// check-in, so what is submitted from then on wakes it (or is claimed at once).
func (s *server) waitCheckedIn(t testing.TB, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		var got int
		err := dbQueryRow(t, s.dbURL, `SELECT count(*) FROM runners WHERE last_check_in IS NOT NULL`, &got)
		return err == nil && got >= n
	}, 20*time.Second, 10*time.Millisecond, "%d runner(s) never checked in", n)
}

// waitAcked waits until a heartbeat has acknowledged the claim of job id, which
// makes its attempt count: a claim never acknowledged would be run again as the
// same attempt.
func (s *server) waitAcked(t testing.TB, id int64) {
	t.Helper()
	require.Eventually(t, func() bool {
		var acked bool
		err := dbQueryRow(t, s.dbURL, fmt.Sprintf(`SELECT acked FROM jobs WHERE id = %d`, id), &acked)
		return err == nil && acked
	}, 20*time.Second, 10*time.Millisecond, "job %d's claim was never acknowledged", id)
}

// waitOutput waits until the runner has printed text.
func (r *runner) waitOutput(t testing.TB, text string) {
	t.Helper()
	require.Eventually(t, func() bool { return strings.Contains(r.out.String(), text) }, 20*time.Second, 10*time.Millisecond,
		"the runner never said %q; it said:\n%s", text, r.out)
}
