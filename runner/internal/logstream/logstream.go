// Package logstream delivers a job's output to the server as it is produced, in
// chunks addressed by byte offset (PATCH /api/v1/jobs/{id}/log).
//
// Output goes into a bounded buffer. One uploader goroutine sends what is there,
// up to ChunkSize bytes a request, as soon as it is there: a line printed after a
// quiet spell leaves at once, so it shows live. Output that arrives while an
// upload is in flight is coalesced into the next one, and small uploads are at
// least MinInterval apart, so a job that prints a line at a time does not become
// a request per line; FlushSize bytes waiting go out without that pause. Bytes stay buffered until the server has
// acknowledged them, so an upload that fails is retried (with backoff) from the same
// offset, which the server acknowledges idempotently: no byte is lost or doubled.
// When the buffer is full, Write blocks, which in turn blocks the job on its next
// write: memory stays flat however much a job prints and however long the server
// is away.
package logstream

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/aura-ci/aura/runner/internal/apiclient"
	"github.com/aura-ci/aura/runner/internal/backoff"
)

// ErrGone means the server answered 410: the attempt is no longer this runner's.
var ErrGone = errors.New("the attempt is no longer this runner's (410 Gone)")

// ErrAborted means Abort stopped the stream before everything was delivered.
var ErrAborted = errors.New("log upload aborted")

// ErrClosed is returned by Write after Close.
var ErrClosed = errors.New("write to a closed log stream")

// Options tune a Stream; zero fields take the defaults.
type Options struct {
	// BufferSize is how many unacknowledged bytes are held before Write blocks.
	BufferSize int
	// ChunkSize is the most bytes sent in one request (the server takes up to 4 MiB).
	ChunkSize int
	// FlushSize sends a chunk as soon as this many bytes wait.
	FlushSize int
	// MinInterval is the least time between the starts of two uploads of fewer
	// than FlushSize bytes.
	MinInterval time.Duration
	// RequestTimeout bounds one upload request.
	RequestTimeout time.Duration
	// RetryMin and RetryMax bound the backoff between failed uploads.
	RetryMin, RetryMax time.Duration
	// LogFunc, when set, is told about failing and resumed uploads.
	LogFunc func(format string, args ...any)
	// Acked, when set, is told how many more bytes the server acknowledged;
	// Retried, when set, of each failed upload that is tried again.
	Acked   func(n int64)
	Retried func()
}

// Defaults of Options.
const (
	DefaultBufferSize     = 8 << 20
	DefaultChunkSize      = 1 << 20
	DefaultFlushSize      = 64 << 10
	DefaultMinInterval    = 25 * time.Millisecond
	DefaultRequestTimeout = 60 * time.Second
)

func (o *Options) setDefaults() {
	if o.BufferSize <= 0 {
		o.BufferSize = DefaultBufferSize
	}
	if o.ChunkSize <= 0 {
		o.ChunkSize = DefaultChunkSize
	}
	o.ChunkSize = min(o.ChunkSize, o.BufferSize)
	if o.FlushSize <= 0 {
		o.FlushSize = DefaultFlushSize
	}
	o.FlushSize = min(o.FlushSize, o.ChunkSize)
	if o.MinInterval <= 0 {
		o.MinInterval = DefaultMinInterval
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	if o.RetryMin <= 0 {
		o.RetryMin = 250 * time.Millisecond
	}
	if o.RetryMax <= 0 {
		o.RetryMax = 10 * time.Second
	}
	if o.LogFunc == nil {
		o.LogFunc = func(string, ...any) {}
	}
}

// Result describes the log once a Stream is done.
type Result struct {
	// Length is the number of bytes written to the stream.
	Length int64
	// SHA256 is the lower-case hex SHA-256 of those bytes.
	SHA256 string
}

// Stream uploads one attempt's log. Write and Close may be called from one
// goroutine while others watch Gone and Cancelled.
type Stream struct {
	client  *apiclient.ClientWithResponses
	jobID   int64
	attempt int
	opts    Options

	mu    sync.Mutex
	space *sync.Cond // signalled when bytes are acknowledged or the stream stops
	// ring holds the unacknowledged bytes: n of them from index head, the first
	// being byte acked of the log. The first inflight of them are being sent.
	ring     []byte
	head, n  int
	acked    int64
	inflight int
	lastSend time.Time // when the last upload started
	written  int64
	hash     hash.Hash
	closed   bool
	err      error // why the stream stopped early

	kick        chan struct{}
	done        chan struct{}
	gone        chan struct{}
	cancelled   chan struct{}
	cancelOnce  sync.Once
	stopUpload  context.CancelFunc
	sendBuf     []byte
	failingFrom time.Time
}

// New starts the uploader of job jobID's attempt and returns the Stream to write
// the log to. Close and Wait, or Abort, end it.
func New(client *apiclient.ClientWithResponses, jobID int64, attempt int, opts Options) *Stream {
	opts.setDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Stream{
		client:     client,
		jobID:      jobID,
		attempt:    attempt,
		opts:       opts,
		hash:       sha256.New(),
		kick:       make(chan struct{}, 1),
		done:       make(chan struct{}),
		gone:       make(chan struct{}),
		cancelled:  make(chan struct{}),
		stopUpload: cancel,
	}
	s.space = sync.NewCond(&s.mu)
	go s.upload(ctx)
	return s
}

// Write buffers p for upload. It blocks while the buffer is full. Once the stream
// has stopped (Gone, Abort, or an upload error that cannot be retried) it takes and
// discards the bytes, so the job is never stuck on its output.
func (s *Stream) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ErrClosed
	}
	s.hash.Write(p)
	s.written += int64(len(p))
	total := len(p)
	for len(p) > 0 && s.err == nil {
		if s.n == len(s.ring) && len(s.ring) < s.opts.BufferSize {
			s.grow(len(p))
		}
		free := len(s.ring) - s.n
		if free == 0 {
			s.space.Wait()
			continue
		}
		k := min(free, len(p))
		tail := (s.head + s.n) % len(s.ring)
		c := copy(s.ring[tail:], p[:k])
		copy(s.ring, p[c:k])
		unsentBefore := s.n - s.inflight
		s.n += k
		p = p[k:]
		if unsentBefore == 0 {
			s.wake()
		} else if unsentBefore < s.opts.FlushSize && s.n-s.inflight >= s.opts.FlushSize {
			s.wake()
		}
	}
	return total, nil
}

