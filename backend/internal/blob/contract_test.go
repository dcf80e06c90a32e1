package blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testContract checks what every Store promises; each implementation's test calls it.
func testContract(t *testing.T, s Store) {
	t.Run("PutOpenStat", func(t *testing.T) { testPutOpenStat(t, s) })
	t.Run("Range", func(t *testing.T) { testRange(t, s) })
	t.Run("ListDelete", func(t *testing.T) { testListDelete(t, s) })
	t.Run("InterruptedPut", func(t *testing.T) { testInterruptedPut(t, s) })
	t.Run("InvalidKeys", func(t *testing.T) { testInvalidKeys(t, s) })
	t.Run("ConcurrentPuts", func(t *testing.T) { testConcurrentPuts(t, s) })
	t.Run("LargeStream", func(t *testing.T) { testLargeStream(t, s) })
}

func put(t *testing.T, s Store, key, body string, size int64) {
	t.Helper()
	if err := s.Put(t.Context(), key, strings.NewReader(body), size); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

func read(t *testing.T, s Store, key string, offset, length int64) string {
	t.Helper()
	rc, err := s.Open(t.Context(), key, offset, length)
	if err != nil {
		t.Fatalf("open %s %d %d: %v", key, offset, length, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s %d %d: %v", key, offset, length, err)
	}
	return string(b)
}

func keys(t *testing.T, s Store, prefix string) []string {
	t.Helper()
	infos, err := s.List(t.Context(), prefix)
	if err != nil {
		t.Fatalf("list %q: %v", prefix, err)
	}
	var out []string
	for _, i := range infos {
		out = append(out, i.Key)
	}
	return out
}

func testPutOpenStat(t *testing.T, s Store) {
	before := time.Now().Add(-time.Minute)
	put(t, s, "pos/a/b/c.txt", "hello, world", 12)
	put(t, s, "pos/unknown-size", "streamed", -1)
	put(t, s, "pos/empty", "", 0)
	if got := read(t, s, "pos/a/b/c.txt", 0, -1); got != "hello, world" {
		t.Fatalf("read back %q", got)
	}
	if got := read(t, s, "pos/unknown-size", 0, -1); got != "streamed" {
		t.Fatalf("read back %q", got)
	}
	if got := read(t, s, "pos/empty", 0, -1); got != "" {
		t.Fatalf("read back %q", got)
	}
	info, err := s.Stat(t.Context(), "pos/a/b/c.txt")
	if err != nil {
		t.Fatal(err)
	}
	if info.Key != "pos/a/b/c.txt" || info.Size != 12 || info.ModTime.Before(before) || info.ModTime.After(time.Now().Add(time.Minute)) {
		t.Fatalf("stat: %+v", info)
	}
	// A second Put replaces the object.
	put(t, s, "pos/a/b/c.txt", "replaced", 8)
	if got := read(t, s, "pos/a/b/c.txt", 0, -1); got != "replaced" {
		t.Fatalf("after replace %q", got)
	}
	for _, missing := range []string{"pos/nope", "pos/a", "pos/a/b", "pos/a/b/c.txt/d"} {
		if _, err := s.Open(t.Context(), missing, 0, -1); !errors.Is(err, ErrNotFound) {
			t.Errorf("open %s: %v, want ErrNotFound", missing, err)
		}
		if _, err := s.Stat(t.Context(), missing); !errors.Is(err, ErrNotFound) {
			t.Errorf("stat %s: %v, want ErrNotFound", missing, err)
		}
	}
}

func testRange(t *testing.T, s Store) {
	put(t, s, "range/digits", "0123456789", 10)
	for _, c := range []struct {
		offset, length int64
		want           string
	}{
		{0, -1, "0123456789"},
		{3, -1, "3456789"},
		{3, 4, "3456"},
		{0, 1, "0"},
		{9, 1, "9"},
		{8, 100, "89"},
		{4, 0, ""},
		{10, -1, ""},
		{10, 5, ""},
		{25, -1, ""},
	} {
		if got := read(t, s, "range/digits", c.offset, c.length); got != c.want {
			t.Errorf("range %d+%d: %q, want %q", c.offset, c.length, got, c.want)
		}
	}
	if _, err := s.Open(t.Context(), "range/digits", -1, 2); err == nil {
		t.Error("negative offset accepted")
	}
	if _, err := s.Open(t.Context(), "range/missing", 2, 2); !errors.Is(err, ErrNotFound) {
		t.Errorf("ranged open of a missing key: %v", err)
	}
}

func testListDelete(t *testing.T, s Store) {
	for _, k := range []string{"ls/b", "ls/a/2", "ls/a/1", "ls/a.txt", "ls/ab/x", "lsx/other"} {
		put(t, s, k, k, -1)
	}
	want := []string{"ls/a.txt", "ls/a/1", "ls/a/2", "ls/ab/x", "ls/b"}
	if got := keys(t, s, "ls/"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("list ls/: %q, want %q", got, want)
	}
	if got := keys(t, s, "ls/a"); fmt.Sprint(got) != fmt.Sprint(want[:4]) {
		t.Fatalf("list ls/a: %q", got)
	}
	if got := keys(t, s, "ls/a/"); fmt.Sprint(got) != "[ls/a/1 ls/a/2]" {
		t.Fatalf("list ls/a/: %q", got)
	}
	if got := keys(t, s, "ls/nothing/"); len(got) != 0 {
		t.Fatalf("list of an empty prefix: %q", got)
	}
	infos, err := s.List(t.Context(), "ls/a/1")
	if err != nil || len(infos) != 1 || infos[0].Size != int64(len("ls/a/1")) {
		t.Fatalf("list one: %+v %v", infos, err)
	}
	for _, k := range []string{"ls/a/1", "ls/a/2", "ls/a/2", "ls/never"} {
		if err := s.Delete(t.Context(), k); err != nil {
			t.Fatalf("delete %s: %v", k, err)
		}
	}
	if got := keys(t, s, "ls/"); fmt.Sprint(got) != "[ls/a.txt ls/ab/x ls/b]" {
		t.Fatalf("after delete: %q", got)
	}
	if _, err := s.Stat(t.Context(), "ls/a/1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("stat deleted: %v", err)
	}
	// A key may be stored again where a deleted one's folder was.
	put(t, s, "ls/a", "now a file", -1)
	if got := read(t, s, "ls/a", 0, -1); got != "now a file" {
		t.Fatalf("reuse: %q", got)
	}
}

// failingReader yields n bytes and then fails.
type failingReader struct{ n int }

var errBroken = errors.New("connection reset by test")

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errBroken
	}
	p = p[:min(len(p), f.n)]
	for i := range p {
		p[i] = 'x'
	}
	f.n -= len(p)
	return len(p), nil
}

