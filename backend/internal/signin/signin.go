// Package signin signs people in through a forge (Gitea, Forgejo, GitLab,
// GitHub) or any OpenID Connect provider: the authorization code flow with
// state, nonce and PKCE, kept in a short-lived cookie bound to the browser.
// It knows nothing of users or sessions: a verified Identity goes to the
// CompleteFunc the server gives it, which finds or creates the user, links
// the identity and starts the session.
//
// Routes, served by Service.ServeHTTP (mount it at /auth/):
//
//	GET /auth/{provider}/login[?link=1][&next=/path]  redirect to the provider
//	GET /auth/{provider}/callback                     back from it: verify, Complete, redirect to next or /
//
// On refusal the browser goes to /signin?error=<short text>.
package signin

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Identity is who the provider says signed in.
type Identity struct {
	// Provider is the configured provider's name (ProviderConfig.Name).
	Provider string
	// Subject is the provider's stable id of the account: the OIDC sub
	// claim, GitHub's numeric user id. (Provider, Subject) names one account.
	Subject string
	// Login is the account's user name at the provider; Name its display
	// name; Email its verified address, or empty.
	Login, Name, Email string
	// Groups are the account's groups (OIDC groups claim) or GitHub organisations.
	Groups []string
}

// CompleteFunc finishes a sign-in the provider vouched for: it finds or
// creates the user of id (or, when link is true, links id to the user
// signed in on r), starts the session and sets its cookie on w. It returns
// nil to send the browser on (to the login's next path, or /), unless it
// wrote a response itself; a *Refused to turn the sign-in down with its
// reason; any other error is logged and the browser told "sign-in failed".
type CompleteFunc func(w http.ResponseWriter, r *http.Request, id Identity, link bool) error

// Refused turns a sign-in down with a reason the user may read.
type Refused struct{ Reason string }

func (e *Refused) Error() string { return "sign-in refused: " + e.Reason }

// Provider is what the sign-in page shows of a configured provider
// (GET /api/v1/auth/providers).
type Provider struct {
	Name     string `json:"name"`
	Label    string `json:"label"`
	Kind     string `json:"kind"`
	LoginURL string `json:"loginUrl"`
}

// Config is what a Service needs.
type Config struct {
	// BaseURL is the server's public URL; callbacks go to BaseURL/auth/{name}/callback.
	BaseURL   string
	Providers []ProviderConfig
	Complete  CompleteFunc
	// Client makes the calls to providers; nil: one with a 15 s timeout.
	Client *http.Client
	Logger *slog.Logger
}

// flowTTL is how long a sign-in may take from login to callback.
const flowTTL = 10 * time.Minute

// maxUsed bounds the states remembered as used: past it (a flood of
// callbacks within flowTTL) callbacks are refused rather than memory grown.
const maxUsed = 1 << 16

// Service serves the sign-in routes of the configured providers.
type Service struct {
	complete  CompleteFunc
	client    *http.Client
	logger    *slog.Logger
	secure    bool
	providers map[string]*provider
	order     []string
	mux       *http.ServeMux

	mu   sync.Mutex
	used map[string]time.Time // state → expiry: a state is used once
}

// provider is one configured provider and, for OIDC kinds, its discovered
// configuration (discovered on first use, so a provider that is down at
// start does not stop the server).
type provider struct {
	ProviderConfig
	redirectURL string

	mu       sync.Mutex
	oidc     *oidc.Provider
	verifier *oidc.IDTokenVerifier
}