// grow enlarges the ring, doubling it up to BufferSize, to take a write of want
// more bytes. A job that prints little keeps a small buffer.
func (s *Stream) grow(want int) {
	size := min(s.opts.BufferSize, max(2*len(s.ring), s.n+want, 64<<10))
	ring := make([]byte, size)
	if s.n > 0 {
		c := copy(ring, s.ring[s.head:min(s.head+s.n, len(s.ring))])
		copy(ring[c:], s.ring[:s.n-c])
	}
	s.ring, s.head = ring, 0
}

func (s *Stream) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Close ends the log: the uploader sends what is left, and Wait reports when it is
// delivered.
func (s *Stream) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.wake()
	return nil
}

// Wait waits until the uploader is done: every byte is acknowledged after Close,
// or the stream stopped early. The error is ErrGone after a 410, ErrAborted after
// Abort, another error when the server refused the log for good, or ctx's error.
func (s *Stream) Wait(ctx context.Context) (Result, error) {
	select {
	case <-s.done:
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return Result{Length: s.written, SHA256: hex.EncodeToString(s.hash.Sum(nil))}, s.err
}

// Abort stops the uploader at once, dropping what was not delivered.
func (s *Stream) Abort() {
	s.stop(ErrAborted)
	s.stopUpload()
}

// Gone is closed when the server answered 410: stop the job and do not complete it.
func (s *Stream) Gone() <-chan struct{} { return s.gone }

// Cancelled is closed when the server said that the job was cancelled.
func (s *Stream) Cancelled() <-chan struct{} { return s.cancelled }

// Buffered returns the number of bytes not yet acknowledged by the server.
func (s *Stream) Buffered() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// stop ends the stream early with err (the first error wins) and releases writers.
func (s *Stream) stop(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
	}
	s.n, s.inflight = 0, 0
	s.ring = nil
	s.space.Broadcast()
}

// upload is the uploader goroutine.
func (s *Stream) upload(ctx context.Context) {
	defer close(s.done)
	bo := backoff.Backoff{Min: s.opts.RetryMin, Max: s.opts.RetryMax}
	for {
		offset, chunk, ok := s.next(ctx)
		if !ok {
			return
		}
		appended, err := s.send(ctx, offset, chunk)
		var rangeErr *rangeError
		switch {
		case err == nil:
			s.ack(offset, len(chunk), appended.Length)
			if appended.Cancel {
				s.cancelOnce.Do(func() { close(s.cancelled) })
			}
			if !s.failingFrom.IsZero() {
				s.opts.LogFunc("job %d: log upload works again after %s", s.jobID, time.Since(s.failingFrom).Round(time.Second))
				s.failingFrom = time.Time{}
			}
			bo.Reset()
		case apiclient.HasStatus(err, http.StatusGone), apiclient.HasStatus(err, http.StatusNotFound):
			s.stop(ErrGone)
			close(s.gone)
			return
		case errors.As(err, &rangeErr):
			if err := s.resync(rangeErr.length); err != nil {
				s.opts.LogFunc("job %d: giving up on the log: %v", s.jobID, err)
				s.stop(err)
				return
			}
		case ctx.Err() != nil:
			return
		case apiclient.Temporary(err),
			apiclient.HasStatus(err, http.StatusUnauthorized),
			apiclient.HasStatus(err, http.StatusForbidden):
			s.unsend()
			if s.opts.Retried != nil {
				s.opts.Retried()
			}
			d := bo.Next()
			if s.failingFrom.IsZero() {
				s.failingFrom = time.Now()
			}
			if f := bo.Failures(); f == 1 || f%10 == 0 {
				s.opts.LogFunc("job %d: log upload failed (%v); retrying, %d bytes buffered", s.jobID, err, s.Buffered())
			}
			if !backoff.Sleep(ctx, d) {
				return
			}
		default:
			err = fmt.Errorf("log upload refused: %w", err)
			s.opts.LogFunc("job %d: giving up on the log: %v", s.jobID, err)
			s.stop(err)
			return
		}
	}
}

