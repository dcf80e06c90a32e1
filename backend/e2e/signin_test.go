package e2e

import (
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/signin/oidctest"
)

// TestSignInThroughProvider runs `aura serve --signin` against a real OpenID
// provider on loopback: the providers are listed for the sign-in page, and a
// browser goes from Aura's login route to the provider's sign-in page and back
// to Aura's callback, with the callback URL made from --base-url. (Not
// parallel: the client secret is in the environment the server inherits.)
func TestSignInThroughProvider(t *testing.T) {
	op := oidctest.New(t)
	op.AddUser(oidctest.User{Subject: "u-1", Login: "alice", Name: "Alice", Email: "alice@example.com"})
	t.Setenv("AURA_SIGNIN_CORP_CLIENT_ID", "aura-e2e")
	t.Setenv("AURA_SIGNIN_CORP_CLIENT_SECRET", "e2e-secret")
	t.Setenv("AURA_SIGNIN_CORP_LABEL", "Example SSO")
	s := startServer(t, "--signin", "corp=oidc:"+op.Issuer)
	op.AddClient("aura-e2e", "e2e-secret", s.url+"/auth/corp/callback")

	resp, err := http.Get(s.url + "/api/v1/auth/providers")
	require.NoError(t, err)
	var providers []map[string]string
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&providers))
	resp.Body.Close()
	require.Equal(t, []map[string]string{{"name": "corp", "label": "Example SSO", "kind": "oidc", "loginUrl": "/auth/corp/login"}}, providers)

	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	browser := &http.Client{Jar: jar}
	resp, err = browser.Get(s.url + "/auth/corp/login")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.True(t, strings.HasPrefix(resp.Request.URL.String(), op.Issuer+"/login?"), resp.Request.URL.String())

	resp, err = browser.PostForm(op.Issuer+"/login", url.Values{"id": {resp.Request.URL.Query().Get("authRequestID")}, "user": {"alice"}})
	require.NoError(t, err)
	resp.Body.Close()
	// Back at Aura, which verified alice; until users are wired in, the
	// sign-in then ends on the sign-in page with the server's reason.
	require.Equal(t, "/signin", resp.Request.URL.Path)
	require.Equal(t, "signing in through corp is not available yet", resp.Request.URL.Query().Get("error"))
	require.Contains(t, s.out.String(), "sign-in verified but not completed")
	require.Contains(t, s.out.String(), "login=alice")

	// A provider that is not configured.
	resp, err = browser.Get(s.url + "/auth/other/login")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, "unknown sign-in provider", resp.Request.URL.Query().Get("error"))
}
