package api

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzArtifactLink sends the artifact origin any path and query. Without the
// server's key nothing gets past the signature check (the handler has no
// store: reaching it would panic), every refusal is a 4xx; and a link the
// server signs for any valid artifact path survives URL escaping and routing
// to match its signature (it is refused only as expired).
func FuzzArtifactLink(f *testing.F) {
	f.Add(int64(42), "dist/app.tar.gz", "/jobs/42/artifacts/dist/app.tar.gz?expires=1&sig=x")
	f.Add(int64(1), "a b/ü%2F?#.txt", "/jobs/1/artifacts/a%20b/%C3%BC%252F%3F%23.txt?expires=99999999999&sig=")
	f.Add(int64(7), "x/../y", "/jobs/7/artifacts/x/../../etc/passwd?expires=-1&sig=AAAA")
	f.Add(int64(-3), ";", "/jobs/00042/artifacts/%2e%2e/x?expires=1e9")
	f.Add(int64(9), "report.html", "/jobs/9/artifacts/report.html?expires=9223372036854775807&expires=1&sig=a&sig=b")
	d := Deps{ArtifactOrigin: &url.URL{Scheme: "https", Host: "files.aura.example"}, ArtifactLinkKey: bytes.Repeat([]byte("k"), 32)}
	origin := newArtifactOrigin(d)
	h := &handler{Deps: d}
	serve := func(t *testing.T, target string) *httptest.ResponseRecorder {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return nil
		}
		r := &http.Request{Method: http.MethodGet, URL: u, RequestURI: target, Host: "files.aura.example", Header: http.Header{}, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
		r = r.WithContext(t.Context())
		w := httptest.NewRecorder()
		origin.ServeHTTP(w, r)
		return w
	}
	f.Fuzz(func(t *testing.T, job int64, path, target string) {
		if w := serve(t, target); w != nil && (w.Code < 400 || w.Code > 499) {
			t.Fatalf("%q answered %d: %s", target, w.Code, w.Body)
		}
		if job <= 0 || checkArtifactPath(path) != nil {
			return
		}
		link, err := url.Parse(h.artifactLinkURL(job, path, time.Unix(1700000000, 0)))
		if err != nil {
			t.Fatalf("signed link for %q does not parse: %v", path, err)
		}
		w := serve(t, link.RequestURI())
		if w == nil || w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "expired") {
			t.Fatalf("the signed link %s for job %d path %q: %v", link, job, path, w)
		}
		if !strings.HasPrefix(link.Path, "/jobs/"+strconv.FormatInt(job, 10)+"/artifacts/") || link.Host != "files.aura.example" {
			t.Fatalf("link %s", link)
		}
	})
}
