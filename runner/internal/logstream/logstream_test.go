package logstream

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/runner/internal/apiclient"
	"github.com/aura-ci/aura/runner/internal/mask"
)

// peer is the server side of the log-append call (PATCH /api/v1/jobs/42/log) and
// nothing else: it keeps the log of attempt 1 of job 42, acknowledges chunks it
// already has, refuses gaps with 416 and can be told to misbehave.
type peer struct {
	mu       sync.Mutex
	keep     bool // keep the bytes, not only their count and hash
	data     bytes.Buffer
	length   int64
	hash     hash.Hash
	requests int
	chunks   []int // sizes of the chunks received
	arrivals []time.Time

	// faultFunc, when set, picks a misbehaviour for request number n (from 1).
	faultFunc func(n int) fault
	// cancelAt answers cancel once the log reaches that many bytes (0: never).
	cancelAt int64
	// maxStore stores at most that many bytes of a chunk (0: all of it).
	maxStore int
	// hold, when set, is waited on before each request is served.
	hold    chan struct{}
	started atomic.Int64
}

type fault int

const (
	faultNone        fault = iota
	faultError             // 500 before storing anything
	faultDropAfter         // store the chunk, then break the connection
	faultGone              // 410
	faultUnavailable       // 503 from "a proxy", not JSON
)

func newPeer(t testing.TB, keep bool) (*peer, *apiclient.ClientWithResponses) {
	t.Helper()
	p := &peer{keep: keep, hash: sha256.New()}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	client, err := apiclient.NewClientWithResponses(srv.URL,
		apiclient.WithHTTPClient(srv.Client()),
		apiclient.WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
			req.Header.Set("Authorization", "Bearer AURA_RUNNERKEY_test-x")
			return nil
		}))
	require.NoError(t, err)
	return p, client
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (p *peer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.started.Add(1)
	if p.hold != nil {
		<-p.hold
	}
	q := r.URL.Query()
	offset, err := strconv.ParseInt(q.Get("offset"), 10, 64)
	if r.Method != http.MethodPatch || r.URL.Path != "/api/v1/jobs/42/log" || q.Get("attempt") != "1" || err != nil ||
		r.Header.Get("Content-Type") != "application/octet-stream" ||
		r.Header.Get("Authorization") != "Bearer AURA_RUNNERKEY_test-x" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"code": 400, "message": "bad request " + r.URL.String()})
		return
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests++
	f := faultNone
	if p.faultFunc != nil {
		f = p.faultFunc(p.requests)
	}
	switch f {
	case faultError:
		writeJSON(w, http.StatusInternalServerError, map[string]any{"code": 500, "message": "internal error"})
		return
	case faultGone:
		writeJSON(w, http.StatusGone, map[string]any{"code": 410, "message": "attempt 1 is stale"})
		return
	case faultUnavailable:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "<html>bad gateway</html>")
		return
	}
	if offset > p.length {
		writeJSON(w, http.StatusRequestedRangeNotSatisfiable,
			map[string]any{"code": 416, "message": "gap", "length": p.length})
		return
	}

	// Skip what is already stored, store the rest, without holding the chunk.
	if _, err := io.CopyN(io.Discard, r.Body, p.length-offset); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"code": 400, "message": "short body"})
		return
	}
	var body io.Reader = r.Body
	if p.maxStore > 0 {
		body = io.LimitReader(r.Body, int64(p.maxStore))
	}
	sinks := []io.Writer{p.hash}
	if p.keep {
		sinks = append(sinks, &p.data)
	}
	n, _ := io.Copy(io.MultiWriter(sinks...), body)
	p.length += n
	p.chunks = append(p.chunks, int(n+(p.length-n-offset)))
	p.arrivals = append(p.arrivals, time.Now())
	if f == faultDropAfter {
		panic(http.ErrAbortHandler)
	}
	writeJSON(w, http.StatusOK, map[string]any{"length": p.length, "cancel": p.cancelAt > 0 && p.length >= p.cancelAt})
}

func (p *peer) snapshot() (length int64, sum string, data []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.length, hex.EncodeToString(p.hash.Sum(nil)), bytes.Clone(p.data.Bytes())
}

