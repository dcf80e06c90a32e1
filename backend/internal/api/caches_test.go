package api_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/blob"
)

// bundleBlobs holds each test bundle's blob folder, by the test that set it up.
var bundleBlobs sync.Map

// blobKeys lists the cache blobs of the bundle set up by t.
func blobKeys(t testing.TB) []string {
	dir, _ := bundleBlobs.Load(t)
	s, err := blob.NewDir(dir.(string))
	require.NoError(t, err)
	infos, err := s.List(t.Context(), "caches/")
	require.NoError(t, err)
	var keys []string
	for _, i := range infos {
		keys = append(keys, i.Key)
	}
	return keys
}

// cacheJob returns the token of a running job of a new project slug.
func (b *testBundle) cacheJob(slug string) string {
	b.t.Helper()
	tok := b.project(slug, true)
	_, run := b.runner("r-"+slug, slug)
	b.submit(tok, map[string]any{"tag": slug})
	c := b.claim(run, 1, slug)
	require.Len(b.t, c, 1)
	return c[0].Token
}

func cachePath(key string, fallbacks ...string) string {
	q := url.Values{"key": {key}}
	for _, f := range fallbacks {
		q.Add("fallback", f)
	}
	return "/api/v1/caches?" + q.Encode()
}

type cacheSaved struct {
	Key     string
	Size    int64
	Created bool
}

func (b *testBundle) saveCache(token, key, body string, want int) cacheSaved {
	b.t.Helper()
	var s cacheSaved
	b.json(call{method: "PUT", path: cachePath(key), token: token, raw: []byte(body), contentType: "application/gzip"}, want, &s)
	return s
}

