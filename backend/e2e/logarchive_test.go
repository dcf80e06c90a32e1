package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/blob"
	"github.com/aura-ci/aura/backend/internal/dbtest"
	"github.com/aura-ci/aura/backend/internal/retention"
	"github.com/aura-ci/aura/backend/internal/seal"
	"github.com/aura-ci/aura/backend/internal/store"
)

// TestLogArchiveSurvivesKill kills a real aura with SIGKILL while it moves
// finished logs to the store, three times, each time once a batch has stored
// an object it has not recorded yet (the transaction open). After each kill
// every log reads whole and the same, from its chunks or from its archive,
// never both and never neither; a last start moves the rest, and the retention
// sweep clears the objects the kills left unrecorded.
func TestLogArchiveSurvivesKill(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.NewURL(t)
	storeDir := filepath.Join(t.TempDir(), "store")
	s := startServerOn(t, dbURL, "--store", "dir:"+storeDir, "--log-archive-after", "1h")
	s.project("proj")
	s.stop()

	pool, err := pgxpool.New(context.Background(), dbURL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	box, err := seal.New(seal.NewKey())
	require.NoError(t, err)
	st := store.New(pool, box)
	blobs, err := blob.NewDir(storeDir)
	require.NoError(t, err)
	st.SetBlobs(blobs)
	const n = 120
	sums := finishedLogs(t, st, pool, n, 1<<20)

	count := func(q string) int {
		var c int
		require.NoError(t, pool.QueryRow(context.Background(), q).Scan(&c))
		return c
	}
	check := func() {
		t.Helper()
		for id, sum := range sums {
			var buf bytes.Buffer
			require.NoError(t, st.LogCopy(context.Background(), &buf, &store.LogReadParams{JobID: id, Attempt: 1, Offset: 0, End: 1 << 20}))
			require.Equal(t, sum, sha256.Sum256(buf.Bytes()), "log of job %d", id)
		}
		require.Zero(t, count(`SELECT count(*) FROM log_archives a WHERE EXISTS (SELECT 1 FROM log_chunks c WHERE c.job_id = a.job_id)`), "a log in both places")
		require.Equal(t, n, count(`SELECT count(DISTINCT job_id) FROM log_chunks`)+count(`SELECT count(*) FROM log_archives`), "a log in neither place")
	}
	s.args = append(s.args, "--log-archive-after", "0s") // the later flag wins
	orphans := 0                                         // objects the kills so far left unrecorded
	for round := range 3 {
		s.start()
		// Kill it while a batch is half done (objects stored that no row names
		// yet), after round batches committed.
		require.Eventually(t, func() bool {
			objects, err := blobs.List(context.Background(), store.LogArchivePrefix)
			require.NoError(t, err)
			archived := count(`SELECT count(*) FROM log_archives`)
			return archived >= 16*round && len(objects) > archived+orphans
		}, 60*time.Second, 2*time.Millisecond)
		require.NoError(t, s.cmd.Process.Kill())
		_ = s.cmd.Wait()
		s.cmd = nil
		objects, err := blobs.List(context.Background(), store.LogArchivePrefix)
		require.NoError(t, err)
		archived := count(`SELECT count(*) FROM log_archives`)
		t.Logf("kill %d: %d logs archived, %d objects in the store", round+1, archived, len(objects))
		require.Less(t, archived, n, "killed too late to test anything")
		orphans = len(objects) - archived
		check()
	}
	s.start()
	require.Eventually(t, func() bool { return count(`SELECT count(*) FROM log_archives`) == n }, 120*time.Second, 20*time.Millisecond)
	require.Zero(t, count(`SELECT count(*) FROM log_chunks`))
	check()
	// Through the server too.
	for id, sum := range sums {
		resp, err := http.Get(fmt.Sprintf("%s/api/v1/jobs/%d/log", s.url, id))
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, sum, sha256.Sum256(body))
		break
	}
	sw := &retention.Sweeper{Store: st, Blobs: blobs, OrphanGrace: time.Nanosecond}
	rep, err := sw.Sweep(context.Background())
	require.NoError(t, err)
	objects, err := blobs.List(context.Background(), store.LogArchivePrefix)
	require.NoError(t, err)
	t.Logf("the sweep cleared %d orphan objects", rep.Orphans)
	require.GreaterOrEqual(t, rep.Orphans, 3, "each kill left at least one")
	require.Len(t, objects, n)
	check()
}

// finishedLogs stores n succeeded jobs with logs of size bytes, in rows of
// 256 KiB as appends leave them, and returns each log's checksum.
func finishedLogs(t *testing.T, st *store.Store, pool *pgxpool.Pool, n, size int) map[int64][sha256.Size]byte {
	ctx := context.Background()
	p, err := st.ProjectGet(ctx, "proj")
	require.NoError(t, err)
	var batch []*store.JobSubmitParams
	for i := range n {
		batch = append(batch, &store.JobSubmitParams{ProjectID: p.ID, ProjectSlug: "proj", EntityKey: "commit",
			EntityVal: fmt.Sprintf("c%d", i), JobSpec: store.JobSpec{Name: "build", Cmd: "true", Tag: "linux", MaxAttempts: 1}})
	}
	jobs, err := st.JobSubmit(ctx, batch)
	require.NoError(t, err)
	var ids []int64
	for _, j := range jobs {
		ids = append(ids, j.ID)
	}
	_, err = pool.Exec(ctx, `UPDATE jobs SET status = 'succeeded', started_at = now() - interval '1 minute',
		ended_at = now() - interval '1 minute', exit_code = 0, log_length = $1 WHERE id = ANY($2)`, size, ids)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(3, 3))
	sums := map[int64][sha256.Size]byte{}
	var rows [][]any
	for _, id := range ids {
		var log bytes.Buffer
		for log.Len() < size {
			fmt.Fprintf(&log, "job %d line %d: %x\n", id, rng.IntN(1000), rng.Uint64())
		}
		data := log.Bytes()[:size]
		sums[id] = sha256.Sum256(data)
		for off := 0; off < size; off += 256 << 10 {
			rows = append(rows, []any{id, 1, int64(off), data[off:min(off+256<<10, size)], time.Now()})
		}
	}
	_, err = pool.CopyFrom(ctx, pgx.Identifier{"log_chunks"}, []string{"job_id", "attempt", "offset", "data", "arrived_at"}, pgx.CopyFromRows(rows))
	require.NoError(t, err)
	return sums
}