func quickOptions() Options {
	return Options{RetryMin: time.Millisecond, RetryMax: 5 * time.Millisecond, MinInterval: 20 * time.Millisecond}
}

// writeRandomly writes data in pieces of random sizes.
func writeRandomly(t *testing.T, w io.Writer, data []byte, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed))
	for len(data) > 0 {
		k := min(len(data), 1+rng.IntN(100<<10))
		n, err := w.Write(data[:k])
		require.NoError(t, err)
		require.Equal(t, k, n)
		data = data[k:]
	}
}

func randomBytes(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func finish(t testing.TB, s *Stream) (Result, error) {
	t.Helper()
	require.NoError(t, s.Close())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return s.Wait(ctx)
}

func TestStreamDeliversEveryByteOnce(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name     string
		size     int
		opts     Options
		faultFn  func(n int) fault
		maxStore int
	}{
		{name: "clean"},
		{name: "small buffer", size: 200 << 10, opts: Options{BufferSize: 1000, ChunkSize: 300, FlushSize: 100}},
		{name: "server errors", faultFn: func(n int) fault {
			return []fault{faultNone, faultError, faultUnavailable}[n%3]
		}},
		{name: "answers lost after storing", faultFn: func(n int) fault {
			if n%2 == 0 {
				return faultDropAfter
			}
			return faultNone
		}},
		{name: "server stores part of each chunk", size: 300 << 10, maxStore: 1000},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, client := newPeer(t, true)
			p.faultFunc = tt.faultFn
			p.maxStore = tt.maxStore
			opts := quickOptions()
			if tt.opts.BufferSize > 0 {
				opts.BufferSize, opts.ChunkSize, opts.FlushSize = tt.opts.BufferSize, tt.opts.ChunkSize, tt.opts.FlushSize
			}
			s := New(client, 42, 1, opts)

			size := 3<<20 + 17
			if tt.size > 0 {
				size = tt.size
			}
			data := randomBytes(size, uint64(i))
			writeRandomly(t, s, data, uint64(i))
			res, err := finish(t, s)
			require.NoError(t, err)

			want := sha256.Sum256(data)
			require.Equal(t, int64(len(data)), res.Length)
			require.Equal(t, hex.EncodeToString(want[:]), res.SHA256)
			length, sum, got := p.snapshot()
			require.Equal(t, res.Length, length)
			require.Equal(t, res.SHA256, sum)
			require.True(t, bytes.Equal(data, got), "the server's log differs from what was written")
			require.Zero(t, s.Buffered())
		})
	}
}

