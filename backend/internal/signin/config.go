package signin

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
)

// The kinds of provider.
const (
	KindOIDC    = "oidc"
	KindGitea   = "gitea"
	KindForgejo = "forgejo"
	KindGitLab  = "gitlab"
	KindGitHub  = "github"
)

// ProviderConfig is one configured way to sign in.
type ProviderConfig struct {
	// Name is the provider's name in URLs (/auth/{name}/login) and identities.
	Name string
	// Kind is oidc, gitea, forgejo, gitlab or github.
	Kind string
	// Label is what the sign-in button says.
	Label string
	// URL is the OpenID issuer (oidc) or the forge's base URL; github and
	// gitlab default to the public sites.
	URL string
	// APIURL is GitHub's REST API base (github only): https://api.github.com
	// for github.com, URL/api/v3 for GitHub Enterprise Server by default.
	APIURL                 string
	ClientID, ClientSecret string
	// Scopes replaces the kind's default scopes when set.
	Scopes []string
	// Allowed, when set, admits only members of one of these groups (the
	// groups claim of OIDC, Gitea, Forgejo and GitLab: "org", "org:team",
	// "group/subgroup") or GitHub organisations. Compared without case.
	Allowed []string
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// ParseProviders reads the providers named by specs, each NAME=KIND or
// NAME=KIND:URL (e.g. "corp=oidc:https://login.example.com",
// "github=github"), and their settings from the environment through
// lookupEnv: AURA_SIGNIN_<NAME>_CLIENT_ID, _CLIENT_SECRET or
// _CLIENT_SECRET_FILE, and optionally _ALLOWED, _SCOPES (comma or space
// separated), _LABEL and _API_URL (github), where <NAME> is the name in upper
// case with - as _. Secrets never come from the command line.
func ParseProviders(specs []string, lookupEnv func(string) (string, bool)) ([]ProviderConfig, error) {
	var out []ProviderConfig
	var errs []error
	seen := map[string]bool{}
	for _, spec := range specs {
		p, err := parseProvider(spec, lookupEnv)
		if err == nil && seen[p.Name] {
			err = fmt.Errorf("signin %q: the name %s is given twice", spec, p.Name)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		seen[p.Name] = true
		out = append(out, p)
	}
	return out, errors.Join(errs...)
}

// EnvPrefix is the start of the environment variables of the provider named name.
func EnvPrefix(name string) string {
	return "AURA_SIGNIN_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_")) + "_"
}

func parseProvider(spec string, lookupEnv func(string) (string, bool)) (ProviderConfig, error) {
	var p ProviderConfig
	name, rest, ok := strings.Cut(spec, "=")
	if !ok {
		return p, fmt.Errorf("signin %q: use NAME=KIND or NAME=KIND:URL, e.g. gitea=gitea:https://git.example.com", spec)
	}
	if !nameRE.MatchString(name) {
		return p, fmt.Errorf("signin %q: the name must be lower-case letters, digits and -, at most 32", spec)
	}
	kind, rawURL, _ := strings.Cut(rest, ":")
	p.Name, p.Kind, p.URL = name, kind, rawURL
	switch kind {
	case KindOIDC, KindGitea, KindForgejo:
		if rawURL == "" {
			return p, fmt.Errorf("signin %q: %s needs a URL: %s=%s:https://…", spec, kind, name, kind)
		}
	case KindGitLab:
		if rawURL == "" {
			p.URL = "https://gitlab.com"
		}
	case KindGitHub:
		if rawURL == "" {
			p.URL = "https://github.com"
		}
	default:
		return p, fmt.Errorf("signin %q: unknown kind %q: use oidc, gitea, forgejo, gitlab or github", spec, kind)
	}
	if u, err := url.Parse(p.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return p, fmt.Errorf("signin %q: %q is not an http(s) URL", spec, p.URL)
	}
	env := func(key string) string {
		v, _ := lookupEnv(EnvPrefix(name) + key)
		return strings.TrimSpace(v)
	}
	p.ClientID = env("CLIENT_ID")
	if p.ClientID == "" {
		return p, fmt.Errorf("signin %s: set %sCLIENT_ID", name, EnvPrefix(name))
	}
	p.ClientSecret = env("CLIENT_SECRET")
	if file := env("CLIENT_SECRET_FILE"); file != "" {
		if p.ClientSecret != "" {
			return p, fmt.Errorf("signin %s: set %sCLIENT_SECRET or %[2]sCLIENT_SECRET_FILE, not both", name, EnvPrefix(name))
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return p, fmt.Errorf("signin %s: client secret: %w", name, err)
		}
		p.ClientSecret = strings.TrimSpace(string(b))
	}
	if p.ClientSecret == "" {
		return p, fmt.Errorf("signin %s: set %sCLIENT_SECRET or %[2]sCLIENT_SECRET_FILE", name, EnvPrefix(name))
	}
	p.Allowed = fields(env("ALLOWED"))
	p.Scopes = fields(env("SCOPES"))
	p.Label = env("LABEL")
	p.APIURL = env("API_URL")
	if p.APIURL != "" && kind != KindGitHub {
		return p, fmt.Errorf("signin %s: %sAPI_URL is for github only", name, EnvPrefix(name))
	}
	return p, nil
}

// fields splits a list given with commas or spaces.
func fields(s string) []string {
	f := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
	if len(f) == 0 {
		return nil
	}
	return f
}

// SplitSpecs splits the value of AURA_SIGNIN (or one --signin) into specs:
// several may be given at once, separated by commas or spaces.
func SplitSpecs(s string) []string { return fields(s) }
