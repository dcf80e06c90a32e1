package api_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/blob"
	"github.com/aura-ci/aura/backend/internal/retention"
)

// sweeper sweeps the bundle's database and folder store.
func (b *testBundle) sweeper(batch int) (*retention.Sweeper, *blob.Dir) {
	b.t.Helper()
	dir, err := blob.NewDir(b.blobDir)
	require.NoError(b.t, err)
	return &retention.Sweeper{Store: b.store, Blobs: dir, CacheRetention: 7 * 24 * time.Hour, Batch: batch}, dir
}

func (b *testBundle) sweep(s *retention.Sweeper) retention.Report {
	b.t.Helper()
	rep, err := s.Sweep(context.Background())
	require.NoError(b.t, err)
	return rep
}

// age makes the blob at key look last written d ago.
func (b *testBundle) age(key string, d time.Duration) {
	b.t.Helper()
	at := time.Now().Add(-d)
	require.NoError(b.t, os.Chtimes(filepath.Join(b.blobDir, filepath.FromSlash(key)), at, at))
}

func (b *testBundle) blobKeys(prefix string) []string {
	b.t.Helper()
	dir, err := blob.NewDir(b.blobDir)
	require.NoError(b.t, err)
	infos, err := dir.List(context.Background(), prefix)
	require.NoError(b.t, err)
	keys := []string{}
	for _, i := range infos {
		keys = append(keys, i.Key)
	}
	return keys
}

func (b *testBundle) exec(sql string, args ...any) {
	b.t.Helper()
	_, err := b.pool.Exec(context.Background(), sql, args...)
	require.NoError(b.t, err)
}

// TestRetentionSweepsExpiredArtifacts: an expired artifact's blob goes, its
// row stays (listed, and answered 410 "expired on …" rather than vanishing);
// an unexpired one stays whole.
func TestRetentionSweepsExpiredArtifacts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, c := b.running("exp", false)
	for _, p := range []string{"old.txt", "new.txt"} {
		code, body := b.putArtifact(c.Token, c.ID, p, []byte("bytes of "+p), nil)
		require.Equal(t, 201, code, "%s", body)
	}
	b.exec(`UPDATE artifacts SET expires_at = now() - interval '1 second' WHERE path = 'old.txt'`)
	b.fail(call{method: "GET", path: artifactURL(c.ID, "old.txt")}, 410)
	require.Len(t, b.blobKeys("artifacts/"), 2)

	s, _ := b.sweeper(0)
	rep := b.sweep(s)
	require.Equal(t, 1, rep.Artifacts)
	require.Equal(t, int64(len("bytes of old.txt")), rep.Bytes)
	b.fail(call{method: "GET", path: artifactURL(c.ID, "old.txt")}, 410)
	b.do(call{method: "GET", path: artifactURL(c.ID, "new.txt")})
	require.Len(t, b.blobKeys("artifacts/"), 1)
	require.Equal(t, 2, b.count("artifacts"), "the expired one is still listed")
	require.Zero(t, b.sweep(s).Artifacts, "a second sweep finds nothing")

	// A crash between marking the row and deleting its blob leaves the blob:
	// a swept row does not hold it, so it goes as an orphan.
	key := fmt.Sprintf("artifacts/%d/1/leftover", c.ID)
	require.NoError(t, s.Blobs.Put(context.Background(), key, bytes.NewReader([]byte("left")), 4))
	b.exec(`UPDATE artifacts SET blob_key = $1 WHERE path = 'old.txt'`, key)
	b.age(key, 2*time.Hour)
	s.OrphanPeriod = time.Nanosecond
	require.Equal(t, 1, b.sweep(s).Orphans)
	require.Len(t, b.blobKeys("artifacts/"), 1)
}

// TestRetentionSweepsStaleCaches: caches unused past the default retention
// go, used ones stay, and a project's own retention wins over the default.
func TestRetentionSweepsStaleCaches(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.cacheJob("plain")
	b.saveCache(tok, "stale", "old bytes", 201)
	b.saveCache(tok, "used", "new bytes", 201)
	short := b.cacheJob("short")
	b.saveCache(short, "minutes", "short bytes", 201)
	b.json(call{method: "PATCH", path: "/api/v1/projects/short", token: b.admin, body: map[string]any{"cacheRetention": 60}}, 200, nil)
	b.exec(`UPDATE caches SET last_used = now() - interval '8 days' WHERE key = 'stale'`)
	b.exec(`UPDATE caches SET last_used = now() - interval '2 minutes' WHERE key IN ('used', 'minutes')`)
	require.Len(t, b.blobKeys("caches/"), 3)

	s, _ := b.sweeper(0)
	rep := b.sweep(s)
	require.Equal(t, 2, rep.Caches, "the stale one and the one past its project's 60 s")
	require.Equal(t, int64(len("old bytes")+len("short bytes")), rep.Bytes)
	key, body := b.restoreCache(tok, "used")
	require.Equal(t, "used", key)
	require.Equal(t, "new bytes", body)
	key, _ = b.restoreCache(tok, "stale")
	require.Empty(t, key)
	require.Len(t, b.blobKeys("caches/"), 1)
	require.Equal(t, 1, b.count("caches"))
}

