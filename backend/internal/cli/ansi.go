package cli

import "io"

// escapeFilter copies a job's log to a terminal or a file. For a terminal
// (colour true) it keeps colours (SGR, `ESC [ … m`) and erase-in-line
// (`ESC [ … K`); for a file or pipe it keeps neither. Every other escape or
// control sequence is dropped either way: a job's output must not set the
// terminal's title, write its clipboard (OSC 52), move its cursor or answer
// for the user. Text, tabs, newlines, carriage returns and backspaces pass.
// Sequences may be split across writes.
type escapeFilter struct {
	w      io.Writer
	colour bool
	state  int
	seq    []byte // the CSI sequence being read
	out    []byte
}

const (
	stText      = iota
	stEsc       // after ESC
	stCSI       // after ESC [
	stString    // OSC, DCS, SOS, PM, APC: until BEL or ESC \
	stStringEsc // ESC inside a string
	stEscInter  // ESC and intermediate bytes, until the final byte
	stC2        // after 0xC2, which may start a C1 control (U+0080–U+009F)
)

func newEscapeFilter(w io.Writer, colour bool) *escapeFilter {
	return &escapeFilter{w: w, colour: colour}
}

func (f *escapeFilter) Write(p []byte) (int, error) {
	f.out = f.out[:0]
	for _, b := range p {
		switch f.state {
		case stText:
			f.text(b)
		case stC2:
			f.state = stText
			switch {
			case b >= 0xa0 && b <= 0xbf: // a character, U+00A0–U+00BF
				f.out = append(f.out, 0xc2, b)
			case b >= 0x80 && b <= 0x9f: // a C1 control: dropped
			default:
				// A 0xC2 that starts no character is dropped, so that it cannot
				// make a C1 control with a byte after a dropped sequence; b is
				// read as any other byte.
				f.text(b)
			}
		case stEsc:
			switch {
			case b == '[':
				f.state, f.seq = stCSI, f.seq[:0]
			case b == ']', b == 'P', b == 'X', b == '^', b == '_':
				f.state = stString
			case b >= 0x20 && b <= 0x2f:
				f.state = stEscInter
			default: // a two-byte escape such as ESC c (reset): dropped
				f.state = stText
			}
		case stCSI:
			switch {
			case b >= 0x40 && b <= 0x7e:
				if f.colour && (b == 'm' || b == 'K') && len(f.seq) <= 64 {
					f.out = append(f.out, 0x1b, '[')
					f.out = append(f.out, f.seq...)
					f.out = append(f.out, b)
				}
				f.state = stText
			case b >= 0x20 && b <= 0x3f:
				if len(f.seq) <= 64 {
					f.seq = append(f.seq, b)
				}
			default: // not part of a CSI: the sequence is cut short
				f.state = stText
			}
		case stString:
			switch b {
			case 0x07:
				f.state = stText
			case 0x1b:
				f.state = stStringEsc
			}
		case stStringEsc:
			if b == '\\' {
				f.state = stText
			} else if b != 0x1b {
				f.state = stString
			}
		case stEscInter:
			if b >= 0x30 && b <= 0x7e {
				f.state = stText
			} else if b < 0x20 || b > 0x2f {
				f.state = stText
			}
		}
	}
	if len(f.out) > 0 {
		if _, err := f.w.Write(f.out); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// text reads byte b of text: an escape or a possible C1 control starts, a
// control character other than newline, carriage return, tab and backspace is
// dropped, the rest passes.
func (f *escapeFilter) text(b byte) {
	switch {
	case b == 0x1b:
		f.state = stEsc
	case b == 0xc2:
		f.state = stC2
	case b == '\n', b == '\r', b == '\t', b == '\b', b >= 0x20 && b != 0x7f:
		f.out = append(f.out, b)
	}
}
