package mask

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
)

// minLen is the shortest form of a secret masked on its own, other than the whole
// value: a line of a multi-line secret or an encoding shorter than this would
// mask ordinary output wherever it happens to occur (a line "}" or "fi" of a
// key file, say).
const minLen = 8

// Expand returns the forms of each secret a job may print: the value itself;
// each line of a multi-line value (`tail -1`, `grep`), except lines shorter than
// minLen, which would over-mask; the URL query and path escaping and JSON string
// escaping of both; and the base64 of the value and of the value with a final
// newline (as `echo "$S" | base64` encodes it): standard and URL alphabets,
// padded or not, the part of it that does not depend on what follows, and each
// line of it when base64(1) wraps it at 76. Base64 of a secret inside a longer encoded text is found only when it
// starts on a 3-byte boundary of that text.
func Expand(secrets []string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(s string, always bool) {
		if s == "" || seen[s] || (!always && len(s) < minLen) {
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
		forms := []string{s}
		if strings.ContainsAny(s, "\r\n") {
			for _, line := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }) {
				if len(line) >= minLen {
					forms = append(forms, line)
				}
			}
		}
		for _, f := range forms {
			add(f, false)
			add(url.QueryEscape(f), false)
			add(url.PathEscape(f), false)
			add(jsonEscape(f, true), false)
			add(jsonEscape(f, false), false)
		}
		for _, v := range []string{s, s + "\n"} {
			for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
				full := enc.EncodeToString([]byte(v))
				add(full, false)
				add(enc.WithPadding(base64.NoPadding).EncodeToString([]byte(v)), false)
				// The last group of an unpadded encoding depends on the bytes after it.
				add(full[:len(v)/3*4], false)
				for i := 0; len(full) > 76 && i < len(full); i += 76 {
					add(full[i:min(i+76, len(full))], false)
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
