// Package secretform defines the printable forms of a secret: every text a job
// may print that gives the secret away. The runner masks them in the output it
// uploads and the server masks them again in the log it stores, so both ask this
// one package. It imports only the standard library, so the runner may import it
// without depending on the server (runner/boundary_test.go).
package secretform

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"strings"
)

// MinLen is the shortest form of a secret masked on its own, other than the
// whole value: a line of a multi-line secret or an encoding shorter than this
// would mask ordinary output wherever it happens to occur (a line "}" or "fi"
// of a key file, say).
const MinLen = 8

// Base64Columns is where base64(1) wraps its output.
const Base64Columns = 76

// Forms returns the forms of each secret a job may print, each once: the value
// itself; each line of a multi-line value (`tail -1`, `grep`), except lines
// shorter than MinLen, which would over-mask; the URL query and path escaping
// and the JSON string escaping (with and without HTML escaping) of both; the
// hex of the value, lower and upper case; and the base64 of the value and of
// the value with a final newline (as `echo "$S" | base64` encodes it), in the
// standard and URL alphabets, padded or not, the part of it that does not
// depend on what follows, and each line of it when base64(1) wraps it at
// Base64Columns. Base64 of a secret inside a longer encoded text is found only
// when it starts on a 3-byte boundary of that text.
func Forms(secrets []string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(s string, always bool) {
		if s == "" || seen[s] || (!always && len(s) < MinLen) {
			return
		}
		seen[s] = true
		out = append(out, s)
	}
	for _, s := range secrets {
		if s == "" {
			continue
		}
		add(s, true)
		texts := []string{s}
		if strings.ContainsAny(s, "\r\n") {
			for _, line := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }) {
				if len(line) >= MinLen {
					texts = append(texts, line)
				}
			}
		}
		for _, f := range texts {
			add(f, false)
			add(url.QueryEscape(f), false)
			add(url.PathEscape(f), false)
			add(jsonEscape(f, true), false)
			add(jsonEscape(f, false), false)
		}
		add(hex.EncodeToString([]byte(s)), false)
		add(strings.ToUpper(hex.EncodeToString([]byte(s))), false)
		for _, v := range []string{s, s + "\n"} {
			for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
				full := enc.EncodeToString([]byte(v))
				add(full, false)
				add(enc.WithPadding(base64.NoPadding).EncodeToString([]byte(v)), false)
				// The last group of an unpadded encoding depends on the bytes after it.
				add(full[:len(v)/3*4], false)
				for i := 0; len(full) > Base64Columns && i < len(full); i += Base64Columns {
					add(full[i:min(i+Base64Columns, len(full))], false)
				}
			}
		}
	}
	return out
}

// jsonEscape returns s as it appears inside a JSON string.
func jsonEscape(s string, escapeHTML bool) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(escapeHTML)
	_ = enc.Encode(s)
	q := strings.TrimSuffix(b.String(), "\n")
	return q[1 : len(q)-1]
}
