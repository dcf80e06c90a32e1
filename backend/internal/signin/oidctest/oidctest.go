// Package oidctest runs a real OpenID provider on loopback for tests: the
// authorization server of github.com/zitadel/oidc/v3/pkg/op over a small
// in-memory storage, with a login page that asks for a user name.
package oidctest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// User is someone who may sign in at the provider.
type User struct {
	Subject, Login, Name, Email string
	Groups                      []string
}

// Server is a running provider. Issuer is its base URL, which discovery reads.
type Server struct {
	Issuer string
	// GroupsInUserinfoOnly leaves the groups claim out of ID tokens, as
	// GitLab does: only the userinfo endpoint tells them.
	GroupsInUserinfoOnly bool
	// ForeignNonce, when set, is the nonce every ID token carries instead of
	// the one the client sent, as in a token issued for another sign-in.
	ForeignNonce string

	provider *op.Provider
	storage  *storage
}

// Options change how a provider is set up.
type Options struct {
	// IssuerSlash names the issuer with a trailing slash, as Gitea and
	// Forgejo do ("https://git.example.com/").
	IssuerSlash bool
	// OP are more options of the provider, e.g. other endpoint paths.
	OP []op.Option
}

// New starts a provider on loopback, stopped when the test ends.
func New(t testing.TB) *Server { return NewWith(t, Options{}) }

// NewWith starts a provider set up by o.
func NewWith(t testing.TB, o Options) *Server {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{}
	s.storage = &storage{server: s, key: key, keyID: rand.Text(),
		clients: map[string]*client{}, users: map[string]User{},
		requests: map[string]*authRequest{}, codes: map[string]string{}, tokens: map[string]token{}}
	var h http.Handler
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(hs.Close)
	s.Issuer = hs.URL
	if o.IssuerSlash {
		s.Issuer += "/"
	}
	cfg := &op.Config{CryptoKey: sha256.Sum256([]byte(rand.Text())), CodeMethodS256: true, AuthMethodPost: true}
	s.provider, err = op.NewProvider(cfg, s.storage, op.StaticIssuer(s.Issuer), append([]op.Option{op.WithAllowInsecure()}, o.OP...)...)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.login)
	mux.Handle("/", s.provider)
	h = mux
	return s
}

// AddClient registers a confidential client, id with secret, that may
// redirect to redirectURI.
func (s *Server) AddClient(id, secret, redirectURI string) {
	s.storage.mu.Lock()
	defer s.storage.mu.Unlock()
	s.storage.clients[id] = &client{id: id, secret: secret, redirectURIs: []string{redirectURI}}
}

// AddUser lets u sign in by its login.
func (s *Server) AddUser(u User) {
	s.storage.mu.Lock()
	defer s.storage.mu.Unlock()
	s.storage.users[u.Login] = u
}

// Challenges lists the PKCE challenge methods of the authorization requests
// received so far, in order ("" for a request without one).
func (s *Server) Challenges() []string {
	s.storage.mu.Lock()
	defer s.storage.mu.Unlock()
	return slices.Clone(s.storage.challenges)
}

var loginForm = template.Must(template.New("login").Parse(`<!doctype html>
<form method="post" action="/login"><input type="hidden" name="id" value="{{.}}">
<input name="user"><button>Sign in</button></form>`))

// loginPage is the provider's own sign-in page, where the client's
// authorization request lands.
func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	_ = loginForm.Execute(w, r.URL.Query().Get("authRequestID"))
}

// login signs the user of the form in and sends the browser back to the
// authorization endpoint, which redirects to the client with a code.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	id, login := r.PostFormValue("id"), r.PostFormValue("user")
	s.storage.mu.Lock()
	req, okReq := s.storage.requests[id]
	u, okUser := s.storage.users[login]
	if okReq && okUser {
		req.subject, req.done, req.authTime = u.Subject, true, time.Now()
	}
	s.storage.mu.Unlock()
	if !okReq || !okUser {
		http.Error(w, "unknown request or user", http.StatusBadRequest)
		return
	}
	http.Redirect(w, r, op.AuthCallbackURL(s.provider)(r.Context(), id), http.StatusFound)
}

