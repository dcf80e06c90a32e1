package cli

import (
	"bytes"
	"context"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCompletionNamesEveryFlag: the completion scripts offer exactly the flags
// each command defines.
func TestCompletionNamesEveryFlag(t *testing.T) {
	for _, cmd := range Commands {
		if cmd == "completion" {
			continue
		}
		var help bytes.Buffer
		env := Env{Getenv: func(string) string { return "" }, Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: &help}
		require.Equal(t, ExitOK, Run(context.Background(), []string{cmd, "-h"}, env), cmd)
		var defined []string
		for _, line := range strings.Split(help.String(), "\n") {
			if strings.HasPrefix(line, "  -") {
				name, _, _ := strings.Cut(strings.TrimPrefix(line, "  -"), " ")
				name, _, _ = strings.Cut(name, "\t")
				if len(name) == 1 {
					defined = append(defined, "-"+name)
				} else {
					defined = append(defined, "--"+name)
				}
			}
		}
		slices.Sort(defined)
		require.Equal(t, defined, flagsOf(cmd), cmd)
	}
}
