// Package version says which build of Aura is running, from what the Go toolchain
// embeds in every binary: the module version, or the VCS revision it was built from.
package version

import (
	"regexp"
	"runtime/debug"
	"sync"
)

// Set at link time (-ldflags "-X github.com/aura-ci/aura/backend/internal/version.Override=v1.2.3").
var (
	// Override, when set, wins: a release build names its version.
	Override string
	// Revision and Modified ("true" with uncommitted changes) stand in for the VCS
	// information the toolchain embeds, where it cannot: Go does not stamp a build
	// in a git worktree or with -buildvcs=false. scripts/build sets them.
	Revision, Modified string
)

// String returns the version: the module version when built from a tagged module,
// otherwise the VCS revision (12 characters, "+dirty" with local changes), and
// "dev" when the build carries neither (go run, tests).
var String = sync.OnceValue(func() string {
	if Override != "" {
		return Override
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		info = &debug.BuildInfo{}
	}
	return fromBuildInfo(info, Revision, Modified == "true")
})

// pseudoVersion matches the version Go makes up for an untagged commit
// (v0.0.0-20260101120000-0123456789ab): the bare revision says the same, shorter.
var pseudoVersion = regexp.MustCompile(`\d{14}-[0-9a-f]{12}(\+dirty)?$`)

// fromBuildInfo picks the version from the build information, with rev and
// modified (set at link time) for a build that carries no VCS information.
func fromBuildInfo(info *debug.BuildInfo, rev string, modified bool) string {
	v := info.Main.Version
	if v == "(devel)" {
		v = ""
	}
	if v != "" && !pseudoVersion.MatchString(v) {
		return v
	}
	var vcsRev, vcsModified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			vcsRev = s.Value
		case "vcs.modified":
			vcsModified = s.Value
		}
	}
	if vcsRev != "" {
		rev, modified = vcsRev, vcsModified == "true"
	}
	switch {
	case rev != "" && modified:
		return rev[:min(12, len(rev))] + "+dirty"
	case rev != "":
		return rev[:min(12, len(rev))]
	case v != "":
		return v // go install …@<commit>: a pseudo-version, and no VCS information
	}
	return "dev"
}
