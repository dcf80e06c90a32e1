package signin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/oauth2"
)

// GitHub speaks OAuth2 without OpenID Connect: who signed in comes from its
// REST API with the access token (GET /user, /user/emails, /user/orgs).

// githubUser is the part of GET /user Aura reads.
type githubUser struct {
	ID    int64  `json:"id"`
	Login string `json:"login"`
	Name  string `json:"name"`
	Email string `json:"email"` // the public address, verified; null when none
}

// githubEmail is one entry of GET /user/emails.
type githubEmail struct {
	Email    string `json:"email"`
	Primary  bool   `json:"primary"`
	Verified bool   `json:"verified"`
}

// githubOrg is one entry of GET /user/orgs.
type githubOrg struct {
	Login string `json:"login"`
}

// githubAPI is p's REST API base: api.github.com for github.com, /api/v3 of
// a GitHub Enterprise Server.
func githubAPI(p ProviderConfig) string {
	if p.APIURL != "" {
		return strings.TrimSuffix(p.APIURL, "/")
	}
	base := strings.TrimSuffix(p.URL, "/")
	if u, err := url.Parse(base); err == nil && (u.Host == "github.com" || u.Host == "www.github.com") {
		return "https://api.github.com"
	}
	return base + "/api/v3"
}

// githubIdentity reads who tok belongs to from GitHub's API: the user, their
// primary verified address when the profile shows none, and their
// organisations when an allowed list is set.
func (s *Service) githubIdentity(ctx context.Context, p *provider, tok *oauth2.Token) (Identity, error) {
	api := githubAPI(p.ProviderConfig)
	var u githubUser
	if err := s.githubGet(ctx, tok, api+"/user", &u); err != nil {
		return Identity{}, err
	}
	var emails []githubEmail
	if u.Email == "" {
		if err := s.githubGet(ctx, tok, api+"/user/emails?per_page=100", &emails); err != nil {
			s.logger.Warn("sign-in: GitHub emails unavailable", "provider", p.Name, "err", err)
		}
	}
	var orgs []githubOrg
	if len(p.Allowed) > 0 {
		if err := s.githubGet(ctx, tok, api+"/user/orgs?per_page=100", &orgs); err != nil {
			return Identity{}, err
		}
	}
	return githubToIdentity(p.Name, u, emails, orgs)
}

// githubToIdentity maps GitHub's answers onto an Identity.
func githubToIdentity(provider string, u githubUser, emails []githubEmail, orgs []githubOrg) (Identity, error) {
	if u.ID == 0 || u.Login == "" {
		return Identity{}, fmt.Errorf("GitHub /user has no id or login")
	}
	id := Identity{Provider: provider, Subject: strconv.FormatInt(u.ID, 10), Login: u.Login, Name: u.Name, Email: u.Email}
	if id.Email == "" {
		for _, e := range emails {
			if e.Primary && e.Verified {
				id.Email = e.Email
			}
		}
	}
	for _, o := range orgs {
		id.Groups = append(id.Groups, o.Login)
	}
	return id, nil
}

func (s *Service) githubGet(ctx context.Context, tok *oauth2.Token, url string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	tok.SetAuthHeader(req)
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GitHub %s: %s", req.URL.Path, resp.Status)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(into)
}
