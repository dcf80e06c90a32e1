package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestArtifactsBetweenJobs: a job uploads a folder and a file with
// `aura-runner artifact upload`; a later job downloads them with `aura-runner
// artifact download`, by the job's id and by its name on the entity, and finds
// the same bytes; the API serves them too. A file
// over the server's limit fails its job with the limit named in the log.
func TestArtifactsBetweenJobs(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--artifact-max-file", "1MiB")
	tok := s.project("arts")
	dir := t.TempDir()
	startRunner(t, s, "r1", "--tag", "linux")

	build := s.submit(tok, map[string]any{"name": "build", "env": map[string]string{"OUT": dir}, "cmd": `
		set -e
		mkdir -p dist/sub
		echo "hello artifacts" > dist/hello.txt
		head -c 300000 /dev/urandom > dist/sub/data.bin
		cp dist/sub/data.bin "$OUT/data.bin"
		echo '<h1>report</h1>' > report.html
		aura-runner artifact upload dist 'report.*' --expire 24h`})
	b := s.waitStatus(build.ID, 30*time.Second, "succeeded", "failed")
	require.Equal(t, "succeeded", b.Status, s.log(build.ID))
	require.Contains(t, s.log(build.ID), "uploaded dist/sub/data.bin (300000 bytes")

	var list struct {
		Items []struct {
			Path, Sha256, ContentType string
			Size                      int64
			ExpiresAt                 *time.Time
		}
	}
	s.call("GET", fmt.Sprintf("/api/v1/jobs/%d/artifacts", build.ID), "", nil, &list, 200)
	require.Len(t, list.Items, 3)
	var paths []string
	for _, a := range list.Items {
		paths = append(paths, a.Path)
		require.NotNil(t, a.ExpiresAt)
	}
	require.Equal(t, []string{"dist/hello.txt", "dist/sub/data.bin", "report.html"}, paths)
	data, err := os.ReadFile(filepath.Join(dir, "data.bin"))
	require.NoError(t, err)
	sum := sha256.Sum256(data)
	require.Equal(t, hex.EncodeToString(sum[:]), list.Items[1].Sha256)

	resp, err := http.Get(fmt.Sprintf("%s/api/v1/jobs/%d/artifacts/report.html?inline=1", s.url, build.ID))
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, "<h1>report</h1>\n", string(body))
	require.True(t, strings.HasPrefix(resp.Header.Get("Content-Security-Policy"), "sandbox"))

	use := s.submit(tok, map[string]any{"name": "use", "precedingJobs": []int64{build.ID},
		"env": map[string]string{"OUT": dir, "BUILD": fmt.Sprint(build.ID)}, "cmd": `
		set -e
		aura-runner artifact download --job "$BUILD" --dest got dist
		cmp got/dist/sub/data.bin "$OUT/data.bin"
		cat got/dist/hello.txt
		test ! -e got/report.html
		aura-runner artifact download --name build --dest byname report.html
		grep -q report byname/report.html`})
	u := s.waitStatus(use.ID, 30*time.Second, "succeeded", "failed")
	require.Equal(t, "succeeded", u.Status, s.log(use.ID))
	require.Contains(t, s.log(use.ID), "hello artifacts")

	// In a private project too, a later job downloads what an earlier one built.
	s.call("PATCH", "/api/v1/projects/arts", s.admin, map[string]any{"private": true}, nil, 200)
	private := s.submit(tok, map[string]any{"name": "private", "env": map[string]string{"BUILD": fmt.Sprint(build.ID)}, "cmd": `
		set -e
		aura-runner artifact download --job "$BUILD" --dest got dist/hello.txt
		cat got/dist/hello.txt`})
	p := s.waitStatus(private.ID, 30*time.Second, "succeeded", "failed")
	s.call("GET", fmt.Sprintf("/api/v1/jobs/%d/artifacts", build.ID), "", nil, nil, 404)
	s.call("PATCH", "/api/v1/projects/arts", s.admin, map[string]any{"private": false}, nil, 200)
	require.Equal(t, "succeeded", p.Status, s.log(private.ID))
	require.Contains(t, s.log(private.ID), "hello artifacts")

	big := s.submit(tok, map[string]any{"name": "big", "cmd": `
		head -c 2000000 /dev/zero > big.iso
		aura-runner artifact upload big.iso`})
	g := s.waitStatus(big.ID, 30*time.Second, "succeeded", "failed")
	require.Equal(t, "failed", g.Status, s.log(big.ID))
	require.Contains(t, s.log(big.ID), "AURA_ARTIFACT_MAX_FILE")
	s.call("GET", fmt.Sprintf("/api/v1/jobs/%d/artifacts", big.ID), "", nil, &list, 200)
	require.Empty(t, list.Items)
}