// restoreCache returns the key answered and the bytes, or "" and the error of a 404.
func (b *testBundle) restoreCache(token, key string, fallbacks ...string) (string, string) {
	b.t.Helper()
	req, err := http.NewRequest("GET", b.url+cachePath(key, fallbacks...), nil)
	require.NoError(b.t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := b.client.Do(req)
	require.NoError(b.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(b.t, err)
	b.validate(req, nil, resp, body, true)
	if resp.StatusCode == http.StatusNotFound {
		return "", string(body)
	}
	require.Equal(b.t, http.StatusOK, resp.StatusCode, "%s", body)
	return resp.Header.Get("Aura-Cache-Key"), string(body)
}

// TestCacheSaveRestore: a save stores the bytes, a restore answers them and
// marks the entry used, a second save of the key is a no-op.
func TestCacheSaveRestore(t *testing.T) {
	t.Parallel()
	b := setup(t)
	job := b.cacheJob("own")
	s := b.saveCache(job, "go-mod/abc123", "first archive", http.StatusCreated)
	require.Equal(t, cacheSaved{Key: "go-mod/abc123", Size: 13, Created: true}, s)
	var before time.Time
	require.NoError(t, b.pool.QueryRow(t.Context(), `SELECT last_used FROM caches`).Scan(&before))

	key, body := b.restoreCache(job, "go-mod/abc123")
	require.Equal(t, "go-mod/abc123", key)
	require.Equal(t, "first archive", body)
	var after time.Time
	require.NoError(t, b.pool.QueryRow(t.Context(), `SELECT last_used FROM caches`).Scan(&after))
	require.True(t, after.After(before), "restore marks the entry used")

	s = b.saveCache(job, "go-mod/abc123", "second archive", http.StatusOK)
	require.False(t, s.Created)
	_, body = b.restoreCache(job, "go-mod/abc123")
	require.Equal(t, "first archive", body, "a save of an existing key changes nothing")
	require.Equal(t, 1, b.count("caches"))
	require.Len(t, blobKeys(t), 1, "the no-op save left no blob")
}

// TestCacheMissing: a key nobody saved is a 404 naming it.
func TestCacheMissing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	job := b.cacheJob("own")
	key, msg := b.restoreCache(job, "npm/none", "npm/")
	require.Empty(t, key)
	require.Contains(t, msg, "npm/none")
}

// TestCacheFallbackNewest: a missing key falls back on the newest entry under
// the first prefix that matches; LIKE's wildcards in a prefix are literal.
func TestCacheFallbackNewest(t *testing.T) {
	t.Parallel()
	b := setup(t)
	job := b.cacheJob("own")
	b.saveCache(job, "go-mod/linux/old", "old", http.StatusCreated)
	b.saveCache(job, "go-mod/linux/new", "new", http.StatusCreated)
	b.saveCache(job, "go-mod/linux/z", "z", http.StatusCreated)
	b.saveCache(job, "other/x", "x", http.StatusCreated)
	// z is older than new by creation, however its key sorts.
	_, err := b.pool.Exec(t.Context(), `UPDATE caches SET created_at = created_at - interval '1 hour' WHERE key IN ('go-mod/linux/z', 'go-mod/linux/old')`)
	require.NoError(t, err)

	key, body := b.restoreCache(job, "go-mod/linux/missing", "nothing-", "go-mod/linux/", "other/")
	require.Equal(t, "go-mod/linux/new", key)
	require.Equal(t, "new", body)
	key, _ = b.restoreCache(job, "go-mod/linux/missing", "other/", "go-mod/")
	require.Equal(t, "other/x", key, "prefixes are tried in order")
	key, _ = b.restoreCache(job, "go-mod/linux/z", "go-mod/")
	require.Equal(t, "go-mod/linux/z", key, "the exact key wins")
	key, _ = b.restoreCache(job, "x", "go_mod")
	require.Empty(t, key, "_ in a prefix is no wildcard")
}

// TestCacheEviction: past the project's bound, the least recently used go,
// rows and blobs; another project's caches stay.
func TestCacheEviction(t *testing.T) {
	t.Parallel()
	b := setupWith(t, bundleOptions{cacheMax: 100})
	job := b.cacheJob("own")
	other := b.cacheJob("other")
	forty := strings.Repeat("x", 40)
	b.saveCache(other, "a", forty, http.StatusCreated)
	b.saveCache(job, "a", forty, http.StatusCreated)
	b.saveCache(job, "b", forty, http.StatusCreated)
	key, _ := b.restoreCache(job, "a") // a is now used more recently than b
	require.Equal(t, "a", key)
	b.saveCache(job, "c", forty, http.StatusCreated)

	key, _ = b.restoreCache(job, "b")
	require.Empty(t, key, "b was the least recently used")
	for _, k := range []string{"a", "c"} {
		got, _ := b.restoreCache(job, k)
		require.Equal(t, k, got)
	}
	got, _ := b.restoreCache(other, "a")
	require.Equal(t, "a", got, "another project's caches count apart")
	require.Equal(t, 3, b.count("caches"))
	require.Len(t, blobKeys(t), 3, "the evicted entry's blob is gone")

	e := b.fail(call{method: "PUT", path: cachePath("big"), token: job, raw: bytes.Repeat([]byte("x"), 101), contentType: "application/gzip"}, http.StatusRequestEntityTooLarge)
	require.Contains(t, e.Message, "100")
	require.Equal(t, 3, b.count("caches"))
	require.Len(t, blobKeys(t), 3)
}

// TestCacheInterruptedSave: a save whose connection drops midway leaves no
// row and no blob, and the key can then be saved.
func TestCacheInterruptedSave(t *testing.T) {
	t.Parallel()
	b := setup(t)
	job := b.cacheJob("own")
	u, err := url.Parse(b.url)
	require.NoError(t, err)
	conn, err := net.Dial("tcp", u.Host)
	require.NoError(t, err)
	fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/gzip\r\nContent-Length: 100000\r\n\r\n",
		cachePath("half"), u.Host, job)
	_, err = conn.Write(bytes.Repeat([]byte("y"), 50000))
	require.NoError(t, err)
	require.NoError(t, conn.Close())

	b.saveCache(job, "after", "ok", http.StatusCreated)
	// The cut handler sees the connection drop at once; give it time to clean up.
	time.Sleep(300 * time.Millisecond)
	key, _ := b.restoreCache(job, "half")
	require.Empty(t, key)
	require.Equal(t, 1, b.count("caches"))
	require.Len(t, blobKeys(t), 1, "nothing of the cut upload is left")
	require.Equal(t, cacheSaved{Key: "half", Size: 4, Created: true}, b.saveCache(job, "half", "full", http.StatusCreated))
}

