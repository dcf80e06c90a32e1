package blob

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// TestExactReader: sized gives out exactly size bytes or fails, never with
// data in the same call as the error (minio-go drops such errors).
func TestExactReader(t *testing.T) {
	for _, c := range []struct {
		body string
		size int64
		ok   bool
	}{
		{"four", 4, true}, {"", 0, true}, {"four", 3, false}, {"four", 5, false}, {"x", 0, false},
	} {
		for _, wrap := range []func(io.Reader) io.Reader{
			func(r io.Reader) io.Reader { return r }, iotest.OneByteReader, iotest.DataErrReader,
		} {
			r := sized(wrap(strings.NewReader(c.body)), c.size)
			var got []byte
			buf := make([]byte, 3)
			var err error
			for {
				var n int
				n, err = r.Read(buf)
				if n > 0 && err != nil {
					t.Fatalf("%q size %d: %d bytes with %v", c.body, c.size, n, err)
				}
				got = append(got, buf[:n]...)
				if err != nil {
					break
				}
			}
			if c.ok && (err != io.EOF || string(got) != c.body) {
				t.Errorf("%q size %d: got %q, %v", c.body, c.size, got, err)
			}
			if !c.ok && !errors.Is(err, errSizeMismatch) {
				t.Errorf("%q size %d: %v, want a size mismatch", c.body, c.size, err)
			}
			if !c.ok && int64(len(got)) >= c.size && c.size > 0 {
				t.Errorf("%q size %d: all %d bytes given out before the error", c.body, c.size, len(got))
			}
		}
	}
}
