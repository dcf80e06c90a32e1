// Package logpack is the format of an archived log: the log's stored bytes cut
// into blocks of BlockSize, each compressed on its own as one zstd frame and
// the frames written one after the other, plus an Index (kept apart, in
// PostgreSQL) of the log's chunks (offset, size, arrival time) and of each
// block's compressed length. A range of the log is read by fetching and
// decompressing only the blocks that hold it.
package logpack

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
)

// BlockSize is how many log bytes one compressed block holds. Build logs
// compressed as well in blocks of 256 KiB as of 1 MiB (2.9x both, in
// BenchmarkLogArchive), and a read of a log's tail then fetches and
// decompresses a quarter as much. An archive's index records its own size.
const BlockSize = 256 << 10

// The zstd encoder and decoder are safe for concurrent EncodeAll and
// DecodeAll calls, each on one goroutine. They are made at their first use: the
// encoder's tables alone take half a MiB, and a server that archives no log
// needs neither.
var (
	encoder = sync.OnceValue(func() *zstd.Encoder {
		e, _ := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedDefault))
		return e
	})
	decoder = sync.OnceValue(func() *zstd.Decoder {
		d, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(64<<20))
		return d
	})
)

// Chunk is one piece of the log as it was stored: its offset in the log, its
// size and when it arrived. Between two chunks there may be a gap (bytes the
// log limit dropped).
type Chunk struct {
	Offset int64
	Size   int64
	Time   time.Time
}

// Index says where a log's bytes are in its archive object.
type Index struct {
	Chunks    []Chunk
	BlockSize int64
	Blocks    []int64 // the compressed length of each block

	pos  []int64 // where each chunk's bytes start among the stored bytes
	offs []int64 // where each block starts in the object
}

// Length is where the log ends: the end of its last chunk.
func (ix *Index) Length() int64 {
	if len(ix.Chunks) == 0 {
		return 0
	}
	c := ix.Chunks[len(ix.Chunks)-1]
	return c.Offset + c.Size
}

// Stored is how many log bytes the archive holds.
func (ix *Index) Stored() int64 {
	var n int64
	for _, c := range ix.Chunks {
		n += c.Size
	}
	return n
}

const indexVersion = 1

// MarshalBinary encodes the index compactly: deltas as varints.
func (ix *Index) MarshalBinary() ([]byte, error) {
	b := []byte{indexVersion}
	b = binary.AppendUvarint(b, uint64(ix.BlockSize))
	b = binary.AppendUvarint(b, uint64(len(ix.Chunks)))
	var end, t int64
	for _, c := range ix.Chunks {
		b = binary.AppendUvarint(b, uint64(c.Offset-end))
		b = binary.AppendUvarint(b, uint64(c.Size))
		us := c.Time.UnixMicro()
		b = binary.AppendVarint(b, us-t)
		end, t = c.Offset+c.Size, us
	}
	b = binary.AppendUvarint(b, uint64(len(ix.Blocks)))
	for _, n := range ix.Blocks {
		b = binary.AppendUvarint(b, uint64(n))
	}
	return b, nil
}

var errIndex = errors.New("logpack: index is damaged")

// UnmarshalBinary decodes what MarshalBinary encoded.
func (ix *Index) UnmarshalBinary(b []byte) error {
	if len(b) == 0 || b[0] != indexVersion {
		return errIndex
	}
	b = b[1:]
	var bad bool
	uv := func() int64 {
		v, n := binary.Uvarint(b)
		if n <= 0 || v > 1<<62 {
			bad = true
			return 0
		}
		b = b[n:]
		return int64(v)
	}
	sv := func() int64 {
		v, n := binary.Varint(b)
		if n <= 0 {
			bad = true
			return 0
		}
		b = b[n:]
		return v
	}
	*ix = Index{BlockSize: uv()}
	n := uv()
	if bad || n > int64(len(b)) || ix.BlockSize <= 0 {
		return errIndex
	}
	ix.Chunks = make([]Chunk, n)
	var end, t int64
	for i := range ix.Chunks {
		off := end + uv()
		size := uv()
		t += sv()
		ix.Chunks[i] = Chunk{Offset: off, Size: size, Time: time.UnixMicro(t).UTC()}
		end = off + size
	}
	nb := uv()
	if bad || nb > int64(len(b)) {
		return errIndex
	}
	ix.Blocks = make([]int64, nb)
	for i := range ix.Blocks {
		ix.Blocks[i] = uv()
	}
	if bad || len(b) != 0 {
		return errIndex
	}
	return ix.prepare()
}