// New checks cfg and returns the service. It makes no network calls.
func New(cfg Config) (*Service, error) {
	base, err := url.Parse(strings.TrimSuffix(cfg.BaseURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("signin: base URL %q is not an http(s) URL", cfg.BaseURL)
	}
	if cfg.Complete == nil {
		return nil, errors.New("signin: Complete is required")
	}
	s := &Service{complete: cfg.Complete, client: cfg.Client, logger: cfg.Logger,
		secure: base.Scheme == "https", providers: map[string]*provider{}, used: map[string]time.Time{}}
	if s.client == nil {
		s.client = &http.Client{Timeout: 15 * time.Second}
	}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	for _, pc := range cfg.Providers {
		if !nameRE.MatchString(pc.Name) || s.providers[pc.Name] != nil {
			return nil, fmt.Errorf("signin: provider name %q is not valid or not unique", pc.Name)
		}
		if pc.Label == "" {
			pc.Label = defaultLabel(pc)
		}
		if len(pc.Scopes) == 0 {
			pc.Scopes = defaultScopes(pc)
		}
		s.providers[pc.Name] = &provider{ProviderConfig: pc, redirectURL: base.String() + "/auth/" + pc.Name + "/callback"}
		s.order = append(s.order, pc.Name)
	}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /auth/{provider}/login", s.login)
	s.mux.HandleFunc("GET /auth/{provider}/callback", s.callback)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	return s, nil
}

func defaultLabel(pc ProviderConfig) string {
	switch pc.Kind {
	case KindGitea:
		return "Gitea"
	case KindForgejo:
		return "Forgejo"
	case KindGitLab:
		return "GitLab"
	case KindGitHub:
		return "GitHub"
	}
	return pc.Name
}

func defaultScopes(pc ProviderConfig) []string {
	switch pc.Kind {
	case KindGitea, KindForgejo:
		return []string{oidc.ScopeOpenID, "profile", "email", "groups"}
	case KindGitHub:
		if len(pc.Allowed) > 0 {
			return []string{"read:user", "user:email", "read:org"}
		}
		return []string{"read:user", "user:email"}
	}
	return []string{oidc.ScopeOpenID, "profile", "email"}
}

// Providers lists the configured providers in the order they were given.
func (s *Service) Providers() []Provider {
	out := []Provider{}
	if s == nil {
		return out
	}
	for _, name := range s.order {
		p := s.providers[name]
		out = append(out, Provider{Name: p.Name, Label: p.Label, Kind: p.Kind, LoginURL: "/auth/" + p.Name + "/login"})
	}
	return out
}

// ServeHTTP serves GET /auth/{provider}/login and /auth/{provider}/callback.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// flow is what the browser keeps between login and callback, in the flow
// cookie. Its secrets are random and single-use; a browser that changes its
// own cookie gains nothing (next is checked again, link only asks Complete
// to link to the session the browser already holds).
type flow struct {
	Provider string `json:"p"`
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Link     bool   `json:"l,omitempty"`
	Next     string `json:"x,omitempty"`
	Expires  int64  `json:"e"`
}

// cookieName is the flow cookie's name: with __Host- over HTTPS, so a sibling
// domain cannot plant one.
func (s *Service) cookieName() string {
	if s.secure {
		return "__Host-aura_signin"
	}
	return "aura_signin"
}

func (s *Service) setFlowCookie(w http.ResponseWriter, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(), Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
}

// login starts the flow: a fresh state, nonce and PKCE verifier in the flow
// cookie, and a redirect to the provider's authorization endpoint.
func (s *Service) login(w http.ResponseWriter, r *http.Request) {
	p := s.providers[r.PathValue("provider")]
	if p == nil {
		s.refuse(w, r, "unknown sign-in provider")
		return
	}
	cfg, err := s.oauth2Config(r.Context(), p)
	if err != nil {
		s.logger.Warn("sign-in provider unreachable", "provider", p.Name, "err", err)
		s.refuse(w, r, p.Label+" cannot be reached, try again later")
		return
	}
	f := flow{Provider: p.Name, State: rand.Text(), Nonce: rand.Text(), Verifier: oauth2.GenerateVerifier(),
		Link: r.URL.Query().Get("link") == "1", Next: LocalPath(r.URL.Query().Get("next")),
		Expires: time.Now().Add(flowTTL).Unix()}
	b, _ := json.Marshal(f)
	s.setFlowCookie(w, base64.RawURLEncoding.EncodeToString(b), int(flowTTL/time.Second))
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(f.Verifier)}
	if p.Kind != KindGitHub {
		opts = append(opts, oidc.Nonce(f.Nonce))
	}
	http.Redirect(w, r, cfg.AuthCodeURL(f.State, opts...), http.StatusFound)
}