func testInterruptedPut(t *testing.T, s Store) {
	ctx := t.Context()
	const size = 3 << 20 // more than one S3 part would hold if parts were tiny
	check := func(name string, err error, key string) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: Put succeeded", name)
		}
		if _, err := s.Stat(ctx, key); !errors.Is(err, ErrNotFound) {
			t.Fatalf("%s: after a failed put, stat says %v", name, err)
		}
		if got := keys(t, s, "int/"); len(got) != 0 {
			t.Fatalf("%s: after a failed put, list shows %q", name, got)
		}
	}
	check("failing reader, known size", s.Put(ctx, "int/a", &failingReader{n: size / 2}, size), "int/a")
	check("failing reader, unknown size", s.Put(ctx, "int/a", &failingReader{n: size / 2}, -1), "int/a")
	check("short reader", s.Put(ctx, "int/a", io.LimitReader(&failingReader{n: size}, size/2), size), "int/a")
	check("long reader", s.Put(ctx, "int/a", strings.NewReader("four"), 3), "int/a")
	cancelled, cancel := context.WithCancel(ctx)
	cancelReader := readerFunc(func(p []byte) (int, error) {
		cancel()
		return copy(p, "y"), nil
	})
	check("cancelled", s.Put(cancelled, "int/a", cancelReader, -1), "int/a")

	// A retry succeeds.
	body := bytes.Repeat([]byte("r"), size)
	if err := s.Put(ctx, "int/a", bytes.NewReader(body), size); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if got := read(t, s, "int/a", 0, -1); got != string(body) {
		t.Fatalf("retry read %d bytes", len(got))
	}
	// A failed replacement keeps the old object whole.
	if err := s.Put(ctx, "int/a", &failingReader{n: 10}, -1); err == nil {
		t.Fatal("failing replacement succeeded")
	}
	if got := read(t, s, "int/a", 0, -1); got != string(body) {
		t.Fatalf("after a failed replacement: %d bytes", len(got))
	}
	if got := keys(t, s, "int/"); fmt.Sprint(got) != "[int/a]" {
		t.Fatalf("after a failed replacement, list shows %q", got)
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

func testInvalidKeys(t *testing.T, s Store) {
	ctx := t.Context()
	for _, k := range []string{"", "/abs", "a/../b", "..", "../x", "a/./b", ".", "a//b", "a/", "nul\x00byte", `a\b`, "a/" + tempPrefix + "x"} {
		if err := s.Put(ctx, k, strings.NewReader("x"), 1); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("put %q: %v, want ErrInvalidKey", k, err)
		}
		if _, err := s.Open(ctx, k, 0, -1); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("open %q: %v, want ErrInvalidKey", k, err)
		}
		if _, err := s.Stat(ctx, k); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("stat %q: %v, want ErrInvalidKey", k, err)
		}
		if err := s.Delete(ctx, k); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("delete %q: %v, want ErrInvalidKey", k, err)
		}
	}
	if _, err := s.List(ctx, "../"); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("list ../: %v", err)
	}
	// Unusual but valid names work.
	for _, k := range []string{"dots/..a", "dots/a..", "dots/.hidden", "dots/with space/é ü", "dots/a:b"} {
		put(t, s, k, k, -1)
		if got := read(t, s, k, 0, -1); got != k {
			t.Errorf("read %q: %q", k, got)
		}
	}
}

