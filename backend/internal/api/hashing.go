package api

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
)

// hashingReader passes reads through and hashes the bytes read on a goroutine
// of its own, so that on a machine with more than one core the SHA-256 of an
// upload runs beside the socket reads and file writes instead of between them.
// The goroutine only sees copies, never the reader: Sum and Close end it
// whatever the reader is doing.
type hashingReader struct {
	r     io.Reader
	h     hash.Hash
	work  chan []byte
	free  chan []byte
	done  chan struct{}
	ended bool
}

// hashChunk is the size of the copies handed to the hashing goroutine.
const hashChunk = 256 << 10

func newHashingReader(r io.Reader) *hashingReader {
	const depth = 4 // at most depth chunks in flight: 1 MiB
	hr := &hashingReader{r: r, h: sha256.New(), work: make(chan []byte, depth), free: make(chan []byte, depth+1), done: make(chan struct{})}
	for range depth + 1 {
		hr.free <- make([]byte, 0, hashChunk)
	}
	go func() {
		defer close(hr.done)
		for b := range hr.work {
			hr.h.Write(b)
			hr.free <- b[:0]
		}
	}()
	return hr
}

func (hr *hashingReader) Read(p []byte) (int, error) {
	if len(p) > hashChunk {
		p = p[:hashChunk]
	}
	n, err := hr.r.Read(p)
	if n > 0 && !hr.ended {
		b := <-hr.free
		hr.work <- append(b, p[:n]...)
	}
	return n, err
}

// Sum ends the hashing and returns the SHA-256 of every byte read, in hex.
func (hr *hashingReader) Sum() string {
	hr.Close()
	return hex.EncodeToString(hr.h.Sum(nil))
}

// Close ends the hashing goroutine; reads after it are not hashed.
func (hr *hashingReader) Close() {
	if !hr.ended {
		hr.ended = true
		close(hr.work)
		<-hr.done
	}
}
