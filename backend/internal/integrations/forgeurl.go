package integrations

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// APIBase returns the API base URL of a forge of kind from what a user gives:
// its web address (https://gitea.example, https://gitlab.example/sub) or the
// API base itself (kept as it is). github.com's API is https://api.github.com;
// GitHub Enterprise serves it at /api/v3.
func APIBase(kind, raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return "", errors.New("apiUrl must be an http or https URL")
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", errors.New("apiUrl must not hold credentials, a query or a fragment")
	}
	path := strings.TrimRight(u.EscapedPath(), "/")
	if f := lookup(kind); f != nil && f.status != nil {
		return f.status.apiBase(u, path), nil
	}
	return u.Scheme + "://" + u.Host + path, nil
}

// ForgeError is an integration's forge settings that do not work, naming the
// field to fix.
type ForgeError struct {
	Field   string
	Message string
}

func (e *ForgeError) Error() string { return e.Message }

// statusAPIOf is the status API of kind; a kind that takes no statuses is an error.
func statusAPIOf(kind string) (*statusAPI, error) {
	f := lookup(kind)
	if f == nil || f.status == nil {
		return nil, fmt.Errorf("%s integrations report no status", kind)
	}
	return f.status, nil
}

// CheckRepository reads f's repository through the forge's API with its token,
// so a wrong URL, token or repository is refused when the integration is saved
// instead of failing every status later. The error is a *ForgeError naming the
// field, or a refused address.
func (r *Reporter) CheckRepository(ctx context.Context, f *Forge) error {
	api, err := statusAPIOf(f.Kind)
	if err != nil {
		return err
	}
	endpoint, err := api.repositoryURL(strings.TrimRight(f.APIURL, "/"), f.Repository)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return &ForgeError{Field: "apiUrl", Message: "apiUrl does not make a valid URL: " + err.Error()}
	}
	req.Header.Set("User-Agent", "Aura")
	api.auth(req, f.Token)
	client := r.public
	if f.AllowPrivateNetwork {
		client = r.private
	}
	name := Name(f.Kind)
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if errors.Is(err, ErrAddress) {
			return &ForgeError{Field: "apiUrl", Message: err.Error()}
		}
		return &ForgeError{Field: "apiUrl", Message: fmt.Sprintf("apiUrl %s cannot be reached: %v", f.APIURL, err)}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var obj map[string]any
	isJSON := json.Unmarshal(raw, &obj) == nil
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode <= 299 && isJSON:
		return nil
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return &ForgeError{Field: "accessToken", Message: fmt.Sprintf("the forge refused the access token (%s%s): give a token that may read %s and write its commit statuses",
			resp.Status, forgeReason(strings.NewReader(string(raw)), f.Token), f.Repository)}
	case resp.StatusCode == http.StatusNotFound && isJSON:
		return &ForgeError{Field: "repository", Message: fmt.Sprintf("repository %s was not found at %s (or the access token may not read it)", f.Repository, f.APIURL)}
	case resp.StatusCode >= 300 && resp.StatusCode <= 399:
		return &ForgeError{Field: "apiUrl", Message: fmt.Sprintf("apiUrl %s redirects (%s to %s): give the address it redirects to", f.APIURL, resp.Status, resp.Header.Get("Location"))}
	default:
		return &ForgeError{Field: "apiUrl", Message: fmt.Sprintf("apiUrl %s does not answer like the %s API (%s for %s): give the forge's address, such as https://%s.example",
			f.APIURL, name, resp.Status, endpoint, strings.ToLower(name))}
	}
}
