package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestCaches: with the real runner, a job saves a folder under a key hashed
// from a lock file; a later job restores it through a fallback prefix; a second
// save of the key is a no-op; a missing key says so and the job goes on.
func TestCaches(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--store", "dir:"+t.TempDir())
	tok := s.project("proj")
	startRunner(t, s, "r1", "--tag", "linux")
	save := s.submit(tok, map[string]any{"name": "save", "cmd": `
		set -e
		echo 'module x' > go.sum
		mkdir -p .gomodcache/mod/pkg
		echo 'package pkg' > .gomodcache/mod/pkg/a.go
		ln -s mod/pkg/a.go .gomodcache/link
		chmod -R a-w .gomodcache/mod
		key=go-mod/$(sha256sum go.sum | cut -c1-16)
		aura-runner cache restore "$key" --fallback go-mod/ .gomodcache
		aura-runner cache save "$key" .gomodcache
		aura-runner cache save "$key" .gomodcache
		chmod -R u+w .gomodcache
		echo went on`})
	j := s.waitStatus(save.ID, 30*time.Second, "succeeded", "failed")
	log := s.log(save.ID)
	require.Equal(t, "succeeded", j.Status, log)
	require.Regexp(t, `cache go-mod/[0-9a-f]{16} not found\n`, log)
	require.Regexp(t, `cache go-mod/[0-9a-f]{16} saved: 5 entries, \d+ bytes\n`, log)
	require.Regexp(t, `cache go-mod/[0-9a-f]{16} exists, kept as it is\n`, log)
	require.Contains(t, log, "went on")

	restore := s.submit(tok, map[string]any{"name": "restore", "cmd": `
		set -e
		aura-runner cache restore go-mod/changed --fallback npm/ --fallback go-mod/ .gomodcache
		cat .gomodcache/link
		readlink .gomodcache/link
		chmod -R u+w .gomodcache`})
	j = s.waitStatus(restore.ID, 30*time.Second, "succeeded", "failed")
	log = s.log(restore.ID)
	require.Equal(t, "succeeded", j.Status, log)
	require.Regexp(t, `cache go-mod/changed restored from go-mod/[0-9a-f]{16}: 5 entries\npackage pkg\nmod/pkg/a.go\n`, log)
}

// TestCacheRestoreRefusesTraversal: an archive on the server holding an entry
// that leads out of the working directory (put there with a job's token) is
// refused by the real runner, and nothing is written outside.
func TestCacheRestoreRefusesTraversal(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	tok := s.project("proj")
	startRunner(t, s, "r1", "--tag", "linux")
	dir := t.TempDir()
	j := s.submit(tok, map[string]any{"env": map[string]string{"OUT": dir}, "cmd": `
		echo "$AURA_JOB_TOKEN" > "$OUT/token.tmp" && mv "$OUT/token.tmp" "$OUT/token"
		while [ ! -e "$OUT/go" ]; do sleep 0.05; done
		aura-runner cache restore evil cache; echo "dotdot exit $?"
		aura-runner cache restore link cache; echo "link exit $?"
		aura-runner cache restore nothing cache; echo "missing exit $?"`})
	token := strings.TrimSpace(waitFile(t, filepath.Join(dir, "token"), 20*time.Second))
	outside := t.TempDir()
	put := func(key string, entries ...*tar.Header) {
		var buf bytes.Buffer
		gz := gzip.NewWriter(&buf)
		tw := tar.NewWriter(gz)
		for _, h := range entries {
			require.NoError(t, tw.WriteHeader(h))
			_, err := tw.Write(make([]byte, h.Size))
			require.NoError(t, err)
		}
		require.NoError(t, tw.Close())
		require.NoError(t, gz.Close())
		req, err := http.NewRequest("PUT", s.url+"/api/v1/caches?key="+key, &buf)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := httpClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusCreated, resp.StatusCode)
	}
	put("evil", &tar.Header{Name: "cache/../../../../../../.." + filepath.Join(outside, "escaped"), Mode: 0o644, Size: 1, Typeflag: tar.TypeReg})
	put("link", &tar.Header{Name: "cache", Linkname: outside, Typeflag: tar.TypeSymlink},
		&tar.Header{Name: "cache/escaped", Mode: 0o644, Size: 1, Typeflag: tar.TypeReg})
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go"), nil, 0o644))

	done := s.waitStatus(j.ID, 30*time.Second, "succeeded", "failed")
	log := s.log(j.ID)
	require.Equal(t, "succeeded", done.Status, log)
	require.Contains(t, log, "refused entry")
	require.Contains(t, log, "dotdot exit 1\n")
	require.Contains(t, log, "link exit 1\n")
	require.Contains(t, log, "cache nothing not found\nmissing exit 0\n")
	require.NoFileExists(t, filepath.Join(outside, "escaped"))
}
