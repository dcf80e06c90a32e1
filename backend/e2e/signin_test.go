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

	signIn := func() {
		t.Helper()
		resp, err := browser.Get(s.url + "/auth/corp/login")
		require.NoError(t, err)
		resp.Body.Close()
		resp, err = browser.PostForm(op.Issuer+"/login", url.Values{"id": {resp.Request.URL.Query().Get("authRequestID")}, "user": {"alice"}})
		require.NoError(t, err)
		resp.Body.Close()
		// Back at Aura, which verified alice and signed her in: the web app.
		require.Equal(t, "/", resp.Request.URL.Path, resp.Request.URL.String())
	}
	signIn()
	// The first sign-in created the user alice, and the cookie is her session.
	var me struct {
		Kind string `json:"kind"`
		Name string `json:"name"`
		User struct {
			ID          int64  `json:"id"`
			DisplayName string `json:"displayName"`
			Email       string `json:"email"`
		} `json:"user"`
	}
	getMe := func() {
		t.Helper()
		resp, err := browser.Get(s.url + "/api/v1/me")
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&me))
	}
	getMe()
	require.Equal(t, "user", me.Kind)
	require.Equal(t, "alice", me.Name)
	require.Equal(t, "Alice", me.User.DisplayName)
	require.Equal(t, "alice@example.com", me.User.Email)
	first := me.User.ID
	require.Contains(t, s.out.String(), "user created on first sign-in")

	// Signing in again finds the same user, not a new one.
	signIn()
	getMe()
	require.Equal(t, first, me.User.ID)
	require.Equal(t, "alice", me.Name)

	// bob, a local user, links his account at the provider: from then on
	// signing in there signs him in as bob, not as a new user.
	op.AddUser(oidctest.User{Subject: "u-2", Login: "robert", Name: "Robert", Email: "bob@example.com"})
	req, err := http.NewRequest("POST", s.url+"/api/v1/users", strings.NewReader(`{"name":"bob","displayName":"Bob","email":"bob@example.com","password":"correct horse battery"}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+s.admin)
	req.Header.Set("Content-Type", "application/json")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	bobJar, err := cookiejar.New(nil)
	require.NoError(t, err)
	bob := &http.Client{Jar: bobJar}
	resp, err = bob.Post(s.url+"/api/v1/session", "application/json", strings.NewReader(`{"user":"bob","password":"correct horse battery"}`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	providerLogin := func(c *http.Client, path, user string) *http.Response {
		t.Helper()
		resp, err := c.Get(s.url + path)
		require.NoError(t, err)
		resp.Body.Close()
		resp, err = c.PostForm(op.Issuer+"/login", url.Values{"id": {resp.Request.URL.Query().Get("authRequestID")}, "user": {user}})
		require.NoError(t, err)
		resp.Body.Close()
		return resp
	}
	resp = providerLogin(bob, "/auth/corp/login?link=1", "robert")
	require.Equal(t, "/", resp.Request.URL.Path, resp.Request.URL.String())
	require.Contains(t, s.out.String(), "sign-in account linked")
	// A new browser signs in through the provider as bob.
	freshJar, err := cookiejar.New(nil)
	require.NoError(t, err)
	fresh := &http.Client{Jar: freshJar}
	resp = providerLogin(fresh, "/auth/corp/login", "robert")
	require.Equal(t, "/", resp.Request.URL.Path, resp.Request.URL.String())
	resp, err = fresh.Get(s.url + "/api/v1/me")
	require.NoError(t, err)
	var bobMe struct{ Kind, Name string }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&bobMe))
	resp.Body.Close()
	require.Equal(t, "user", bobMe.Kind)
	require.Equal(t, "bob", bobMe.Name)
	// Linking without being signed in is refused, with the reason.
	anonJar, err := cookiejar.New(nil)
	require.NoError(t, err)
	resp = providerLogin(&http.Client{Jar: anonJar}, "/auth/corp/login?link=1", "alice")
	require.Equal(t, "/signin", resp.Request.URL.Path)
	require.Contains(t, resp.Request.URL.Query().Get("error"), "sign in first")

	// A provider that is not configured.
	resp, err = browser.Get(s.url + "/auth/other/login")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, "unknown sign-in provider", resp.Request.URL.Query().Get("error"))
}
