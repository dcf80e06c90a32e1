package api

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/aura-ci/aura/backend/internal/auth"
)

// metricsAuth lets the metrics token (Deps.MetricsToken) read /metrics, compared
// in constant time; any other caller is resolved as everywhere else, so the
// admin token and an admin's session work too. The metrics token is known to
// this route only: anywhere else it is an unknown token (401).
func (h *handler) metricsAuth(next http.Handler) http.Handler {
	authenticated := h.authenticate(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.MetricsToken != "" {
			if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok &&
				subtle.ConstantTimeCompare([]byte(bearer), []byte(h.MetricsToken)) == 1 {
				p := &auth.Principal{Kind: auth.KindMetrics, TokenName: "metrics"}
				next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
				return
			}
		}
		authenticated.ServeHTTP(w, r)
	})
}

// serveMetrics answers GET /metrics in the Prometheus text format.
func (h *handler) serveMetrics(w http.ResponseWriter, r *http.Request) {
	if h.Metrics == nil {
		writeUnavailable(w)
		return
	}
	h.Metrics.Handler().ServeHTTP(w, r)
}