// next waits until a chunk is due and returns it, or false when there is nothing
// more to send (everything acknowledged after Close, or the stream stopped).
func (s *Stream) next(ctx context.Context) (int64, []byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if s.err != nil || ctx.Err() != nil || (s.closed && s.n == 0) {
			return 0, nil, false
		}
		due := time.Until(s.lastSend.Add(s.opts.MinInterval))
		if s.n >= s.opts.FlushSize || (s.n > 0 && (s.closed || due <= 0)) {
			k := min(s.n, s.opts.ChunkSize)
			if cap(s.sendBuf) < k {
				s.sendBuf = make([]byte, k)
			}
			chunk := s.sendBuf[:k]
			c := copy(chunk, s.ring[s.head:min(s.head+k, len(s.ring))])
			copy(chunk[c:], s.ring[:k-c])
			s.inflight = k
			s.lastSend = time.Now()
			return s.acked, chunk, true
		}
		var timer *time.Timer
		var fire <-chan time.Time
		if s.n > 0 {
			timer = time.NewTimer(due)
			fire = timer.C
		}
		s.mu.Unlock()
		select {
		case <-s.kick:
		case <-fire:
		case <-ctx.Done():
		}
		if timer != nil {
			timer.Stop()
		}
		s.mu.Lock()
	}
}

// ack drops the bytes the server now has. A server that stored only part of the
// chunk (length inside it) gets the rest again; one that reports no progress at
// all for a chunk it accepted is taken at its word that it has the chunk, so that a
// server that caps the log cannot make the runner resend forever.
func (s *Stream) ack(offset int64, sent int, length int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inflight = 0
	if s.err != nil {
		return
	}
	end := offset + int64(sent)
	if length > offset && length < end {
		end = length
	}
	s.drop(end)
}

// resync handles a 416: the server has length bytes, fewer than the offset sent.
// The upload resumes from there if those bytes are still buffered.
func (s *Stream) resync(length int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inflight = 0
	if s.err != nil {
		return nil
	}
	if length < s.acked || length > s.acked+int64(s.n) {
		return fmt.Errorf("the server has %d log bytes, but acknowledged %d before", length, s.acked)
	}
	s.drop(length)
	return nil
}

// drop forgets the buffered bytes before offset end. Called with s.mu held.
func (s *Stream) drop(end int64) {
	k := int(end - s.acked)
	if k <= 0 {
		return
	}
	s.head = (s.head + k) % len(s.ring)
	s.n -= k
	s.acked = end
	if s.opts.Acked != nil {
		s.opts.Acked(int64(k))
	}
	if s.n == 0 {
		s.head = 0
	}
	s.space.Broadcast()
}

// unsend puts the chunk in flight back among the bytes to send.
func (s *Stream) unsend() {
	s.mu.Lock()
	s.inflight = 0
	s.mu.Unlock()
}

type rangeError struct{ length int64 }

func (e *rangeError) Error() string {
	return fmt.Sprintf("416: the server has %d bytes", e.length)
}

// send uploads one chunk. It returns only once the HTTP transport is done with
// the chunk's bytes: the transport may still read a request body after the answer
// came (it closes bodies in the background), and the buffer is reused.
func (s *Stream) send(ctx context.Context, offset int64, chunk []byte) (*apiclient.LogAppended, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.RequestTimeout)
	defer cancel()
	var reading sync.WaitGroup
	defer reading.Wait()
	resp, err := s.client.AppendJobLogWithBodyWithResponse(ctx, s.jobID,
		&apiclient.AppendJobLogParams{Attempt: s.attempt, Offset: offset},
		"application/octet-stream", bytes.NewReader(chunk), trackBodies(&reading))
	if err != nil {
		return nil, err
	}
	switch {
	case resp.JSON200 != nil:
		return resp.JSON200, nil
	case resp.JSON416 != nil:
		return nil, &rangeError{length: resp.JSON416.Length}
	}
	return nil, apiclient.NewStatusError(resp.StatusCode(), resp.Body)
}

// trackBodies wraps a request's body, and the bodies its GetBody makes for
// retries, so that reading.Wait returns when the transport has closed them all.
func trackBodies(reading *sync.WaitGroup) apiclient.RequestEditorFn {
	track := func(rc io.ReadCloser) io.ReadCloser {
		reading.Add(1)
		return &trackedBody{ReadCloser: rc, done: reading.Done}
	}
	return func(_ context.Context, req *http.Request) error {
		if req.Body != nil {
			req.Body = track(req.Body)
		}
		if getBody := req.GetBody; getBody != nil {
			req.GetBody = func() (io.ReadCloser, error) {
				rc, err := getBody()
				if err != nil {
					return nil, err
				}
				return track(rc), nil
			}
		}
		return nil
	}
}

type trackedBody struct {
	io.ReadCloser
	once sync.Once
	done func()
}

func (b *trackedBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.done)
	return err
}
