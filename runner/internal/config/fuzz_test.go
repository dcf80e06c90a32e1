package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzConfigFile reads a --config file (JSON or the flat YAML subset): never
// a panic; what it reads names only known settings, a list only where a
// setting takes one.
func FuzzConfigFile(f *testing.F) {
	for _, s := range []string{
		"server: https://aura.example\ntoken: abc # comment\ntag: [native,linux]\n",
		"tags:\n  - linux\n  - 'x y'\n",
		`{"server":"https://aura.example","tag":["a","b"],"concurrency":4,"grace":"30s","x":true}`,
		"server: \"unterminated\n", "tag: [a, \"b,c\", 'd']\n", "  nested: 1\n", "- orphan\n", "key: 'it''s'\n", "{}", "{\"tag\": {}}", "tag: [\n",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "runner.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		out, _, err := readFile(path)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "config file ") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		known := map[string]bool{}
		for _, s := range settings {
			known[s.name] = true
		}
		for name := range out {
			if !known[name] {
				t.Fatalf("setting %q", name)
			}
		}
	})
}
