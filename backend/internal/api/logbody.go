package api

import (
	"bytes"
	"fmt"
	"net/http"
	"sync"

	"github.com/aura-ci/aura/backend/internal/store"
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

// logBody prepares p to take a log chunk from r's body. A body whose length is
// announced is read by the store as it stores it (p.Body), into a recycled
// buffer with room for it; one sent in pieces of unknown length is read whole
// first (readLogBody). Give the buffer back with putLogBody once the store is
// done.
func logBody(w http.ResponseWriter, r *http.Request, limit int64, p *store.LogAppendParams) (*bytes.Buffer, error) {
	if r.ContentLength < 0 {
		buf, err := readLogBody(w, r, limit)
		if err == nil {
			p.Data = buf.Bytes()
		}
		return buf, err
	}
	if r.ContentLength > limit {
		return nil, errorf(http.StatusRequestEntityTooLarge, "", fmt.Sprintf("request body is larger than %d bytes", limit))
	}
	buf := logBodies.Get().(*bytes.Buffer)
	buf.Reset()
	buf.Grow(int(r.ContentLength))
	p.Data, p.Body, p.Size = buf.AvailableBuffer(), http.MaxBytesReader(w, r.Body, limit), r.ContentLength
	return buf, nil
}
