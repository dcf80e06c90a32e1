package store_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSecretsCrossTheSealedLineInTheStore: the store seals and opens every
// sealed column, so no other package of the server handles sealed values: none
// imports seal or names anything seal (a Seal call, a TokenSealed field), but
// app, which loads the server key and runs a rotation through the store. Test
// files may (they check what is at rest).
func TestSecretsCrossTheSealedLineInTheStore(t *testing.T) {
	t.Parallel()
	allowed := map[string]bool{"internal/store": true, "internal/seal": true, "internal/app": true}
	sealWord := regexp.MustCompile(`^(un)?seal|Seal`) // a word of the name, not "closeAll"
	backend := filepath.Join("..", "..")
	var found []string
	files := 0
	err := filepath.WalkDir(backend, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(backend, path)
		if d.IsDir() {
			if allowed[filepath.ToSlash(rel)] || d.Name() == "node_modules" || d.Name() == "dist" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		files++
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); strings.HasSuffix(p, "/backend/internal/seal") {
				found = append(found, rel+": imports seal")
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if id, ok := n.(*ast.Ident); ok && sealWord.MatchString(id.Name) {
				found = append(found, rel+": "+id.Name)
			}
			return true
		})
		return nil
	})
	require.NoError(t, err)
	require.Greater(t, files, 20, "the walk found the server's sources")
	require.Empty(t, found, "only the store seals and opens secrets")
}
