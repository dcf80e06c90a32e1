package logarchive_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/aura-ci/aura/backend/internal/blob"
	"github.com/aura-ci/aura/backend/internal/dbtest"
	"github.com/aura-ci/aura/backend/internal/logarchive"
	"github.com/aura-ci/aura/backend/internal/logpack"
	"github.com/aura-ci/aura/backend/internal/s3test"
	"github.com/aura-ci/aura/backend/internal/seal"
	"github.com/aura-ci/aura/backend/internal/store"
)

var (
	benchLogs    = flag.Int("logarchive.logs", 10000, "finished logs BenchmarkLogArchive moves")
	benchLogSize = flag.Int("logarchive.size", 1<<20, "bytes of each of them")
	benchTail    = flag.Int("logarchive.tail", 50<<20, "bytes of the log whose tail BenchmarkLogArchive reads")
	benchWorkers = flag.Int("logarchive.workers", 2, "transactions archiving at once")
)

// BenchmarkLogArchive moves -logarchive.logs finished logs of
// -logarchive.size bytes (10,000 of 1 MiB) from PostgreSQL to the folder
// store and prints the time and the database's size before and after; then it
// archives one log of -logarchive.tail bytes (50 MB) on each store and prints
// how long a read of its last 64 KiB takes to its first byte:
//
//	go test -run '^$' -bench LogArchive -benchtime 1x -timeout 60m ./backend/internal/logarchive/
func BenchmarkLogArchive(b *testing.B) {
	for b.Loop() {
		benchArchive(b)
	}
	for _, kind := range []string{"dir", "s3"} {
		b.Run("tail-"+kind, func(b *testing.B) {
			var blobs blob.Store
			var err error
			if kind == "dir" {
				blobs, err = blob.NewDir(filepath.Join(b.TempDir(), "store"))
			} else {
				srv := s3test.Start(b)
				blobs, err = blob.Open(b.Context(), "s3://aura-bench/p", "", blob.S3Config{Endpoint: srv.Endpoint,
					AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Region: srv.Region})
			}
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				benchTailRead(b, blobs)
			}
		})
	}
}

