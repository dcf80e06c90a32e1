package api_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BenchmarkArtifactAPI1GiB puts a 1 GiB file through the artifact API and
// gets it back, in process, on the folder store: the server's half of
// BenchmarkArtifact1GiB (backend/e2e), for a CPU profile
// (go test -bench ArtifactAPI1GiB -benchtime 1x -cpuprofile cpu.out).
func BenchmarkArtifactAPI1GiB(b *testing.B) {
	const size = 1 << 30
	t := setupWith(b, bundleOptions{artifactMaxFile: 2 << 30})
	_, c := t.running("bench", false)
	src := filepath.Join(b.TempDir(), "big.bin")
	f, err := os.Create(src)
	require.NoError(b, err)
	chunk := make([]byte, 1<<20)
	for i := range chunk {
		chunk[i] = byte(i * 7)
	}
	h := sha256.New()
	for range size / len(chunk) {
		_, err := f.Write(chunk)
		require.NoError(b, err)
		h.Write(chunk)
	}
	require.NoError(b, f.Close())
	sum := hex.EncodeToString(h.Sum(nil))
	for b.Loop() {
		in, err := os.Open(src)
		require.NoError(b, err)
		req, err := http.NewRequest(http.MethodPut, t.url+artifactURL(c.ID, "big.bin"), in)
		require.NoError(b, err)
		req.ContentLength = size
		req.Header.Set("Authorization", "Bearer "+c.Token)
		req.Header.Set("X-Aura-Sha256", sum)
		start := time.Now()
		resp, err := t.client.Do(req)
		require.NoError(b, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(b, 201, resp.StatusCode, "%s", body)
		b.ReportMetric(size/1e6/time.Since(start).Seconds(), "up_MB/s")

		start = time.Now()
		resp, err = t.client.Get(t.url + artifactURL(c.ID, "big.bin"))
		require.NoError(b, err)
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.NoError(b, err)
		require.Equal(b, int64(size), n, fmt.Sprint(resp.StatusCode))
		b.ReportMetric(size/1e6/time.Since(start).Seconds(), "down_MB/s")
	}
}