// callback ends the flow: the state must match the flow cookie's (which is
// cleared at once, and its state remembered as used), the code is exchanged
// with the PKCE verifier, the ID token verified with its nonce (or GitHub's
// user API read), the allowed list checked, and Complete called.
func (s *Service) callback(w http.ResponseWriter, r *http.Request) {
	p := s.providers[r.PathValue("provider")]
	if p == nil {
		s.refuse(w, r, "unknown sign-in provider")
		return
	}
	f, ok := s.takeFlow(w, r, p.Name)
	if !ok {
		s.refuse(w, r, "this sign-in has expired or was already used, please start again")
		return
	}
	q := r.URL.Query()
	if code := q.Get("error"); code != "" {
		if code == "access_denied" {
			s.refuse(w, r, "sign-in was cancelled at "+p.Label)
			return
		}
		s.refuse(w, r, p.Label+" refused the sign-in ("+shortCode(code)+")")
		return
	}
	if q.Get("code") == "" {
		s.refuse(w, r, p.Label+" sent no authorization code")
		return
	}
	ctx := s.clientContext(r.Context())
	cfg, err := s.oauth2Config(ctx, p)
	if err != nil {
		s.logger.Warn("sign-in provider unreachable", "provider", p.Name, "err", err)
		s.refuse(w, r, p.Label+" cannot be reached, try again later")
		return
	}
	tok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(f.Verifier))
	if err != nil {
		s.logger.Warn("sign-in code exchange failed", "provider", p.Name, "err", err)
		s.refuse(w, r, p.Label+" did not accept the sign-in, please start again")
		return
	}
	var id Identity
	if p.Kind == KindGitHub {
		id, err = s.githubIdentity(ctx, p, tok)
	} else {
		id, err = s.oidcIdentity(ctx, p, tok, f.Nonce)
	}
	if err != nil {
		s.logger.Warn("sign-in identity not verified", "provider", p.Name, "err", err)
		s.refuse(w, r, "the answer of "+p.Label+" could not be verified")
		return
	}
	if !allowed(p.Allowed, id.Groups) {
		s.logger.Info("sign-in refused: not in an allowed group", "provider", p.Name, "login", id.Login)
		s.refuse(w, r, "your "+p.Label+" account is not in a group allowed here")
		return
	}
	rec := &wroteWriter{ResponseWriter: w}
	if err := s.complete(rec, r, id, f.Link); err != nil {
		if refused, ok := errors.AsType[*Refused](err); ok {
			s.refuse(w, r, refused.Reason)
			return
		}
		s.logger.Error("sign-in could not be completed", "provider", p.Name, "login", id.Login, "err", err)
		s.refuse(w, r, "sign-in failed")
		return
	}
	if rec.wrote {
		return
	}
	next := f.Next
	if next == "" {
		next = "/"
	}
	http.Redirect(w, r, next, http.StatusFound)
}

// takeFlow reads and clears the flow cookie and checks it is for provider,
// not expired, not used before and that the callback's state is its state.
func (s *Service) takeFlow(w http.ResponseWriter, r *http.Request, provider string) (flow, bool) {
	var f flow
	c, err := r.Cookie(s.cookieName())
	if err != nil {
		return f, false
	}
	s.setFlowCookie(w, "", -1)
	b, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil || json.Unmarshal(b, &f) != nil {
		return f, false
	}
	now := time.Now()
	state := r.URL.Query().Get("state")
	if f.Provider != provider || f.State == "" || now.Unix() > f.Expires || f.Expires > now.Add(flowTTL).Unix() ||
		subtle.ConstantTimeCompare([]byte(state), []byte(f.State)) != 1 {
		return f, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for st, exp := range s.used {
		if now.After(exp) {
			delete(s.used, st)
		}
	}
	if _, dup := s.used[f.State]; dup || len(s.used) >= maxUsed {
		return f, false
	}
	s.used[f.State] = time.Unix(f.Expires, 0)
	return f, true
}

// refuse sends the browser to the sign-in page with reason, which is ours
// (a provider's text only ever as a short code): query-escaped, shown as text.
func (s *Service) refuse(w http.ResponseWriter, r *http.Request, reason string) {
	http.Redirect(w, r, "/signin?error="+url.QueryEscape(reason), http.StatusFound)
}

// shortCode keeps an OAuth2 error code as the spec defines its characters
// (letters, digits, _ - .), at most 40 of them.
func shortCode(code string) string {
	var b strings.Builder
	for _, c := range code {
		if b.Len() >= 40 {
			break
		}
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' {
			b.WriteRune(c)
		}
	}
	if b.Len() == 0 {
		return "error"
	}
	return b.String()
}

