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
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestArtifactsBetweenJobs: a job uploads a folder and a file with
// `aura-runner artifact upload`; a later job downloads them with `aura-runner
// artifact download` and finds the same bytes; the API serves them too. A file
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
		test ! -e got/report.html`})
	u := s.waitStatus(use.ID, 30*time.Second, "succeeded", "failed")
	require.Equal(t, "succeeded", u.Status, s.log(use.ID))
	require.Contains(t, s.log(use.ID), "hello artifacts")

	big := s.submit(tok, map[string]any{"name": "big", "cmd": `
		head -c 2000000 /dev/zero > big.iso
		aura-runner artifact upload big.iso`})
	g := s.waitStatus(big.ID, 30*time.Second, "succeeded", "failed")
	require.Equal(t, "failed", g.Status, s.log(big.ID))
	require.Contains(t, s.log(big.ID), "AURA_ARTIFACT_MAX_FILE")
	s.call("GET", fmt.Sprintf("/api/v1/jobs/%d/artifacts", big.ID), "", nil, &list, 200)
	require.Empty(t, list.Items)
}
