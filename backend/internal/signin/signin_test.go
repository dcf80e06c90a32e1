package signin_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/aura-ci/aura/backend/internal/signin"
	"github.com/aura-ci/aura/backend/internal/signin/oidctest"
)

var (
	alice = oidctest.User{Subject: "u-alice", Login: "alice", Name: "Alice Liddell", Email: "alice@example.com", Groups: []string{"admins", "devs"}}
	bob   = oidctest.User{Subject: "u-bob", Login: "bob", Name: "Bob", Email: "bob@example.com", Groups: []string{"devs"}}
)

// completion is one call of Complete.
type completion struct {
	id   signin.Identity
	link bool
}

type testBundle struct {
	op      *oidctest.Server
	aura    *httptest.Server
	browser *http.Client
	mu      sync.Mutex
	done    []completion
	// completeErr is what Complete answers.
	completeErr error
}

func (b *testBundle) completions() []completion {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]completion(nil), b.done...)
}

// setup starts a real OpenID provider and an Aura sign-in service with one
// provider named corp of kind, configured by pc (name, kind, URL, client are
// filled in). The service's server answers every other path 200 with the path.
func setup(t *testing.T, kind string, pc signin.ProviderConfig, o oidctest.Options) *testBundle {
	t.Helper()
	b := &testBundle{op: oidctest.NewWith(t, o)}
	b.op.AddUser(alice)
	b.op.AddUser(bob)
	var svc *signin.Service
	b.aura = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/auth/") {
			svc.ServeHTTP(w, r)
			return
		}
		_, _ = io.WriteString(w, "page "+r.URL.Path)
	}))
	t.Cleanup(b.aura.Close)
	pc.Name, pc.Kind = "corp", kind
	if pc.URL == "" {
		pc.URL = b.op.Issuer
	}
	pc.ClientID, pc.ClientSecret = "aura", "aura-secret"
	b.op.AddClient(pc.ClientID, pc.ClientSecret, b.aura.URL+"/auth/corp/callback")
	var err error
	svc, err = signin.New(signin.Config{BaseURL: b.aura.URL, Providers: []signin.ProviderConfig{pc},
		Complete: func(w http.ResponseWriter, r *http.Request, id signin.Identity, link bool) error {
			b.mu.Lock()
			defer b.mu.Unlock()
			if b.completeErr != nil {
				return b.completeErr
			}
			b.done = append(b.done, completion{id, link})
			http.SetCookie(w, &http.Cookie{Name: "aura_session", Value: "s-" + id.Login, Path: "/", HttpOnly: true})
			return nil
		}})
	require.NoError(t, err)
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	b.browser = &http.Client{Jar: jar}
	return b
}

// toProvider starts a sign-in at Aura (path: /auth/corp/login…) and follows
// the redirects to the provider's login page, returning its request id.
func (b *testBundle) toProvider(t *testing.T, path string) string {
	t.Helper()
	resp, err := b.browser.Get(b.aura.URL + path)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	id := resp.Request.URL.Query().Get("authRequestID")
	require.NotEmpty(t, id, "landed on %s", resp.Request.URL)
	return id
}

// signInAt submits the provider's login form as user, stopping at the
// redirect back to Aura's callback, whose URL it returns.
func (b *testBundle) signInAt(t *testing.T, requestID, user string) string {
	t.Helper()
	c := *b.browser
	c.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), b.aura.URL) {
			return http.ErrUseLastResponse
		}
		return nil
	}
	resp, err := c.PostForm(strings.TrimSuffix(b.op.Issuer, "/")+"/login", url.Values{"id": {requestID}, "user": {user}})
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode)
	loc, err := resp.Location()
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(loc.String(), b.aura.URL+"/auth/corp/callback?"), loc.String())
	return loc.String()
}

// get follows url to the end and returns the final path and query.
func (b *testBundle) get(t *testing.T, u string) *url.URL {
	t.Helper()
	resp, err := b.browser.Get(u)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	return resp.Request.URL
}

func (b *testBundle) session(t *testing.T) string {
	u, err := url.Parse(b.aura.URL)
	require.NoError(t, err)
	for _, c := range b.browser.Jar.Cookies(u) {
		if c.Name == "aura_session" {
			return c.Value
		}
	}
	return ""
}

// signInError is the error a refused sign-in shows on /signin, or "".
func signInError(t *testing.T, u *url.URL) string {
	t.Helper()
	require.Equal(t, "/signin", u.Path, "expected a refusal, landed on %s", u)
	return u.Query().Get("error")
}

