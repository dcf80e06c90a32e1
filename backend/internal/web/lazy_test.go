package web_test

import (
	"io/fs"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/web"
)

// countingFS counts the files opened, by name.
type countingFS struct {
	fs.FS
	mu     sync.Mutex
	opened map[string]int
}

func (c *countingFS) Open(name string) (fs.File, error) {
	c.mu.Lock()
	c.opened[name]++
	c.mu.Unlock()
	return c.FS.Open(name)
}

func (c *countingFS) count(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.opened[name]
}

// TestAssetsReadOnFirstRequest: New reads no file (an idle server holds none of
// the app's bytes); a file is read once, at its first request, and served the
// same every time after.
func TestAssetsReadOnFirstRequest(t *testing.T) {
	t.Parallel()
	files := &countingFS{FS: fstest.MapFS(app), opened: map[string]int{}}
	h := web.New(files)
	for name := range app {
		require.Zero(t, files.count(name), "%s read before any request", name)
	}
	first := get(t, h, "GET", "/assets/index-Bx9kQ2aZ.js")
	require.Equal(t, 200, first.StatusCode)
	require.Equal(t, app["assets/index-Bx9kQ2aZ.js"].Data, []byte(body(t, first)))
	again := get(t, h, "GET", "/assets/index-Bx9kQ2aZ.js")
	require.Equal(t, first.Header.Get("ETag"), again.Header.Get("ETag"))
	require.Equal(t, 1, files.count("assets/index-Bx9kQ2aZ.js"), "read once")
	require.Zero(t, files.count("index.html"), "the files not asked for stay unread")
	require.Equal(t, 304, get(t, h, "GET", "/assets/index-Bx9kQ2aZ.js", "If-None-Match", first.Header.Get("ETag")).StatusCode)
}
