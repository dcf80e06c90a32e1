package signin

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Answers in the shapes GitHub's REST API documents for GET /user (a user
// without a public address), /user/emails and /user/orgs (fields trimmed
// to a few around the ones read).
const (
	githubUserJSON = `{"login":"octocat","id":1,"node_id":"MDQ6VXNlcjE=","avatar_url":"https://github.com/images/error/octocat_happy.gif",
"gravatar_id":"","url":"https://api.github.com/users/octocat","html_url":"https://github.com/octocat","type":"User",
"site_admin":false,"name":"monalisa octocat","company":"GitHub","blog":"https://github.com/blog","location":"San Francisco",
"email":null,"hireable":false,"bio":"There once was...","twitter_username":"monatheoctocat","public_repos":2,
"public_gists":1,"followers":20,"following":0,"created_at":"2008-01-14T04:33:35Z","updated_at":"2008-01-14T04:33:35Z"}`
	githubEmailsJSON = `[{"email":"octocat@old.example.com","verified":true,"primary":false,"visibility":null},
{"email":"unverified@example.com","verified":false,"primary":false,"visibility":null},
{"email":"octocat@github.com","verified":true,"primary":true,"visibility":"public"}]`
	githubOrgsJSON = `[{"login":"github","id":1,"node_id":"MDEyOk9yZ2FuaXphdGlvbjE=","url":"https://api.github.com/orgs/github",
"repos_url":"https://api.github.com/orgs/github/repos","events_url":"https://api.github.com/orgs/github/events",
"hooks_url":"https://api.github.com/orgs/github/hooks","issues_url":"https://api.github.com/orgs/github/issues",
"members_url":"https://api.github.com/orgs/github/members{/member}","public_members_url":"https://api.github.com/orgs/github/public_members{/member}",
"avatar_url":"https://github.com/images/error/octocat_happy.gif","description":"A great organization"},
{"login":"aura-ci","id":42,"node_id":"O_kgDOBa","url":"https://api.github.com/orgs/aura-ci","description":null}]`
)

func TestGitHubToIdentity(t *testing.T) {
	t.Parallel()
	var u githubUser
	var emails []githubEmail
	var orgs []githubOrg
	require.NoError(t, json.Unmarshal([]byte(githubUserJSON), &u))
	require.NoError(t, json.Unmarshal([]byte(githubEmailsJSON), &emails))
	require.NoError(t, json.Unmarshal([]byte(githubOrgsJSON), &orgs))

	id, err := githubToIdentity("github", u, emails, orgs)
	require.NoError(t, err)
	require.Equal(t, Identity{Provider: "github", Subject: "1", Login: "octocat", Name: "monalisa octocat",
		Email: "octocat@github.com", Groups: []string{"github", "aura-ci"}}, id)
	require.True(t, allowed([]string{"Aura-CI"}, id.Groups))
	require.False(t, allowed([]string{"other"}, id.Groups))

	// A public address on the profile is taken as it is.
	u.Email = "public@example.com"
	id, err = githubToIdentity("github", u, nil, nil)
	require.NoError(t, err)
	require.Equal(t, "public@example.com", id.Email)
	require.Nil(t, id.Groups)

	// No verified primary address: none.
	u.Email = ""
	id, err = githubToIdentity("github", u, emails[:2], nil)
	require.NoError(t, err)
	require.Equal(t, "", id.Email)

	_, err = githubToIdentity("github", githubUser{}, nil, nil)
	require.Error(t, err)
}

func TestGitHubAPI(t *testing.T) {
	t.Parallel()
	require.Equal(t, "https://api.github.com", githubAPI(ProviderConfig{URL: "https://github.com"}))
	require.Equal(t, "https://api.github.com", githubAPI(ProviderConfig{URL: "https://github.com/"}))
	require.Equal(t, "https://ghe.example.com/api/v3", githubAPI(ProviderConfig{URL: "https://ghe.example.com/"}))
	require.Equal(t, "https://ghe-api.example.com", githubAPI(ProviderConfig{URL: "https://ghe.example.com", APIURL: "https://ghe-api.example.com/"}))
}

func TestClaims(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, raw string
		want      Identity
	}{
		{"gitea", `{"sub":"7","preferred_username":"alice","name":"Alice","email":"a@x.org","email_verified":true,"groups":["org","org:team"]}`,
			Identity{Provider: "p", Subject: "7", Login: "alice", Name: "Alice", Email: "a@x.org", Groups: []string{"org", "org:team"}}},
		{"unverified email", `{"sub":"7","nickname":"al","email":"a@x.org","email_verified":false}`,
			Identity{Provider: "p", Subject: "7", Login: "al"}},
		{"string flags", `{"sub":"7","email":"a@x.org","email_verified":"true","groups":"one"}`,
			Identity{Provider: "p", Subject: "7", Login: "a", Email: "a@x.org", Groups: []string{"one"}}},
		{"bare", `{"sub":"7"}`, Identity{Provider: "p", Subject: "7", Login: "7"}},
	} {
		var c claims
		require.NoError(t, json.Unmarshal([]byte(tc.raw), &c), tc.name)
		require.Equal(t, tc.want, identityFromClaims("p", "7", c), tc.name)
	}
}

