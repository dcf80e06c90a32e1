package web_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/web"
)

var app = fstest.MapFS{
	"index.html":                {Data: []byte(`<!doctype html><script type="module" src="/assets/index-Bx9kQ2aZ.js"></script>`)},
	"assets/index-Bx9kQ2aZ.js":  {Data: []byte(strings.Repeat("console.log('aura');\n", 200))},
	"assets/index-Bx9kQ2aZ.css": {Data: []byte(strings.Repeat("body{color:red}\n", 100))},
	"assets/logo-C4fQ8mZp.svg":  {Data: []byte("<svg/>")},
	"assets/big-D1a2b3c4.js":    {Data: []byte(strings.Repeat("x", 2000))},
	"assets/big-D1a2b3c4.js.br": {Data: []byte("brotli bytes")},
	"favicon.ico":               {Data: []byte{0, 0, 1, 0}},
}

func get(t *testing.T, h http.Handler, method, path string, header ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

func TestDeepLinksGetTheApp(t *testing.T) {
	t.Parallel()
	h := web.New(app)
	for _, p := range []string{"/", "/index.html", "/p/proj", "/p/proj/commit", "/p/proj/commit/f2ac9bab", "/j/42",
		"/queue", "/runners", "/new-project", "/new-runner", "/j/42?x=1"} {
		resp := get(t, h, "GET", p)
		require.Equal(t, 200, resp.StatusCode, p)
		require.Contains(t, body(t, resp), "/assets/index-Bx9kQ2aZ.js", p)
		require.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
		require.Equal(t, "no-cache", resp.Header.Get("Cache-Control"), "index.html is always revalidated")
		csp := resp.Header.Get("Content-Security-Policy")
		require.Contains(t, csp, "script-src 'self';")
		require.Contains(t, csp, "frame-ancestors 'none'")
		require.Contains(t, csp, "connect-src 'self';", "sockets to the page's own origin only (CSP 3: 'self' covers ws: and wss: of the same host)")
		require.NotContains(t, csp, "ws:")
		require.NotContains(t, csp, "unsafe-eval")
		require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
		require.NotEmpty(t, resp.Header.Get("Referrer-Policy"))
	}
	// Never for the API or a missing asset.
	for _, p := range []string{"/api/v1/nope", "/api", "/assets/gone-12345678.js"} {
		require.Equal(t, 404, get(t, h, "GET", p).StatusCode, p)
	}
	require.Equal(t, 405, get(t, h, "POST", "/j/42").StatusCode)
	head := get(t, h, "HEAD", "/j/42")
	require.Equal(t, 200, head.StatusCode)
	require.Empty(t, body(t, head))
}

func TestAssetsAreImmutableAndCompressed(t *testing.T) {
	t.Parallel()
	h := web.New(app)
	resp := get(t, h, "GET", "/assets/index-Bx9kQ2aZ.js", "Accept-Encoding", "gzip, deflate, br")
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, "public, max-age=31536000, immutable", resp.Header.Get("Cache-Control"))
	require.Equal(t, "gzip", resp.Header.Get("Content-Encoding"))
	require.Equal(t, "Accept-Encoding", resp.Header.Get("Vary"))
	require.Contains(t, resp.Header.Get("Content-Type"), "javascript")
	zr, err := gzip.NewReader(bytes.NewReader([]byte(body(t, resp))))
	require.NoError(t, err)
	plain, err := io.ReadAll(zr)
	require.NoError(t, err)
	require.Equal(t, app["assets/index-Bx9kQ2aZ.js"].Data, plain)

	// Without gzip in Accept-Encoding (or with q=0), the plain bytes.
	for _, ae := range []string{"", "identity", "gzip;q=0"} {
		resp = get(t, h, "GET", "/assets/index-Bx9kQ2aZ.js", "Accept-Encoding", ae)
		require.Empty(t, resp.Header.Get("Content-Encoding"), ae)
		require.Equal(t, string(app["assets/index-Bx9kQ2aZ.js"].Data), body(t, resp))
	}
	// A brotli file made by the build is preferred where accepted.
	resp = get(t, h, "GET", "/assets/big-D1a2b3c4.js", "Accept-Encoding", "gzip, br")
	require.Equal(t, "br", resp.Header.Get("Content-Encoding"))
	require.Equal(t, "brotli bytes", body(t, resp))
	require.Equal(t, 404, get(t, h, "GET", "/assets/big-D1a2b3c4.js.br").StatusCode, "variants are not files of their own")

	// Revalidation by ETag.
	etag := resp.Header.Get("ETag")
	require.NotEmpty(t, etag)
	require.Equal(t, 304, get(t, h, "GET", "/assets/big-D1a2b3c4.js", "If-None-Match", etag).StatusCode)
	// Tiny files are not worth compressing; unhashed names are not immutable.
	resp = get(t, h, "GET", "/favicon.ico", "Accept-Encoding", "gzip")
	require.Empty(t, resp.Header.Get("Content-Encoding"))
	require.Equal(t, "no-cache", resp.Header.Get("Cache-Control"))
}

// TestPlaceholder: a binary built without the app still answers every page.
func TestPlaceholder(t *testing.T) {
	t.Parallel()
	h := web.Handler()
	resp := get(t, h, "GET", "/j/42")
	require.Equal(t, 200, resp.StatusCode)
	b := body(t, resp)
	if !web.Built() {
		require.Contains(t, b, "The web UI was not built")
	}
	require.NotContains(t, strings.ToLower(b), "<script>", "no inline script")
}

// TestFramingArtifacts: with an artifact origin, the app's policy lets it frame
// that origin (the artifact viewer), and nothing else changes.
func TestFramingArtifacts(t *testing.T) {
	t.Parallel()
	h := web.FramingArtifacts(web.New(app), "https://artifacts.aura.example")
	csp := get(t, h, "GET", "/j/42").Header.Get("Content-Security-Policy")
	require.Equal(t, web.ContentSecurityPolicy+"; frame-src 'self' https://artifacts.aura.example", csp)
	require.NotContains(t, get(t, web.New(app), "GET", "/j/42").Header.Get("Content-Security-Policy"), "frame-src")
}