func TestSignInOIDC(t *testing.T) {
	t.Parallel()
	b := setup(t, signin.KindOIDC, signin.ProviderConfig{Scopes: []string{"openid", "profile", "email", "groups"}}, oidctest.Options{})

	callback := b.signInAt(t, b.toProvider(t, "/auth/corp/login"), "alice")
	end := b.get(t, callback)

	require.Equal(t, "/", end.Path)
	require.Equal(t, []completion{{id: signin.Identity{Provider: "corp", Subject: "u-alice", Login: "alice",
		Name: "Alice Liddell", Email: "alice@example.com", Groups: []string{"admins", "devs"}}}}, b.completions())
	require.Equal(t, "s-alice", b.session(t), "Complete's cookie reaches the browser")
	require.Equal(t, []string{"S256"}, b.op.Challenges(), "the authorization request carries a PKCE S256 challenge")
}

func TestSignInLinkAndNext(t *testing.T) {
	t.Parallel()
	b := setup(t, signin.KindOIDC, signin.ProviderConfig{}, oidctest.Options{})

	end := b.get(t, b.signInAt(t, b.toProvider(t, "/auth/corp/login?link=1&next=%2Faccount%3Ftab%3Dlogins"), "bob"))
	require.Equal(t, "/account?tab=logins", end.RequestURI())
	require.Len(t, b.completions(), 1)
	require.True(t, b.completions()[0].link)
	require.Equal(t, "bob", b.completions()[0].id.Login)

	for _, next := range []string{"//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"} {
		end := b.get(t, b.signInAt(t, b.toProvider(t, "/auth/corp/login?next="+url.QueryEscape(next)), "bob"))
		require.Equal(t, "/", end.RequestURI(), "next %q", next)
		require.Equal(t, b.aura.URL, "http://"+end.Host, "next %q", next)
	}
	require.False(t, b.completions()[1].link)
}

func TestSignInWrongStateRefused(t *testing.T) {
	t.Parallel()
	b := setup(t, signin.KindOIDC, signin.ProviderConfig{}, oidctest.Options{})

	callback, err := url.Parse(b.signInAt(t, b.toProvider(t, "/auth/corp/login"), "alice"))
	require.NoError(t, err)
	q := callback.Query()
	q.Set("state", q.Get("state")+"x")
	callback.RawQuery = q.Encode()
	require.Contains(t, signInError(t, b.get(t, callback.String())), "expired or was already used")
	require.Empty(t, b.completions())

	// A callback without the flow cookie (another browser) is refused too.
	b2 := setup(t, signin.KindOIDC, signin.ProviderConfig{}, oidctest.Options{})
	stolen := b2.signInAt(t, b2.toProvider(t, "/auth/corp/login"), "alice")
	fresh := &http.Client{}
	resp, err := fresh.Get(stolen)
	require.NoError(t, err)
	resp.Body.Close()
	require.Contains(t, signInError(t, resp.Request.URL), "expired or was already used")
	require.Empty(t, b2.completions())
}

func TestSignInReplayRefused(t *testing.T) {
	t.Parallel()
	b := setup(t, signin.KindOIDC, signin.ProviderConfig{}, oidctest.Options{})

	auraURL, err := url.Parse(b.aura.URL)
	require.NoError(t, err)
	callback := b.signInAt(t, b.toProvider(t, "/auth/corp/login"), "alice")
	var flowCookie *http.Cookie
	for _, c := range b.browser.Jar.Cookies(auraURL) {
		if c.Name == "aura_signin" {
			flowCookie = c
		}
	}
	require.NotNil(t, flowCookie)
	require.Equal(t, "/", b.get(t, callback).Path)
	require.Len(t, b.completions(), 1)
	for _, c := range b.browser.Jar.Cookies(auraURL) {
		require.NotEqual(t, "aura_signin", c.Name, "the callback clears the flow cookie")
	}

	// The same callback again: the flow cookie is gone.
	require.Contains(t, signInError(t, b.get(t, callback)), "expired or was already used")
	// And with the flow cookie put back (copied before it was used): its state is spent.
	b.browser.Jar.SetCookies(auraURL, []*http.Cookie{{Name: "aura_signin", Value: flowCookie.Value, Path: "/"}})
	require.Contains(t, signInError(t, b.get(t, callback)), "expired or was already used")
	require.Len(t, b.completions(), 1)
}

// An ID token minted for another sign-in (its nonce not this flow's) is refused.
func TestSignInForeignNonceRefused(t *testing.T) {
	t.Parallel()
	b := setup(t, signin.KindOIDC, signin.ProviderConfig{}, oidctest.Options{})
	b.op.ForeignNonce = "nonce-of-another-sign-in"

	require.Contains(t, signInError(t, b.get(t, b.signInAt(t, b.toProvider(t, "/auth/corp/login"), "alice"))), "could not be verified")
	require.Empty(t, b.completions())
}

