package integrations

import (
	"errors"
	"io"
	"sync"
)

// DefaultBodyBudget bounds the bytes held, server-wide, by webhook bodies being
// read or handled: sixteen bodies of the largest size.
const DefaultBodyBudget = 16 * MaxBodyBytes

// ErrBudget means the server holds as many webhook bytes as it may: the
// delivery is refused (and retried by the forge) rather than queued in memory.
var ErrBudget = errors.New("the server is receiving too many webhook bodies at once; retry later")

// ErrTooLarge means a body is over MaxBodyBytes.
var ErrTooLarge = errors.New("webhook body is larger than 4 MiB")

// Budget is a semaphore of bytes: what unfinished webhook bodies may hold in
// total. It never waits: a reader that finds it full fails at once.
type Budget struct {
	mu   sync.Mutex
	free int64
}

// NewBudget returns a Budget of n bytes.
func NewBudget(n int64) *Budget { return &Budget{free: n} }

func (b *Budget) tryAcquire(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n > b.free {
		return false
	}
	b.free -= n
	return true
}

func (b *Budget) release(n int64) {
	b.mu.Lock()
	b.free += n
	b.mu.Unlock()
}

// Free reports how many bytes are not held.
func (b *Budget) Free() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.free
}

// ReadBody reads a body of at most MaxBodyBytes, holding budget for every byte
// of buffer it grows (never for what the sender only announced, so a
// Content-Length that never arrives costs nothing). The returned release gives
// the bytes back; call it once the body is no longer needed, also on error.
func (b *Budget) ReadBody(r io.Reader) (body []byte, release func(), err error) {
	var held int64
	release = func() {
		b.release(held)
		held = 0
	}
	buf := []byte{}
	for {
		if len(buf) == cap(buf) {
			if len(buf) > MaxBodyBytes {
				return nil, release, ErrTooLarge
			}
			size := min(max(2*int64(cap(buf)), 32<<10), MaxBodyBytes+1)
			if !b.tryAcquire(size - int64(cap(buf))) {
				return nil, release, ErrBudget
			}
			held += size - int64(cap(buf))
			grown := make([]byte, len(buf), size)
			copy(grown, buf)
			buf = grown
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			if len(buf) > MaxBodyBytes {
				return nil, release, ErrTooLarge
			}
			return buf, release, nil
		}
		if err != nil {
			return nil, release, err
		}
	}
}
