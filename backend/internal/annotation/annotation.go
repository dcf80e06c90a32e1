// Package annotation reads what a job printed for people in GitHub Actions'
// workflow command syntax (::error file=…,line=…::message, ::warning …::,
// ::notice …::) and the last lines of its log: the "why it failed" of a build.
package annotation

import (
	"bufio"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// Annotation is one ::error, ::warning or ::notice line of a log.
type Annotation struct {
	Level   string `json:"level"` // error, warning or notice
	Message string `json:"message"`
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Col     int    `json:"col,omitempty"`
	EndLine int    `json:"endLine,omitempty"`
	Title   string `json:"title,omitempty"`
	// LogLine is the 1-based line of the log that printed it.
	LogLine int `json:"logLine"`
}

// Limits of what one summary holds, however much a job prints.
const (
	MaxAnnotations = 100
	maxField       = 1000
	maxLine        = 4096
)

// escapes are the sequences GitHub's toolkit writes in a command's
// properties (all of them) and its message (%25, %0D, %0A).
var (
	propertyEscapes = strings.NewReplacer("%25", "%", "%0D", "\r", "%0A", "\n", "%3A", ":", "%2C", ",")
	messageEscapes  = strings.NewReplacer("%25", "%", "%0D", "\r", "%0A", "\n")
)

var ansiPattern = regexp.MustCompile(`\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)`)

// Clean is a log line as plain text: colours and other escape sequences
// dropped, and what a carriage return overwrote dropped too, as a terminal shows it.
func Clean(line string) string {
	line = strings.TrimSuffix(line, "\r")
	if i := strings.LastIndexByte(line, '\r'); i >= 0 {
		line = line[i+1:]
	}
	return ansiPattern.ReplaceAllString(line, "")
}

// Parse reads one log line (cleaned); ok is false when it is no annotation.
func Parse(line string) (a Annotation, ok bool) {
	rest, found := strings.CutPrefix(strings.TrimLeft(line, " \t"), "::")
	if !found {
		return a, false
	}
	head, msg, found := strings.Cut(rest, "::")
	if !found {
		return a, false
	}
	level, props, _ := strings.Cut(head, " ")
	switch level {
	case "error", "warning", "notice":
	default:
		return a, false
	}
	a.Level = level
	a.Message = cut(messageEscapes.Replace(msg))
	for _, p := range strings.Split(props, ",") {
		k, v, found := strings.Cut(strings.TrimSpace(p), "=")
		if !found {
			continue
		}
		v = cut(propertyEscapes.Replace(v))
		switch k {
		case "file":
			a.File = v
		case "title":
			a.Title = v
		case "line":
			a.Line = number(v)
		case "endLine":
			a.EndLine = number(v)
		case "col":
			a.Col = number(v)
		}
	}
	return a, true
}

func number(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

func cut(s string) string {
	if len(s) <= maxField {
		return s
	}
	n := maxField
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// Summary is what a failed job's log says about why.
type Summary struct {
	Annotations []Annotation `json:"annotations"`
	// Tail is the log's last lines, plain text, the first of which is line TailStart.
	Tail      []string `json:"tail"`
	TailStart int      `json:"tailStart"`
	Lines     int      `json:"lines"`
}

// Summarize reads a whole log and keeps its annotations (the first
// MaxAnnotations) and its last tail lines.
func Summarize(r io.Reader, tail int) (*Summary, error) {
	s := &Summary{Annotations: []Annotation{}, Tail: []string{}}
	ring := make([]string, 0, tail)
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		raw, err := br.ReadSlice('\n')
		if len(raw) > 0 {
			line := raw
			long := err == bufio.ErrBufferFull
			if len(line) > maxLine {
				line = line[:maxLine]
			}
			s.Lines++
			text := Clean(strings.TrimSuffix(string(line), "\n"))
			if a, ok := Parse(text); ok && len(s.Annotations) < MaxAnnotations {
				a.LogLine = s.Lines
				s.Annotations = append(s.Annotations, a)
			}
			if tail > 0 {
				if len(ring) == tail {
					ring = append(ring[:0], ring[1:]...)
				}
				ring = append(ring, text)
			}
			// The rest of a line longer than the buffer is skipped, not counted again.
			for long {
				_, err = br.ReadSlice('\n')
				long = err == bufio.ErrBufferFull
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil && err != bufio.ErrBufferFull {
			return nil, err
		}
	}
	s.Tail = append(s.Tail, ring...)
	s.TailStart = s.Lines - len(ring) + 1
	return s, nil
}