type client struct {
	id, secret   string
	redirectURIs []string
}

func (c *client) GetID() string                       { return c.id }
func (c *client) RedirectURIs() []string              { return c.redirectURIs }
func (c *client) PostLogoutRedirectURIs() []string    { return nil }
func (c *client) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }
func (c *client) AuthMethod() oidc.AuthMethod         { return oidc.AuthMethodBasic }
func (c *client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *client) GrantTypes() []oidc.GrantType { return []oidc.GrantType{oidc.GrantTypeCode} }
func (c *client) LoginURL(id string) string    { return "/login?authRequestID=" + id }
func (c *client) AccessTokenType() op.AccessTokenType {
	return op.AccessTokenTypeBearer
}
func (c *client) IDTokenLifetime() time.Duration { return time.Hour }
func (c *client) DevMode() bool                  { return false }

//lint:ignore ST1003 the name is op.Client's
func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *client) IsScopeAllowed(scope string) bool     { return scope == "groups" }
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c *client) ClockSkew() time.Duration             { return 0 }

type authRequest struct {
	id       string
	req      oidc.AuthRequest
	subject  string
	done     bool
	authTime time.Time
}

func (a *authRequest) GetID() string          { return a.id }
func (a *authRequest) GetACR() string         { return "" }
func (a *authRequest) GetAMR() []string       { return []string{"pwd"} }
func (a *authRequest) GetAudience() []string  { return []string{a.req.ClientID} }
func (a *authRequest) GetAuthTime() time.Time { return a.authTime }
func (a *authRequest) GetClientID() string    { return a.req.ClientID }
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	if a.req.CodeChallenge == "" {
		return nil
	}
	return &oidc.CodeChallenge{Challenge: a.req.CodeChallenge, Method: a.req.CodeChallengeMethod}
}
func (a *authRequest) GetNonce() string                   { return a.req.Nonce }
func (a *authRequest) GetRedirectURI() string             { return a.req.RedirectURI }
func (a *authRequest) GetResponseType() oidc.ResponseType { return a.req.ResponseType }
func (a *authRequest) GetResponseMode() oidc.ResponseMode { return a.req.ResponseMode }
func (a *authRequest) GetScopes() []string                { return a.req.Scopes }
func (a *authRequest) GetState() string                   { return a.req.State }
func (a *authRequest) GetSubject() string                 { return a.subject }
func (a *authRequest) Done() bool                         { return a.done }

type token struct {
	subject string
	scopes  []string
}

var errNotFound = errors.New("not found")

// storage is op.Storage in memory: what the code flow needs, nothing more.
type storage struct {
	server *Server
	key    *rsa.PrivateKey
	keyID  string

	mu         sync.Mutex
	clients    map[string]*client
	users      map[string]User // by login
	requests   map[string]*authRequest
	codes      map[string]string // code → request id
	tokens     map[string]token
	challenges []string
}

func (s *storage) CreateAuthRequest(_ context.Context, req *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := &authRequest{id: rand.Text(), req: *req}
	if s.server.ForeignNonce != "" {
		a.req.Nonce = s.server.ForeignNonce
	}
	s.requests[a.id] = a
	s.challenges = append(s.challenges, string(req.CodeChallengeMethod))
	return a, nil
}

func (s *storage) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.requests[id]; ok {
		return a, nil
	}
	return nil, errNotFound
}

func (s *storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	s.mu.Lock()
	id, ok := s.codes[code]
	s.mu.Unlock()
	if !ok {
		return nil, errNotFound
	}
	return s.AuthRequestByID(ctx, id)
}

func (s *storage) SaveAuthCode(_ context.Context, id, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes[code] = id
	return nil
}