func TestLocalPath(t *testing.T) {
	t.Parallel()
	for next, want := range map[string]string{
		"/":                     "/",
		"/projects/x?tab=1#y":   "/projects/x?tab=1#y",
		"":                      "",
		"projects":              "",
		"//evil.example":        "",
		"/\\evil.example":       "",
		"/\tevil":               "",
		"https://evil.example/": "",
		"javascript:alert(1)":   "",
		"/%0d%0aSet-Cookie:x":   "/%0d%0aSet-Cookie:x", // stays escaped in the Location header
	} {
		require.Equal(t, want, LocalPath(next), next)
	}
}

func TestParseProviders(t *testing.T) {
	t.Parallel()
	secretFile := t.TempDir() + "/secret"
	require.NoError(t, writeFile(secretFile, "s3cret\n"))
	env := map[string]string{
		"AURA_SIGNIN_GITEA_CLIENT_ID": "gid", "AURA_SIGNIN_GITEA_CLIENT_SECRET": "gsecret",
		"AURA_SIGNIN_GITEA_ALLOWED": "org, org:team", "AURA_SIGNIN_GITEA_LABEL": "Our Gitea",
		"AURA_SIGNIN_GH_ENT_CLIENT_ID": "hid", "AURA_SIGNIN_GH_ENT_CLIENT_SECRET_FILE": secretFile,
		"AURA_SIGNIN_GH_ENT_API_URL": "https://ghe.example.com/api/v3",
		"AURA_SIGNIN_CORP_CLIENT_ID": "cid", "AURA_SIGNIN_CORP_CLIENT_SECRET": "c",
		"AURA_SIGNIN_CORP_SCOPES":   "openid profile groups",
		"AURA_SIGNIN_LAB_CLIENT_ID": "lid", "AURA_SIGNIN_LAB_CLIENT_SECRET": "l",
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	got, err := ParseProviders([]string{"gitea=gitea:https://git.example.com", "gh-ent=github:https://ghe.example.com",
		"corp=oidc:https://login.example.com/realms/x", "lab=gitlab"}, lookup)
	require.NoError(t, err)
	require.Equal(t, []ProviderConfig{
		{Name: "gitea", Kind: "gitea", Label: "Our Gitea", URL: "https://git.example.com", ClientID: "gid", ClientSecret: "gsecret", Allowed: []string{"org", "org:team"}},
		{Name: "gh-ent", Kind: "github", URL: "https://ghe.example.com", APIURL: "https://ghe.example.com/api/v3", ClientID: "hid", ClientSecret: "s3cret"},
		{Name: "corp", Kind: "oidc", URL: "https://login.example.com/realms/x", ClientID: "cid", ClientSecret: "c", Scopes: []string{"openid", "profile", "groups"}},
		{Name: "lab", Kind: "gitlab", URL: "https://gitlab.com", ClientID: "lid", ClientSecret: "l"},
	}, got)

	for spec, want := range map[string]string{
		"gitea":                   "use NAME=KIND",
		"Gitea=gitea:https://x":   "lower-case",
		"x=bitbucket":             "unknown kind",
		"x=oidc":                  "needs a URL",
		"x=oidc:ftp://x":          "not an http(s) URL",
		"nobody=oidc:https://x":   "set AURA_SIGNIN_NOBODY_CLIENT_ID",
		"nosecret=oidc:https://x": "set AURA_SIGNIN_NOSECRET_CLIENT_SECRET or",
		"both=oidc:https://x":     "not both",
		"api=oidc:https://x":      "API_URL is for github only",
	} {
		env := map[string]string{"AURA_SIGNIN_NOSECRET_CLIENT_ID": "a",
			"AURA_SIGNIN_BOTH_CLIENT_ID": "a", "AURA_SIGNIN_BOTH_CLIENT_SECRET": "b", "AURA_SIGNIN_BOTH_CLIENT_SECRET_FILE": secretFile,
			"AURA_SIGNIN_API_CLIENT_ID": "a", "AURA_SIGNIN_API_CLIENT_SECRET": "b", "AURA_SIGNIN_API_API_URL": "https://x"}
		_, err := ParseProviders([]string{spec}, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
		require.ErrorContains(t, err, want, spec)
	}
	_, err = ParseProviders([]string{"lab=gitlab", "lab=gitlab"}, lookup)
	require.ErrorContains(t, err, "given twice")
	require.Equal(t, []string{"a=oidc:https://x", "b=github"}, SplitSpecs(" a=oidc:https://x, b=github "))
}

// TestTakeFlowBounded: with maxUsed states remembered, a further callback is
// refused, even one whose state matches its cookie; expired states make room.
func TestTakeFlowBounded(t *testing.T) {
	t.Parallel()
	s, err := New(Config{BaseURL: "http://localhost", Complete: func(http.ResponseWriter, *http.Request, Identity, bool) error { return nil }})
	require.NoError(t, err)
	callback := func() bool {
		f := flow{Provider: "p", State: rand.Text(), Expires: time.Now().Add(time.Minute).Unix()}
		b, err := json.Marshal(f)
		require.NoError(t, err)
		r := httptest.NewRequest(http.MethodGet, "/auth/p/callback?state="+f.State, nil)
		r.AddCookie(&http.Cookie{Name: "aura_signin", Value: base64.RawURLEncoding.EncodeToString(b)})
		_, ok := s.takeFlow(httptest.NewRecorder(), r, "p")
		return ok
	}
	require.True(t, callback())
	for i := range maxUsed - 1 {
		s.used[strconv.Itoa(i)] = time.Now().Add(time.Minute)
	}
	require.False(t, callback())
	s.used["0"] = time.Now().Add(-time.Second)
	require.True(t, callback())
}

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o600) }
