package mask

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestExpandMasksLinesAndEncodings(t *testing.T) {
	t.Parallel()
	secret := "first-line-secret\nsecond line: p@ss/w0rd&more\nshort\n"
	secrets := Expand([]string{secret})
	b64 := func(e *base64.Encoding, s string) string { return e.EncodeToString([]byte(s)) }
	for _, c := range []struct{ name, printed, want string }{
		{"whole", "X=" + secret, "X=***"},
		{"first line", "first-line-secret", "***"},
		{"tail -1", "second line: p@ss/w0rd&more", "***"},
		{"base64", b64(base64.StdEncoding, secret), "***"},
		{"base64 of echo", b64(base64.StdEncoding, secret+"\n"), "***"},
		{"base64url", b64(base64.URLEncoding, secret), "***"},
		{"base64 unpadded", b64(base64.RawStdEncoding, secret), "***"},
		{"base64url unpadded", b64(base64.RawURLEncoding, secret+"\n"), "***"},
		{"query escape", url.QueryEscape(secret), "***"},
		{"path escape", url.PathEscape(secret), "***"},
		{"json", mustJSON(secret), `"***"`},
		{"json of one line", mustJSON("second line: p@ss/w0rd&more"), `"***"`},
	} {
		require.Equal(t, "before "+c.want+" after", String("before "+c.printed+" after", secrets), c.name)
	}
	// Encoded with what follows, the part that depends on the secret alone goes.
	more := b64(base64.StdEncoding, secret+"and what follows")
	out := String(more, secrets)
	require.True(t, strings.HasPrefix(out, Replacement), out)
	require.NotContains(t, out, more[:len(secret)/3*4])
	// A short line of a multi-line secret is not masked on its own: it would mask
	// every "short" in the log.
	require.Equal(t, "a short story", String("a short story", secrets))
}

// base64(1) wraps its output at 76 characters; each line of a long secret's
// encoding is masked.
func TestExpandWrappedBase64(t *testing.T) {
	t.Parallel()
	secret := strings.Repeat("0123456789abcdef", 8)
	enc := base64.StdEncoding.EncodeToString([]byte(secret + "\n"))
	var wrapped strings.Builder
	lines := 0
	for i := 0; i < len(enc); i += 76 {
		wrapped.WriteString(enc[i:min(i+76, len(enc))] + "\n")
		lines++
	}
	out := String(wrapped.String(), Expand([]string{secret}))
	require.Equal(t, strings.Repeat("***\n", lines), out)
}

func mustJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// FuzzWriter streams text through a Writer cut at random places and compares it
// with the obvious masking: no secret is left and nothing else is masked.
func FuzzWriter(f *testing.F) {
	f.Add("the key is hunter2hunter2, again: hunter2hunter2.", "hunter2hunter2", "again", uint64(1))
	f.Add("abcabcabcab", "abcab", "cabc", uint64(7))
	f.Add("line1\nline2\n", "line1\nline2", "ne2\nl", uint64(3))
	f.Add("aaaaaaaaaaaaaaaaaaaa", "aaa", "aaaaaaa", uint64(42))
	f.Fuzz(func(t *testing.T, text, s1, s2 string, seed uint64) {
		secrets := []string{s1, s2}
		want := reference(text, secrets)
		r := rand.New(rand.NewPCG(seed, seed>>32))
		var out bytes.Buffer
		w := NewWriter(&out, secrets)
		for rest := []byte(text); len(rest) > 0; {
			n := 1 + r.IntN(len(rest))
			if r.IntN(2) == 0 {
				n = min(n, 1+r.IntN(4)) // many small writes too
			}
			if _, err := w.Write(rest[:n]); err != nil {
				t.Fatal(err)
			}
			rest = rest[n:]
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if out.String() != want {
			t.Fatalf("text %q secrets %q: got %q, want %q", text, secrets, out.String(), want)
		}
	})
}