func testConcurrentPuts(t *testing.T, s Store) {
	const writers, size = 8, 1 << 20
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		wg.Go(func() {
			body := bytes.Repeat([]byte{byte('a' + i)}, size)
			errs[i] = s.Put(t.Context(), "conc/same", bytes.NewReader(body), size)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("writer %d: %v", i, err)
		}
	}
	got := read(t, s, "conc/same", 0, -1)
	if len(got) != size || strings.Count(got, got[:1]) != size {
		t.Fatalf("concurrent puts mixed: %d bytes starting %q", len(got), got[:min(len(got), 8)])
	}
	if k := keys(t, s, "conc/"); fmt.Sprint(k) != "[conc/same]" {
		t.Fatalf("leftovers: %q", k)
	}
}

// patternReader yields size deterministic, non-repeating-looking bytes without holding them.
type patternReader struct {
	pos, size int64
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.pos >= p.size {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), p.size-p.pos)]
	for i := range b {
		x := uint64(p.pos + int64(i))
		b[i] = byte((x * 0x9E3779B97F4A7C15) >> 56)
	}
	p.pos += int64(len(b))
	return len(b), nil
}

// heapWatch samples the live heap until stopped and reports the peak above the start.
func heapWatch() (stop func() uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > base && ms.HeapInuse-base > peak.Load() {
				peak.Store(ms.HeapInuse - base)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-finished
		return peak.Load()
	}
}

// testLargeStream stores and reads back an object far bigger than the heap
// may grow, once with its size known and once without.
func testLargeStream(t *testing.T, s Store) {
	size := int64(256 << 20)
	if testing.Short() {
		size = 32 << 20
	}
	const maxGrowth = 64 << 20
	want := sha256.New()
	if _, err := io.Copy(want, &patternReader{size: size}); err != nil {
		t.Fatal(err)
	}
	for _, known := range []bool{true, false} {
		key := fmt.Sprintf("large/known-%v", known)
		arg := int64(-1)
		if known {
			arg = size
		}
		stop := heapWatch()
		start := time.Now()
		if err := s.Put(t.Context(), key, &patternReader{size: size}, arg); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
		putTime := time.Since(start)
		rc, err := s.Open(t.Context(), key, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		got := sha256.New()
		n, err := io.Copy(got, rc)
		rc.Close()
		if err != nil || n != size {
			t.Fatalf("read %s: %d bytes, %v", key, n, err)
		}
		growth := stop()
		if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
			t.Fatalf("%s came back different", key)
		}
		t.Logf("%s: %d MiB put in %v, heap grew at most %d KiB", key, size>>20, putTime.Round(time.Millisecond), growth>>10)
		if growth > maxGrowth {
			t.Fatalf("%s: heap grew %d MiB while streaming %d MiB", key, growth>>20, size>>20)
		}
		if err := s.Delete(t.Context(), key); err != nil {
			t.Fatal(err)
		}
	}
}
