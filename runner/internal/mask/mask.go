// Package mask replaces the values of secret variables in a job's output with
// "***" before the output leaves the runner.
//
// Every byte covered by an occurrence of any secret is masked, and each maximal run
// of masked bytes becomes one "***". Overlapping or adjacent secrets therefore leak
// no part of either ("abcd" with secrets "abc" and "bcd" becomes "***"), and the
// number of occurrences in a run is not revealed. The Writer applies this to a
// stream: a secret split across two writes is masked like one written whole.
// What to mask of a secret (its lines and encodings) is secretform.Forms, which
// the server masks again with.
package mask

import (
	"bytes"
	"io"
	"slices"
)

// Replacement stands for a run of secret bytes in the output.
const Replacement = "***"

// Writer masks secrets in everything written to it and passes the result on to
// the underlying writer. It holds back the end of a write only while it may still
// turn out to be part of a secret (a tail that is a secret's beginning, so at most
// the longest secret's length minus one), so Close must be called to flush it. A
// Writer is not safe for concurrent use.
type Writer struct {
	w       io.Writer
	secrets [][]byte
	maxLen  int

	// buf holds raw input from absolute stream offset base on. Bytes before decided
	// were already masked and passed on; they stay only as context, because a secret
	// starting there may still cover bytes after it.
	buf     []byte
	base    int64
	decided int64
	// masking tells whether the last decided byte was masked, so that a run that
	// continues past a write boundary still yields a single Replacement.
	masking bool

	out    []byte
	spans  []span
	closed bool
	err    error
}

type span struct{ start, end int }

// NewWriter returns a Writer that masks secrets on its way to w. Empty secrets are
// ignored; with none left, writes pass straight through.
func NewWriter(w io.Writer, secrets []string) *Writer {
	mw := &Writer{w: w}
	seen := map[string]bool{}
	for _, s := range secrets {
		if s == "" || seen[s] {
			continue
		}
		seen[s] = true
		mw.secrets = append(mw.secrets, []byte(s))
		mw.maxLen = max(mw.maxLen, len(s))
	}
	return mw
}

// Write masks p and writes what is decided to the underlying writer. It returns
// len(p) unless the underlying writer failed.
func (mw *Writer) Write(p []byte) (int, error) {
	if mw.err != nil {
		return 0, mw.err
	}
	if mw.closed {
		return 0, io.ErrClosedPipe
	}
	if len(mw.secrets) == 0 {
		n, err := mw.w.Write(p)
		mw.err = err
		return n, err
	}
	mw.buf = append(mw.buf, p...)
	// Every byte before the longest tail that is the beginning of a secret is
	// decided: a secret that covers it would have to start there.
	end := mw.base + int64(len(mw.buf))
	if err := mw.process(end - int64(mw.pendingPrefix())); err != nil {
		return 0, err
	}
	return len(p), nil
}

// pendingPrefix returns the length of the longest tail of the buffer that is a
// proper prefix of a secret: those bytes wait for the next write to tell.
func (mw *Writer) pendingPrefix() int {
	best := 0
	for _, s := range mw.secrets {
		tail := mw.buf[len(mw.buf)-min(len(s)-1, len(mw.buf)):]
		// The first start j (longest candidate) whose tail[j:] begins s wins.
		for j := 0; j < len(tail)-best; j++ {
			k := bytes.IndexByte(tail[j:len(tail)-best], s[0])
			if k < 0 {
				break
			}
			j += k
			if bytes.HasPrefix(s, tail[j:]) {
				best = len(tail) - j
				break
			}
		}
	}
	return best
}

// Close flushes the bytes held back, masked, to the underlying writer. It does
// not close the underlying writer.
func (mw *Writer) Close() error {
	if mw.closed {
		return mw.err
	}
	mw.closed = true
	if mw.err != nil || len(mw.secrets) == 0 {
		return mw.err
	}
	return mw.process(mw.base + int64(len(mw.buf)))
}

// process decides the bytes in [mw.decided, upTo), writes them out masked and
// trims the buffer to the context the next write needs.
func (mw *Writer) process(upTo int64) error {
	if upTo <= mw.decided {
		return nil
	}
	from := int(mw.decided - mw.base)
	to := int(upTo - mw.base)
	mw.findSpans()

	out := mw.out[:0]
	pos := from
	for _, sp := range mw.spans {
		if sp.end <= from {
			continue
		}
		if sp.start >= to {
			break
		}
		start := max(sp.start, from)
		if start > pos {
			out = append(out, mw.buf[pos:start]...)
			mw.masking = false
		}
		if !mw.masking {
			out = append(out, Replacement...)
			mw.masking = true
		}
		pos = min(sp.end, to)
		if pos == to {
			break
		}
	}
	if pos < to {
		out = append(out, mw.buf[pos:to]...)
		mw.masking = false
	}
	mw.decided = upTo
	mw.out = out

	if _, err := mw.w.Write(out); err != nil {
		mw.err = err
		return err
	}
	// Keep maxLen-1 decided bytes as context: a secret starting there can still
	// reach past mw.decided.
	keep := max(0, to-(mw.maxLen-1))
	n := copy(mw.buf, mw.buf[keep:])
	mw.buf = mw.buf[:n]
	mw.base += int64(keep)
	if cap(mw.out) > 1<<20 {
		mw.out = nil // do not hold on to the memory of one huge write
	}
	return nil
}

// findSpans sets mw.spans to the merged, sorted byte ranges of mw.buf covered by a
// secret; adjacent ranges are merged too, so each span is one maximal run.
func (mw *Writer) findSpans() {
	spans := mw.spans[:0]
	for _, s := range mw.secrets {
		for i := 0; i+len(s) <= len(mw.buf); {
			j := bytes.Index(mw.buf[i:], s)
			if j < 0 {
				break
			}
			spans = append(spans, span{i + j, i + j + len(s)})
			i += j + 1
		}
	}
	if len(mw.secrets) > 1 {
		slices.SortFunc(spans, func(a, b span) int { return a.start - b.start })
	}
	merged := spans[:0]
	for _, sp := range spans {
		if n := len(merged); n > 0 && sp.start <= merged[n-1].end {
			merged[n-1].end = max(merged[n-1].end, sp.end)
			continue
		}
		merged = append(merged, sp)
	}
	mw.spans = merged
}

// String masks a whole string at once, the way a Writer masks a stream.
func String(s string, secrets []string) string {
	var b bytes.Buffer
	w := NewWriter(&b, secrets)
	_, _ = w.Write([]byte(s))
	_ = w.Close()
	return b.String()
}
