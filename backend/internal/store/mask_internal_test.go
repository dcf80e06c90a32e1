package store

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMaskedCopy: a chunk with a form (at its start, middle or end, or sharing
// only a form's first bytes) comes back masked in a copy; one without, as is.
func TestMaskedCopy(t *testing.T) {
	t.Parallel()
	forms := secretForms([]string{"pa55word/with+url&chars", "AURA_RUNNERKEY_r1-0123456789abcdef"})
	for _, c := range []struct{ in, want string }{
		{"nothing here", "nothing here"},
		{"pa55word/with+url&char", "pa55word/with+url&char"}, // one byte short
		{"pa55word/with+url&chars", "***********************"},
		{"x pa55word/with+url&chars y", "x *********************** y"},
		{"pa55word pa55word%2Fwith%2Burl%26chars", "pa55word " + strings.Repeat("*", 29)},
		{"key AURA_RUNNERKEY_r1-0123456789abcdef", "key **********************************"},
	} {
		in := []byte(c.in)
		got := maskedCopy(in, newMatcher(forms))
		require.Equal(t, c.want, string(got), c.in)
		require.Equal(t, c.in, string(in), "the input is left as received")
		require.Equal(t, c.in == c.want, bytes.Equal(got, in) && &got[0] == &in[0], "a copy only when masked")
	}
}

// FuzzMaskedCopy compares the server's masking of a chunk with the obvious one:
// every byte that an occurrence of a form of the secrets covers is masked, no
// other, and the input stays as received.
func FuzzMaskedCopy(f *testing.F) {
	f.Add("the key is hunter2hunter2, again: aHVudGVyMmh1bnRlcjI=", "hunter2hunter2", "again, again")
	f.Add("abcabcabcabcabcab", "abcabcab", "cabcabca")
	f.Add("line1-long\nline2-long\n", "line1-long\nline2-long", "ne2\nline")
	f.Add("aaaaaaaaaaaaaaaaaaaa", "aaaaaaaa", "aaaaaaaaa")
	// Forms at the matcher's bounds: 7, 8, 22 and 23 bytes, at the very start
	// and end of the text and in a stride's every phase.
	f.Add("0123456789012345678901x0123456789012345678901", "0123456789012345678901", "xyz1234")
	f.Add("..01234567890123456789012", "01234567890123456789012", "12345678")
	f.Add("abcdefgh", "abcdefgh", "bcdefghijklmnopqrstuvw")
	f.Fuzz(func(t *testing.T, text, s1, s2 string) {
		forms := secretForms([]string{s1, s2})
		want := []byte(text)
		for _, f := range forms {
			for i := 0; i+len(f) <= len(text); i++ {
				if text[i:i+len(f)] == string(f) {
					copy(want[i:], bytes.Repeat([]byte("*"), len(f)))
				}
			}
		}
		in := []byte(text)
		got := maskedCopy(in, newMatcher(forms))
		if string(got) != string(want) {
			t.Fatalf("text %q secrets %q %q: got %q, want %q", text, s1, s2, got, want)
		}
		if string(in) != text {
			t.Fatalf("the input changed: %q", in)
		}
	})
}

// BenchmarkMaskedCopy masks a 64 KiB chunk of ordinary output (no secret in it,
// the common case) against a job's usual secrets: two values, a multi-line key
// and the job's and the runner's tokens.
func BenchmarkMaskedCopy(b *testing.B) {
	key := "-----BEGIN KEY-----\n" + strings.Repeat("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC", 20) + "\n-----END KEY-----"
	forms := secretForms([]string{"pa55word/with+url&chars", "correct-horse-battery-staple", key,
		"AURA_JOB_1234_0123456789abcdef0123456789abcdef", "AURA_RUNNERKEY_r1-0123456789abcdef"})
	chunk := bytes.Repeat([]byte("compiling package github.com/example/thing/v2 ... ok 0.123s\n"), 64<<10/60)
	m := newMatcher(forms)
	b.SetBytes(int64(len(chunk)))
	for b.Loop() {
		maskedCopy(chunk, m)
	}
	b.ReportMetric(float64(len(forms)), "forms")
}

// TestMatcherEveryLengthAndPosition: the matcher looks at a chunk only every
// few bytes, yet finds a form of any length (short, 4-byte and 8-byte windows,
// each stride) at every position, alone or among other forms.
func TestMatcherEveryLengthAndPosition(t *testing.T) {
	t.Parallel()
	filler := bytes.Repeat([]byte("the quick brown fox jumps over the lazy dog. "), 4)[:150]
	for n := 1; n <= 70; n++ {
		secret := strings.Repeat("Zq9#", 20)[:n]
		for _, others := range [][]string{nil, {"another-secret-value-of-some-length", "pw123456"}} {
			m := newMatcher(secretForms(append([]string{secret}, others...)))
			require.False(t, m.occurs(filler), "n=%d", n)
			for at := 0; at+n <= len(filler); at++ {
				chunk := bytes.Clone(filler)
				copy(chunk[at:], secret)
				require.True(t, m.occurs(chunk), "n=%d at=%d", n, at)
				require.True(t, m.occurs(chunk[at:at+n]), "n=%d alone", n)
				require.False(t, m.occurs(chunk[at:at+n-1]), "n=%d cut", n)
			}
		}
	}
}

// BenchmarkMatcherTokens looks for the forms of a runner's and a job's tokens
// (the job token's base64 wraps to an 8-byte last line, a short form) in 1 MiB
// of build output: what every chunk of a log costs.
func BenchmarkMatcherTokens(b *testing.B) {
	m := newMatcher(secretForms([]string{"AURA_RUNNERKEY_r1-0123456789abcdef0123456789abcdef",
		"AURA_JOBKEY_1_1_1_0123456789abcdef0123456789abcdef0123456789a"}))
	chunk := bytes.Repeat([]byte("[  1234] compiling backend/internal/store/jobs.go (0badf00d) ... ok\n"), 1<<20/68)
	b.SetBytes(int64(len(chunk)))
	for b.Loop() {
		if m.occurs(chunk) {
			b.Fatal("no form is in the chunk")
		}
	}
}
