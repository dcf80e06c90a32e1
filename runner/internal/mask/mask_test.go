package mask

import (
	"bytes"
	"encoding/base64"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/internal/secretform"
)

// reference masks s the slow, obvious way: mark every byte any secret covers, then
// replace each run of marked bytes with Replacement.
func reference(s string, secrets []string) string {
	marked := make([]bool, len(s))
	for _, sec := range secrets {
		if sec == "" {
			continue
		}
		for i := 0; i+len(sec) <= len(s); i++ {
			if s[i:i+len(sec)] == sec {
				for j := i; j < i+len(sec); j++ {
					marked[j] = true
				}
			}
		}
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if !marked[i] {
			b.WriteByte(s[i])
			continue
		}
		if i == 0 || !marked[i-1] {
			b.WriteString(Replacement)
		}
	}
	return b.String()
}

// writeInPieces streams input through a Writer, cut at the given offsets.
func writeInPieces(t *testing.T, input string, secrets []string, cuts ...int) string {
	t.Helper()
	var out bytes.Buffer
	w := NewWriter(&out, secrets)
	prev := 0
	for _, c := range append(cuts, len(input)) {
		n, err := w.Write([]byte(input[prev:c]))
		require.NoError(t, err)
		require.Equal(t, c-prev, n)
		prev = c
	}
	require.NoError(t, w.Close())
	return out.String()
}

func TestWriter(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		secrets []string
		input   string
		want    string
	}{
		{"no secrets", nil, "hello world", "hello world"},
		{"empty secret ignored", []string{""}, "hello", "hello"},
		{"whole", []string{"hunter2"}, "password=hunter2\n", "password=***\n"},
		{"twice", []string{"hunter2"}, "hunter2 and hunter2", "*** and ***"},
		{"adjacent occurrences are one run", []string{"abc"}, "xabcabcx", "x***x"},
		{"at the very start", []string{"abc"}, "abcdef", "***def"},
		{"at the very end", []string{"abc"}, "xyzabc", "xyz***"},
		{"whole input", []string{"abc"}, "abc", "***"},
		{"prefix only at the end is kept", []string{"abcdef"}, "xxabc", "xxabc"},
		{"one byte secret", []string{"x"}, "axbxxc", "a***b***c"},
		{"one byte secret everywhere", []string{"x"}, "xxxx", "***"},
		{"overlapping secrets", []string{"abc", "bcd"}, "1abcd2", "1***2"},
		{"secret inside another", []string{"bc", "abcd"}, "abcd bc", "*** ***"},
		{"self-overlapping occurrences", []string{"aa"}, "baaab", "b***b"},
		{"near miss", []string{"abc"}, "ababdabc", "ababd***"},
		{"multi-byte runes", []string{"päss"}, "x=päss;", "x=***;"},
		{"newline in secret", []string{"a\nb"}, "a\na\nb\n", "a\n***\n"},
		{"duplicate secrets", []string{"abc", "abc"}, "abc", "***"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, reference(tt.input, tt.secrets), "reference")
			require.Equal(t, tt.want, String(tt.input, tt.secrets), "whole")
			// Every single cut, and every pair of cuts, gives the same output.
			for i := 0; i <= len(tt.input); i++ {
				require.Equal(t, tt.want, writeInPieces(t, tt.input, tt.secrets, i), "cut at %d", i)
				for j := i; j <= len(tt.input); j++ {
					require.Equal(t, tt.want, writeInPieces(t, tt.input, tt.secrets, i, j), "cuts at %d, %d", i, j)
				}
			}
			// Byte by byte.
			cuts := make([]int, len(tt.input))
			for i := range cuts {
				cuts[i] = i
			}
			require.Equal(t, tt.want, writeInPieces(t, tt.input, tt.secrets, cuts...), "byte by byte")
		})
	}
}