// maxBlockSize bounds an index's block size: the decoder takes no larger
// block (WithDecoderMaxMemory), and Read allocates what a block's length says.
const maxBlockSize = 64 << 20

// maxFrame is the most a block of n bytes compresses to (zstd's
// ZSTD_COMPRESSBOUND is n + n/256 + 64 at most), with room to spare.
func maxFrame(n int64) int64 { return n + n/128 + 1<<10 }

// prepare computes where chunks and blocks start and checks that the blocks
// hold the chunks' bytes. A damaged index (offsets that go back or overflow,
// an empty chunk, which Writer never adds, blocks longer than a block
// compresses to) is refused, so that Read never
// allocates or seeks what it says.
func (ix *Index) prepare() error {
	if ix.BlockSize <= 0 || ix.BlockSize > maxBlockSize {
		return errIndex
	}
	ix.pos = make([]int64, len(ix.Chunks))
	var stored, end int64
	for i, c := range ix.Chunks {
		if c.Offset < end || c.Size <= 0 || c.Size > math.MaxInt64-c.Offset || c.Size > math.MaxInt64-stored {
			return errIndex
		}
		ix.pos[i] = stored
		stored += c.Size
		end = c.Offset + c.Size
	}
	if want := (stored + ix.BlockSize - 1) / ix.BlockSize; int64(len(ix.Blocks)) != want {
		return errIndex
	}
	ix.offs = make([]int64, len(ix.Blocks))
	var off int64
	for i, n := range ix.Blocks {
		if n <= 0 || n > maxFrame(ix.BlockSize) {
			return errIndex
		}
		ix.offs[i] = off
		off += n
	}
	return nil
}

// Size is the archive object's size.
func (ix *Index) Size() int64 {
	var n int64
	for _, b := range ix.Blocks {
		n += b
	}
	return n
}

// Writer packs a log's chunks, in order, into an archive object written to w.
type Writer struct {
	w    io.Writer
	ix   Index
	buf  []byte
	zbuf []byte
	size int64
	sum  hash.Hash
}

// NewWriter returns a Writer writing the object to w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w, ix: Index{BlockSize: BlockSize}, sum: sha256.New()}
}

