package logpack_test

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/logpack"
)

type span struct {
	off  int64
	data []byte
	t    time.Time
}

// pack packs chunks and returns the object and its index, read back from its binary form.
func pack(t *testing.T, chunks []span) ([]byte, *logpack.Index) {
	var obj bytes.Buffer
	w := logpack.NewWriter(&obj)
	for _, c := range chunks {
		require.NoError(t, w.Add(c.off, c.data, c.t))
	}
	ix, size, sum, err := w.Close()
	require.NoError(t, err)
	require.Equal(t, int64(obj.Len()), size)
	require.Len(t, sum, 64)
	b, err := ix.MarshalBinary()
	require.NoError(t, err)
	var back logpack.Index
	require.NoError(t, back.UnmarshalBinary(b))
	require.Equal(t, ix.Chunks, back.Chunks)
	return obj.Bytes(), &back
}

func opener(obj []byte, reads *int) logpack.OpenFunc {
	return func(_ context.Context, off, n int64) (io.ReadCloser, error) {
		*reads++
		return io.NopCloser(bytes.NewReader(obj[off : off+n])), nil
	}
}

// TestReadRanges reads every kind of range of a log of several blocks with a
// gap and checks bytes, offsets and times against the chunks.
func TestReadRanges(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)
	var chunks []span
	var off int64
	for i := range 40 {
		data := make([]byte, rng.IntN(200<<10)+1)
		for j := range data {
			data[j] = byte('a' + rng.IntN(3))
		}
		if i == 25 {
			off += 12345 // a gap, as the log limit leaves
		}
		chunks = append(chunks, span{off, data, start.Add(time.Duration(i) * time.Second)})
		off += int64(len(data))
	}
	obj, ix := pack(t, chunks)
	require.Equal(t, off, ix.Length())
	require.Greater(t, len(ix.Blocks), 3)
	// want gives the pieces of [from, to) from the chunks themselves.
	want := func(from, to int64) []span {
		var out []span
		for _, c := range chunks {
			s, e := max(from, c.off), min(to, c.off+int64(len(c.data)))
			if s < e {
				out = append(out, span{s, c.data[s-c.off : e-c.off], c.t})
			}
		}
		return out
	}
	for _, r := range [][2]int64{{0, off}, {0, 1}, {off - 1, off}, {off - 64<<10, off}, {1 << 20, 3<<20 + 7},
		{chunks[25].off - 5000, chunks[25].off + 10}, {chunks[25].off - 5, chunks[25].off - 1}, {off, off + 10}} {
		var got []span
		reads, last := 0, -1
		err := ix.Read(context.Background(), opener(obj, &reads), r[0], r[1], func(c int, o int64, d []byte) error {
			tm := ix.Chunks[c].Time
			if n := len(got); c == last {
				require.Equal(t, got[n-1].off+int64(len(got[n-1].data)), o)
				got[n-1].data = append(got[n-1].data, d...) // one chunk cut by a block border
				return nil
			}
			got, last = append(got, span{o, bytes.Clone(d), tm}), c
			return nil
		})
		require.NoError(t, err)
		w := want(r[0], r[1])
		require.Equal(t, len(w), len(got), "range %v", r)
		for i := range w {
			require.Equal(t, w[i].off, got[i].off)
			require.True(t, w[i].t.Equal(got[i].t))
			require.True(t, bytes.Equal(w[i].data, got[i].data), "range %v piece %d", r, i)
		}
		require.LessOrEqual(t, reads, 1, "one read of the object per range")
	}
}

// TestIndexDamaged refuses an index that does not describe its blocks.
func TestIndexDamaged(t *testing.T) {
	t.Parallel()
	_, ix := pack(t, []span{{0, []byte("hello"), time.Now().Truncate(time.Microsecond).UTC()}})
	b, _ := ix.MarshalBinary()
	for _, bad := range [][]byte{nil, {9}, b[:len(b)-1], append(bytes.Clone(b), 1)} {
		var back logpack.Index
		require.Error(t, back.UnmarshalBinary(bad))
	}
}