// DeleteAuthRequest runs once the code is exchanged: a second exchange of
// the same code finds nothing.
func (s *storage) DeleteAuthRequest(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.requests, id)
	for code, rid := range s.codes {
		if rid == id {
			delete(s.codes, code)
		}
	}
	return nil
}

func (s *storage) CreateAccessToken(_ context.Context, req op.TokenRequest) (string, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := rand.Text()
	s.tokens[id] = token{subject: req.GetSubject(), scopes: req.GetScopes()}
	return id, time.Now().Add(5 * time.Minute), nil
}

func (s *storage) CreateAccessAndRefreshTokens(context.Context, op.TokenRequest, string) (string, string, time.Time, error) {
	return "", "", time.Time{}, errors.New("refresh tokens are not supported")
}

func (s *storage) TokenRequestByRefreshToken(context.Context, string) (op.RefreshTokenRequest, error) {
	return nil, op.ErrInvalidRefreshToken
}

func (s *storage) TerminateSession(context.Context, string, string) error { return nil }

func (s *storage) RevokeToken(context.Context, string, string, string) *oidc.Error { return nil }

func (s *storage) GetRefreshTokenInfo(context.Context, string, string) (string, string, error) {
	return "", "", op.ErrInvalidRefreshToken
}

type signingKey struct {
	id  string
	key *rsa.PrivateKey
}

func (k signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k signingKey) Key() any                                    { return k.key }
func (k signingKey) ID() string                                  { return k.id }

type publicKey struct{ signingKey }

func (k publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k publicKey) Use() string                        { return "sig" }
func (k publicKey) Key() any                           { return &k.key.PublicKey }

func (s *storage) SigningKey(context.Context) (op.SigningKey, error) {
	return signingKey{s.keyID, s.key}, nil
}

func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

func (s *storage) KeySet(context.Context) ([]op.Key, error) {
	return []op.Key{publicKey{signingKey{s.keyID, s.key}}}, nil
}

func (s *storage) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.clients[id]; ok {
		return c, nil
	}
	return nil, errNotFound
}

func (s *storage) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.clients[id]; ok && c.secret == secret {
		return nil
	}
	return errors.New("wrong client id or secret")
}

func (s *storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest fills the ID token's claims.
func (s *storage) SetUserinfoFromRequest(_ context.Context, info *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	return s.userinfo(info, req.GetSubject(), scopes, !s.server.GroupsInUserinfoOnly)
}

// SetUserinfoFromToken answers the userinfo endpoint.
func (s *storage) SetUserinfoFromToken(_ context.Context, info *oidc.UserInfo, tokenID, _, _ string) error {
	s.mu.Lock()
	t, ok := s.tokens[tokenID]
	s.mu.Unlock()
	if !ok {
		return errNotFound
	}
	return s.userinfo(info, t.subject, t.scopes, true)
}

func (s *storage) userinfo(info *oidc.UserInfo, subject string, scopes []string, groups bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range s.users {
		if u.Subject != subject {
			continue
		}
		info.Subject = u.Subject
		for _, scope := range scopes {
			switch scope {
			case oidc.ScopeProfile:
				info.PreferredUsername, info.Name = u.Login, u.Name
			case oidc.ScopeEmail:
				info.Email, info.EmailVerified = u.Email, true
			case "groups":
				if groups {
					info.AppendClaims("groups", u.Groups)
				}
			}
		}
		return nil
	}
	return fmt.Errorf("user %q: %w", subject, errNotFound)
}

func (s *storage) SetIntrospectionFromToken(context.Context, *oidc.IntrospectionResponse, string, string, string) error {
	return errors.New("introspection is not supported")
}

func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errNotFound
}

func (s *storage) ValidateJWTProfileScopes(_ context.Context, _ string, scopes []string) ([]string, error) {
	return scopes, nil
}

func (s *storage) Health(context.Context) error { return nil }
