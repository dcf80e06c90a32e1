package logarchive_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/blob"
	"github.com/aura-ci/aura/backend/internal/dbtest"
	"github.com/aura-ci/aura/backend/internal/logarchive"
	"github.com/aura-ci/aura/backend/internal/metrics"
	"github.com/aura-ci/aura/backend/internal/retention"
	"github.com/aura-ci/aura/backend/internal/s3test"
	"github.com/aura-ci/aura/backend/internal/seal"
	"github.com/aura-ci/aura/backend/internal/store"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// storeFunc opens a fresh blob store for one test.
type storeFunc func(t *testing.T) blob.Store

// TestArchive runs every archive test against the folder store and against
// S3 (a real SeaweedFS, started once for all of them), as the blob contract
// tests do.
func TestArchive(t *testing.T) {
	t.Parallel()
	tests := map[string]func(*testing.T, storeFunc){
		"ReadsSame":         testReadsSame,
		"CrashAtEachStep":   testCrashAtEachStep,
		"ReadDuringArchive": testReadDuringArchive,
		"TwoServers":        testTwoServers,
		"Expiry":            testExpiry,
	}
	stores := map[string]storeFunc{
		"dir": func(t *testing.T) blob.Store {
			d, err := blob.NewDir(t.TempDir())
			require.NoError(t, err)
			return d
		},
	}
	var s3Once sync.Once
	var srv *s3test.Server
	stores["s3"] = func(t *testing.T) blob.Store {
		s3Once.Do(func() { srv = s3test.Start(t) })
		if srv == nil {
			t.Skip("no S3 server")
		}
		// One bucket (SeaweedFS fails puts into buckets created at once), a prefix per test.
		s, err := blob.Open(t.Context(), fmt.Sprintf("s3://aura-logs/%d", time.Now().UnixNano()), "", blob.S3Config{Endpoint: srv.Endpoint,
			AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Region: srv.Region})
		require.NoError(t, err)
		return s
	}
	for _, kind := range []string{"dir", "s3"} {
		t.Run(kind, func(t *testing.T) {
			if kind == "s3" {
				// The server's cleanup belongs to this subtest: start it here, before
				// the parallel ones, and make the bucket.
				s3Once.Do(func() { srv = s3test.Start(t) })
				stores["s3"](t)
			}
			for name, test := range tests {
				t.Run(name, func(t *testing.T) { test(t, stores[kind]) })
			}
		})
	}
}

type testBundle struct {
	url    string
	pool   *pgxpool.Pool
	st     *store.Store
	blobs  blob.Store
	key    []byte
	runner int64
	proj   *store.Project
}

func setup(t *testing.T, open storeFunc) *testBundle {
	t.Helper()
	b := &testBundle{url: dbtest.NewURL(t), key: seal.NewKey(), blobs: open(t)}
	b.st, b.pool = b.server(t)
	ctx := t.Context()
	var err error
	b.proj, err = b.st.ProjectCreate(ctx, "proj", "Proj", false, nil)
	require.NoError(t, err)
	r, err := b.st.RunnerCreate(ctx, &store.RunnerCreateParams{Name: "r1", Tags: []string{"linux"}, Hash: []byte("hash")}, nil)
	require.NoError(t, err)
	b.runner = r.ID
	return b
}

