package e2e

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestBuildReportsRevision: the binaries scripts/run builds (through
// scripts/build) name the git revision they were built from, "+dirty" with
// uncommitted changes, never "dev": also in a git worktree and with
// GOFLAGS=-buildvcs=false, where Go stamps nothing itself.
func TestBuildReportsRevision(t *testing.T) {
	t.Parallel()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	git := func(args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = root
		out, err := cmd.Output()
		if err != nil {
			t.Skipf("not a git checkout: git %s: %v", strings.Join(args, " "), err)
		}
		return strings.TrimSpace(string(out))
	}
	want := git("rev-parse", "HEAD")[:12]
	if git("status", "--porcelain") != "" {
		want += "+dirty"
	}

	dir := t.TempDir()
	build := exec.Command(filepath.Join(root, "scripts", "build"), dir)
	build.Env = append(build.Environ(), "GOFLAGS=-buildvcs=false")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, c := range [][]string{{"aura", "version"}, {"aura-runner", "--version"}} {
		out, err := exec.Command(filepath.Join(dir, c[0]), c[1:]...).CombinedOutput()
		require.NoError(t, err, "%s", out)
		require.Equal(t, c[0]+" "+want, strings.TrimSpace(string(out)))
	}
}
