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
		got := maskedCopy(in, forms)
		require.Equal(t, c.want, string(got), c.in)
		require.Equal(t, c.in, string(in), "the input is left as received")
		require.Equal(t, c.in == c.want, bytes.Equal(got, in) && &got[0] == &in[0], "a copy only when masked")
	}
}
