package api

import (
	"bytes"
	"fmt"
	"net/http"
	"sync"
)

// logBodies recycles the buffers log chunks are read into: a runner streaming a
// build's output sends megabytes a second, and a fresh buffer grown for each
// chunk is work for the allocator and garbage for the collector.
var logBodies = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// readLogBody reads a log chunk of at most limit bytes into a recycled buffer,
// grown with the bytes that come, never with the length a client announces.
// Give it back with putLogBody once nothing refers to its bytes.
func readLogBody(w http.ResponseWriter, r *http.Request, limit int64) (*bytes.Buffer, error) {
	if r.ContentLength > limit {
		return nil, errorf(http.StatusRequestEntityTooLarge, "", fmt.Sprintf("request body is larger than %d bytes", limit))
	}
	buf := logBodies.Get().(*bytes.Buffer)
	buf.Reset()
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, limit)); err != nil {
		putLogBody(buf)
		return nil, bodyError(err)
	}
	return buf, nil
}

func putLogBody(buf *bytes.Buffer) { logBodies.Put(buf) }
