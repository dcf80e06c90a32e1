package e2e

import (
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/dbtest"
	"github.com/aura-ci/aura/migrations"
)

// TestEmbeddedDatabase runs `aura serve` the way scripts/run does: no database URL,
// so it starts its own PostgreSQL in the data folder, prints the admin token on the
// first start only, keeps its data across restarts, and stops the cluster with it.
func TestEmbeddedDatabase(t *testing.T) {
	t.Parallel()
	data, err := os.MkdirTemp("", "aura-e2e-data-")
	require.NoError(t, err)
	require.NoError(t, os.Chmod(data, 0o755)) // the postgres user must reach it when we are root
	t.Cleanup(func() { os.RemoveAll(data) })
	addr := freeAddr(t)
	serve := func(args ...string) (*exec.Cmd, *logBuffer) {
		out := &logBuffer{}
		cmd := exec.Command(filepath.Join(binDir, "aura"), append([]string{"serve", "--addr", addr, "--data", data}, args...)...)
		cmd.Env = append(os.Environ(), "AURA_DATABASE_URL=", "AURA_ADMIN_TOKEN=")
		cmd.Stdout, cmd.Stderr = out, out
		require.NoError(t, cmd.Start())
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		s := &server{t: t, url: "http://" + addr}
		require.Eventually(t, func() bool {
			return get(s.url+"/readyz") == 200
		}, 60*time.Second, 50*time.Millisecond, "aura serve did not start:\n%s", out)
		return cmd, out
	}
	stop := func(cmd *exec.Cmd) {
		require.NoError(t, cmd.Process.Signal(os.Interrupt))
		require.NoError(t, cmd.Wait())
	}

	cmd, out := serve("--demo")
	token := regexp.MustCompile(`AURA_ADMINKEY_[A-Za-z0-9_-]+`).FindString(out.String())
	require.NotEmpty(t, token, "the first start prints the admin token:\n%s", out)
	s := &server{t: t, url: "http://" + addr, admin: token}
	var projects struct{ Items []struct{ Slug string } }
	s.call("GET", "/api/v1/projects", token, nil, &projects, 200)
	require.Len(t, projects.Items, 3, "demo projects")
	var queue struct{ Items []job }
	s.call("GET", "/api/v1/queue", token, nil, &queue, 200)
	require.NotEmpty(t, queue.Items)
	// The demo has a job in every state (lost and timed_out come from the reaper).
	require.Eventually(t, func() bool {
		var ent struct{ Jobs []job }
		seen := map[string]bool{}
		var vals struct{ Items []struct{ Value string } }
		s.call("GET", "/api/v1/projects/aura/entities/commit", "", nil, &vals, 200)
		for _, v := range vals.Items {
			s.call("GET", "/api/v1/projects/aura/entities/commit/"+v.Value, "", nil, &ent, 200)
			for _, j := range ent.Jobs {
				seen[j.Status] = true
			}
		}
		return len(seen) == 8
	}, 10*time.Second, 200*time.Millisecond)
	s.project("mine")
	stop(cmd)
	pgPID, _ := os.ReadFile(filepath.Join(data, "postgres", "postmaster.pid"))
	require.Empty(t, pgPID, "the embedded PostgreSQL stops with aura")

	cmd, out = serve()
	require.NotContains(t, out.String(), "AURA_ADMINKEY_", "the token is printed only once")
	s.call("GET", "/api/v1/projects/mine", token, nil, nil, 200)
	stop(cmd)
	require.True(t, strings.Contains(out.String(), "listening"))
}

func get(url string) int {
	resp, err := httpClient.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestMigrateCommand runs `aura migrate version|down|up` against a database.
func TestMigrateCommand(t *testing.T) {
	t.Parallel()
	url := dbtest.NewURL(t)
	migrate := func(args ...string) string {
		cmd := exec.Command(filepath.Join(binDir, "aura"), append([]string{"migrate"}, append(args, "--database-url", url)...)...)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		return strings.TrimSpace(string(out))
	}
	// The newest migration's number is the version, whoever adds the next one.
	names, err := fs.Glob(migrations.FS, "*.up.sql")
	require.NoError(t, err)
	slices.Sort(names)
	latest := strings.TrimLeft(strings.SplitN(names[len(names)-1], "_", 2)[0], "0")
	require.Equal(t, latest, migrate("version"))
	require.Equal(t, "migrated down: schema version "+latest+" → 0", migrate("down", "--yes"))
	require.Equal(t, "0", migrate("version"))
	require.Equal(t, "migrated up: schema version 0 → "+latest, migrate("up"))
	require.Equal(t, latest, migrate("version"))
	out, err := exec.Command(filepath.Join(binDir, "aura"), "migrate", "sideways", "--database-url", url).CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "unknown migrate command")
}

