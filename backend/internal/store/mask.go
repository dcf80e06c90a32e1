package store

import (
	"bytes"
	"encoding/binary"

	"github.com/aura-ci/aura/internal/secretform"
)

// secretForms returns every form of the secret values that a job's output may
// show (secretform.Forms: the value, its lines, its encodings). The runner masks
// the same forms; this is the server's second line of defence.
func secretForms(values []string) [][]byte {
	var forms [][]byte
	for _, f := range secretform.Forms(values) {
		forms = append(forms, []byte(f))
	}
	return forms
}

// maskForms overwrites every occurrence of any form in data with asterisks of
// the same length (so offsets hold) and reports whether it changed anything.
// data is changed in place. Occurrences are found in the original bytes, so
// overlapping forms are masked whole.
func maskForms(data []byte, forms [][]byte) bool {
	var orig []byte
	for _, f := range forms {
		src := data
		if orig != nil {
			src = orig
		}
		for from := 0; from < len(src); {
			i := bytes.Index(src[from:], f)
			if i < 0 {
				break
			}
			if orig == nil {
				orig = bytes.Clone(data)
				src = orig
			}
			for k := from + i; k < from+i+len(f); k++ {
				data[k] = '*'
			}
			from += i + 1
		}
	}
	return orig != nil
}

// longestForm is the length of the longest form, how far back a form split across
// two chunks may begin.
func longestForm(forms [][]byte) int {
	n := 0
	for _, f := range forms {
		n = max(n, len(f))
	}
	return n
}

// continuesForm reports whether data begins with the end of some form (a proper
// suffix), the only way a form begun in the stored log can end in data.
func continuesForm(data []byte, forms [][]byte) bool {
	for _, f := range forms {
		for k := 1; k < len(f); k++ {
			if bytes.HasPrefix(data, f[k:]) {
				return true
			}
		}
	}
	return false
}

// maskedCopy returns data with every form masked: data itself when none occurs,
// else a masked copy, so the caller's bytes stay as received.
func maskedCopy(data []byte, forms [][]byte) []byte {
	if !occurs(data, forms) {
		return data
	}
	out := bytes.Clone(data)
	maskForms(out, forms)
	return out
}

// occurs reports whether any form occurs in data. It passes over data once for
// all forms of at least anchorLen bytes: a bit table of the hashes of their
// first anchorLen bytes tells the few positions worth comparing at, so a chunk
// without secrets costs a few nanoseconds a byte however many forms a job's
// secrets have (a long key wrapped in base64 has dozens). Shorter forms are
// searched one by one.
func occurs(data []byte, forms [][]byte) bool {
	var table [1 << (anchorHashBits - 6)]uint64
	long := 0
	for _, f := range forms {
		if len(f) < anchorLen {
			if bytes.Contains(data, f) {
				return true
			}
			continue
		}
		h := anchorHash(f)
		table[h>>6] |= 1 << (h & 63)
		long++
	}
	if long == 0 {
		return false
	}
	for i := 0; i+anchorLen <= len(data); i++ {
		if h := anchorHash(data[i:]); table[h>>6]&(1<<(h&63)) == 0 {
			continue
		}
		for _, f := range forms {
			if len(f) >= anchorLen && bytes.HasPrefix(data[i:], f) {
				return true
			}
		}
	}
	return false
}

const (
	anchorLen      = 8
	anchorHashBits = 16
)

// anchorHash hashes the first anchorLen bytes of b to anchorHashBits bits.
func anchorHash(b []byte) uint64 {
	return binary.LittleEndian.Uint64(b) * 0x9E3779B97F4A7C15 >> (64 - anchorHashBits)
}

// straddles reports whether a form begins in tail, the stored end of a log, and
// ends in data, the bytes that follow it: then stored bytes must be masked too.
func straddles(tail, data []byte, forms [][]byte) bool {
	for _, f := range forms {
		for k := max(1, len(f)-len(data)); k < len(f) && k <= len(tail); k++ {
			if bytes.HasSuffix(tail, f[:k]) && bytes.HasPrefix(data, f[k:]) {
				return true
			}
		}
	}
	return false
}

// carryTail returns the last back bytes of tail followed by data, in new memory:
// all a form ending in the next chunk may begin in.
func carryTail(tail, data []byte, back int) []byte {
	if len(data) >= back {
		return bytes.Clone(data[len(data)-back:])
	}
	keep := min(len(tail), back-len(data))
	out := make([]byte, 0, keep+len(data))
	return append(append(out, tail[len(tail)-keep:]...), data...)
}
