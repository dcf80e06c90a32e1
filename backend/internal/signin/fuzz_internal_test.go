package signin

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// FuzzCallback sends the provider's callback any query and any flow cookie.
// Whatever they hold, the browser is sent back to a page of this server
// (never to another host), the flow cookie is cleared, and nobody is signed
// in: the code exchange goes to a provider address where nothing listens.
func FuzzCallback(f *testing.F) {
	valid := func(state string, expires int64, next string) string {
		b, _ := json.Marshal(flow{Provider: "gh", State: state, Nonce: "n", Verifier: "v", Next: next, Expires: expires})
		return base64.RawURLEncoding.EncodeToString(b)
	}
	soon := time.Now().Add(5 * time.Minute).Unix()
	f.Add("state=abc&code=xyz", valid("abc", soon, "/projects/x"))
	f.Add("state=abc&error=access_denied", valid("abc", soon, ""))
	f.Add("state=abc&error=%3Cscript%3E%0d%0aSet-Cookie:x", valid("abc", soon, "//evil.example"))
	f.Add("state=abc&code=xyz", valid("abc", 1, "/"))
	f.Add("state=&code=", valid("", soon, "/"))
	f.Add("state=abc;code=1", "not base64!")
	f.Add("%zz", "")
	f.Fuzz(func(t *testing.T, query, cookie string) {
		completed := false
		s, err := New(Config{
			BaseURL:   "https://aura.example",
			Providers: []ProviderConfig{{Name: "gh", Kind: KindGitHub, URL: "http://127.0.0.1:1", ClientID: "id", ClientSecret: "secret"}},
			Client:    &http.Client{Timeout: 2 * time.Second},
			Complete: func(http.ResponseWriter, *http.Request, Identity, bool) error {
				completed = true
				return nil
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest(http.MethodGet, "/auth/gh/callback", nil)
		r.URL.RawQuery = query
		if c := (&http.Cookie{Name: "__Host-aura_signin", Value: cookie}); c.Valid() == nil {
			r.AddCookie(c)
		}
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if completed {
			t.Fatal("signed in without a provider")
		}
		if w.Code != http.StatusFound {
			t.Fatalf("status %d", w.Code)
		}
		loc, err := url.Parse(w.Header().Get("Location"))
		if err != nil || loc.Host != "" || loc.Scheme != "" || !strings.HasPrefix(loc.Path, "/signin") {
			t.Fatalf("sent to %q", w.Header().Get("Location"))
		}
		if r.Header.Get("Cookie") != "" && !strings.Contains(w.Header().Get("Set-Cookie"), "Max-Age=0") {
			t.Fatalf("flow cookie not cleared: %q", w.Header().Get("Set-Cookie"))
		}
	})
}

// FuzzLocalPath checks the ?next= a sign-in returns to: kept only when a
// browser resolves it to a page of this server.
func FuzzLocalPath(f *testing.F) {
	for _, s := range []string{"/", "/projects/x?tab=1#y", "//evil.example", "/\\evil.example", "/\tevil", "https://evil.example/",
		"javascript:alert(1)", "/%0d%0aSet-Cookie:x", "/@evil.example", "/.//evil.example", "/%2F%2Fevil.example", "/x:y@z"} {
		f.Add(s)
	}
	base, _ := url.Parse("https://aura.example/signin")
	f.Fuzz(func(t *testing.T, next string) {
		got := LocalPath(next)
		if got == "" {
			return
		}
		if got != next {
			t.Fatalf("%q changed to %q", next, got)
		}
		u, err := url.Parse(got)
		if err != nil {
			t.Fatalf("%q kept but does not parse: %v", got, err)
		}
		if to := base.ResolveReference(u); to.Host != base.Host || to.Scheme != base.Scheme || to.User != nil {
			t.Fatalf("%q leads to %v", got, to)
		}
		// What http.Redirect writes is what the browser follows.
		w := httptest.NewRecorder()
		http.Redirect(w, httptest.NewRequest(http.MethodGet, "/", nil), got, http.StatusFound)
		loc := w.Header().Get("Location")
		if strings.HasPrefix(loc, "//") || strings.ContainsAny(loc, "\\\r\n") {
			t.Fatalf("%q redirects to %q", got, loc)
		}
	})
}

// FuzzClaims reads an ID token's (or userinfo's) claims as a provider sends
// them: never a panic; an identity always has a login, and an address the
// provider says is unverified is dropped.
func FuzzClaims(f *testing.F) {
	for _, s := range []string{
		`{"sub":"7","preferred_username":"alice","name":"Alice","email":"a@x.org","email_verified":true,"groups":["org","org:team"]}`,
		`{"sub":"7","nickname":"al","email":"a@x.org","email_verified":false}`,
		`{"sub":"7","email":"a@x.org","email_verified":"true","groups":"one"}`,
		`{"sub":"7","email":"@","email_verified":1,"groups":[1,2]}`,
		`{"groups":null}`,
	} {
		f.Add([]byte(s), []byte(`{"preferred_username":"u","groups":["g"]}`))
	}
	f.Fuzz(func(t *testing.T, token, userinfo []byte) {
		var c, u claims
		if json.Unmarshal(token, &c) != nil {
			return
		}
		_ = json.Unmarshal(userinfo, &u)
		c = mergeClaims(c, u)
		id := identityFromClaims("p", "subject-7", c)
		if id.Login == "" && !(c.PreferredUsername == "" && c.Nickname == "" && id.Email != "") {
			t.Fatalf("no login from %s", token)
		}
		if id.Email != "" && id.Email != c.Email {
			t.Fatalf("email %q from %q", id.Email, c.Email)
		}
		if v, ok := c.EmailVerified.(bool); ok && !v && id.Email != "" {
			t.Fatalf("unverified address %q kept", id.Email)
		}
		if id.Provider != "p" || id.Subject != "subject-7" {
			t.Fatalf("identity %+v", id)
		}
	})
}

// FuzzParseProviders reads --signin specs and their environment: a provider
// it returns has a valid name, a known kind, an http(s) URL and credentials.
func FuzzParseProviders(f *testing.F) {
	for _, s := range []string{"corp=oidc:https://login.example.com", "github=github", "gl=gitlab", "x=gitea:", "A=oidc:https://x",
		"g=gitea:ftp://x", "gh=github:https://ghe.example", "dup=github dup=github"} {
		f.Add(s, "id", "secret", "org, org:team")
	}
	f.Fuzz(func(t *testing.T, specs, clientID, secret, allowed string) {
		env := func(key string) (string, bool) {
			switch {
			case strings.HasSuffix(key, "_CLIENT_ID"):
				return clientID, true
			case strings.HasSuffix(key, "_CLIENT_SECRET"):
				return secret, true
			case strings.HasSuffix(key, "_ALLOWED"):
				return allowed, true
			}
			return "", false
		}
		ps, _ := ParseProviders(SplitSpecs(specs), env)
		seen := map[string]bool{}
		for _, p := range ps {
			u, err := url.Parse(p.URL)
			if !nameRE.MatchString(p.Name) || seen[p.Name] || err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") ||
				p.ClientID == "" || p.ClientSecret == "" {
				t.Fatalf("provider %+v accepted", p)
			}
			seen[p.Name] = true
			for _, a := range p.Allowed {
				if a == "" || strings.ContainsAny(a, ", ") {
					t.Fatalf("allowed group %q", a)
				}
			}
		}
		if len(ps) > 0 {
			if _, err := New(Config{BaseURL: "http://localhost", Providers: ps,
				Complete: func(http.ResponseWriter, *http.Request, Identity, bool) error { return nil }}); err != nil {
				t.Fatalf("New refuses what ParseProviders accepted: %v", err)
			}
		}
	})
}
