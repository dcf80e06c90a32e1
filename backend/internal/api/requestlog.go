package api

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/aura-ci/aura/backend/internal/tracing"
)

// logRequests logs every request once it is answered: method, route template
// (never the URL, whose query might carry something private, and never a header),
// status, duration and a request id, which the answer carries as X-Request-Id.
func (h *handler) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := requestID()
		w.Header().Set("X-Request-Id", id)
		rec := &statusRecorder{ResponseWriter: w}
		route := "(no route)"
		if cur := mux.CurrentRoute(r); cur != nil {
			if tpl, err := cur.GetPathTemplate(); err == nil {
				route = tpl
				tracing.Route(r, tpl) // the request's span takes the route's name
			}
		}
		next.ServeHTTP(rec, r)
		if rec.route != "" { // a page of the web app, which no route matched
			route = rec.route
		}
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		elapsed := time.Since(start)
		h.Metrics.ObserveHTTP(route, r.Method, status, elapsed)
		if hookRoutes[route] {
			h.Metrics.ObserveWebhook(deliveryResult(status))
		}
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelWarn
		}
		h.Logger.LogAttrs(r.Context(), level, "request", slog.String("method", r.Method), slog.String("route", route),
			slog.Int("status", status), slog.Duration("duration", elapsed), slog.String("id", id),
			slog.Int64("bytes", rec.bytes))
	})
}

// hookRoutes receive forge webhooks: their answers count as deliveries.
var hookRoutes = map[string]bool{"/api/v1/hooks/{integration}": true, "/api/submit/gitea": true, "/api/submit/darke": true}

// deliveryResult names a delivery's result by its answer: accepted (2xx), refused
// (4xx: a bad signature, an unknown integration, a malformed payload) or
// failed (5xx).
func deliveryResult(status int) string {
	switch {
	case status < 400:
		return "accepted"
	case status < 500:
		return "refused"
	}
	return "failed"
}

func requestID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// statusRecorder notes the status and size of an answer. It keeps the writer's
// Flush and Hijack (log streaming, websockets) reachable.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	route  string // set by a handler outside the router's routes (setRoute)
}

// webRoute labels the web app's pages and files, which the router leaves to its
// not-found handler: one label for them all, as for a route template.
const webRoute = "(web app)"

// setRoute names the route of a request the router matched to none, for the
// log and /metrics; w is logRequests' writer.
func setRoute(w http.ResponseWriter, route string) {
	if rec, ok := w.(*statusRecorder); ok {
		rec.route = route
	}
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(p)
	s.bytes += int64(n)
	return n, err
}

// ReadFrom passes a copy on to the server's own ReadFrom, which sends a file by
// sendfile(2).
func (s *statusRecorder) ReadFrom(r io.Reader) (int64, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := io.Copy(s.ResponseWriter, r)
	s.bytes += n
	return n, err
}

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if hj, ok := s.ResponseWriter.(http.Hijacker); ok {
		if s.status == 0 {
			s.status = http.StatusSwitchingProtocols
		}
		return hj.Hijack()
	}
	return nil, nil, errors.New("hijacking is not supported")
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