// TestRetentionSweepsOrphanBlobs: blobs no row points at go once older than
// the grace; young ones (an upload about to insert its row) and blobs rows
// point at stay. A deleted project's artifact blobs are orphans too.
func TestRetentionSweepsOrphanBlobs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, kept := b.running("kept", false)
	code, body := b.putArtifact(kept.Token, kept.ID, "kept.txt", []byte("kept"), nil)
	require.Equal(t, 201, code, "%s", body)
	_, gone := b.running("gone", false)
	code, body = b.putArtifact(gone.Token, gone.ID, "gone.txt", []byte("gone!"), nil)
	require.Equal(t, 201, code, "%s", body)
	b.do(call{method: "DELETE", path: "/api/v1/projects/gone", token: b.admin})
	for {
		more, err := b.store.ProjectPurge(context.Background())
		require.NoError(t, err)
		if !more {
			break
		}
	}
	require.Equal(t, 1, b.count("artifacts"))

	s, dir := b.sweeper(0)
	ctx := context.Background()
	require.NoError(t, dir.Put(ctx, "caches/999/crashed", bytes.NewReader([]byte("orphan")), 6))
	require.NoError(t, dir.Put(ctx, "artifacts/999/1/young", bytes.NewReader([]byte("young")), 5))
	for _, k := range append(b.blobKeys("artifacts/"), b.blobKeys("caches/")...) {
		if k != "artifacts/999/1/young" {
			b.age(k, 2*time.Hour)
		}
	}
	rep := b.sweep(s)
	require.Equal(t, 2, rep.Orphans, "the deleted project's blob and the crashed one")
	require.Equal(t, int64(len("gone!")+len("orphan")), rep.Bytes)
	require.NoError(t, dir.Put(ctx, "caches/999/later", bytes.NewReader([]byte("later")), 5))
	b.age("caches/999/later", 2*time.Hour)
	require.Zero(t, b.sweep(s).Orphans, "the store is listed at most every OrphanPeriod")
	s.OrphanPeriod = time.Nanosecond
	require.Equal(t, 1, b.sweep(s).Orphans)
	require.Empty(t, b.blobKeys("caches/"))
	arts := b.blobKeys("artifacts/")
	require.Len(t, arts, 2)
	require.Contains(t, arts, "artifacts/999/1/young")
	b.do(call{method: "GET", path: artifactURL(kept.ID, "kept.txt")})
}

// TestRetentionSweepsMoreThanABatch: one sweep deletes every expired row
// however many batches they take.
func TestRetentionSweepsMoreThanABatch(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, c := b.running("many", false)
	s, dir := b.sweeper(100)
	const n = 250
	for i := range n {
		key := fmt.Sprintf("artifacts/%d/1/k%03d", c.ID, i)
		require.NoError(t, dir.Put(context.Background(), key, bytes.NewReader([]byte("x")), 1))
	}
	b.exec(`INSERT INTO artifacts (job_id, attempt, path, size, sha256, content_type, blob_key, expires_at)
		SELECT $1, 1, 'f' || i, 1, '', 'text/plain', format('artifacts/%s/1/k%s', $1::bigint, lpad(i::text, 3, '0')), now() - interval '1 minute'
		FROM generate_series(0, $2 - 1) i`, c.ID, n)
	require.Equal(t, n, b.count("artifacts"))
	rep := b.sweep(s)
	require.Equal(t, n, rep.Artifacts)
	require.Equal(t, int64(n), rep.Bytes)
	var left int
	require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT count(*) FROM artifacts WHERE swept_at IS NULL`).Scan(&left))
	require.Zero(t, left)
	require.Empty(t, b.blobKeys("artifacts/"))
}

// syncBuffer is a log destination safe for the sweeper's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRetentionRunLogs: the background sweep logs what it deleted and
// stops with its context.
func TestRetentionRunLogs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, c := b.running("logged", false)
	code, body := b.putArtifact(c.Token, c.ID, "a.txt", []byte("12345"), nil)
	require.Equal(t, 201, code, "%s", body)
	b.exec(`UPDATE artifacts SET expires_at = now() - interval '1 second'`)
	s, _ := b.sweeper(0)
	var out syncBuffer
	s.Logger = slog.New(slog.NewTextHandler(&out, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx, time.Hour); close(done) }()
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "retention sweep") }, 10*time.Second, 20*time.Millisecond)
	cancel()
	<-done
	require.Contains(t, out.String(), "artifacts=1")
	require.Contains(t, out.String(), "bytes_freed=5")
}