// TestSealKeyMismatch: a second server on the same database with another secret
// key refuses to start, saying why, instead of failing every secret the first sealed.
func TestSealKeyMismatch(t *testing.T) {
	t.Parallel()
	first := startServer(t)
	first.project("proj")
	other := strings.Repeat("ab", 32)
	out, err := exec.Command(filepath.Join(binDir, "aura"), "serve", "--addr", freeAddr(t), "--database-url", first.dbURL,
		"--secret-key", other, "--data", t.TempDir(), "--admin-token", first.admin).CombinedOutput()
	var exitErr *exec.ExitError
	require.ErrorAs(t, err, &exitErr, "aura exits non-zero: %s", out)
	require.Contains(t, string(out), "not the one the database's secrets are sealed with")
	second := startServerOn(t, first.dbURL) // the same key starts
	require.Equal(t, 200, get(second.url+"/api/v1/projects/proj"))
}

// TestEmbeddedDatabaseSupervised kills the embedded PostgreSQL with SIGKILL: aura
// restarts it, saying so, and serves again. When it cannot restart it (its
// configuration is gone), aura exits non-zero instead of answering 503 for ever.
func TestEmbeddedDatabaseSupervised(t *testing.T) {
	t.Parallel()
	data, err := os.MkdirTemp("", "aura-e2e-data-")
	require.NoError(t, err)
	require.NoError(t, os.Chmod(data, 0o755)) // the postgres user must reach it when we are root
	t.Cleanup(func() { os.RemoveAll(data) })
	addr := freeAddr(t)
	out := &logBuffer{}
	cmd := exec.Command(filepath.Join(binDir, "aura"), "serve", "--addr", addr, "--data", data, "--admin-token", "AURA_ADMINKEY_e2e")
	cmd.Env = append(os.Environ(), "AURA_DATABASE_URL=")
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			t.Logf("aura output:\n%s", out)
		}
	})
	s := &server{t: t, url: "http://" + addr, admin: "AURA_ADMINKEY_e2e"}
	require.Eventually(t, func() bool { return get(s.url+"/readyz") == 200 }, 60*time.Second, 50*time.Millisecond, "aura did not start")
	s.project("kept")

	pgDir := filepath.Join(data, "postgres")
	killPostmaster := func() {
		pidText, err := os.ReadFile(filepath.Join(pgDir, "postmaster.pid"))
		require.NoError(t, err)
		pid, err := strconv.Atoi(strings.SplitN(string(pidText), "\n", 2)[0])
		require.NoError(t, err)
		require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	}
	killPostmaster()
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "was restarted") }, 60*time.Second, 50*time.Millisecond)
	require.Contains(t, out.String(), "exited unexpectedly")
	require.Eventually(t, func() bool { return get(s.url+"/api/v1/projects/kept") == 200 }, 10*time.Second, 20*time.Millisecond)

	// Without its configuration, postgres cannot start again.
	require.NoError(t, os.Rename(filepath.Join(pgDir, "postgresql.conf"), filepath.Join(pgDir, "postgresql.conf.away")))
	killPostmaster()
	select {
	case err := <-exited:
		var exitErr *exec.ExitError
		require.ErrorAs(t, err, &exitErr, "aura exits non-zero")
		require.Equal(t, 1, exitErr.ExitCode())
		require.Contains(t, out.String(), "could not be restarted")
	case <-time.After(90 * time.Second):
		t.Fatal("aura carried on without its database")
	}
}

// TestServerLogs: with --log-format json, every request is a JSON line with its
// method, route template, status, duration and request id (never a token), and
// every job transition is one too. --demo on a database with projects says it
// does nothing.
func TestServerLogs(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--log-format", "json")
	tok := s.project("proj")
	startRunner(t, s, "r1", "--tag", "linux")
	j := s.submit(tok, map[string]any{"cmd": "echo hi"})
	s.waitStatus(j.ID, 20*time.Second, "succeeded")
	resp, err := httpClient.Get(s.url + "/api/v1/projects/proj/entities/commit/abc")
	require.NoError(t, err)
	resp.Body.Close()
	requestID := resp.Header.Get("X-Request-Id")
	require.NotEmpty(t, requestID)

	var health struct{ Version string }
	resp, err = httpClient.Get(s.url + "/healthz")
	require.NoError(t, err)
	require.NoError(t, jsonDecode(resp, &health))
	resp.Body.Close()
	out, err := exec.Command(filepath.Join(binDir, "aura"), "version").Output()
	require.NoError(t, err)
	require.Equal(t, "aura "+health.Version, strings.TrimSpace(string(out)), "the API reports the binary's version")

	s.stop()
	logs := s.out.String()
	require.NotContains(t, logs, s.admin)
	require.NotContains(t, logs, tok)
	var sawRequest bool
	statuses := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), "not a JSON line: %s", line)
		switch rec["msg"] {
		case "request":
			if rec["id"] == requestID {
				sawRequest = true
				require.Equal(t, "GET", rec["method"])
				require.Equal(t, "/api/v1/projects/{project}/entities/{key}/{val}", rec["route"])
				require.Equal(t, float64(200), rec["status"])
				require.NotNil(t, rec["duration"])
			}
		case "job":
			if rec["id"] == float64(j.ID) {
				statuses[rec["status"].(string)] = true
			}
		}
	}
	require.True(t, sawRequest, "the request was logged:\n%s", logs)
	require.Equal(t, map[string]bool{"queued": true, "running": true, "succeeded": true}, statuses)

	demo := startServerOn(t, s.dbURL, "--demo")
	require.Contains(t, demo.out.String(), "--demo does nothing")
}
