package cli

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestEscapeFilter(t *testing.T) {
	const in = "\x1b[1;31mred\x1b[0m plain\t\x1b[K\r\n" + // colour and erase-line
		"\x1b]0;pwned title\x07" + // OSC title, BEL-terminated
		"\x1b]52;c;ZWNobyBoaQ==\x1b\\" + // OSC 52 clipboard write, ST-terminated
		"\x1b[2J\x1b[10;10H" + // clear screen, move cursor
		"\x1bPq#0;2;0;0;0\x1b\\" + // DCS (sixel)
		"\x1b(B\x1bc" + // charset, reset
		"\xc2\x9b31m" + // the 8-bit CSI as UTF-8: dropped, its parameters stay text
		"caf\xc3\xa9 \xc2\xa9\x07\x00end\n"
	for _, tc := range []struct {
		colour bool
		want   string
	}{
		{true, "\x1b[1;31mred\x1b[0m plain\t\x1b[K\r\n31mcafé ©end\n"},
		{false, "red plain\t\r\n31mcafé ©end\n"},
	} {
		// Whole, and one byte at a time: a sequence split across writes.
		for _, step := range []int{len(in), 1, 3} {
			var out bytes.Buffer
			f := newEscapeFilter(&out, tc.colour)
			for i := 0; i < len(in); i += step {
				n, err := f.Write([]byte(in[i:min(i+step, len(in))]))
				require.NoError(t, err)
				require.Equal(t, min(step, len(in)-i), n)
			}
			require.Equal(t, tc.want, out.String(), "colour %v, step %d", tc.colour, step)
		}
	}
}