// TestStreamChunking checks the sending policy: output after a quiet spell at
// once, later small output no sooner than MinInterval after the last upload, a
// chunk as soon as FlushSize bytes wait, and chunks of up to ChunkSize when more
// waits.
func TestStreamChunking(t *testing.T) {
	t.Parallel()

	t.Run("a line after a quiet spell goes out at once", func(t *testing.T) {
		t.Parallel()
		p, client := newPeer(t, true)
		s := New(client, 42, 1, Options{MinInterval: time.Hour})
		_, err := s.Write([]byte("hello\n"))
		require.NoError(t, err)
		require.Eventually(t, func() bool { n, _, _ := p.snapshot(); return n == 6 }, 5*time.Second, time.Millisecond,
			"the first line waited for the interval")
		// The next small write waits for the interval (an hour here), until Close.
		_, err = s.Write([]byte("world\n"))
		require.NoError(t, err)
		time.Sleep(50 * time.Millisecond) // nothing goes out for a while: the duration is the test
		n, _, _ := p.snapshot()
		require.Equal(t, int64(6), n, "small output went out before the interval")
		res, err := finish(t, s)
		require.NoError(t, err)
		require.Equal(t, int64(12), res.Length)
	})

	t.Run("64 KiB go out at once", func(t *testing.T) {
		t.Parallel()
		p, client := newPeer(t, false)
		s := New(client, 42, 1, Options{MinInterval: time.Hour})
		_, err := s.Write(make([]byte, 100))
		require.NoError(t, err)
		require.Eventually(t, func() bool { n, _, _ := p.snapshot(); return n == 100 }, 5*time.Second, time.Millisecond)
		_, err = s.Write(make([]byte, 100))
		require.NoError(t, err)
		time.Sleep(50 * time.Millisecond) // nothing goes out for a while: the duration is the test
		n, _, _ := p.snapshot()
		require.Equal(t, int64(100), n, "sent before the interval or the flush size")
		_, err = s.Write(make([]byte, DefaultFlushSize))
		require.NoError(t, err)
		require.Eventually(t, func() bool { n, _, _ := p.snapshot(); return n == DefaultFlushSize+200 },
			5*time.Second, time.Millisecond)
		_, err = finish(t, s)
		require.NoError(t, err)
	})

	t.Run("a backlog goes out in chunks of ChunkSize", func(t *testing.T) {
		t.Parallel()
		p, client := newPeer(t, false)
		p.hold = make(chan struct{})
		s := New(client, 42, 1, Options{})
		// The first chunk is held by the server while 5 MiB pile up behind it.
		_, err := s.Write(make([]byte, DefaultFlushSize))
		require.NoError(t, err)
		require.Eventually(t, func() bool { return p.started.Load() == 1 }, 5*time.Second, time.Millisecond)
		_, err = s.Write(make([]byte, 5<<20))
		require.NoError(t, err)
		close(p.hold)
		res, err := finish(t, s)
		require.NoError(t, err)
		require.Equal(t, int64(DefaultFlushSize+5<<20), res.Length)
		p.mu.Lock()
		defer p.mu.Unlock()
		require.Equal(t, DefaultFlushSize, p.chunks[0])
		for _, c := range p.chunks[1 : len(p.chunks)-1] {
			require.Equal(t, DefaultChunkSize, c)
		}
	})
}

// TestStreamBackpressure checks that a full buffer blocks the writer instead of
// growing or dropping, and that everything arrives once the server is back.
func TestStreamBackpressure(t *testing.T) {
	t.Parallel()

	p, client := newPeer(t, true)
	var down sync.Mutex
	down.Lock() // the server is away until unlocked
	p.faultFunc = func(int) fault {
		if down.TryLock() {
			down.Unlock()
			return faultNone
		}
		return faultError
	}
	s := New(client, 42, 1, Options{BufferSize: 64 << 10, RetryMin: time.Millisecond, RetryMax: 10 * time.Millisecond})

	data := randomBytes(1<<20, 3)
	wrote := make(chan int64, 1)
	var written sync.Mutex
	var n int64
	go func() {
		for i := 0; i < len(data); i += 1000 {
			_, _ = s.Write(data[i:min(i+1000, len(data))])
			written.Lock()
			n = int64(min(i+1000, len(data)))
			written.Unlock()
		}
		wrote <- n
	}()
	// The writer fills the buffer (so a slow start cannot pass for blocking) ...
	require.Eventually(t, func() bool {
		written.Lock()
		defer written.Unlock()
		return n >= 60<<10
	}, 10*time.Second, time.Millisecond, "the writer never filled the buffer")
	// ... and stays there: a while of it is what is tested.
	time.Sleep(200 * time.Millisecond)
	written.Lock()
	blockedAt := n
	written.Unlock()
	require.LessOrEqual(t, blockedAt, int64(64<<10), "the writer went past the buffer while the server was away")
	require.Equal(t, 64<<10, s.Buffered())

	down.Unlock()
	require.Equal(t, int64(len(data)), <-wrote)
	res, err := finish(t, s)
	require.NoError(t, err)
	_, sum, got := p.snapshot()
	require.Equal(t, res.SHA256, sum)
	require.True(t, bytes.Equal(data, got))
}

func TestStreamGone(t *testing.T) {
	t.Parallel()

	p, client := newPeer(t, false)
	p.faultFunc = func(n int) fault {
		if n >= 3 {
			return faultGone
		}
		return faultNone
	}
	s := New(client, 42, 1, Options{BufferSize: 128 << 10, MinInterval: time.Millisecond})
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Far more than the buffer: writes must not block once the stream is gone.
		for range 100 {
			_, _ = s.Write(make([]byte, 64<<10))
		}
	}()
	select {
	case <-s.Gone():
	case <-time.After(10 * time.Second):
		t.Fatal("no Gone after 410")
	}
	<-done
	_, err := finish(t, s)
	require.ErrorIs(t, err, ErrGone)
}