// TestCacheChunkedSave: a body of unknown length (as the runner streams it) is stored.
func TestCacheChunkedSave(t *testing.T) {
	t.Parallel()
	b := setup(t)
	job := b.cacheJob("own")
	req, err := http.NewRequest("PUT", b.url+cachePath("streamed"), bufio.NewReader(strings.NewReader("streamed body")))
	require.NoError(t, err)
	req.ContentLength = -1
	req.Header.Set("Authorization", "Bearer "+job)
	req.Header.Set("Content-Type", "application/gzip")
	resp, err := b.client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	_, body := b.restoreCache(job, "streamed")
	require.Equal(t, "streamed body", body)
}

// TestCacheOtherProject: a job's token reaches only its own project's caches;
// other tokens none.
func TestCacheOtherProject(t *testing.T) {
	t.Parallel()
	b := setup(t)
	own := b.cacheJob("own")
	other := b.cacheJob("other")
	b.saveCache(own, "secret", "own's", http.StatusCreated)
	key, _ := b.restoreCache(other, "secret", "s")
	require.Empty(t, key)
	b.saveCache(other, "secret", "other's", http.StatusCreated)
	_, body := b.restoreCache(own, "secret")
	require.Equal(t, "own's", body)
	_, body = b.restoreCache(other, "secret")
	require.Equal(t, "other's", body)
	prj := b.project("third", true)
	b.fail(call{method: "GET", path: cachePath("secret"), token: prj}, http.StatusForbidden)
	b.fail(call{method: "GET", path: cachePath("secret"), token: b.admin}, http.StatusForbidden)
	b.fail(call{method: "GET", path: cachePath("secret")}, http.StatusUnauthorized)
}

// TestCacheInvalidKeys: a bad key or prefix is a 400 naming it.
func TestCacheInvalidKeys(t *testing.T) {
	t.Parallel()
	b := setup(t)
	job := b.cacheJob("own")
	for _, key := range []string{"", "/abs", "trailing/", "a//b", "a/../b", "..", "sp ace", "semi;colon", "ü", strings.Repeat("k", 256)} {
		e := b.fail(call{method: "GET", path: cachePath(key), token: job}, http.StatusBadRequest)
		require.Equal(t, "key", e.Field, "key %q", key)
		e = b.fail(call{method: "PUT", path: cachePath(key), token: job, raw: []byte("x"), contentType: "application/gzip"}, http.StatusBadRequest)
		require.Equal(t, "key", e.Field, "key %q", key)
	}
	e := b.fail(call{method: "GET", path: cachePath("ok", "../x"), token: job}, http.StatusBadRequest)
	require.Equal(t, "fallback", e.Field)
	require.Equal(t, 0, b.count("caches"))
	key, _ := b.restoreCache(job, strings.Repeat("k", 255), "prefix/")
	require.Empty(t, key, "255 characters and a prefix ending in / are fine")
}