// LocalPath returns next when it is a path on this server ("/x?y"), else "":
// never another host, scheme or a //host or /\host that browsers read as one.
func LocalPath(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") ||
		strings.ContainsAny(next, "\\\r\n\t") {
		return ""
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(u.Path, "/") {
		return ""
	}
	return next
}

// allowed says whether groups has one of want (any, when want is empty).
func allowed(want, groups []string) bool {
	if len(want) == 0 {
		return true
	}
	return slices.ContainsFunc(groups, func(g string) bool {
		return slices.ContainsFunc(want, func(w string) bool { return strings.EqualFold(g, w) })
	})
}

func (s *Service) clientContext(ctx context.Context) context.Context {
	ctx = oidc.ClientContext(ctx, s.client)
	return context.WithValue(ctx, oauth2.HTTPClient, s.client)
}

// oauth2Config is p's OAuth2 configuration, discovering an OIDC provider on first use.
func (s *Service) oauth2Config(ctx context.Context, p *provider) (*oauth2.Config, error) {
	cfg := &oauth2.Config{ClientID: p.ClientID, ClientSecret: p.ClientSecret, RedirectURL: p.redirectURL, Scopes: p.Scopes}
	if p.Kind == KindGitHub {
		base := strings.TrimSuffix(p.URL, "/")
		cfg.Endpoint = oauth2.Endpoint{AuthURL: base + "/login/oauth/authorize", TokenURL: base + "/login/oauth/access_token"}
		return cfg, nil
	}
	op, _, err := s.discover(ctx, p)
	if err != nil {
		return nil, err
	}
	cfg.Endpoint = op.Endpoint()
	return cfg, nil
}

func (s *Service) discover(ctx context.Context, p *provider) (*oidc.Provider, *oidc.IDTokenVerifier, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.oidc != nil {
		return p.oidc, p.verifier, nil
	}
	ctx, cancel := context.WithTimeout(s.clientContext(ctx), 15*time.Second)
	defer cancel()
	op, err := oidc.NewProvider(ctx, issuer(p.ProviderConfig))
	if err != nil {
		return nil, nil, err
	}
	p.oidc, p.verifier = op, op.Verifier(&oidc.Config{ClientID: p.ClientID})
	return p.oidc, p.verifier, nil
}

// issuer is the issuer URL discovery must find: Gitea and Forgejo name
// their base URL with a trailing slash, GitLab without.
func issuer(p ProviderConfig) string {
	switch p.Kind {
	case KindGitea, KindForgejo:
		return strings.TrimSuffix(p.URL, "/") + "/"
	case KindGitLab:
		return strings.TrimSuffix(p.URL, "/")
	}
	return p.URL
}

// claims are the ID token's and userinfo's claims Aura reads. Some
// providers send a single group as a string, or email_verified as "true".
type claims struct {
	Subject           string          `json:"sub"`
	PreferredUsername string          `json:"preferred_username"`
	Nickname          string          `json:"nickname"`
	Name              string          `json:"name"`
	Email             string          `json:"email"`
	EmailVerified     any             `json:"email_verified"`
	Groups            json.RawMessage `json:"groups"`
}

func (c claims) groups() []string {
	var list []string
	if json.Unmarshal(c.Groups, &list) == nil {
		return list
	}
	var one string
	if json.Unmarshal(c.Groups, &one) == nil && one != "" {
		return []string{one}
	}
	return nil
}

// email is the claimed address unless the provider says it is not verified.
func (c claims) email() string {
	switch v := c.EmailVerified.(type) {
	case bool:
		if !v {
			return ""
		}
	case string:
		if v != "true" {
			return ""
		}
	}
	return c.Email
}

// oidcIdentity verifies the ID token in tok (signature, issuer, audience,
// expiry, nonce) and reads the identity from its claims; what they lack
// (GitLab tells groups in userinfo only) comes from the userinfo endpoint.
func (s *Service) oidcIdentity(ctx context.Context, p *provider, tok *oauth2.Token, nonce string) (Identity, error) {
	op, verifier, err := s.discover(ctx, p)
	if err != nil {
		return Identity{}, err
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Identity{}, errors.New("no id_token in the token response")
	}
	idt, err := verifier.Verify(ctx, raw)
	if err != nil {
		return Identity{}, err
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		return Identity{}, errors.New("the ID token's nonce is not this sign-in's")
	}
	var c claims
	if err := idt.Claims(&c); err != nil {
		return Identity{}, err
	}
	if c.groups() == nil && (len(p.Allowed) > 0 || p.Kind == KindGitLab) || c.PreferredUsername == "" && c.Nickname == "" {
		info, err := op.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err == nil && info.Subject == idt.Subject {
			var u claims
			if err := info.Claims(&u); err == nil {
				c = mergeClaims(c, u)
			}
		} else if err != nil {
			s.logger.Warn("sign-in userinfo unavailable", "provider", p.Name, "err", err)
		}
	}
	return identityFromClaims(p.Name, idt.Subject, c), nil
}

// mergeClaims fills what the ID token's claims c lack from userinfo's u.
func mergeClaims(c, u claims) claims {
	if c.PreferredUsername == "" {
		c.PreferredUsername = u.PreferredUsername
	}
	if c.Nickname == "" {
		c.Nickname = u.Nickname
	}
	if c.Name == "" {
		c.Name = u.Name
	}
	if c.Email == "" {
		c.Email, c.EmailVerified = u.Email, u.EmailVerified
	}
	if c.groups() == nil {
		c.Groups = u.Groups
	}
	return c
}

func identityFromClaims(provider, subject string, c claims) Identity {
	id := Identity{Provider: provider, Subject: subject, Name: c.Name, Email: c.email(), Groups: c.groups()}
	switch {
	case c.PreferredUsername != "":
		id.Login = c.PreferredUsername
	case c.Nickname != "":
		id.Login = c.Nickname
	case id.Email != "":
		id.Login, _, _ = strings.Cut(id.Email, "@")
	default:
		id.Login = subject
	}
	return id
}

// wroteWriter notes whether Complete answered the request itself.
type wroteWriter struct {
	http.ResponseWriter
	wrote bool
}

func (w *wroteWriter) WriteHeader(code int) {
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *wroteWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func (w *wroteWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