func TestStreamCancel(t *testing.T) {
	t.Parallel()

	p, client := newPeer(t, false)
	p.cancelAt = 10
	s := New(client, 42, 1, Options{MinInterval: time.Millisecond})
	_, err := s.Write([]byte("12345"))
	require.NoError(t, err)
	time.Sleep(20 * time.Millisecond) // no cancel for a while: the duration is the test
	select {
	case <-s.Cancelled():
		t.Fatal("cancelled too early")
	default:
	}
	_, err = s.Write([]byte("67890"))
	require.NoError(t, err)
	select {
	case <-s.Cancelled():
	case <-time.After(5 * time.Second):
		t.Fatal("no Cancelled after the server said cancel")
	}
	res, err := finish(t, s)
	require.NoError(t, err)
	require.Equal(t, int64(10), res.Length)
}

// TestStreamLostBytes checks that a server that lost acknowledged bytes (416 with
// a length below what it acknowledged) ends the stream with an error rather than a
// loop, and that the job's writes still go through.
func TestStreamLostBytes(t *testing.T) {
	t.Parallel()

	p, client := newPeer(t, false)
	s := New(client, 42, 1, Options{MinInterval: time.Millisecond})
	_, err := s.Write([]byte("hello"))
	require.NoError(t, err)
	require.Eventually(t, func() bool { n, _, _ := p.snapshot(); return n == 5 }, 5*time.Second, time.Millisecond)
	p.mu.Lock()
	p.length = 2
	p.mu.Unlock()
	_, err = s.Write([]byte(" world"))
	require.NoError(t, err)
	res, err := finish(t, s)
	require.ErrorContains(t, err, "acknowledged 5")
	require.Equal(t, int64(11), res.Length)
}

func TestStreamAbort(t *testing.T) {
	t.Parallel()

	p, client := newPeer(t, false)
	p.faultFunc = func(int) fault { return faultError }
	s := New(client, 42, 1, Options{BufferSize: 1 << 10, MinInterval: time.Millisecond})
	go func() {
		time.Sleep(50 * time.Millisecond)
		s.Abort()
	}()
	// Blocks on the full buffer until Abort.
	_, err := s.Write(make([]byte, 10<<10))
	require.NoError(t, err)
	_, err = finish(t, s)
	require.ErrorIs(t, err, ErrAborted)
}

// streamBytes streams n bytes from `head -c n /dev/zero` to the in-process peer
// through a child process: this test binary again, running TestHelperRunner, which
// does what the runner does with a job's output (masker, Stream, HTTP client) and
// nothing else, so that its memory figures are the runner side's alone.
func streamBytes(t testing.TB, n int64) (mbPerSecond float64, maxHeap, maxRSS uint64) {
	t.Helper()
	p, _ := newPeer(t, false)
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)

	start := time.Now()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperRunner$", "-test.v")
	cmd.Env = append(os.Environ(), "AURA_HELPER_SERVER="+srv.URL, "AURA_HELPER_BYTES="+strconv.FormatInt(n, 10))
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	elapsed := time.Since(start)

	var res Result
	for line := range strings.SplitSeq(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "HELPER "); ok {
			_, err := fmt.Sscanf(rest, "%d %s %d %d", &res.Length, &res.SHA256, &maxHeap, &maxRSS)
			require.NoError(t, err)
		}
	}
	length, sum, _ := p.snapshot()
	require.Equal(t, n, res.Length, "%s", out)
	require.Equal(t, n, length)
	require.Equal(t, res.SHA256, sum)
	return float64(n) / 1e6 / elapsed.Seconds(), maxHeap, maxRSS
}