// TestWriterRandom compares streaming with the reference on random inputs over a
// small alphabet, where secrets overlap and repeat a lot.
func TestWriterRandom(t *testing.T) {
	t.Parallel()

	rng := rand.New(rand.NewPCG(1, 2))
	word := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = "abc\n"[rng.IntN(4)]
		}
		return string(b)
	}
	for range 2000 {
		secrets := make([]string, 1+rng.IntN(3))
		for i := range secrets {
			secrets[i] = word(1 + rng.IntN(5))
		}
		input := word(rng.IntN(60))
		var cuts []int
		for i := 0; i < len(input); i += rng.IntN(7) {
			cuts = append(cuts, i)
		}
		require.Equal(t, reference(input, secrets), writeInPieces(t, input, secrets, cuts...),
			"secrets %q input %q cuts %v", secrets, input, cuts)
	}
}

// TestWriterChunkBoundary writes a secret across the boundary of two large writes,
// the way a job's output arrives in pipe-sized reads.
func TestWriterChunkBoundary(t *testing.T) {
	t.Parallel()

	secret := "s3cr3t-t0k3n"
	for cut := 1; cut < len(secret); cut++ {
		var out bytes.Buffer
		w := NewWriter(&out, []string{secret})
		first := strings.Repeat("x", 32<<10-cut) + secret[:cut]
		second := secret[cut:] + strings.Repeat("y", 32<<10)
		_, err := w.Write([]byte(first))
		require.NoError(t, err)
		// Nothing that could be the secret's beginning has been passed on yet.
		require.NotContains(t, out.String(), secret[:cut])
		_, err = w.Write([]byte(second))
		require.NoError(t, err)
		require.NoError(t, w.Close())
		require.Equal(t, strings.Repeat("x", 32<<10-cut)+"***"+strings.Repeat("y", 32<<10), out.String())
	}
}

// TestWriterHoldsBackLittle checks that output is passed on as soon as it cannot be
// part of a secret, so that a live log is not delayed by the masker: only a tail
// that begins a secret waits.
func TestWriterHoldsBackLittle(t *testing.T) {
	t.Parallel()

	var out bytes.Buffer
	w := NewWriter(&out, []string{"abcd", "AURA_JOBKEY_1_1_x"})
	write := func(s string) {
		t.Helper()
		_, err := w.Write([]byte(s))
		require.NoError(t, err)
	}
	write("started\n")
	require.Equal(t, "started\n", out.String())
	write("token AURA_")
	require.Equal(t, "started\ntoken ", out.String(), "a possible secret waits")
	write("x ab")
	require.Equal(t, "started\ntoken AURA_x ", out.String())
	write("cd!")
	require.Equal(t, "started\ntoken AURA_x ***!", out.String())
	write("abc")
	require.NoError(t, w.Close())
	require.Equal(t, "started\ntoken AURA_x ***!abc", out.String())
	_, err := w.Write([]byte("more"))
	require.Error(t, err)
}

// TestWriterMasksSecretForms: with the forms secretform gives, the lines base64(1)
// prints of a long secret (wrapped at 76 columns) are masked each, and so is
// the secret encoded in a longer text.
func TestWriterMasksSecretForms(t *testing.T) {
	t.Parallel()
	secret := strings.Repeat("0123456789abcdef", 8)
	enc := base64.StdEncoding.EncodeToString([]byte(secret + "\n"))
	var wrapped strings.Builder
	lines := 0
	for i := 0; i < len(enc); i += 76 {
		wrapped.WriteString(enc[i:min(i+76, len(enc))] + "\n")
		lines++
	}
	forms := secretform.Forms([]string{secret})
	require.Equal(t, strings.Repeat(Replacement+"\n", lines), writeInPieces(t, wrapped.String(), forms, 3, 80, 100))
	more := base64.StdEncoding.EncodeToString([]byte(secret + "and what follows"))
	require.NotContains(t, String(more, forms), more[:len(secret)/3*4])
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

func BenchmarkWriter(b *testing.B) {
	chunk := bytes.Repeat([]byte("some build output, line after line of it\n"), 800)
	w := NewWriter(discard{}, []string{"hunter2", "AURA_JOBKEY_12_1_abcdef", "x"})
	b.SetBytes(int64(len(chunk)))
	for b.Loop() {
		_, _ = w.Write(chunk)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