func TestSignInAllowedGroups(t *testing.T) {
	t.Parallel()
	b := setup(t, signin.KindOIDC, signin.ProviderConfig{Scopes: []string{"openid", "profile", "groups"}, Allowed: []string{"Admins"}}, oidctest.Options{})

	require.Contains(t, signInError(t, b.get(t, b.signInAt(t, b.toProvider(t, "/auth/corp/login"), "bob"))), "not in a group allowed here")
	require.Empty(t, b.completions())
	require.Equal(t, "", b.session(t))

	require.Equal(t, "/", b.get(t, b.signInAt(t, b.toProvider(t, "/auth/corp/login"), "alice")).Path)
	require.Len(t, b.completions(), 1)
}

// GitLab tells groups in userinfo only; the allowed list is checked against them.
func TestSignInGitLabGroupsFromUserinfo(t *testing.T) {
	t.Parallel()
	b := setup(t, signin.KindGitLab, signin.ProviderConfig{Scopes: []string{"openid", "profile", "email", "groups"}, Allowed: []string{"admins"}},
		oidctest.Options{})
	b.op.GroupsInUserinfoOnly = true

	require.Contains(t, signInError(t, b.get(t, b.signInAt(t, b.toProvider(t, "/auth/corp/login"), "bob"))), "not in a group allowed here")
	require.Equal(t, "/", b.get(t, b.signInAt(t, b.toProvider(t, "/auth/corp/login"), "alice")).Path)
	require.Len(t, b.completions(), 1)
	require.Equal(t, []string{"admins", "devs"}, b.completions()[0].id.Groups)
}

// Gitea and Forgejo name their issuer with a trailing slash; the base URL is
// configured without one.
func TestSignInGiteaIssuerWithSlash(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{signin.KindGitea, signin.KindForgejo} {
		b := setup(t, kind, signin.ProviderConfig{Allowed: []string{"devs"}}, oidctest.Options{IssuerSlash: true})
		callback := b.signInAt(t, b.toProvider(t, "/auth/corp/login"), "bob")
		require.Equal(t, "/", b.get(t, callback).Path, kind)
		require.Equal(t, "bob", b.completions()[0].id.Login, kind)
	}
}

