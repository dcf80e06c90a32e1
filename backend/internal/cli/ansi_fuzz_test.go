package cli

import (
	"bytes"
	"regexp"
	"testing"
)

// safeColour is what may reach a terminal besides text: colours and erase-in-line.
var safeColour = regexp.MustCompile(`\x1b\[[\x20-\x3f]{0,65}[mK]`)

// FuzzEscapeFilter prints any job log: nothing reaches the terminal but text,
// tabs, newlines, carriage returns, backspaces and (for a terminal) colours and
// erase-in-line, never a C1 control in UTF-8 (0xC2 0x80–0x9F); and how the log
// is cut into writes changes nothing.
func FuzzEscapeFilter(f *testing.F) {
	for _, s := range []string{
		"\x1b[1;31mred\x1b[0m plain\t\x1b[K\r\n", "\x1b]0;title\x07", "\x1b]52;c;ZWNobyBoaQ==\x1b\\", "\x1b[2J\x1b[10;10H",
		"\x1bPq#0;2;0;0;0\x1b\\", "\x1b(B\x1bc", "\xc2\x9b31m", "caf\xc3\xa9 \xc2\xa9\x07\x00end\n", "\xc2\xc2\x9b2J",
		"\x1b[" + string(bytes.Repeat([]byte("1;"), 40)) + "m", "\xc2\x1b[31m",
	} {
		f.Add([]byte(s), uint8(3), true)
	}
	f.Fuzz(func(t *testing.T, log []byte, step uint8, colour bool) {
		var whole, pieces bytes.Buffer
		_, _ = newEscapeFilter(&whole, colour).Write(log)
		fp := newEscapeFilter(&pieces, colour)
		n := max(int(step), 1)
		for i := 0; i < len(log); i += n {
			_, _ = fp.Write(log[i:min(i+n, len(log))])
		}
		if !bytes.Equal(whole.Bytes(), pieces.Bytes()) {
			t.Fatalf("%q printed as %q whole but %q in writes of %d", log, whole.Bytes(), pieces.Bytes(), n)
		}
		out := whole.Bytes()
		if colour {
			out = safeColour.ReplaceAll(out, nil)
		}
		for i, b := range out {
			if b < 0x20 && b != '\n' && b != '\r' && b != '\t' && b != '\b' || b == 0x7f || b == 0x1b {
				t.Fatalf("%q printed control byte %#x: %q", log, b, whole.Bytes())
			}
			if b == 0xc2 && i+1 < len(out) && out[i+1] >= 0x80 && out[i+1] <= 0x9f {
				t.Fatalf("%q printed a C1 control: %q", log, whole.Bytes())
			}
		}
	})
}
