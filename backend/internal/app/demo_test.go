package app

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
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/dbtest"
)

// lockedBuffer is the output of a server running in the background.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Tail is the end of the output, for a failure message.
func (b *lockedBuffer) Tail() string {
	s := b.String()
	if len(s) > 3000 {
		s = "…" + s[len(s)-3000:]
	}
	return s
}

// demoServer runs aura serve --demo on a fresh database until the test ends, and
// returns its URL and output.
func demoServer(t *testing.T) (url string, out *lockedBuffer) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	out = &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"serve", "--addr", addr, "--data", filepath.Join(t.TempDir(), "data"), "--database-url", dbtest.NewURL(t),
			"--demo", "--admin-token", "AURA_ADMINKEY_demo-test"}, out, out)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			require.Equal(t, 0, code, out.Tail())
		case <-time.After(30 * time.Second):
			t.Errorf("aura serve --demo did not stop within 30 s:\n%s", out.Tail())
		}
	})
	url = "http://" + addr
	require.Eventually(t, func() bool {
		r, err := http.Get(url + "/readyz")
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == 200
	}, 30*time.Second, 50*time.Millisecond, out.Tail())
	return url, out
}

type demoJob struct {
	ID        int64
	Name      string
	Status    string
	Attempt   int
	Reason    string
	LogLength int64
}

// demoJobs are the jobs of the live demo's newest commit (nil while unknown).
func demoJobs(url string) map[string]demoJob {
	var col struct {
		Entities []struct{ Key, Value string }
	}
	if fetchJSON(url+"/api/v1/projects/aura/collections/ref/main?limit=1", &col) != nil || len(col.Entities) == 0 {
		return nil
	}
	var ent struct{ Jobs []demoJob }
	if fetchJSON(url+"/api/v1/projects/aura/entities/commit/"+col.Entities[0].Value, &ent) != nil {
		return nil
	}
	jobs := map[string]demoJob{}
	for _, j := range ent.Jobs {
		jobs[j.Name] = j
	}
	return jobs
}

func fetchJSON(url string, v any) error {
	r, err := http.Get(url)
	if err != nil {
		return err
	}
	defer r.Body.Close()
	if r.StatusCode != 200 {
		return fmt.Errorf("%s: %s", url, r.Status)
	}
	return json.NewDecoder(r.Body).Decode(v)
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	r, err := http.Get(url)
	require.NoError(t, err)
	defer r.Body.Close()
	require.Equal(t, 200, r.StatusCode, url)
	require.NoError(t, json.NewDecoder(r.Body).Decode(v))
}

// TestDemoRunsJobsLive: aura serve --demo starts the aura-runner it finds on PATH,
// and the demo's first commit runs for real: a job succeeds with its coloured,
// \r-redrawn log, the flaky job is retried and passes, the failing one fails and
// what waits for it is skipped. On shutdown the runner stops with the server.
func TestDemoRunsJobsLive(t *testing.T) {
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "aura-runner"), "github.com/aura-ci/aura/runner/cmd/aura-runner")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build aura-runner: %v\n%s", err, b)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	var out *lockedBuffer
	// Cleanups run last-registered first: this one runs after the server stopped.
	t.Cleanup(func() {
		require.True(t, strings.Contains(out.String(), "demo: aura-runner exited"), "the runner stops with the server:\n%s", out.Tail())
	})
	url, o := demoServer(t)
	out = o

	var jobs map[string]demoJob
	require.Eventually(t, func() bool {
		jobs = demoJobs(url)
		return jobs["checkout"].Status == "succeeded" && jobs["report"].Status == "cancelled" &&
			jobs["integration"].Status == "succeeded"
	}, 90*time.Second, 250*time.Millisecond, "jobs: %+v\n%s", jobs, out.Tail())

	co := jobs["checkout"]
	require.Positive(t, co.LogLength)
	r, err := http.Get(fmt.Sprintf("%s/api/v1/jobs/%d/log", url, co.ID))
	require.NoError(t, err)
	log, _ := io.ReadAll(r.Body)
	r.Body.Close()
	require.Contains(t, string(log), "\rReceiving objects: 100%")
	require.Contains(t, string(log), "\x1b[1;34m$ git clone")

	require.Equal(t, 2, jobs["integration"].Attempt, "the flaky job was retried")
	require.Equal(t, "failed", jobs["e2e"].Status)
	require.Equal(t, fmt.Sprintf("preceding job e2e #%d failed", jobs["e2e"].ID), jobs["report"].Reason)
	require.Equal(t, "waiting", jobs["deploy"].Status, "waits for package and its earliest start")
	require.Contains(t, out.String(), "demo: started aura-runner")

	var runners struct{ Items []struct{ Name string } }
	getJSON(t, url+"/api/v1/runners", &runners)
	names := []string{}
	for _, r := range runners.Items {
		names = append(names, r.Name)
	}
	require.Contains(t, names, "demo-live")
}

// TestDemoWithoutRunner: with no aura-runner to start, the demo says so in one
// line and keeps its snapshot.
func TestDemoWithoutRunner(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	url, out := demoServer(t)
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "no aura-runner beside aura or on PATH") }, 10*time.Second, 20*time.Millisecond)
	var col struct{ Entities []struct{ Value string } }
	getJSON(t, url+"/api/v1/projects/aura/collections/ref/main", &col)
	require.NotEmpty(t, col.Entities, "the snapshot is there")
}
