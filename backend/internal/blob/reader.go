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

type exactReader struct {
	r          io.Reader
	left, size int64
	ended      bool // the byte past the end was looked for and not found
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.ended {
		return 0, io.EOF
	}
	if e.left == 0 {
		return 0, e.checkEnd()
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if err == io.EOF {
		if e.left > 0 {
			return n, fmt.Errorf("%w: got %d of %d bytes: %w", errSizeMismatch, e.size-e.left, e.size, io.ErrUnexpectedEOF)
		}
		return n, nil
	}
	if err != nil {
		return n, err
	}
	if e.left == 0 {
		// Check for surplus in the same call: a consumer that stops at size
		// bytes (as S3 uploads do) would never ask again.
		if err := e.checkEnd(); err != io.EOF {
			return n, err
		}
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
		if err == io.EOF {
			e.ended = true
			return io.EOF
		}
		if err != nil {
			return err
		}
	}
}
