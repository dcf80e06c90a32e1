package logpack_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/aura-ci/aura/backend/internal/logpack"
)

// fileOpener reads obj as a file would: a range past its end reads short,
// rather than failing at once.
func fileOpener(obj []byte) logpack.OpenFunc {
	return func(_ context.Context, off, n int64) (io.ReadCloser, error) {
		if off < 0 || n < 0 {
			return nil, errors.New("negative range")
		}
		return io.NopCloser(io.NewSectionReader(bytes.NewReader(obj), off, n)), nil
	}
}

// FuzzIndexRead decodes a damaged index and reads a damaged archive with it:
// an error, never a panic or a huge allocation; a decoded index encodes back
// to itself; what a read yields lies in the range asked, in order.
func FuzzIndexRead(f *testing.F) {
	var obj bytes.Buffer
	w := logpack.NewWriter(&obj)
	t0 := time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)
	_ = w.Add(0, []byte("hello\n"), t0)
	_ = w.Add(10, bytes.Repeat([]byte("log line\n"), 40000), t0.Add(time.Second))
	ix, _, _, err := w.Close()
	if err != nil {
		f.Fatal(err)
	}
	b, _ := ix.MarshalBinary()
	f.Add(b, obj.Bytes(), int64(0), int64(1<<20))
	f.Add(b, obj.Bytes()[:100], int64(3), int64(300000))
	f.Add(b, []byte("not zstd at all"), int64(0), int64(10))
	f.Add([]byte{1, 0x80, 0x80, 0x04, 1, 0, 5, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x0f}, []byte{}, int64(0), int64(5))
	f.Add([]byte{1}, []byte{}, int64(-5), int64(-1))
	f.Add([]byte{}, []byte{}, int64(0), int64(0))
	f.Fuzz(func(t *testing.T, index, object []byte, from, to int64) {
		var ix logpack.Index
		if err := ix.UnmarshalBinary(index); err != nil {
			return
		}
		again, err := ix.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var back logpack.Index
		if err := back.UnmarshalBinary(again); err != nil {
			t.Fatalf("an index decoded from %x does not decode from its own encoding %x: %v", index, again, err)
		}
		if !bytes.Equal(again, mustMarshal(t, &back)) {
			t.Fatalf("encoding is not stable: %x", again)
		}
		if ix.Length() < ix.Stored() || ix.Stored() < 0 || ix.Size() < 0 {
			t.Fatalf("length %d, stored %d, size %d", ix.Length(), ix.Stored(), ix.Size())
		}
		// Read allocates a block's length: a decoded index keeps it near the block size.
		if ix.BlockSize > 64<<20 {
			t.Fatalf("block size %d", ix.BlockSize)
		}
		for _, n := range ix.Blocks {
			if n <= 0 || n > 2*ix.BlockSize+64<<10 {
				t.Fatalf("a block of %d bytes compressed, of %d", n, ix.BlockSize)
			}
		}
		next := from
		_ = ix.Read(context.Background(), fileOpener(object), from, to, func(chunk int, off int64, data []byte) error {
			if chunk < 0 || chunk >= len(ix.Chunks) || off < next || off+int64(len(data)) > to || len(data) == 0 {
				t.Fatalf("piece of chunk %d at %d (%d bytes) for [%d, %d) after %d", chunk, off, len(data), from, to, next)
			}
			next = off + int64(len(data))
			return nil
		})
	})
}

func mustMarshal(t *testing.T, ix *logpack.Index) []byte {
	b, err := ix.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzRoundTrip packs chunks cut from data (with gaps between them) and reads
// every range back: the bytes read are the bytes stored, at their offsets.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("hello\nworld\n"), []byte{3, 0, 4, 2}, int64(2), int64(9))
	f.Add(bytes.Repeat([]byte{0, 1, 2, 3}, 1000), []byte{255, 255, 1, 0}, int64(0), int64(1<<40))
	f.Fuzz(func(t *testing.T, data, cuts []byte, from, to int64) {
		var obj bytes.Buffer
		w := logpack.NewWriter(&obj)
		want := map[int64]byte{}
		var off int64
		rest := data
		t0 := time.Unix(1700000000, 0).UTC()
		for i := 0; len(rest) > 0; i++ {
			n, gap := len(rest), int64(0)
			if 2*i+1 < len(cuts) {
				n, gap = min(int(cuts[2*i])+1, len(rest)), int64(cuts[2*i+1])
			}
			off += gap
			if err := w.Add(off, rest[:n], t0.Add(time.Duration(i)*time.Millisecond)); err != nil {
				t.Fatal(err)
			}
			for j, c := range rest[:n] {
				want[off+int64(j)] = c
			}
			off += int64(n)
			rest = rest[n:]
		}
		ix, size, _, err := w.Close()
		if err != nil {
			t.Fatal(err)
		}
		if size != int64(obj.Len()) || ix.Length() != off || ix.Stored() != int64(len(data)) {
			t.Fatalf("size %d of %d, length %d of %d, stored %d of %d", size, obj.Len(), ix.Length(), off, ix.Stored(), len(data))
		}
		var back logpack.Index
		if err := back.UnmarshalBinary(mustMarshal(t, ix)); err != nil {
			t.Fatal(err)
		}
		got := 0
		err = back.Read(context.Background(), fileOpener(obj.Bytes()), from, to, func(_ int, at int64, piece []byte) error {
			for j, c := range piece {
				p := at + int64(j)
				if p < from || p >= to || want[p] != c {
					t.Fatalf("byte %d read as %q for [%d, %d)", p, c, from, to)
				}
				if _, ok := want[p]; !ok {
					t.Fatalf("byte %d is in a gap", p)
				}
			}
			got += len(piece)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		inRange := 0
		for p := range want {
			if p >= from && p < to {
				inRange++
			}
		}
		if got != inRange {
			t.Fatalf("read %d bytes of [%d, %d), %d stored there", got, from, to, inRange)
		}
	})
}
