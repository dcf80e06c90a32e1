package api

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
)

// The artifact origin: with --artifact-origin, inline artifacts are served from
// a host name of their own, recognised by the request's Host header (it may
// point at the same listener as the dashboard). Whatever an HTML report does
// there, it is another origin than the dashboard's: it reads none of the
// dashboard's storage, cookies or API. That origin serves artifact bytes only,
// and only at a URL the dashboard signed for one job and path, for a few
// minutes (ArtifactLinkTTL): it never reads a token or a cookie, so a private
// project's artifact opens there without the user's credentials ever being sent.

// ArtifactLinkPurpose labels the key that signs artifact links among those
// derived from the server key (seal.DeriveKey).
const ArtifactLinkPurpose = "aura artifact link signing v1"

// ArtifactLinkTTL is how long a signed artifact link works.
const ArtifactLinkTTL = 5 * time.Minute

// ParseArtifactOrigin checks an --artifact-origin value: an http or https URL
// of a host (and port), with no path, query or credentials.
func ParseArtifactOrigin(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return nil, err
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("%q: use an http:// or https:// URL", s)
	case u.Host == "" || u.Hostname() == "":
		return nil, fmt.Errorf("%q: name a host, e.g. https://artifacts.aura.example", s)
	case u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("%q: give the origin only (scheme, host and port), no path, query or user", s)
	}
	return &url.URL{Scheme: u.Scheme, Host: strings.ToLower(u.Host)}, nil
}

// hostKey is a Host header's host and port, the default port of scheme made explicit.
func hostKey(host, scheme string) string {
	host = strings.ToLower(host)
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	if scheme == "https" {
		return net.JoinHostPort(strings.Trim(host, "[]"), "443")
	}
	return net.JoinHostPort(strings.Trim(host, "[]"), "80")
}

// NewHandler is the server's handler: NewRouter, and with d.ArtifactOrigin set,
// the artifact origin's own handler for requests whose Host is that origin's.
func NewHandler(d Deps) http.Handler {
	router := NewRouter(d)
	if d.ArtifactOrigin == nil {
		return router
	}
	if len(d.ArtifactLinkKey) < 32 {
		// Links signed with no key would be links anyone can make.
		panic("api: an artifact origin needs an ArtifactLinkKey (seal.DeriveKey(serverKey, ArtifactLinkPurpose))")
	}
	origin := newArtifactOrigin(d)
	want := hostKey(d.ArtifactOrigin.Host, d.ArtifactOrigin.Scheme)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hostKey(r.Host, d.ArtifactOrigin.Scheme) == want {
			origin.ServeHTTP(w, r)
			return
		}
		router.ServeHTTP(w, r)
	})
}

// newArtifactOrigin answers signed artifact links, and 404 to everything else.
func newArtifactOrigin(d Deps) http.Handler {
	h := &handler{Deps: d}
	if h.Logger == nil {
		h.Logger = slog.Default()
	}
	r := mux.NewRouter()
	r.SkipClean(true)
	r.Use(h.logRequests)
	notHere := h.logRequests(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, errorf(http.StatusNotFound, "", "this is the artifact origin: it serves signed artifact links only"))
	}))
	r.NotFoundHandler = notHere
	r.MethodNotAllowedHandler = notHere
	r.HandleFunc("/jobs/{id}/artifacts/{path:.+}", h.serveSignedArtifact).Methods(http.MethodGet, http.MethodHead)
	return r
}

// signArtifact is the signature of a link to job's artifact path until expires (Unix seconds).
func signArtifact(key []byte, job int64, path string, expires int64) string {
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "artifact\x00%d\x00%s\x00%d", job, path, expires)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// artifactLinkURL is the signed URL on the artifact origin of job's artifact path.
func (h *handler) artifactLinkURL(job int64, path string, expires time.Time) string {
	exp := expires.Unix()
	segs := strings.Split(path, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	q := url.Values{"expires": {strconv.FormatInt(exp, 10)}, "sig": {signArtifact(h.ArtifactLinkKey, job, path, exp)}}
	return fmt.Sprintf("%s/jobs/%d/artifacts/%s?%s", h.ArtifactOrigin.String(), job, strings.Join(segs, "/"), q.Encode())
}

// artifactLinkJSON answers GET /api/v1/jobs/{id}/artifact-link.
type artifactLinkJSON struct {
	URL       *string    `json:"url"`
	ExpiresAt *time.Time `json:"expiresAt"`
}

// getArtifactLink signs a link to one of the job's artifacts on the artifact
// origin, for a caller who may read it now.
func (h *handler) getArtifactLink(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Query().Get("path")
	if err := checkArtifactPath(path); err != nil {
		writeError(w, r, err)
		return
	}
	j := jobOf(r)
	a, err := h.Store.ArtifactGet(r.Context(), j.ID, path)
	if err != nil {
		writeError(w, r, named(err, "artifact %s of job %d", path, j.ID))
		return
	}
	if a.ExpiresAt != nil && !a.ExpiresAt.After(time.Now()) {
		writeError(w, r, errorf(http.StatusGone, "path", fmt.Sprintf("artifact %s of job %d expired on %s",
			path, j.ID, a.ExpiresAt.UTC().Format(time.RFC3339))))
		return
	}
	if h.ArtifactOrigin == nil {
		writeJSON(w, http.StatusOK, artifactLinkJSON{})
		return
	}
	expires := time.Now().Add(ArtifactLinkTTL).Truncate(time.Second).UTC()
	u := h.artifactLinkURL(j.ID, path, expires)
	writeJSON(w, http.StatusOK, artifactLinkJSON{URL: &u, ExpiresAt: &expires})
}

// serveSignedArtifact serves an artifact inline on the artifact origin, to
// whoever holds a link signed for its job and path that has not expired. It
// never looks at Authorization or cookies.
func (h *handler) serveSignedArtifact(w http.ResponseWriter, r *http.Request) {
	refuse := func(why string) {
		writeError(w, r, errorf(http.StatusForbidden, "sig", why+": open the artifact from the dashboard again for a new link"))
	}
	job, err := strconv.ParseInt(muxVar(r, "id"), 10, 64)
	if err != nil || job <= 0 {
		writeError(w, r, errorf(http.StatusNotFound, "", "no such job"))
		return
	}
	path, err := artifactPath(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	exp, err := strconv.ParseInt(q.Get("expires"), 10, 64)
	if err != nil {
		refuse("the link has no valid expiry")
		return
	}
	want := signArtifact(h.ArtifactLinkKey, job, path, exp)
	if !hmac.Equal([]byte(q.Get("sig")), []byte(want)) {
		refuse("the link's signature does not match its job and path")
		return
	}
	if time.Now().Unix() > exp {
		refuse("the link expired at " + time.Unix(exp, 0).UTC().Format(time.RFC3339))
		return
	}
	w.Header().Set("Referrer-Policy", "no-referrer")
	h.serveArtifact(w, r, job, path, true)
}
