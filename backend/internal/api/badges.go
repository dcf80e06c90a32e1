package api

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html"
	"net/http"
	"strings"

	"github.com/aura-ci/aura/backend/internal/store"
)

// badgeLook is what a status looks like on a badge.
var badgeLook = map[string][2]string{
	"success": {"passing", "#4c1"},
	"failure": {"failing", "#e05d44"},
	"pending": {"pending", "#dfb317"},
}

// badgeSVG draws a flat two-part badge, "aura | passing", in the usual shape.
func badgeSVG(label, message, color string) []byte {
	// Verdana 11px averages about 7 px a character; good enough for short words.
	lw, rw := 10+7*len(label), 10+7*len(message)
	w := lw + rw
	label, message = html.EscapeString(label), html.EscapeString(message)
	return fmt.Appendf(nil, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="20" role="img" aria-label="%s: %s">`+
		`<title>%s: %s</title>`+
		`<linearGradient id="s" x2="0" y2="100%%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>`+
		`<clipPath id="r"><rect width="%d" height="20" rx="3" fill="#fff"/></clipPath>`+
		`<g clip-path="url(#r)"><rect width="%d" height="20" fill="#555"/><rect x="%d" width="%d" height="20" fill="%s"/><rect width="%d" height="20" fill="url(#s)"/></g>`+
		`<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">`+
		`<text x="%d" y="14">%s</text><text x="%d" y="14">%s</text></g></svg>`,
		w, label, message, label, message, w, lw, lw, rw, color, w, lw/2, label, lw+rw/2, message)
}

func (h *handler) entityBadge(w http.ResponseWriter, r *http.Request)     { h.badge(w, r, false) }
func (h *handler) collectionBadge(w http.ResponseWriter, r *http.Request) { h.badge(w, r, true) }

// badge answers the status of an entity, or of a collection's newest entity, as
// an SVG. Caches may keep it briefly (it changes with every job) and revalidate
// with its ETag; a private project's badge needs a token and is never shared.
func (h *handler) badge(w http.ResponseWriter, r *http.Request, collection bool) {
	p := projectOf(r)
	key, err := slugParam(r, "key")
	if err != nil {
		writeError(w, r, err)
		return
	}
	val, err := slugParam(r, "val")
	if err != nil {
		writeError(w, r, err)
		return
	}
	var b *store.Badge
	if collection {
		b, err = h.Store.BadgeCollection(r.Context(), p.ID, key, val)
	} else {
		b, err = h.Store.BadgeEntity(r.Context(), p.ID, key, val)
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	look := badgeLook[b.Status]
	svg := badgeSVG("aura", look[0], look[1])
	sum := sha256.Sum256(svg)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	scope := "public"
	if p.Private {
		scope = "private"
	}
	w.Header().Set("Cache-Control", scope+", max-age=30, must-revalidate")
	w.Header().Set("ETag", etag)
	if match := r.Header.Get("If-None-Match"); match != "" && (match == "*" || strings.Contains(match, etag)) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(svg)
}