// Add appends a chunk of the log: data stored at offset, arrived at t.
// Offsets must grow; a chunk may start past the end of the one before (a gap).
func (w *Writer) Add(offset int64, data []byte, t time.Time) error {
	if offset < w.ix.Length() {
		return fmt.Errorf("logpack: chunk at %d overlaps the log's first %d bytes", offset, w.ix.Length())
	}
	if len(data) == 0 {
		return nil
	}
	w.ix.Chunks = append(w.ix.Chunks, Chunk{Offset: offset, Size: int64(len(data)), Time: t})
	for len(data) > 0 {
		n := min(len(data), int(w.ix.BlockSize)-len(w.buf))
		w.buf = append(w.buf, data[:n]...)
		data = data[n:]
		if len(w.buf) == int(w.ix.BlockSize) {
			if err := w.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *Writer) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	w.zbuf = encoder().EncodeAll(w.buf, w.zbuf[:0])
	w.buf = w.buf[:0]
	if _, err := w.w.Write(w.zbuf); err != nil {
		return err
	}
	w.sum.Write(w.zbuf)
	w.size += int64(len(w.zbuf))
	w.ix.Blocks = append(w.ix.Blocks, int64(len(w.zbuf)))
	return nil
}

// Close writes the last block and returns the index, the object's size and
// its SHA-256 (hex).
func (w *Writer) Close() (*Index, int64, string, error) {
	if err := w.flush(); err != nil {
		return nil, 0, "", err
	}
	ix := w.ix
	if err := ix.prepare(); err != nil {
		return nil, 0, "", err
	}
	return &ix, w.size, hex.EncodeToString(w.sum.Sum(nil)), nil
}

// OpenFunc reads length bytes of the archive object from offset.
type OpenFunc func(ctx context.Context, offset, length int64) (io.ReadCloser, error)

// Read calls fn with the log's bytes in [from, to) in order, a piece at a
// time: chunk is the index in Chunks of the chunk the piece is of, off where
// data starts in the log. A piece never spans two chunks (a chunk spanning
// blocks comes in several); a gap between chunks shows as off past the end of
// the piece before. data is valid only during the call. Only the blocks that
// hold the range are fetched, in one read of the object.
func (ix *Index) Read(ctx context.Context, open OpenFunc, from, to int64, fn func(chunk int, off int64, data []byte) error) error {
	if ix.pos == nil && len(ix.Chunks) > 0 {
		if err := ix.prepare(); err != nil {
			return err
		}
	}
	first := sort.Search(len(ix.Chunks), func(i int) bool { c := ix.Chunks[i]; return c.Offset+c.Size > from })
	last := sort.Search(len(ix.Chunks), func(i int) bool { return ix.Chunks[i].Offset >= to }) // past the last
	if first >= last {
		return nil
	}
	startPos := ix.pos[first] + max(from-ix.Chunks[first].Offset, 0)
	lc := ix.Chunks[last-1]
	endPos := ix.pos[last-1] + min(to, lc.Offset+lc.Size) - lc.Offset
	b0, b1 := startPos/ix.BlockSize, (endPos-1)/ix.BlockSize
	rc, err := open(ctx, ix.offs[b0], ix.offs[b1]+ix.Blocks[b1]-ix.offs[b0])
	if err != nil {
		return err
	}
	defer rc.Close()
	var zbuf, block []byte
	total := ix.Stored()
	blockAt := int64(-1) // the stored position block starts at
	nextBlock := b0
	// stored returns the stored bytes [p, p+n) that lie in one block, reading
	// blocks as needed; it may return fewer than n (the rest is in the next block).
	stored := func(p, n int64) ([]byte, error) {
		for blockAt < 0 || p >= blockAt+int64(len(block)) {
			if nextBlock > b1 {
				return nil, errIndex
			}
			size := ix.Blocks[nextBlock]
			if int64(cap(zbuf)) < size {
				zbuf = make([]byte, size)
			}
			zbuf = zbuf[:size]
			if _, err := io.ReadFull(rc, zbuf); err != nil {
				return nil, fmt.Errorf("logpack: read block %d: %w", nextBlock, err)
			}
			if block, err = decoder().DecodeAll(zbuf, block[:0]); err != nil {
				return nil, fmt.Errorf("logpack: block %d: %w", nextBlock, err)
			}
			// Every block holds BlockSize bytes but the last: a damaged one
			// that holds more or fewer would put bytes at the wrong offsets.
			blockAt = nextBlock * ix.BlockSize
			if int64(len(block)) != min(ix.BlockSize, total-blockAt) {
				return nil, fmt.Errorf("logpack: block %d holds %d bytes: %w", nextBlock, len(block), errIndex)
			}
			nextBlock++
		}
		at := p - blockAt
		return block[at:min(at+n, int64(len(block)))], nil
	}
	for i := first; i < last; i++ {
		c := ix.Chunks[i]
		off := max(from, c.Offset)
		end := min(to, c.Offset+c.Size)
		for off < end {
			data, err := stored(ix.pos[i]+off-c.Offset, end-off)
			if err != nil {
				return err
			}
			if err := fn(i, off, data); err != nil {
				return err
			}
			off += int64(len(data))
		}
	}
	return nil
}