func TestSignInProviderErrorEscaped(t *testing.T) {
	t.Parallel()
	b := setup(t, signin.KindOIDC, signin.ProviderConfig{}, oidctest.Options{})

	for _, tc := range []struct{ code, want string }{
		{"access_denied", "sign-in was cancelled at corp"},
		{`<script>alert("x")</script>`, "corp refused the sign-in (scriptalertxscript)"},
		{"server_error", "corp refused the sign-in (server_error)"},
	} {
		callback, err := url.Parse(b.signInAt(t, b.toProvider(t, "/auth/corp/login"), "alice"))
		require.NoError(t, err)
		q := callback.Query()
		q.Del("code")
		q.Set("error", tc.code)
		q.Set("error_description", "<b>raw provider text</b>")
		callback.RawQuery = q.Encode()
		resp, err := (&http.Client{Jar: b.browser.Jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Get(callback.String())
		require.NoError(t, err)
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		require.NotContains(t, loc, "<")
		require.NotContains(t, loc, "raw provider text")
		u, err := url.Parse(loc)
		require.NoError(t, err)
		require.Equal(t, tc.want, signInError(t, u))
	}
	require.Empty(t, b.completions())
}

func TestSignInCompleteRefuses(t *testing.T) {
	t.Parallel()
	b := setup(t, signin.KindOIDC, signin.ProviderConfig{}, oidctest.Options{})

	b.completeErr = &signin.Refused{Reason: "this login is linked to no user"}
	require.Equal(t, "this login is linked to no user", signInError(t, b.get(t, b.signInAt(t, b.toProvider(t, "/auth/corp/login"), "alice"))))
	b.completeErr = errors.New("database on fire")
	require.Equal(t, "sign-in failed", signInError(t, b.get(t, b.signInAt(t, b.toProvider(t, "/auth/corp/login"), "alice"))))
}

func TestSignInUnknownProviderAndUnreachable(t *testing.T) {
	t.Parallel()
	b := setup(t, signin.KindOIDC, signin.ProviderConfig{}, oidctest.Options{})
	require.Equal(t, "unknown sign-in provider", signInError(t, b.get(t, b.aura.URL+"/auth/nope/login")))

	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	svc, err := signin.New(signin.Config{BaseURL: "https://ci.example.com/", Complete: func(http.ResponseWriter, *http.Request, signin.Identity, bool) error { return nil },
		Providers: []signin.ProviderConfig{{Name: "down", Kind: signin.KindOIDC, URL: down.URL, ClientID: "x", ClientSecret: "y"}}})
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	svc.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/auth/down/login", nil))
	require.Equal(t, http.StatusFound, rec.Code)
	require.Equal(t, "/signin?error=down+cannot+be+reached%2C+try+again+later", rec.Header().Get("Location"))
}

// The flow cookie is HttpOnly and SameSite=Lax, and Secure with the
// __Host- prefix when the server's public URL is HTTPS; the authorization
// request carries state, nonce and an S256 challenge, and the redirect URI
// is derived from the public URL.
func TestSignInLoginRedirect(t *testing.T) {
	t.Parallel()
	op := oidctest.New(t)
	svc, err := signin.New(signin.Config{BaseURL: "https://ci.example.com/", Complete: func(http.ResponseWriter, *http.Request, signin.Identity, bool) error { return nil },
		Providers: []signin.ProviderConfig{{Name: "corp", Kind: signin.KindOIDC, URL: op.Issuer, ClientID: "x", ClientSecret: "y"}}})
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	svc.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/auth/corp/login", nil))
	require.Equal(t, http.StatusFound, rec.Code)
	loc, err := url.Parse(rec.Header().Get("Location"))
	require.NoError(t, err)
	q := loc.Query()
	require.Equal(t, op.Issuer+"/authorize", loc.Scheme+"://"+loc.Host+loc.Path)
	require.Equal(t, "https://ci.example.com/auth/corp/callback", q.Get("redirect_uri"))
	require.Equal(t, "S256", q.Get("code_challenge_method"))
	require.NotEmpty(t, q.Get("code_challenge"))
	require.NotEmpty(t, q.Get("nonce"))
	require.NotEmpty(t, q.Get("state"))
	cookies := rec.Result().Cookies()
	require.Len(t, cookies, 1)
	c := cookies[0]
	require.Equal(t, "__Host-aura_signin", c.Name)
	require.True(t, c.HttpOnly)
	require.True(t, c.Secure)
	require.Equal(t, http.SameSiteLaxMode, c.SameSite)
	require.Equal(t, "/", c.Path)
	require.Equal(t, 600, c.MaxAge)
	require.NotContains(t, c.Value, q.Get("code_challenge"), "the verifier, not the challenge, stays with the browser")
}

// GitHub speaks OAuth2 only. The whole flow runs against the real provider,
// served at GitHub's paths (/login/oauth/authorize, /login/oauth/access_token):
// the code is exchanged with the PKCE verifier, and the access token then goes
// to the user API, whose requests are recorded here (and answered 404: no
// stand-in for GitHub's API; its answers' mapping is tested on captured
// responses in signin_internal_test.go). The provider accepts the token the
// API got as alice's.
func TestSignInGitHubCodeExchange(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var apiAuth []string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		apiAuth = append(apiAuth, r.URL.Path+" "+r.Header.Get("Authorization"))
		mu.Unlock()
		http.NotFound(w, r)
	}))
	t.Cleanup(api.Close)
	b := setup(t, signin.KindGitHub, signin.ProviderConfig{APIURL: api.URL}, oidctest.Options{OP: []op.Option{
		op.WithCustomAuthEndpoint(op.NewEndpoint("login/oauth/authorize")),
		op.WithCustomTokenEndpoint(op.NewEndpoint("login/oauth/access_token")),
	}})

	callback := b.signInAt(t, b.toProvider(t, "/auth/corp/login"), "alice")
	require.Contains(t, signInError(t, b.get(t, callback)), "could not be verified")
	require.Equal(t, []string{"S256"}, b.op.Challenges())
	mu.Lock()
	require.Len(t, apiAuth, 1)
	path, bearer, _ := strings.Cut(apiAuth[0], " ")
	mu.Unlock()
	require.Equal(t, "/user", path)
	require.True(t, strings.HasPrefix(bearer, "Bearer "), bearer)

	req, err := http.NewRequest(http.MethodGet, b.op.Issuer+"/userinfo", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", bearer)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var info struct{ Sub string }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&info))
	require.Equal(t, "u-alice", info.Sub)
}

func TestProviders(t *testing.T) {
	t.Parallel()
	svc, err := signin.New(signin.Config{BaseURL: "http://localhost:8420", Complete: func(http.ResponseWriter, *http.Request, signin.Identity, bool) error { return nil },
		Providers: []signin.ProviderConfig{
			{Name: "gitea", Kind: signin.KindGitea, URL: "https://git.example.com"},
			{Name: "corp", Kind: signin.KindOIDC, URL: "https://login.example.com", Label: "Example SSO"},
			{Name: "github", Kind: signin.KindGitHub, URL: "https://github.com"},
		}})
	require.NoError(t, err)
	require.Equal(t, []signin.Provider{
		{Name: "gitea", Label: "Gitea", Kind: "gitea", LoginURL: "/auth/gitea/login"},
		{Name: "corp", Label: "Example SSO", Kind: "oidc", LoginURL: "/auth/corp/login"},
		{Name: "github", Label: "GitHub", Kind: "github", LoginURL: "/auth/github/login"},
	}, svc.Providers())
	var none *signin.Service
	require.Equal(t, []signin.Provider{}, none.Providers())
}
