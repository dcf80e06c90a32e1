package annotation

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	t.Parallel()
	for line, want := range map[string]*Annotation{
		"::error file=app.js,line=10,col=15::Something went wrong": {Level: "error", File: "app.js", Line: 10, Col: 15, Message: "Something went wrong"},
		"::warning::Missing semicolon":                             {Level: "warning", Message: "Missing semicolon"},
		"  ::notice title=Deploy%3A done,file=a%2Cb.go::ok%0Athen": {Level: "notice", Title: "Deploy: done", File: "a,b.go", Message: "ok\nthen"},
		"::error file=x.go,line=oops,endLine=3::m":                 {Level: "error", File: "x.go", EndLine: 3, Message: "m"},
		"::debug::not for people":                                  nil,
		"::error no closing":                                       nil,
		"error file=x::y":                                          nil,
		"plain output":                                             nil,
	} {
		got, ok := Parse(line)
		if want == nil {
			require.False(t, ok, line)
			continue
		}
		require.True(t, ok, line)
		require.Equal(t, *want, got, line)
	}
}

func TestSummarize(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	for i := 1; i <= 30; i++ {
		switch i {
		case 5:
			b.WriteString("\x1b[31m::error file=main.go,line=7::boom\x1b[0m\n")
		case 28:
			b.WriteString("progress 10%\rprogress 100%\n")
		default:
			b.WriteString("line " + strings.Repeat("x", i%3) + "\n")
		}
	}
	b.WriteString("last line without newline")
	s, err := Summarize(strings.NewReader(b.String()), 5)
	require.NoError(t, err)
	require.Equal(t, 31, s.Lines)
	require.Equal(t, []Annotation{{Level: "error", File: "main.go", Line: 7, Message: "boom", LogLine: 5}}, s.Annotations)
	require.Equal(t, 27, s.TailStart)
	require.Equal(t, []string{"line ", "progress 100%", "line xx", "line ", "last line without newline"}, s.Tail)

	// A line longer than the reader's buffer counts once.
	s, err = Summarize(strings.NewReader(strings.Repeat("y", 200<<10)+"\n::warning::w\n"), 1)
	require.NoError(t, err)
	require.Equal(t, 2, s.Lines)
	require.Equal(t, 2, s.Annotations[0].LogLine)
	require.Equal(t, []string{"::warning::w"}, s.Tail)

	s, err = Summarize(strings.NewReader(""), 20)
	require.NoError(t, err)
	require.Equal(t, 0, s.Lines)
	require.Empty(t, s.Tail)
}
