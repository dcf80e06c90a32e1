package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// ctxReader stops reading once ctx is done, so a cancelled Put ends promptly.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// errSizeMismatch reports a reader that gave fewer or more bytes than Put's size.
var errSizeMismatch = errors.New("blob: reader length differs from the given size")

// sized returns r unchanged for an unknown size (-1), and otherwise a reader
// that fails unless r yields exactly size bytes.
func sized(r io.Reader, size int64) io.Reader {
	if size < 0 {
		return r
	}
	return &exactReader{r: r, left: size, size: size}
}

// exactReader returns errors only with no data (some consumers, minio-go's
// among them, drop an error that comes with the last bytes they wanted), and
// withholds the last byte until it has made sure no byte follows, so a
// consumer that stops after size bytes still sees a surplus as an error.
type exactReader struct {
	r          io.Reader
	left, size int64
	last       byte
	holding    bool  // last is the object's final byte, not yet given out
	err        error // to return on the next call
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if e.holding || e.left == 0 {
		if err := e.checkEnd(); err != io.EOF {
			e.err = err
			return 0, err
		}
		e.err = io.EOF
		if e.holding {
			e.holding = false
			p[0] = e.last
			return 1, nil
		}
		return 0, io.EOF
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	switch {
	case err == io.EOF && e.left > 0:
		err = fmt.Errorf("%w: got %d of %d bytes: %w", errSizeMismatch, e.size-e.left, e.size, io.ErrUnexpectedEOF)
	case err == io.EOF:
		err = nil
	}
	if err != nil {
		if n == 0 {
			return 0, err
		}
		e.err = err
	}
	if e.left == 0 && n > 0 {
		e.last, e.holding = p[n-1], true
		n--
	}
	return n, nil
}

// checkEnd reads one byte past the end: io.EOF if there is none.
func (e *exactReader) checkEnd() error {
	var b [1]byte
	for {
		n, err := e.r.Read(b[:])
		if n > 0 {
			return fmt.Errorf("%w: more than %d bytes", errSizeMismatch, e.size)
		}
		if err != nil {
			return err
		}
	}
}
