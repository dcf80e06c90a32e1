package api

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aura-ci/aura/backend/internal/blob"
	"github.com/aura-ci/aura/backend/internal/store"
)

// DefaultCacheMaxProject is the default bound on the bytes of one project's caches.
const DefaultCacheMaxProject = 5 << 30

// cacheKeyChars is what a cache key, or a fallback prefix, is made of.
var cacheKeyChars = newBoundedPattern(`^[A-Za-z0-9._/-]+$`, 255)

// checkCacheKey accepts 1–255 characters of [A-Za-z0-9._-] and slashes, a
// slash neither first nor last nor doubled, and no "..". A prefix may end in a slash.
func checkCacheKey(field, key string, prefix bool) error {
	bad := func(why string) error {
		return errorf(http.StatusBadRequest, field, fmt.Sprintf("%s %q %s", field, key, why))
	}
	switch {
	case !cacheKeyChars.MatchString(key):
		return bad("must be 1 to 255 characters of A-Z, a-z, 0-9, '.', '_', '-' and '/'")
	case strings.HasPrefix(key, "/") || (!prefix && strings.HasSuffix(key, "/")):
		return bad("may not start or end with '/'")
	case strings.Contains(key, "//"):
		return bad("may not hold an empty segment ('//')")
	case strings.Contains(key, ".."):
		return bad("may not hold '..'")
	}
	return nil
}

// cacheInfo is the answer to a save.
type cacheInfo struct {
	Key     string `json:"key"`
	Size    int64  `json:"size"`
	Created bool   `json:"created"`
}

// restoreCache answers the archive saved under key, else the newest under the
// first fallback prefix that matches, and marks it used.
func (h *handler) restoreCache(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	key := q.Get("key")
	if err := checkCacheKey("key", key, false); err != nil {
		writeError(w, r, err)
		return
	}
	fallbacks := q["fallback"]
	for _, f := range fallbacks {
		if err := checkCacheKey("fallback", f, true); err != nil {
			writeError(w, r, err)
			return
		}
	}
	if h.Blobs == nil {
		writeUnavailable(w)
		return
	}
	c, err := h.Store.CacheRestore(r.Context(), principal(r).ProjectID, key, fallbacks)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, r, errorf(http.StatusNotFound, "key", "no cache "+key+" (nor under a fallback prefix)"))
		return
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	body, err := h.Blobs.Open(r.Context(), c.BlobKey, 0, -1)
	if errors.Is(err, blob.ErrNotFound) {
		// Evicted between the lookup and now: as good as missing.
		writeError(w, r, errorf(http.StatusNotFound, "key", "no cache "+key+" (it was just evicted)"))
		return
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	defer body.Close()
	w.Header().Set("Content-Type", "application/gzip")
	w.Header().Set("Content-Length", strconv.FormatInt(c.Size, 10))
	w.Header().Set("Aura-Cache-Key", c.Key)
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, body); err != nil {
		h.Logger.Warn("cache restore cut short", "project", c.ProjectID, "key", c.Key, "err", err)
	}
}