// startSave begins a streamed save of key and returns the writer of its body
// and the channel its status arrives on.
func (b *testBundle) startSave(token, key string) (*io.PipeWriter, <-chan int) {
	pr, pw := io.Pipe()
	req, err := http.NewRequest("PUT", b.url+cachePath(key), pr)
	require.NoError(b.t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/gzip")
	status := make(chan int, 1)
	go func() {
		resp, err := b.client.Do(req)
		if err != nil {
			status <- 0
			return
		}
		resp.Body.Close()
		status <- resp.StatusCode
	}()
	return pw, status
}

// TestCacheConcurrentSaves: of two saves of one key under way together, the
// first to complete wins; the other is a no-op and leaves no blob.
func TestCacheConcurrentSaves(t *testing.T) {
	t.Parallel()
	b := setup(t)
	job := b.cacheJob("own")
	first, firstStatus := b.startSave(job, "k")
	_, err := first.Write(bytes.Repeat([]byte("1"), 64<<10)) // past the client's buffers
	require.NoError(t, err)
	dir, _ := bundleBlobs.Load(t)
	require.Eventually(t, func() bool {
		tmp, _ := filepath.Glob(filepath.Join(dir.(string), "caches", "*", ".aura-tmp-*"))
		return len(tmp) == 1
	}, 5*time.Second, 10*time.Millisecond, "the first save is storing its blob")
	second, secondStatus := b.startSave(job, "k")
	_, err = second.Write([]byte("second "))
	require.NoError(t, err)
	require.NoError(t, second.Close())
	require.Equal(t, http.StatusCreated, <-secondStatus)
	_, err = first.Write([]byte("late"))
	require.NoError(t, err)
	require.NoError(t, first.Close())
	require.Equal(t, http.StatusOK, <-firstStatus)
	_, body := b.restoreCache(job, "k")
	require.Equal(t, "second ", body)
	require.Len(t, blobKeys(t), 1)
}

// TestCacheStreamedTooLarge: a streamed body past the bound (no length given
// up front) is cut at the bound with 413 and leaves nothing.
func TestCacheStreamedTooLarge(t *testing.T) {
	t.Parallel()
	b := setupWith(t, bundleOptions{cacheMax: 1000})
	job := b.cacheJob("own")
	w, status := b.startSave(job, "big")
	go func() {
		for range 10 {
			if _, err := w.Write(bytes.Repeat([]byte("z"), 500)); err != nil {
				return
			}
		}
		w.Close()
	}()
	require.Equal(t, http.StatusRequestEntityTooLarge, <-status)
	require.Equal(t, 0, b.count("caches"))
	require.Empty(t, blobKeys(t))
}

type cacheList struct {
	Items []struct {
		Key                 string
		Size                int64
		CreatedAt, LastUsed time.Time
	}
	TotalSize, MaxSize int64
}

// TestProjectCachesListAndDelete: the project's caches are listed most
// recently used first with sizes, total and bound; a maintainer deletes one
// (its row and its blob), after which a restore misses and a save stores it
// again. Bad keys and missing caches are refused, and only a maintainer deletes.
func TestProjectCachesListAndDelete(t *testing.T) {
	t.Parallel()
	b := setupWith(t, bundleOptions{cacheMax: 1 << 20})
	prj := b.project("own", true)
	_, run := b.runner("r-own", "own")
	b.submit(prj, map[string]any{"tag": "own"})
	cs := b.claim(run, 1, "own")
	require.Len(t, cs, 1)
	job := cs[0].Token

	b.saveCache(job, "go-mod/abc", "first", http.StatusCreated)
	b.saveCache(job, "npm/def", "second!", http.StatusCreated)
	b.restoreCache(job, "go-mod/abc") // now the most recently used

	var l cacheList
	b.json(call{method: "GET", path: "/api/v1/projects/own/caches", token: prj}, 200, &l)
	require.Len(t, l.Items, 2)
	require.Equal(t, "go-mod/abc", l.Items[0].Key)
	require.Equal(t, int64(5), l.Items[0].Size)
	require.Equal(t, "npm/def", l.Items[1].Key)
	require.Equal(t, int64(12), l.TotalSize)
	require.Equal(t, int64(1<<20), l.MaxSize)
	require.False(t, l.Items[0].LastUsed.Before(l.Items[0].CreatedAt))
	b.json(call{method: "GET", path: "/api/v1/projects/own/caches"}, 404, nil) // private

	// A developer (the project token) may not delete; a bad key is 400 naming it.
	b.json(call{method: "DELETE", path: "/api/v1/projects/own/caches/go-mod%2Fabc", token: prj}, 403, nil)
	code, body := b.do(call{method: "DELETE", path: "/api/v1/projects/own/caches/a..b", token: b.admin})
	require.Equal(t, 400, code, "%s", body)
	require.Contains(t, string(body), `"field":"key"`)
	code, body = b.do(call{method: "DELETE", path: "/api/v1/projects/own/caches/go-mod%2Fnone", token: b.admin})
	require.Equal(t, 404, code)
	require.Contains(t, string(body), "go-mod/none")
	require.Len(t, blobKeys(t), 2)

	b.json(call{method: "DELETE", path: "/api/v1/projects/own/caches/go-mod%2Fabc", token: b.admin}, 204, nil)
	b.json(call{method: "GET", path: "/api/v1/projects/own/caches", token: prj}, 200, &l)
	require.Len(t, l.Items, 1)
	require.Equal(t, "npm/def", l.Items[0].Key)
	require.Equal(t, int64(7), l.TotalSize)
	require.Len(t, blobKeys(t), 1, "the deleted cache's blob is gone")
	key, _ := b.restoreCache(job, "go-mod/abc")
	require.Empty(t, key)
	require.True(t, b.saveCache(job, "go-mod/abc", "again", http.StatusCreated).Created)
}
