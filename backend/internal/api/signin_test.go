package api_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/signin"
)

// TestAuthProviders: the sign-in page learns the configured providers, in
// their order, without a token; a server without any lists none.
func TestAuthProviders(t *testing.T) {
	t.Parallel()
	svc, err := signin.New(signin.Config{BaseURL: "https://ci.example.com",
		Complete: func(http.ResponseWriter, *http.Request, signin.Identity, bool) error { return nil },
		Providers: []signin.ProviderConfig{
			{Name: "corp", Kind: signin.KindOIDC, URL: "https://login.example.com", Label: "Example SSO", ClientID: "a", ClientSecret: "b"},
			{Name: "github", Kind: signin.KindGitHub, URL: "https://github.com", ClientID: "a", ClientSecret: "b"},
		}})
	require.NoError(t, err)
	b := setupWith(t, bundleOptions{signIn: svc})
	var got []map[string]string
	b.json(call{method: "GET", path: "/api/v1/auth/providers"}, 200, &got)
	require.Equal(t, []map[string]string{
		{"name": "corp", "label": "Example SSO", "kind": "oidc", "loginUrl": "/auth/corp/login"},
		{"name": "github", "label": "GitHub", "kind": "github", "loginUrl": "/auth/github/login"},
	}, got)

	none := setup(t)
	none.json(call{method: "GET", path: "/api/v1/auth/providers"}, 200, &got)
	require.Empty(t, got)
	require.NotNil(t, got)
}
