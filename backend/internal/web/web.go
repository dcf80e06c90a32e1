// Package web serves the single-page app embedded in the aura binary: hashed
// assets immutable and precompressed, index.html for every deep link, and the
// security headers that keep a log's bytes from ever running as script.
//
// The frontend build (vite, outDir backend/internal/web/dist) must run before
// `go build` for the app to be embedded. From a clean checkout dist does not
// exist and the binary serves placeholder.html instead, so `go build` always works.
package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing/fstest"
)

// files is the whole package directory, so that a missing dist is no build
// error (a pattern naming dist would be); only dist and placeholder.html are served.
//
//go:embed all:*
var files embed.FS

// ContentSecurityPolicy allows scripts and styles from the server only (no inline
// script, no eval), the API and the event websocket, and no framing. Inline style
// attributes stay allowed: they cannot run code, and UI libraries set them.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Handler serves the embedded app, or the placeholder when none was built.
func Handler() http.Handler {
	if dist, err := fs.Sub(files, "dist"); err == nil {
		if _, err := fs.Stat(dist, "index.html"); err == nil {
			return New(dist)
		}
	}
	page, _ := files.ReadFile("placeholder.html")
	return New(fstest.MapFS{"index.html": {Data: page}})
}

// Built reports whether the binary holds a built app.
func Built() bool {
	_, err := fs.Stat(files, "dist/index.html")
	return err == nil
}

// asset is one file, read, hashed and compressed on its first request: an idle
// server holds none of the app's bytes, and touches none of its pages.
type asset struct {
	fsys fs.FS
	name string
	once sync.Once
	err  error

	body, gzip, brotli []byte
	contentType        string
	etag               string
	immutable          bool
}

// load reads and prepares a once.
func (a *asset) load() error {
	a.once.Do(func() {
		p, fsys := a.name, a.fsys
		body, err := fs.ReadFile(fsys, p)
		if err != nil {
			a.err = err
			return
		}
		a.body, a.contentType = body, mime.TypeByExtension(path.Ext(p))
		if a.contentType == "" {
			a.contentType = http.DetectContentType(body)
		}
		sum := sha256.Sum256(body)
		a.etag = `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`
		// Variants the build made win; otherwise gzip what compresses.
		if br, err := fs.ReadFile(fsys, p+".br"); err == nil {
			a.brotli = br
		}
		if gz, err := fs.ReadFile(fsys, p+".gz"); err == nil {
			a.gzip = gz
		} else if compressible(a.contentType) && len(body) > 512 {
			a.gzip = gzipBytes(body)
		}
		if a.gzip != nil && len(a.gzip) >= len(body) {
			a.gzip = nil
		}
	})
	return a.err
}

type handler struct {
	assets map[string]*asset
	index  *asset
	csp    string
}

// FramingArtifacts returns h (a handler of New or Handler) with a policy that
// also lets the app frame pages of origin: the artifact origin, where the
// artifact viewer's frames come from.
func FramingArtifacts(h http.Handler, origin string) http.Handler {
	wh, ok := h.(*handler)
	if !ok || origin == "" {
		return h
	}
	c := *wh
	c.csp = ContentSecurityPolicy + "; frame-src 'self' " + origin
	return &c
}

// hashed matches the file names vite gives build outputs (name-<hash>.ext), which
// never change content and may be cached for good.
var hashed = regexp.MustCompile(`[-.][A-Za-z0-9_-]{8,}\.[a-z0-9]+$`)

// New serves the app in fsys, which must hold index.html. Only the names are
// read here; each file is read and compressed once, at its first request.
func New(fsys fs.FS) http.Handler {
	h := &handler{assets: map[string]*asset{}, csp: ContentSecurityPolicy}
	_ = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, ".gz") || strings.HasSuffix(p, ".br") {
			return err
		}
		h.assets["/"+p] = &asset{fsys: fsys, name: p, immutable: p != "index.html" && hashed.MatchString(path.Base(p))}
		return nil
	})
	h.index = h.assets["/index.html"]
	return h
}

func compressible(contentType string) bool {
	for _, t := range []string{"text/", "javascript", "json", "svg", "xml", "wasm"} {
		if strings.Contains(contentType, t) {
			return true
		}
	}
	return false
}

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", h.csp)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := path.Clean("/" + r.URL.Path)
	a := h.assets[p]
	if a == nil || p == "/index.html" {
		// A missing file under assets/ is an error, not a page: answering it with
		// index.html would hide a stale deploy behind a MIME error.
		if strings.HasPrefix(p, "/assets/") || strings.HasPrefix(p, "/api/") || p == "/api" || h.index == nil {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		a = h.index // every other path is a deep link into the app
	}
	serve(w, r, a)
}

func serve(w http.ResponseWriter, r *http.Request, a *asset) {
	if err := a.load(); err != nil {
		http.Error(w, "the file cannot be read", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", a.contentType)
	hd.Set("ETag", a.etag)
	if a.immutable {
		hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hd.Set("Cache-Control", "no-cache") // always revalidated: a deploy shows at once
	}
	body := a.body
	if a.gzip != nil || a.brotli != nil {
		hd.Set("Vary", "Accept-Encoding")
		switch accept := r.Header.Get("Accept-Encoding"); {
		case a.brotli != nil && acceptsEncoding(accept, "br"):
			hd.Set("Content-Encoding", "br")
			body = a.brotli
		case a.gzip != nil && acceptsEncoding(accept, "gzip"):
			hd.Set("Content-Encoding", "gzip")
			body = a.gzip
		}
	}
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// acceptsEncoding reports whether an Accept-Encoding header allows enc (q > 0).
func acceptsEncoding(header, enc string) bool {
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), enc) {
			continue
		}
		q := strings.ReplaceAll(params, " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}
