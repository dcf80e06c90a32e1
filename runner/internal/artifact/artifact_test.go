package artifact

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"
)

func write(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
}

func paths(files []file) []string {
	var out []string
	for _, f := range files {
		out = append(out, f.path)
	}
	sort.Strings(out)
	return out
}

// TestCollect: files keep their names, folders put their files under their
// own name (or --name), globs expand, and links inside a folder are followed.
func TestCollect(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	write(t, "dist/a.txt", "a")
	write(t, "dist/sub/b.txt", "b")
	write(t, "r1.html", "1")
	write(t, "r2.html", "2")
	require.NoError(t, os.Symlink("sub/b.txt", "dist/link-to-b"))

	files, err := collect([]string{"dist", "r*.html"}, "")
	require.NoError(t, err)
	require.Equal(t, []string{"dist/a.txt", "dist/link-to-b", "dist/sub/b.txt", "r1.html", "r2.html"}, paths(files))

	files, err = collect([]string{"dist/", "r1.html"}, "out")
	require.NoError(t, err)
	require.Equal(t, []string{"out/a.txt", "out/link-to-b", "out/r1.html", "out/sub/b.txt"}, paths(files))

	elsewhere := filepath.Join(t.TempDir(), "app.tar")
	write(t, elsewhere, "tar")
	files, err = collect([]string{elsewhere}, "")
	require.NoError(t, err, "a file named by itself may lie outside the working folder")
	require.Equal(t, []string{"app.tar"}, paths(files))

	_, err = collect([]string{"nothing-*.txt"}, "")
	require.ErrorContains(t, err, "no file matches")
	_, err = collect([]string{"r1.html", "dist/a.txt", "other/r1.html"}, "")
	require.Error(t, err)
}

// TestCollectRefusesLinksOut: a link that leads out of the uploaded folder is
// refused, not followed, whether it names a file or a folder.
func TestCollectRefusesLinksOut(t *testing.T) {
	outside := t.TempDir()
	write(t, filepath.Join(outside, "secret"), "s")
	dir := t.TempDir()
	t.Chdir(dir)
	write(t, "dist/a.txt", "a")
	require.NoError(t, os.Symlink(filepath.Join(outside, "secret"), "dist/leak"))
	_, err := collect([]string{"dist"}, "")
	require.ErrorContains(t, err, "out of")

	require.NoError(t, os.Remove("dist/leak"))
	require.NoError(t, os.Symlink(outside, "dist/leakdir"))
	_, err = collect([]string{"dist"}, "")
	require.ErrorContains(t, err, "out of")

	require.NoError(t, os.Remove("dist/leakdir"))
	require.NoError(t, os.Symlink(filepath.Join(outside, "secret"), "toplink"))
	_, err = collect([]string{"toplink"}, "")
	require.ErrorContains(t, err, "out of", "a link named by itself must stay in the working folder")
}

func TestCheckPath(t *testing.T) {
	for _, ok := range []string{"a", "a/b.txt", "dist/.hidden", "a..b"} {
		require.NoError(t, checkPath(ok), ok)
	}
	for _, bad := range []string{"", "/etc/passwd", "../x", "a/../../x", "a//b", "a/./b", `a\b`, "a\x00b", "a/"} {
		require.Error(t, checkPath(bad), bad)
	}
}

// TestDownloadRefusesPathsOut: whatever a server lists, a download never
// writes outside its destination.
func TestDownloadRefusesPathsOut(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"items": []map[string]any{{
			"path": "../escaped", "size": 1, "sha256": "x", "contentType": "text/plain", "attempt": 1,
			"expiresAt": nil, "createdAt": "2026-01-01T00:00:00Z"}}})
	}))
	defer srv.Close()
	parent := t.TempDir()
	dest := filepath.Join(parent, "dest")
	var stdout, stderr bytes.Buffer
	code := Run(context.Background(), []string{"download", "--job", "1", "--dest", dest},
		Env{Getenv: func(k string) string {
			return map[string]string{"AURA_SERVER_URL": srv.URL, "AURA_JOB_TOKEN": "t"}[k]
		}, Stdout: &stdout, Stderr: &stderr})
	require.Equal(t, 1, code, stderr.String())
	require.Contains(t, stderr.String(), "refused")
	require.NoFileExists(t, filepath.Join(parent, "escaped"))
}

func TestUploadUsage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	env := Env{Getenv: func(string) string { return "" }, Stdout: &stdout, Stderr: &stderr}
	require.Equal(t, 2, Run(context.Background(), []string{"upload", "x"}, env))
	require.Contains(t, stderr.String(), "run inside a job")
	require.Equal(t, 2, Run(context.Background(), []string{"nope"}, env))
	require.Equal(t, 2, Run(context.Background(), []string{"download"}, env))
}