// corpus is build-like output that logs are cut from, so they compress as logs do.
func corpus(size int) []byte {
	rng := rand.New(rand.NewPCG(42, 42))
	words := []string{"compiling", "linking", "ok", "PASS", "FAIL", "warning:", "src/internal/", "pkg/", "--- RUN", "main.go",
		"Downloading", "npm", "WARN", "deprecated", "\x1b[32m", "\x1b[0m", "test", "coverage:", "ms", "100%", "[info]"}
	var buf bytes.Buffer
	for buf.Len() < size {
		fmt.Fprintf(&buf, "%02d:%02d:%02d.%03d ", rng.IntN(24), rng.IntN(60), rng.IntN(60), rng.IntN(1000))
		for n := rng.IntN(12) + 2; n > 0; n-- {
			buf.WriteString(words[rng.IntN(len(words))])
			if rng.IntN(4) == 0 {
				fmt.Fprintf(&buf, "%x", rng.Uint32())
			}
			buf.WriteByte(' ')
		}
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}

type benchBundle struct {
	pool *pgxpool.Pool
	st   *store.Store
	proj *store.Project
}

func benchSetup(b *testing.B, blobs blob.Store) *benchBundle {
	pool, err := pgxpool.New(context.Background(), dbtest.NewURL(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	box, err := seal.New(seal.NewKey())
	if err != nil {
		b.Fatal(err)
	}
	st := store.New(pool, box)
	st.SetBlobs(blobs)
	proj, err := st.ProjectCreate(b.Context(), "bench", "Bench", false, nil)
	if err != nil {
		b.Fatal(err)
	}
	return &benchBundle{pool: pool, st: st, proj: proj}
}

// finishedJobs submits n jobs and marks them succeeded with logs of size
// bytes stored as the append path stores them (rows of 256 KiB), cut from
// corpus, through COPY (the append path would take hours for 10 GiB).
func (bb *benchBundle) finishedJobs(b *testing.B, n, size int, corpus []byte) []int64 {
	ctx := b.Context()
	var ids []int64
	for len(ids) < n {
		var batch []*store.JobSubmitParams
		for i := 0; i < min(500, n-len(ids)); i++ {
			batch = append(batch, &store.JobSubmitParams{ProjectID: bb.proj.ID, ProjectSlug: "bench", EntityKey: "commit",
				EntityVal: fmt.Sprintf("c%d", len(ids)+i), JobSpec: store.JobSpec{Name: "build", Cmd: "true", Tag: "linux", MaxAttempts: 1}})
		}
		jobs, err := bb.st.JobSubmit(ctx, batch)
		if err != nil {
			b.Fatal(err)
		}
		for _, j := range jobs {
			ids = append(ids, j.ID)
		}
	}
	_, err := bb.pool.Exec(ctx, `UPDATE jobs SET status = 'succeeded', started_at = now() - interval '1 minute',
		ended_at = now() - interval '1 minute', exit_code = 0, log_length = $1 WHERE id = ANY($2)`, size, ids)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	const row = 256 << 10
	for from := 0; from < len(ids); from += 200 {
		part := ids[from:min(from+200, len(ids))]
		var rows [][]any
		for _, id := range part {
			at := rng.IntN(len(corpus) - size)
			log := corpus[at : at+size]
			for off := 0; off < size; off += row {
				rows = append(rows, []any{id, 1, int64(off), log[off:min(off+row, size)], time.Now()})
			}
		}
		_, err := bb.pool.CopyFrom(ctx, pgx.Identifier{"log_chunks"}, []string{"job_id", "attempt", "offset", "data", "arrived_at"}, pgx.CopyFromRows(rows))
		if err != nil {
			b.Fatal(err)
		}
	}
	return ids
}

// sizes returns the bytes of the log tables (with their TOAST and indexes) and of the database.
func (bb *benchBundle) sizes(b *testing.B) (logs, db int64) {
	err := bb.pool.QueryRow(b.Context(), `SELECT pg_total_relation_size('log_chunks') + pg_total_relation_size('log_archives'),
		pg_database_size(current_database())`).Scan(&logs, &db)
	if err != nil {
		b.Fatal(err)
	}
	return logs, db
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func benchArchive(b *testing.B) {
	blobs, err := blob.NewDir(filepath.Join(b.TempDir(), "store"))
	if err != nil {
		b.Fatal(err)
	}
	bb := benchSetup(b, blobs)
	n, size := *benchLogs, *benchLogSize
	start := time.Now()
	bb.finishedJobs(b, n, size, corpus(max(4*size, 8<<20)))
	if _, err := bb.pool.Exec(b.Context(), `VACUUM ANALYZE log_chunks`); err != nil {
		b.Fatal(err)
	}
	b.Logf("stored %d finished logs of %s in PostgreSQL in %v", n, mib(int64(size)), time.Since(start).Round(time.Millisecond))
	logs0, db0 := bb.sizes(b)
	a := &logarchive.Archiver{Store: bb.st, Grace: -1, Workers: *benchWorkers}
	// Where the time goes, step by step (with one worker).
	var mu sync.Mutex
	steps := map[string]time.Duration{}
	if *benchWorkers == 1 {
		prev := time.Now()
		a.StepFunc = func(step string) error {
			mu.Lock()
			defer mu.Unlock()
			steps[step] += time.Since(prev)
			prev = time.Now()
			return nil
		}
	}
	start = time.Now()
	rep, err := a.Archive(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	took := time.Since(start)
	if rep.Logs != n {
		b.Fatalf("archived %d logs of %d", rep.Logs, n)
	}
	logs1, db1 := bb.sizes(b)
	if _, err := bb.pool.Exec(b.Context(), `VACUUM log_chunks`); err != nil {
		b.Fatal(err)
	}
	logs2, db2 := bb.sizes(b)
	if _, err := bb.pool.Exec(b.Context(), `VACUUM FULL log_chunks`); err != nil {
		b.Fatal(err)
	}
	logs3, db3 := bb.sizes(b)
	fmt.Printf("archived %d logs of %s (%s) with %d workers in %v: %.0f logs/s, %.0f MB/s of log; objects hold %s (%.1fx smaller)\n",
		n, mib(int64(size)), mib(rep.Bytes), a.Workers, took.Round(time.Millisecond), float64(n)/took.Seconds(),
		float64(rep.Bytes)/took.Seconds()/1e6, mib(rep.Object), float64(rep.Bytes)/float64(rep.Object))
	fmt.Printf("PostgreSQL log tables (log_chunks + log_archives, with TOAST and indexes) / database:\n")
	fmt.Printf("  before:                   %12s / %s\n", mib(logs0), mib(db0))
	fmt.Printf("  after:                    %12s / %s (deleted rows not yet vacuumed)\n", mib(logs1), mib(db1))
	fmt.Printf("  after VACUUM (autovacuum):%12s / %s (the emptied pages at the end are truncated)\n", mib(logs2), mib(db2))
	fmt.Printf("  after VACUUM FULL:        %12s / %s\n", mib(logs3), mib(db3))
	if len(steps) > 0 {
		fmt.Printf("time before each step (one worker): %v\n", steps)
	}
	b.ReportMetric(took.Seconds(), "s/archive")
}

// benchTailRead archives one log of -logarchive.tail bytes and reads its last
// 64 KiB as GET /log does (LogInfoGet, then LogCopy), timing the first byte.
func benchTailRead(b *testing.B, blobs blob.Store) {
	bb := benchSetup(b, blobs)
	size := *benchTail
	ids := bb.finishedJobs(b, 1, size, corpus(size+(1<<20)))
	rep, err := (&logarchive.Archiver{Store: bb.st, Grace: -1}).Archive(b.Context())
	if err != nil || rep.Logs != 1 {
		b.Fatal(rep, err)
	}
	var firsts, wholes []time.Duration
	for range 50 {
		start := time.Now()
		info, err := bb.st.LogInfoGet(b.Context(), ids[0], 0)
		if err != nil {
			b.Fatal(err)
		}
		w := &firstByte{}
		err = bb.st.LogCopy(b.Context(), w, &store.LogReadParams{JobID: ids[0], Attempt: info.Attempt, Offset: info.Length - 64<<10, End: info.Length})
		if err != nil || w.n != 64<<10 {
			b.Fatal(w.n, err)
		}
		firsts, wholes = append(firsts, w.at.Sub(start)), append(wholes, time.Since(start))
	}
	slices.Sort(firsts)
	slices.Sort(wholes)
	fmt.Printf("tail (last 64 KiB) of an archived %s log, %d blocks, object %s: first byte median %v, p90 %v, max %v; whole tail median %v\n",
		mib(int64(size)), (size+logpack.BlockSize-1)/logpack.BlockSize, mib(rep.Object), firsts[len(firsts)/2].Round(10*time.Microsecond),
		firsts[len(firsts)*9/10].Round(10*time.Microsecond), firsts[len(firsts)-1].Round(10*time.Microsecond),
		wholes[len(wholes)/2].Round(10*time.Microsecond))
	b.ReportMetric(float64(firsts[len(firsts)/2].Microseconds())/1000, "ms/first-byte")
}

type firstByte struct {
	n  int
	at time.Time
}

func (w *firstByte) Write(p []byte) (int, error) {
	if w.n == 0 && len(p) > 0 {
		w.at = time.Now()
	}
	w.n += len(p)
	return len(p), nil
}

var _ io.Writer = (*firstByte)(nil)