// BenchmarkArtifact1GiB: a real runner uploads a 1 GiB file with `aura-runner
// artifact upload` (its SHA-256 pass included) and downloads it again with
// `aura-runner artifact download` (checked too), on the folder store. Reports
// each way's throughput and how much the server's resident memory grew.
func BenchmarkArtifact1GiB(b *testing.B) {
	const size = 1 << 30
	s := startServer(b, "--artifact-max-file", "2GiB")
	tok := s.project("big")
	startRunner(b, s, "r1", "--tag", "linux", "--concurrency", "1")
	dir := b.TempDir()
	src := filepath.Join(dir, "big.bin")
	f, err := os.Create(src)
	require.NoError(b, err)
	chunk := make([]byte, 1<<20)
	for i := range chunk {
		chunk[i] = byte(i * 7)
	}
	for range size / len(chunk) {
		_, err := f.Write(chunk)
		require.NoError(b, err)
	}
	require.NoError(b, f.Close())
	rssBefore := procStatusKB(b, s.cmd.Process.Pid, "VmRSS:")
	for b.Loop() {
		j := s.submit(tok, map[string]any{"env": map[string]string{"SRC": src, "OUT": dir}, "cmd": `
			set -e
			s=$(date +%s.%N); aura-runner artifact upload "$SRC" >/dev/null; e=$(date +%s.%N)
			echo "$s $e" > "$OUT/up"
			s=$(date +%s.%N); aura-runner artifact download --job "$AURA_JOB_ID" --dest got >/dev/null; e=$(date +%s.%N)
			echo "$s $e" > "$OUT/down"
			rm -f got/big.bin`})
		done := s.waitStatus(j.ID, 10*time.Minute, "succeeded", "failed")
		require.Equal(b, "succeeded", done.Status, s.log(j.ID))
		for _, way := range []string{"up", "down"} {
			var start, end float64
			_, err := fmt.Sscan(waitFile(b, filepath.Join(dir, way), time.Second), &start, &end)
			require.NoError(b, err)
			b.ReportMetric(size/1e6/(end-start), way+"_MB/s")
		}
	}
	peak := procStatusKB(b, s.cmd.Process.Pid, "VmHWM:")
	b.ReportMetric(float64(peak-rssBefore)/1024, "server_RSS_growth_MiB")
}

// procStatusKB reads one kB field of /proc/PID/status.
func procStatusKB(t testing.TB, pid int, field string) int64 {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, field) {
			var kb int64
			_, err := fmt.Sscan(strings.Fields(line)[1], &kb)
			require.NoError(t, err)
			return kb
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// TestArtifact1GiBFlatMemory: a 1 GiB artifact goes up through `aura-runner
// artifact upload` and comes down through the API whole, with its exact bytes,
// while the server's resident memory, sampled all along, never grows by more
// than 32 MiB: both ways stream.
func TestArtifact1GiBFlatMemory(t *testing.T) {
	t.Parallel()
	const size = 1 << 30
	s := startServer(t, "--artifact-max-file", "2GiB")
	tok := s.project("flat")
	startRunner(t, s, "r1", "--tag", "linux", "--concurrency", "1")
	pid := s.cmd.Process.Pid
	before := procStatusKB(t, pid, "VmRSS:")
	var peak atomic.Int64
	peak.Store(before)
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(status), "\n") {
				if f := strings.Fields(line); len(f) > 1 && f[0] == "VmRSS:" {
					var kb int64
					_, _ = fmt.Sscan(f[1], &kb)
					if kb > peak.Load() {
						peak.Store(kb)
					}
				}
			}
		}
	}()

	// 1 GiB of a repeated pseudo-random MiB: the runner hashes and sends it as it reads.
	j := s.submit(tok, map[string]any{"cmd": `
		set -e
		head -c 1048576 /dev/urandom > mib
		for i in $(seq 1024); do cat mib; done > big.bin
		sha256sum big.bin | cut -d' ' -f1
		aura-runner artifact upload big.bin`})
	done := s.waitStatus(j.ID, 10*time.Minute, "succeeded", "failed")
	require.Equal(t, "succeeded", done.Status, s.log(j.ID))
	want := strings.Fields(s.log(j.ID))[0]

	resp, err := http.Get(fmt.Sprintf("%s/api/v1/jobs/%d/artifacts/big.bin", s.url, j.ID))
	require.NoError(t, err)
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, int64(size), n)
	require.Equal(t, want, hex.EncodeToString(h.Sum(nil)))

	close(stop)
	<-sampled
	growth := (peak.Load() - before) / 1024
	t.Logf("server RSS %d MiB before, peak %d MiB", before/1024, peak.Load()/1024)
	require.LessOrEqual(t, growth, int64(32), "the server's RSS grew by %d MiB moving 1 GiB", growth)
}
