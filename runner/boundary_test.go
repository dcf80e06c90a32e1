// Package runner holds no code of its own; its test guards the boundary between
// the runner and the server.
package runner

import (
	"os/exec"
	"strings"
	"testing"
)

// TestRunnerNeverImportsBackend fails when anything under runner/, tests
// included, depends on a package under backend/: the runner shares only the
// contract (openapi.yaml and its generated client) with the server.
func TestRunnerNeverImportsBackend(t *testing.T) {
	t.Parallel()

	out, err := exec.Command("go", "list", "-deps", "-test", "github.com/aura-ci/aura/runner/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	var deps, bad []string
	for _, pkg := range strings.Fields(string(out)) {
		deps = append(deps, pkg)
		if strings.Contains(pkg, "/backend/") || strings.HasSuffix(pkg, "/backend") {
			bad = append(bad, pkg)
		}
	}
	if len(deps) == 0 {
		t.Fatal("go list found no packages")
	}
	if len(bad) > 0 {
		t.Fatalf("the runner depends on the server's packages:\n%s", strings.Join(bad, "\n"))
	}
}
