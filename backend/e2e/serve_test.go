package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/dbtest"
	"github.com/aura-ci/aura/backend/internal/store"
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
	// The template database is at the newest migration, whichever number it has.
	v, _, err := store.MigrateVersion(url)
	require.NoError(t, err)
	latest := strconv.FormatUint(uint64(v), 10)
	require.Equal(t, latest, migrate("version"))
	migrate("down")
	require.Equal(t, "0", migrate("version"))
	migrate("up")
	require.Equal(t, latest, migrate("version"))
	out, err := exec.Command(filepath.Join(binDir, "aura"), "migrate", "sideways", "--database-url", url).CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "unknown migrate command")
}
