package version

import (
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFromBuildInfo(t *testing.T) {
	t.Parallel()
	rev := debug.BuildSetting{Key: "vcs.revision", Value: "0123456789abcdef0123"}
	clean := debug.BuildSetting{Key: "vcs.modified", Value: "false"}
	dirty := debug.BuildSetting{Key: "vcs.modified", Value: "true"}
	for _, c := range []struct {
		name     string
		info     debug.BuildInfo
		rev      string
		modified bool
		want     string
	}{
		{name: "tagged module", info: debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}}, want: "v1.2.3"},
		{name: "tagged checkout", info: debug.BuildInfo{Main: debug.Module{Version: "v1.2.3+dirty"},
			Settings: []debug.BuildSetting{rev, dirty}}, want: "v1.2.3+dirty"},
		{name: "checkout", info: debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261130042201-0123456789ab"},
			Settings: []debug.BuildSetting{rev, clean}}, want: "0123456789ab"},
		{name: "dirty checkout", info: debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261130042201-0123456789ab+dirty"},
			Settings: []debug.BuildSetting{dirty, rev}}, want: "0123456789ab+dirty"},
		{name: "go 1.23 checkout", info: debug.BuildInfo{Main: debug.Module{Version: "(devel)"},
			Settings: []debug.BuildSetting{rev, dirty}}, want: "0123456789ab+dirty"},
		{name: "go install @commit", info: debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261130042201-0123456789ab"}},
			want: "v0.0.0-20261130042201-0123456789ab"},
		{name: "stamped at link time", info: debug.BuildInfo{Main: debug.Module{Version: "(devel)"}},
			rev: "fedcba9876543210", modified: true, want: "fedcba987654+dirty"},
		{name: "build information wins", info: debug.BuildInfo{Settings: []debug.BuildSetting{rev, clean}},
			rev: "fedcba9876543210", modified: true, want: "0123456789ab"},
		{name: "nothing known", info: debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, want: "dev"},
	} {
		require.Equal(t, c.want, fromBuildInfo(&c.info, c.rev, c.modified), c.name)
	}
}
