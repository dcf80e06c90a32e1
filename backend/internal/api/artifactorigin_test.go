package api_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/api"
)

type artifactLink struct {
	URL       *string
	ExpiresAt *time.Time
}

func (b *testBundle) artifactLink(token string, id int64, path string, want int) artifactLink {
	b.t.Helper()
	var l artifactLink
	b.json(call{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d/artifact-link?path=%s", id, url.QueryEscape(path)), token: token}, want, &l)
	return l
}

// onOrigin sends a GET for link (an URL on the artifact origin) to the test
// server with the artifact origin's Host; hdr adds headers.
func (b *testBundle) onOrigin(link string, hdr map[string]string) (*http.Response, string) {
	b.t.Helper()
	u, err := url.Parse(link)
	require.NoError(b.t, err)
	req, err := http.NewRequest(http.MethodGet, b.url+u.RequestURI(), nil)
	require.NoError(b.t, err)
	req.Host = artifactOriginHost
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := b.client.Do(req)
	require.NoError(b.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(b.t, err)
	return resp, string(body)
}

// signLink signs a link as the server does, for expiries it would not give.
func (b *testBundle) signLink(job int64, path string, expires int64) string {
	m := hmac.New(sha256.New, b.linkKey)
	fmt.Fprintf(m, "artifact\x00%d\x00%s\x00%d", job, path, expires)
	q := url.Values{"expires": {strconv.FormatInt(expires, 10)}, "sig": {base64.RawURLEncoding.EncodeToString(m.Sum(nil))}}
	return fmt.Sprintf("http://%s/jobs/%d/artifacts/%s?%s", artifactOriginHost, job, path, q.Encode())
}

// TestArtifactOrigin: with an artifact origin, the dashboard gets a signed
// link for a private project's report; on the artifact origin that link serves
// the report inline (sandboxed, no cookie) without any credentials, for its job
// and path only and until it expires; a tampered link is refused, and nothing
// else is served there: not the API, even with the admin token, nor the app.
func TestArtifactOrigin(t *testing.T) {
	t.Parallel()
	b := setupWith(t, bundleOptions{artifactOrigin: true})
	prj, c := b.running("origin", true)
	html := []byte(`<html><script>fetch("/api/v1/me")</script>report</html>`)
	code, body := b.putArtifact(c.Token, c.ID, "out/r.html", html, nil)
	require.Equal(t, 201, code, "%s", body)
	code, body = b.putArtifact(c.Token, c.ID, "other.txt", []byte("other"), nil)
	require.Equal(t, 201, code, "%s", body)

	// Only a caller who may read the artifacts gets a link.
	b.artifactLink("", c.ID, "out/r.html", 404)
	b.artifactLink(prj, c.ID, "missing.html", 404)
	b.artifactLink(prj, c.ID, "../r.html", 400)
	l := b.artifactLink(prj, c.ID, "out/r.html", 200)
	require.NotNil(t, l.URL)
	require.True(t, strings.HasPrefix(*l.URL, "http://"+artifactOriginHost+fmt.Sprintf("/jobs/%d/artifacts/out/r.html?", c.ID)), *l.URL)
	require.WithinDuration(t, time.Now().Add(api.ArtifactLinkTTL), *l.ExpiresAt, 5*time.Second)

	resp, got := b.onOrigin(*l.URL, nil)
	require.Equal(t, 200, resp.StatusCode, got)
	require.Equal(t, string(html), got)
	require.True(t, strings.HasPrefix(resp.Header.Get("Content-Security-Policy"), "sandbox;"))
	require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	require.Equal(t, "no-referrer", resp.Header.Get("Referrer-Policy"))
	require.Empty(t, resp.Header.Values("Set-Cookie"))
	require.Contains(t, resp.Header.Get("Content-Disposition"), "inline")
	// A Range works there too.
	resp, got = b.onOrigin(*l.URL, map[string]string{"Range": "bytes=0-5"})
	require.Equal(t, 206, resp.StatusCode)
	require.Equal(t, "<html>", got)

	// The link names one path: another path, or another job, with its signature is refused.
	u, _ := url.Parse(*l.URL)
	swapped := *u
	swapped.Path = fmt.Sprintf("/jobs/%d/artifacts/other.txt", c.ID)
	resp, got = b.onOrigin(swapped.String(), nil)
	require.Equal(t, 403, resp.StatusCode, got)
	require.Contains(t, got, `"field":"sig"`)
	swapped.Path = fmt.Sprintf("/jobs/%d/artifacts/out/r.html", c.ID+1)
	resp, _ = b.onOrigin(swapped.String(), nil)
	require.Equal(t, 403, resp.StatusCode)

	// Tampered: a changed signature, a later expiry, none at all.
	q := u.Query()
	for name, change := range map[string]func(url.Values){
		"signature": func(v url.Values) { s := v.Get("sig"); v.Set("sig", "A"+s[1:]) },
		"expiry":    func(v url.Values) { v.Set("expires", strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)) },
		"no sig":    func(v url.Values) { v.Del("sig") },
		"no expiry": func(v url.Values) { v.Del("expires") },
	} {
		v := url.Values{}
		for k, vs := range q {
			v[k] = append([]string(nil), vs...)
		}
		change(v)
		if name == "signature" && v.Get("sig") == q.Get("sig") {
			v.Set("sig", "B"+q.Get("sig")[1:])
		}
		t2 := *u
		t2.RawQuery = v.Encode()
		resp, got := b.onOrigin(t2.String(), nil)
		require.Equal(t, 403, resp.StatusCode, "%s: %s", name, got)
	}

	// Expired: a link signed for a second ago is refused, one for a minute ahead works.
	resp, got = b.onOrigin(b.signLink(c.ID, "out/r.html", time.Now().Add(-time.Second).Unix()), nil)
	require.Equal(t, 403, resp.StatusCode, got)
	require.Contains(t, got, "expired")
	resp, _ = b.onOrigin(b.signLink(c.ID, "out/r.html", time.Now().Add(time.Minute).Unix()), nil)
	require.Equal(t, 200, resp.StatusCode)

	// Nothing but signed artifacts on the artifact origin, whatever the credentials.
	admin := map[string]string{"Authorization": "Bearer " + b.admin}
	for _, p := range []string{
		"/", "/index.html", "/p/origin", "/healthz", "/api/v1/me", "/api/v1/projects",
		fmt.Sprintf("/api/v1/jobs/%d/artifacts/out/r.html?inline=1", c.ID),
		fmt.Sprintf("/jobs/%d/artifacts/out/r.html", c.ID),
	} {
		resp, got := b.onOrigin("http://"+artifactOriginHost+p, admin)
		require.Contains(t, []int{403, 404}, resp.StatusCode, "%s: %s", p, got)
		require.NotContains(t, got, "report")
		require.NotContains(t, got, "dashboard page")
	}
	// The dashboard's origin still serves the API and the app.
	resp, _ = b.getArtifact(prj, c.ID, "out/r.html", "?inline=1", nil)
	require.Equal(t, 200, resp.StatusCode)
	resp, err := b.client.Get(b.url + "/p/origin")
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, "dashboard page", string(page))
}

// TestArtifactLinkWithoutOrigin: a server without an artifact origin answers
// a null link, and the dashboard keeps to ?inline=1.
func TestArtifactLinkWithoutOrigin(t *testing.T) {
	t.Parallel()
	b := setup(t)
	prj, c := b.running("noorigin", true)
	code, body := b.putArtifact(c.Token, c.ID, "r.html", []byte("<p>r</p>"), nil)
	require.Equal(t, 201, code, "%s", body)
	l := b.artifactLink(prj, c.ID, "r.html", 200)
	require.Nil(t, l.URL)
	require.Nil(t, l.ExpiresAt)
}

func TestParseArtifactOrigin(t *testing.T) {
	t.Parallel()
	u, err := api.ParseArtifactOrigin("https://Artifacts.Example:8443/")
	require.NoError(t, err)
	require.Equal(t, "https://artifacts.example:8443", u.String())
	for _, bad := range []string{"", "artifacts.example", "ftp://a.example", "https://a.example/x", "https://u:p@a.example", "https://a.example?x=1", "http://:80"} {
		_, err := api.ParseArtifactOrigin(bad)
		require.Error(t, err, bad)
	}
}