// server opens another store on the bundle's database and blob store, as a
// second aura process sharing them would.
func (b *testBundle) server(t *testing.T) (*store.Store, *pgxpool.Pool) {
	pool, err := pgxpool.New(context.Background(), b.url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	box, err := seal.New(b.key)
	require.NoError(t, err)
	st := store.New(pool, box)
	st.SetBlobs(b.blobs)
	return st, pool
}

// run submits a job (or, with retry, retries it), runs one attempt that
// appends chunks, and ends it with exit.
func (b *testBundle) run(t *testing.T, jobID int64, chunks [][]byte, limit int64, exit int) int64 {
	t.Helper()
	ctx := t.Context()
	if jobID == 0 {
		jobs, err := b.st.JobSubmit(ctx, []*store.JobSubmitParams{{ProjectID: b.proj.ID, ProjectSlug: "proj",
			EntityKey: "commit", EntityVal: "abc", JobSpec: store.JobSpec{Name: fmt.Sprintf("build-%d", time.Now().UnixNano()),
				Cmd: "true", Tag: "linux", MaxAttempts: 1}}})
		require.NoError(t, err)
		jobID = jobs[0].ID
	} else {
		_, err := b.st.JobRetry(ctx, jobID, nil)
		require.NoError(t, err)
	}
	claimed, err := b.st.JobClaim(ctx, &store.JobClaimParams{RunnerID: b.runner, Tag: "linux", Limit: 1, Lease: time.Minute, Acked: true})
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	require.Equal(t, jobID, claimed[0].ID)
	h := store.Holder{JobID: jobID, Attempt: claimed[0].Attempt, RunnerID: b.runner}
	var off int64
	for _, c := range chunks {
		res, err := b.st.LogAppend(ctx, &store.LogAppendParams{Holder: h, Offset: off, Data: c, Limit: limit, TailKeep: limit / 4})
		if err != nil && errors.Is(err, store.ErrGone) {
			break // past the limit the job ended
		}
		require.NoError(t, err)
		off = res.Length
	}
	j, err := b.st.JobGet(ctx, jobID)
	require.NoError(t, err)
	if j.Status == store.StatusRunning {
		_, err = b.st.JobComplete(ctx, &store.JobCompleteParams{Holder: h, ExitCode: exit})
		require.NoError(t, err)
	}
	return jobID
}

// logChunks makes n chunks of text of varied sizes (some past a row's 256 KiB).
func logChunks(seed uint64, n int) [][]byte {
	rng := rand.New(rand.NewPCG(seed, 7))
	var out [][]byte
	line := 0
	for range n {
		var buf bytes.Buffer
		size := rng.IntN(400 << 10)
		for buf.Len() < size {
			fmt.Fprintf(&buf, "%06d \x1b[32mok\x1b[0m step %d: %x\n", line, rng.IntN(1000), rng.Uint64())
			line++
		}
		out = append(out, buf.Bytes())
	}
	return out
}

// snapshot is everything a reader can learn of one attempt's log.
type snapshot struct {
	Info    store.LogInfo
	All     []byte
	Ranges  [][]byte
	Chunks  []store.LogChunk
	Limited []store.LogChunk
	Times   []store.LogTime
	Attempt int
	Length  int64
}

func snap(t *testing.T, st *store.Store, jobID int64, attempt int) snapshot {
	t.Helper()
	ctx := t.Context()
	var s snapshot
	info, err := st.LogInfoGet(ctx, jobID, attempt)
	require.NoError(t, err)
	s.Info = *info
	read := func(from, to int64) []byte {
		var buf bytes.Buffer
		require.NoError(t, st.LogCopy(ctx, &buf, &store.LogReadParams{JobID: jobID, Attempt: info.Attempt, Offset: from, End: to}))
		return buf.Bytes()
	}
	n := info.Length
	s.All = read(0, n)
	for _, r := range [][2]int64{{n - 64<<10, n}, {n / 3, n/3 + 2<<20}, {1<<20 - 10, 1<<20 + 10}, {n - 1, n}, {n, n}, {5, 6}} {
		s.Ranges = append(s.Ranges, read(max(r[0], 0), min(max(r[1], 0), n)))
	}
	utc := func(cs []store.LogChunk) []store.LogChunk {
		for i := range cs {
			cs[i].Time = cs[i].Time.UTC()
		}
		return cs
	}
	cs, used, err := st.LogChunksRead(ctx, jobID, attempt, 0, 0, 100000, 0)
	require.NoError(t, err)
	s.Chunks, s.Attempt = utc(cs), used
	cs, _, err = st.LogChunksRead(ctx, jobID, attempt, n/2, 0, 3, 300<<10)
	require.NoError(t, err)
	s.Limited = utc(cs)
	times, _, _, err := st.LogTimesGet(ctx, jobID, attempt)
	require.NoError(t, err)
	for i := range times {
		times[i].Time = times[i].Time.UTC()
	}
	s.Times = times
	if attempt == 0 {
		j, err := st.JobGet(ctx, jobID)
		require.NoError(t, err)
		s.Length = j.LogLength
	}
	return s
}

func requireSame(t *testing.T, want, got snapshot) {
	t.Helper()
	require.Equal(t, want.Info, got.Info)
	require.True(t, bytes.Equal(want.All, got.All), "the whole log differs (%d and %d bytes)", len(want.All), len(got.All))
	for i := range want.Ranges {
		require.True(t, bytes.Equal(want.Ranges[i], got.Ranges[i]), "range %d differs", i)
	}
	require.Equal(t, summary(want.Chunks), summary(got.Chunks))
	require.Equal(t, summary(want.Limited), summary(got.Limited))
	require.Equal(t, want.Times, got.Times)
	require.Equal(t, want.Attempt, got.Attempt)
	require.Equal(t, want.Length, got.Length)
}

// summary describes chunks in a line each, their bytes by checksum.
func summary(cs []store.LogChunk) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = fmt.Sprintf("%d+%d %s %x private=%v", c.Offset, len(c.Data), c.Time.Format(time.RFC3339Nano), sha256.Sum256(c.Data), c.Private)
	}
	return out
}

