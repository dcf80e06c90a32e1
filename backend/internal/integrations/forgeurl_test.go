package integrations

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAPIBase(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ kind, in, want string }{
		{KindGitea, "https://gitea.example", "https://gitea.example/api/v1"},
		{KindGitea, "https://gitea.example/", "https://gitea.example/api/v1"},
		{KindGitea, "https://gitea.example/api/v1", "https://gitea.example/api/v1"},
		{KindGitea, "https://gitea.example/api/v1/", "https://gitea.example/api/v1"},
		{KindForgejo, "https://example.com/forgejo", "https://example.com/forgejo/api/v1"},
		{KindGitLab, "https://gitlab.example", "https://gitlab.example/api/v4"},
		{KindGitLab, "https://gitlab.example/api/v4", "https://gitlab.example/api/v4"},
		{KindGitHub, "https://github.com", "https://api.github.com"},
		{KindGitHub, "https://github.com/", "https://api.github.com"},
		{KindGitHub, "https://api.github.com", "https://api.github.com"},
		{KindGitHub, "https://github.corp.example", "https://github.corp.example/api/v3"},
		{KindGitHub, "https://github.corp.example/api/v3", "https://github.corp.example/api/v3"},
		{KindGitea, "http://127.0.0.1:3000", "http://127.0.0.1:3000/api/v1"},
	} {
		got, err := APIBase(c.kind, c.in)
		require.NoError(t, err, c.in)
		require.Equal(t, c.want, got, "%s %s", c.kind, c.in)
	}
	for _, bad := range []string{"gitea.example", "ftp://gitea.example", "https://u:p@gitea.example", "https://gitea.example/?x=1"} {
		_, err := APIBase(KindGitea, bad)
		require.Error(t, err, bad)
	}
}
