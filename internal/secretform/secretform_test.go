package secretform

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// masked replaces every byte any form covers with '*', the obvious way.
func masked(s string, forms []string) string {
	b := []byte(s)
	for _, f := range forms {
		for i := 0; i+len(f) <= len(s); i++ {
			if s[i:i+len(f)] == f {
				for j := i; j < i+len(f); j++ {
					b[j] = '*'
				}
			}
		}
	}
	return string(b)
}

func TestFormsCoverLinesAndEncodings(t *testing.T) {
	t.Parallel()
	secret := "first-line-secret\nsecond line: p@ss/w0rd&more\nshort\n"
	forms := Forms([]string{secret})
	b64 := func(e *base64.Encoding, s string) string { return e.EncodeToString([]byte(s)) }
	for _, c := range []struct{ name, printed string }{
		{"whole", secret},
		{"first line", "first-line-secret"},
		{"tail -1", "second line: p@ss/w0rd&more"},
		{"base64", b64(base64.StdEncoding, secret)},
		{"base64 of echo", b64(base64.StdEncoding, secret+"\n")},
		{"base64url", b64(base64.URLEncoding, secret)},
		{"base64 unpadded", b64(base64.RawStdEncoding, secret)},
		{"base64url unpadded", b64(base64.RawURLEncoding, secret+"\n")},
		{"hex", hex.EncodeToString([]byte(secret))},
		{"HEX", strings.ToUpper(hex.EncodeToString([]byte(secret)))},
		{"query escape", url.QueryEscape(secret)},
		{"path escape", url.PathEscape(secret)},
		{"json", mustJSON(secret)[1 : len(mustJSON(secret))-1]},
		{"json of one line", "second line: p@ss/w0rd\u0026more"},
		{"json of one line, HTML escaped", `second line: p@ss/w0rd\u0026more`},
	} {
		require.Equal(t, "before "+strings.Repeat("*", len(c.printed))+" after",
			masked("before "+c.printed+" after", forms), c.name)
	}
	// Encoded with what follows, the part that depends on the secret alone goes.
	more := b64(base64.StdEncoding, secret+"and what follows")
	n := len(secret) / 3 * 4
	require.Equal(t, strings.Repeat("*", n), masked(more, forms)[:n])
	// A short line of a multi-line secret is not a form of its own: it would
	// mask every "short" in the log.
	require.Equal(t, "a short story", masked("a short story", forms))
}

// TestFormsWrappedBase64: base64(1) wraps its output at 76 columns; each line
// of a long secret's encoding is a form (but a last line shorter than MinLen).
func TestFormsWrappedBase64(t *testing.T) {
	t.Parallel()
	secret := strings.Repeat("0123456789abcdef", 8)
	enc := base64.StdEncoding.EncodeToString([]byte(secret + "\n"))
	wrapped, want := "", ""
	for i := 0; i < len(enc); i += Base64Columns {
		line := enc[i:min(i+Base64Columns, len(enc))]
		wrapped += line + "\n"
		if len(line) >= MinLen {
			line = strings.Repeat("*", len(line))
		}
		want += line + "\n"
	}
	require.Equal(t, want, masked(wrapped, Forms([]string{secret})))
	require.Greater(t, strings.Count(wrapped, "\n"), 1)
}

// TestFormsShortSecret: a value shorter than MinLen is still masked whole, but
// none of its encodings shorter than MinLen is a form.
func TestFormsShortSecret(t *testing.T) {
	t.Parallel()
	forms := Forms([]string{"abc", "", "abc"})
	require.Equal(t, "abc", forms[0])
	for _, f := range forms[1:] {
		require.GreaterOrEqual(t, len(f), MinLen, f)
	}
	seen := map[string]bool{}
	for _, f := range forms {
		require.False(t, seen[f], "each form once: %q", f)
		seen[f] = true
	}
}

func mustJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestStdlibOnly: the runner and the server both import this package, so it
// depends on nothing but the standard library (runner/boundary_test.go forbids
// the runner the server's packages; this keeps them from coming in through here).
func TestStdlibOnly(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Equal(t, []string{"github.com/aura-ci/aura/internal/secretform"}, strings.Fields(string(out)))
}