// TestHelperRunner is the runner side of streamBytes; it does nothing unless
// started by it.
func TestHelperRunner(t *testing.T) {
	t.Parallel()

	url := os.Getenv("AURA_HELPER_SERVER")
	if url == "" {
		t.Skip("started by streamBytes only")
	}
	n := os.Getenv("AURA_HELPER_BYTES")
	client, err := apiclient.NewClientWithResponses(url,
		apiclient.WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
			req.Header.Set("Authorization", "Bearer AURA_RUNNERKEY_test-x")
			return nil
		}))
	require.NoError(t, err)
	s := New(client, 42, 1, Options{})
	masked := mask.NewWriter(s, []string{"hunter2", "AURA_JOBKEY_42_1_secret"})

	var maxHeap, maxRSS uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			maxHeap = max(maxHeap, ms.HeapInuse)
			maxRSS = max(maxRSS, residentBytes())
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()

	cmd := exec.Command("head", "-c", n, "/dev/zero")
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	_, err = io.CopyBuffer(masked, out, make([]byte, 32<<10))
	require.NoError(t, err)
	require.NoError(t, cmd.Wait())
	require.NoError(t, masked.Close())
	res, err := finish(t, s)
	require.NoError(t, err)
	close(stop)
	<-sampled
	fmt.Printf("HELPER %d %s %d %d\n", res.Length, res.SHA256, maxHeap, maxRSS)
}

// residentBytes reads the process's resident set size from /proc (0 elsewhere).
func residentBytes() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// TestStreamMemoryFlat streams 1 GB (100 MB with -short; AURA_TEST_LOG_BYTES sets
// another size) from a real process through a runner-side child process and fails
// if that process's memory grows past what its buffers account for.
func TestStreamMemoryFlat(t *testing.T) {
	t.Parallel()

	n := int64(1_000_000_000)
	if testing.Short() {
		n = 100_000_000
	}
	if v := os.Getenv("AURA_TEST_LOG_BYTES"); v != "" {
		var err error
		n, err = strconv.ParseInt(v, 10, 64)
		require.NoError(t, err)
	}
	rate, heap, rss := streamBytes(t, n)
	t.Logf("streamed %d bytes at %.0f MB/s; runner side: max heap in use %.1f MiB, max RSS %.1f MiB",
		n, rate, float64(heap)/(1<<20), float64(rss)/(1<<20))
	if raceEnabled {
		return // the race detector's shadow memory makes the figures meaningless
	}
	require.Less(t, heap, uint64(32<<20), "heap grew while streaming")
	require.Less(t, rss, uint64(50<<20), "resident size grew while streaming")
}

// BenchmarkStream measures the upload throughput of a job's output against the
// in-process peer and the runner side's memory:
//
//	go test -run '^$' -bench Stream ./runner/internal/logstream/
func BenchmarkStream(b *testing.B) {
	const n = 1_000_000_000
	b.SetBytes(n)
	var heap, rss uint64
	for b.Loop() {
		_, h, r := streamBytes(b, n)
		heap, rss = max(heap, h), max(rss, r)
	}
	b.ReportMetric(float64(heap)/(1<<20), "MiB-heap")
	b.ReportMetric(float64(rss)/(1<<20), "MiB-rss")
}

// BenchmarkLineLatency measures how long a line the job prints takes to reach the
// server (the in-process peer over loopback): lines after a quiet spell, and
// lines in a stream of one every millisecond, which are coalesced.
//
//	go test -run '^$' -bench LineLatency ./runner/internal/logstream/
func BenchmarkLineLatency(b *testing.B) {
	for _, gap := range []time.Duration{30 * time.Millisecond, time.Millisecond} {
		b.Run("every "+gap.String(), func(b *testing.B) {
			p, client := newPeer(b, false)
			s := New(client, 42, 1, Options{})
			var ds []time.Duration
			var written int64
			for b.Loop() {
				began := time.Now()
				_, _ = s.Write([]byte("a line of the job's output\n"))
				written += 27
				for {
					n, _, _ := p.snapshot()
					if n >= written {
						break
					}
					time.Sleep(50 * time.Microsecond)
				}
				ds = append(ds, time.Since(began))
				time.Sleep(gap - min(gap, time.Since(began))) // the pace of output is what is measured
			}
			_, _ = finish(b, s)
			slices.Sort(ds)
			b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, "p50_ms")
			b.ReportMetric(float64(ds[len(ds)*95/100].Microseconds())/1000, "p95_ms")
			b.ReportMetric(0, "ns/op")
		})
	}
}
