package annotation

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParse reads one line of a job's log: never a panic, and an annotation
// only with a known level and fields within their limits.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"::error file=app.js,line=10,col=15::Something went wrong",
		"  ::notice title=Deploy%3A done,file=a%2Cb.go::ok%0Athen",
		"::warning::Missing semicolon",
		"::error file=x.go,line=-1,endLine=99999999999999999999::m",
		"\x1b[31m::error::boom\x1b[0m",
		"progress 10%\rprogress 100%\r",
		"::error title=" + strings.Repeat("é", 700) + "::" + strings.Repeat("%25", 500),
		"::",
		"\x1b]8;;https://e.example\x07link\x1b]8;;\x07",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		clean := Clean(line)
		if len(clean) > len(line) {
			t.Fatalf("Clean made %q longer: %q", line, clean)
		}
		if strings.Contains(clean, "\r") {
			t.Fatalf("Clean kept a carriage return: %q", clean)
		}
		a, ok := Parse(clean)
		if !ok {
			if a != (Annotation{}) {
				t.Fatalf("no annotation but %+v", a)
			}
			return
		}
		switch a.Level {
		case "error", "warning", "notice":
		default:
			t.Fatalf("level %q", a.Level)
		}
		for _, s := range []string{a.Message, a.File, a.Title} {
			if len(s) > maxField {
				t.Fatalf("field of %d bytes", len(s))
			}
			if utf8.ValidString(clean) && !utf8.ValidString(s) {
				t.Fatalf("field %q cut inside a character", s)
			}
		}
		if a.Line < 0 || a.Col < 0 || a.EndLine < 0 {
			t.Fatalf("negative position %+v", a)
		}
	})
}

// FuzzSummarize reads a whole log: never a panic or an error from memory, and
// a summary bounded whatever the log holds, counting its lines right.
func FuzzSummarize(f *testing.F) {
	f.Add([]byte("a\n::error file=main.go,line=7::boom\nprogress 10%\rprogress 100%\nlast"), 5)
	f.Add([]byte(strings.Repeat("y", 70<<10)+"\n::warning::w\n"), 1)
	f.Add([]byte(strings.Repeat("::error::e\n", 120)), 0)
	f.Add([]byte(""), 20)
	f.Add([]byte("\n\n\n"), -1)
	f.Fuzz(func(t *testing.T, log []byte, tail int) {
		if tail < 0 || tail > 1000 {
			tail = tail & 1023
		}
		s, err := Summarize(bytes.NewReader(log), tail)
		if err != nil {
			t.Fatal(err)
		}
		lines := bytes.Count(log, []byte("\n"))
		if len(log) > 0 && log[len(log)-1] != '\n' {
			lines++
		}
		if s.Lines != lines {
			t.Fatalf("%d lines counted, the log has %d", s.Lines, lines)
		}
		if len(s.Annotations) > MaxAnnotations || len(s.Tail) > tail || len(s.Tail) > s.Lines {
			t.Fatalf("%d annotations, %d tail lines of %d", len(s.Annotations), len(s.Tail), tail)
		}
		if s.TailStart < 1 || s.TailStart+len(s.Tail)-1 != s.Lines {
			t.Fatalf("tail starts at %d with %d lines of %d", s.TailStart, len(s.Tail), s.Lines)
		}
		for _, l := range s.Tail {
			if len(l) > maxLine {
				t.Fatalf("tail line of %d bytes", len(l))
			}
		}
		prev := 0
		for _, a := range s.Annotations {
			if a.LogLine <= prev || a.LogLine > s.Lines {
				t.Fatalf("annotation at line %d after %d of %d", a.LogLine, prev, s.Lines)
			}
			prev = a.LogLine
		}
	})
}