// counts returns how many chunk rows and archive rows the database holds.
func (b *testBundle) counts(t *testing.T) (chunks, archives int) {
	t.Helper()
	require.NoError(t, b.pool.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM log_chunks), (SELECT count(*) FROM log_archives)`).Scan(&chunks, &archives))
	return chunks, archives
}

func (b *testBundle) objects(t *testing.T) []string {
	t.Helper()
	infos, err := b.blobs.List(t.Context(), store.LogArchivePrefix)
	require.NoError(t, err)
	var keys []string
	for _, i := range infos {
		keys = append(keys, i.Key)
	}
	return keys
}

type logRef struct {
	job     int64
	attempt int
}

// someLogs runs a log of several blocks, a log cut by the log limit (a gap)
// and a job of two attempts, and returns what each reads as.
func (b *testBundle) someLogs(t *testing.T) map[logRef]snapshot {
	big := b.run(t, 0, logChunks(1, 20), 0, 0)
	cut := b.run(t, 0, logChunks(2, 30), 2<<20, 0)
	twice := b.run(t, 0, logChunks(3, 4), 0, 1)
	b.run(t, twice, logChunks(4, 3), 0, 0)
	snaps := map[logRef]snapshot{}
	for _, l := range []logRef{{big, 0}, {cut, 0}, {twice, 1}, {twice, 0}} {
		snaps[l] = snap(t, b.st, l.job, l.attempt)
	}
	require.Contains(t, string(snaps[logRef{cut, 0}].All), "bytes of log omitted: log limit exceeded")
	require.Greater(t, len(snaps[logRef{big, 0}].All), 3<<20)
	return snaps
}

func (b *testBundle) requireAllSame(t *testing.T, snaps map[logRef]snapshot) {
	t.Helper()
	for l, want := range snaps {
		requireSame(t, want, snap(t, b.st, l.job, l.attempt))
	}
}

func archiver(st *store.Store) *logarchive.Archiver {
	return &logarchive.Archiver{Store: st, Grace: -1, Batch: 2}
}

// testReadsSame: every read of an archived log (offsets, ranges, chunks with
// their times, times, lengths, an older attempt, a log with a gap) answers
// what it answered from PostgreSQL, and the chunks are gone.
func testReadsSame(t *testing.T, open storeFunc) {
	t.Parallel()
	b := setup(t, open)
	snaps := b.someLogs(t)
	a := archiver(b.st)
	a.Metrics = metrics.New(nil, nil)
	rep, err := a.Archive(t.Context())
	require.NoError(t, err)
	require.Equal(t, 4, rep.Logs)
	require.Less(t, rep.Object, rep.Bytes, "compressed")
	fams, err := a.Metrics.Registry.Gather()
	require.NoError(t, err)
	archived := -1.0
	for _, f := range fams {
		if f.GetName() == "aura_log_archived_bytes_total" {
			archived = f.Metric[0].Counter.GetValue()
		}
	}
	require.Equal(t, float64(rep.Bytes), archived, "/metrics counts the bytes moved")
	chunks, archives := b.counts(t)
	require.Zero(t, chunks)
	require.Equal(t, 4, archives)
	require.Len(t, b.objects(t), 4)
	b.requireAllSame(t, snaps)
	// Nothing left to move.
	rep, err = archiver(b.st).Archive(t.Context())
	require.NoError(t, err)
	require.Zero(t, rep.Logs)
}

var errCrash = errors.New("crash")

// testCrashAtEachStep stops the move at each step as a crash would (the
// process gone: no cleanup runs, the transaction rolls back): the log still
// reads the same from PostgreSQL, a second pass moves it, and the objects the
// crashes left are orphans the retention sweep removes.
func testCrashAtEachStep(t *testing.T, open storeFunc) {
	t.Parallel()
	b := setup(t, open)
	snaps := b.someLogs(t)
	for _, step := range []string{"packed", "put", "verified", "recorded"} {
		a := archiver(b.st)
		a.StepFunc = func(s string) error {
			if s == step {
				panic(errCrash)
			}
			return nil
		}
		func() {
			defer func() { require.Equal(t, errCrash, recover(), "step %s", step) }()
			_, _ = a.Archive(t.Context())
		}()
		chunks, archives := b.counts(t)
		require.NotZero(t, chunks, "step %s", step)
		require.Zero(t, archives, "step %s", step)
		b.requireAllSame(t, snaps)
	}
	require.NotEmpty(t, b.objects(t), "the crashes left objects")
	// A failure after the commit (the process dies then) leaves the move done.
	a := archiver(b.st)
	a.StepFunc = func(s string) error {
		if s == "committed" {
			return errCrash
		}
		return nil
	}
	_, err := a.Archive(t.Context())
	require.ErrorIs(t, err, errCrash)
	for {
		rep, err := archiver(b.st).Archive(t.Context())
		require.NoError(t, err)
		if rep.Logs == 0 {
			break
		}
	}
	chunks, archives := b.counts(t)
	require.Zero(t, chunks)
	require.Equal(t, 4, archives)
	b.requireAllSame(t, snaps)
	// The orphans go; the archives stay.
	sw := &retention.Sweeper{Store: b.st, Blobs: b.blobs, OrphanGrace: time.Nanosecond}
	rep, err := sw.Sweep(t.Context())
	require.NoError(t, err)
	require.Positive(t, rep.Orphans)
	require.Len(t, b.objects(t), 4)
	b.requireAllSame(t, snaps)
}

// hookWriter calls fn before its first write.
type hookWriter struct {
	bytes.Buffer
	fn func()
}

func (w *hookWriter) Write(p []byte) (int, error) {
	if w.fn != nil {
		w.fn()
		w.fn = nil
	}
	return w.Buffer.Write(p)
}

// testReadDuringArchive: a read that began on the chunks and finds them gone
// (archived between two of its queries) goes on from the archive.
func testReadDuringArchive(t *testing.T, open storeFunc) {
	t.Parallel()
	b := setup(t, open)
	job := b.run(t, 0, logChunks(5, 20), 0, 0)
	want := snap(t, b.st, job, 0)
	other, _ := b.server(t)
	w := &hookWriter{fn: func() {
		rep, err := archiver(other).Archive(t.Context())
		require.NoError(t, err)
		require.Equal(t, 1, rep.Logs)
	}}
	require.NoError(t, b.st.LogCopy(t.Context(), w, &store.LogReadParams{JobID: job, Attempt: 1, Offset: 0, End: want.Info.Length}))
	require.True(t, bytes.Equal(want.All, w.Bytes()), "read %d of %d bytes", w.Len(), len(want.All))
	chunks, _ := b.counts(t)
	require.Zero(t, chunks)
}

// testTwoServers: two servers archiving at once share the work (SKIP
// LOCKED): every log moves exactly once.
func testTwoServers(t *testing.T, open storeFunc) {
	t.Parallel()
	b := setup(t, open)
	snaps := map[logRef]snapshot{}
	for i := range 8 {
		j := b.run(t, 0, logChunks(uint64(10+i), 3), 0, 0)
		snaps[logRef{j, 0}] = snap(t, b.st, j, 0)
	}
	other, _ := b.server(t)
	var wg sync.WaitGroup
	reps := make([]logarchive.Report, 2)
	for i, st := range []*store.Store{b.st, other} {
		wg.Go(func() {
			a := archiver(st)
			a.Batch = 1
			var err error
			reps[i], err = a.Archive(context.Background())
			require.NoError(t, err)
		})
	}
	wg.Wait()
	require.Equal(t, 8, reps[0].Logs+reps[1].Logs)
	chunks, archives := b.counts(t)
	require.Zero(t, chunks)
	require.Equal(t, 8, archives)
	require.Len(t, b.objects(t), 8)
	b.requireAllSame(t, snaps)
}

// testExpiry: the retention sweep deletes an archived log past its project's
// log retention; the job says when, and reads answer Gone with that date.
func testExpiry(t *testing.T, open storeFunc) {
	t.Parallel()
	b := setup(t, open)
	old := b.run(t, 0, logChunks(20, 2), 0, 0)
	young := b.run(t, 0, logChunks(21, 2), 0, 0)
	keep := snap(t, b.st, young, 0)
	_, err := archiver(b.st).Archive(t.Context())
	require.NoError(t, err)
	sw := &retention.Sweeper{Store: b.st, Blobs: b.blobs}
	rep, err := sw.Sweep(t.Context())
	require.NoError(t, err)
	require.Zero(t, rep.Logs, "no retention: kept forever")

	day := int64(24 * 3600)
	_, err = b.st.ProjectUpdate(t.Context(), "proj", &store.ProjectUpdateParams{LogRetention: store.RetentionUpdate{Set: true, Seconds: &day}}, nil)
	require.NoError(t, err)
	_, err = b.pool.Exec(t.Context(), `UPDATE log_archives SET ended_at = now() - interval '2 days' WHERE job_id = $1`, old)
	require.NoError(t, err)
	rep, err = sw.Sweep(t.Context())
	require.NoError(t, err)
	require.Equal(t, 1, rep.Logs)
	require.Len(t, b.objects(t), 1)

	j, err := b.st.JobGet(t.Context(), old)
	require.NoError(t, err)
	require.NotNil(t, j.LogExpiredAt)
	_, err = b.st.LogInfoGet(t.Context(), old, 0)
	require.ErrorIs(t, err, store.ErrGone)
	require.True(t, strings.Contains(err.Error(), "expired on "+j.LogExpiredAt.UTC().Format("2006-01-02")), err.Error())
	_, _, _, err = b.st.LogTimesGet(t.Context(), old, 0)
	require.ErrorIs(t, err, store.ErrGone)
	cs, _, err := b.st.LogChunksRead(t.Context(), old, 0, 0, 0, 10, 0)
	require.NoError(t, err)
	require.Empty(t, cs)
	requireSame(t, keep, snap(t, b.st, young, 0))

	// The instance default applies to a project without its own.
	_, err = b.st.ProjectUpdate(t.Context(), "proj", &store.ProjectUpdateParams{LogRetention: store.RetentionUpdate{Set: true}}, nil)
	require.NoError(t, err)
	_, err = b.pool.Exec(t.Context(), `UPDATE log_archives SET ended_at = now() - interval '2 hours' WHERE job_id = $1`, young)
	require.NoError(t, err)
	sw.LogRetention = time.Hour
	rep, err = sw.Sweep(t.Context())
	require.NoError(t, err)
	require.Equal(t, 1, rep.Logs)
	require.Empty(t, b.objects(t))
}