// saveCache stores the request body (a tar.gz the runner streams) under key,
// unless the project has one already. The row is written only once the blob is
// completely stored, under a blob key of its own: of two concurrent saves the
// first complete one wins, the other's blob is deleted. Then the project's
// least recently used caches go while it holds more than CacheMaxProject.
func (h *handler) saveCache(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	projectID := principal(r).ProjectID
	key := r.URL.Query().Get("key")
	if err := checkCacheKey("key", key, false); err != nil {
		writeError(w, r, err)
		return
	}
	if h.Blobs == nil {
		writeUnavailable(w)
		return
	}
	max := h.CacheMaxProject
	if r.ContentLength > max {
		writeError(w, r, errorf(http.StatusRequestEntityTooLarge, "", fmt.Sprintf(
			"the cache is %d bytes, more than the %d a project may keep", r.ContentLength, max)))
		return
	}
	// Answered before the body is read: a client sending Expect: 100-continue
	// then never sends it.
	exists, err := h.Store.CacheExists(ctx, projectID, key)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if exists {
		writeJSON(w, http.StatusOK, cacheInfo{Key: key, Created: false})
		return
	}
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	blobKey := fmt.Sprintf("caches/%d/%s", projectID, hex.EncodeToString(nonce[:]))
	body := &countingReader{r: http.MaxBytesReader(w, r.Body, max)}
	if err := h.Blobs.Put(ctx, blobKey, body, r.ContentLength); err != nil {
		// The store keeps nothing of an interrupted Put.
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, r, errorf(http.StatusRequestEntityTooLarge, "", fmt.Sprintf(
				"the cache is more than the %d bytes a project may keep", max)))
			return
		}
		writeError(w, r, errorf(http.StatusBadRequest, "", "the cache upload was cut short: "+err.Error()))
		return
	}
	c := &store.Cache{ProjectID: projectID, Key: key, BlobKey: blobKey, Size: body.n}
	created, err := h.Store.CacheInsert(ctx, c)
	if err != nil || !created {
		h.deleteBlob(r, blobKey)
		if err != nil {
			writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, cacheInfo{Key: key, Created: false})
		return
	}
	evicted, err := h.Store.CacheEvict(ctx, projectID, max)
	if err != nil {
		h.Logger.Warn("cache eviction failed", "project", projectID, "err", err)
	}
	for _, e := range evicted {
		h.deleteBlob(r, e.BlobKey)
		h.Logger.Info("cache evicted", "project", projectID, "key", e.Key, "size", e.Size)
	}
	writeJSON(w, http.StatusCreated, cacheInfo{Key: key, Size: c.Size, Created: true})
}

// deleteBlob deletes a blob no row points at; a failure leaves an orphan, logged.
func (h *handler) deleteBlob(r *http.Request, key string) {
	if err := h.Blobs.Delete(r.Context(), key); err != nil {
		h.Logger.Warn("deleting a cache blob failed", "blob", key, "err", err)
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// cacheJSON is one cache in the project's list.
type cacheJSON struct {
	Key       string    `json:"key"`
	Size      int64     `json:"size"`
	CreatedAt time.Time `json:"createdAt"`
	LastUsed  time.Time `json:"lastUsed"`
}

// cacheListJSON is a project's caches, most recently used first, with their
// total size and the bound past which the least recently used are evicted.
type cacheListJSON struct {
	Items     []cacheJSON `json:"items"`
	TotalSize int64       `json:"totalSize"`
	MaxSize   int64       `json:"maxSize"`
}

func (h *handler) listProjectCaches(w http.ResponseWriter, r *http.Request) {
	cs, err := h.Store.CacheList(r.Context(), projectOf(r).ID)
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := cacheListJSON{Items: make([]cacheJSON, len(cs)), MaxSize: h.CacheMaxProject}
	for i, c := range cs {
		out.Items[i] = cacheJSON{Key: c.Key, Size: c.Size, CreatedAt: c.CreatedAt, LastUsed: c.LastUsed}
		out.TotalSize += c.Size
	}
	writeJSON(w, http.StatusOK, out)
}

// deleteProjectCache deletes one cache: its row first, so no restore finds it,
// then its blob (a failure there leaves an orphan the retention sweep clears).
func (h *handler) deleteProjectCache(w http.ResponseWriter, r *http.Request) {
	p := projectOf(r)
	key := muxVar(r, "key")
	if err := checkCacheKey("key", key, false); err != nil {
		writeError(w, r, err)
		return
	}
	c, err := h.Store.CacheDelete(r.Context(), p.ID, key)
	if err != nil {
		writeError(w, r, named(err, "cache %s of project %s", key, p.Slug))
		return
	}
	if h.Blobs != nil {
		h.deleteBlob(r, c.BlobKey)
	}
	h.Logger.Info("cache deleted", "project", p.ID, "key", c.Key, "size", c.Size, "by", principal(r).Kind)
	w.WriteHeader(http.StatusNoContent)
}
