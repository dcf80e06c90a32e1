package store

import (
	"bytes"
	"slices"

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

// occurs reports whether any form occurs in data. It scans data once per
// distinct beginning (8 bytes) of the forms rather than once per form: a
// value's encodings mostly share theirs (base64 of the value and of the value
// and a newline, standard and URL alphabets), so a chunk without secrets costs
// a few fast scans.
func occurs(data []byte, forms [][]byte) bool {
	const anchor = 8
	var scanned [][]byte
	for _, f := range forms {
		a := f[:min(anchor, len(f))]
		if slices.ContainsFunc(scanned, func(s []byte) bool { return bytes.Equal(s, a) }) {
			continue
		}
		scanned = append(scanned, a)
		for rest := data; ; rest = rest[1:] {
			i := bytes.Index(rest, a)
			if i < 0 {
				break
			}
			rest = rest[i:]
			for _, g := range forms {
				if bytes.HasPrefix(rest, g) {
					return true
				}
			}
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
