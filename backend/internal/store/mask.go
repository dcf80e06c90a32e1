package store

import (
	"bytes"
	"encoding/binary"
	"math/bits"

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
func maskedCopy(data []byte, m *matcher) []byte {
	if !m.occurs(data) {
		return data
	}
	out := bytes.Clone(data)
	maskForms(out, m.forms)
	return out
}

// A matcher tells whether any of a set of forms occurs in a chunk, made once
// per attempt (the carry keeps it) and used on every chunk. It looks at data
// only every stride bytes: each form at least anchor+stride-1 bytes long has,
// at one of its first stride positions, an anchor-long window that starts at a
// multiple of stride wherever the form occurs. A bit table of the hashes of
// those windows tells the few positions worth comparing at. A chunk without
// secrets thus costs a fraction of a nanosecond a byte however many forms a
// job's secrets have (a long key wrapped in base64 has dozens). Forms of 8 to
// 22 bytes (a password and its encodings) are looked for by 4-byte windows
// (stride 5 or more), longer ones by 8-byte windows (stride up to 32); the
// few shorter than 8 (a short secret's own value) one by one.
type matcher struct {
	forms [][]byte
	short [][]byte
	tiers []*tier
}

// A tier is the forms looked for with one window length and stride.
type tier struct {
	anchor, stride int
	shift          uint // the hash's top bits index bits
	bits           []uint64
	cands          map[uint64][]cand // by hash: which form, at which position
}

// cand is a form whose window at `at` has some hash.
type cand struct {
	form []byte
	at   int
}

const (
	longForm  = 8 + 15 // from this length on, forms are found by 8-byte windows
	maxStride = 32
)

func newMatcher(forms [][]byte) *matcher {
	m := &matcher{forms: forms}
	var mid, long [][]byte
	for _, f := range forms {
		switch {
		case len(f) < secretform.MinLen:
			m.short = append(m.short, f)
		case len(f) < longForm:
			mid = append(mid, f)
		default:
			long = append(long, f)
		}
	}
	for _, t := range []struct {
		anchor int
		forms  [][]byte
	}{{4, mid}, {8, long}} {
		if len(t.forms) > 0 {
			m.tiers = append(m.tiers, newTier(t.anchor, t.forms))
		}
	}
	return m
}

func newTier(anchor int, forms [][]byte) *tier {
	stride := maxStride
	for _, f := range forms {
		stride = min(stride, len(f)-anchor+1)
	}
	// A table a sixty-fourth full at most, so a chunk without secrets rarely
	// compares (build output repeats itself): 2^12 to 2^20 bits.
	size := 1 << 12
	for size < 64*stride*len(forms) && size < 1<<20 {
		size <<= 1
	}
	t := &tier{anchor: anchor, stride: stride, bits: make([]uint64, size/64), cands: map[uint64][]cand{}}
	t.shift = uint(64 - bits.TrailingZeros(uint(size)))
	for _, f := range forms {
		for at := range stride {
			h := t.hash(f[at:])
			t.bits[h>>6] |= 1 << (h & 63)
			t.cands[h] = append(t.cands[h], cand{form: f, at: at})
		}
	}
	return t
}

const hashMul = 0x9E3779B97F4A7C15

// hash hashes the first anchor bytes of b (at least 8 must be readable when
// anchor is 8, 4 when 4).
func (t *tier) hash(b []byte) uint64 {
	if t.anchor == 8 {
		return binary.LittleEndian.Uint64(b) * hashMul >> t.shift
	}
	return uint64(binary.LittleEndian.Uint32(b)) * hashMul >> t.shift
}

// occurs reports whether any form occurs in data.
func (m *matcher) occurs(data []byte) bool {
	for _, f := range m.short {
		if bytes.Contains(data, f) {
			return true
		}
	}
	for _, t := range m.tiers {
		if t.occurs(data) {
			return true
		}
	}
	return false
}

// occurs is the scan, once for each window length so the loop is tight.
func (t *tier) occurs(data []byte) bool {
	bits, shift, stride := t.bits, t.shift, t.stride
	if t.anchor == 8 {
		for i := 0; i+8 <= len(data); i += stride {
			h := binary.LittleEndian.Uint64(data[i:i+8]) * hashMul >> shift
			if bits[h>>6]&(1<<(h&63)) != 0 && t.at(data, i, h) {
				return true
			}
		}
		return false
	}
	for i := 0; i+4 <= len(data); i += stride {
		h := uint64(binary.LittleEndian.Uint32(data[i:i+4])) * hashMul >> shift
		if bits[h>>6]&(1<<(h&63)) != 0 && t.at(data, i, h) {
			return true
		}
	}
	return false
}

// at reports whether a form whose window hashes to h occurs at i in data.
func (t *tier) at(data []byte, i int, h uint64) bool {
	for _, c := range t.cands[h] {
		if from := i - c.at; from >= 0 && bytes.HasPrefix(data[from:], c.form) {
			return true
		}
	}
	return false
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
