// Package version says which build of Aura is running, from what the Go toolchain
// embeds in every binary: the module version, or the VCS revision it was built from.
package version

import (
	"runtime/debug"
	"sync"
)

// Override, when set at link time (-ldflags "-X …/version.Override=v1.2.3"), wins.
var Override string

// String returns the version: the module version when built from a tagged module,
// otherwise the VCS revision (12 characters, "-dirty" with local changes), and
// "dev" when the build carries neither (go run, tests).
var String = sync.OnceValue(func() string {
	if Override != "" {
		return Override
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	return fromBuildInfo(info)
})

func fromBuildInfo(info *debug.BuildInfo) string {
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if rev == "" {
		return "dev"
	}
	return rev[:min(12, len(rev))] + dirty
}
