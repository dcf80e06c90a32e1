package e2e

import (
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/s3test"
)

// TestArtifactsAndCachesOnS3: the server on an S3 store (a real SeaweedFS): a
// job uploads an artifact and saves a cache with the real runner, a later job
// downloads the one and restores the other; the API serves the artifact whole
// and by Range, lists the cache and deletes it, after which a restore misses.
func TestArtifactsAndCachesOnS3(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	s := startServer(t, "--store", "s3://aura-e2e/ci", "--s3-endpoint", srv.Endpoint, "--s3-access-key", srv.AccessKey,
		"--s3-secret-key", srv.SecretKey, "--s3-region", srv.Region)
	tok := s.project("s3p")
	startRunner(t, s, "r1", "--tag", "linux")

	build := s.submit(tok, map[string]any{"name": "build", "cmd": `
		set -e
		mkdir -p dist deps
		seq 1 100000 > dist/numbers.txt
		echo dep > deps/d.txt
		aura-runner artifact upload dist
		aura-runner cache save deps/v1 deps`})
	b := s.waitStatus(build.ID, time.Minute, "succeeded", "failed")
	require.Equal(t, "succeeded", b.Status, s.log(build.ID))

	use := s.submit(tok, map[string]any{"name": "use", "precedingJobs": []int64{build.ID},
		"env": map[string]string{"BUILD": fmt.Sprint(build.ID)}, "cmd": `
		set -e
		rm -rf deps
		aura-runner artifact download --job "$BUILD" --dest got dist
		tail -n 1 got/dist/numbers.txt
		aura-runner cache restore deps/v1 deps
		cat deps/d.txt`})
	u := s.waitStatus(use.ID, time.Minute, "succeeded", "failed")
	log := s.log(use.ID)
	require.Equal(t, "succeeded", u.Status, log)
	require.Contains(t, log, "100000\n")
	require.Contains(t, log, "dep\n")

	resp, err := http.Get(fmt.Sprintf("%s/api/v1/jobs/%d/artifacts/dist/numbers.txt", s.url, build.ID))
	require.NoError(t, err)
	whole, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.Len(t, whole, 588895) // "1\n" … "100000\n"
	req, _ := http.NewRequest("GET", fmt.Sprintf("%s/api/v1/jobs/%d/artifacts/dist/numbers.txt", s.url, build.ID), nil)
	req.Header.Set("Range", "bytes=2-5")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	part, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 206, resp.StatusCode)
	require.Equal(t, "2\n3\n", string(part))

	var caches struct {
		Items []struct {
			Key  string
			Size int64
		}
		TotalSize int64
	}
	s.call("GET", "/api/v1/projects/s3p/caches", s.admin, nil, &caches, 200)
	require.Len(t, caches.Items, 1)
	require.Equal(t, "deps/v1", caches.Items[0].Key)
	s.call("DELETE", "/api/v1/projects/s3p/caches/deps%2Fv1", s.admin, nil, nil, 204)
	miss := s.submit(tok, map[string]any{"name": "miss", "cmd": `aura-runner cache restore deps/v1 deps; echo went on`})
	m := s.waitStatus(miss.ID, time.Minute, "succeeded", "failed")
	require.Equal(t, "succeeded", m.Status, s.log(miss.ID))
	require.Contains(t, s.log(miss.ID), "cache deps/v1 not found")
}
