package api

import (
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/aura-ci/aura/backend/internal/store"
)

// events upgrades to the event websocket. Browsers cannot set headers on a
// websocket, so the token may also come as ?token= (or later, in an auth message).
func (h *handler) events(w http.ResponseWriter, r *http.Request) {
	if h.Events == nil {
		writeError(w, r, errorf(http.StatusServiceUnavailable, "", "events are not available"))
		return
	}
	if !websocket.IsWebSocketUpgrade(r) {
		writeError(w, r, errorf(http.StatusBadRequest, "", "this route is a websocket: send the Upgrade headers"))
		return
	}
	p := principal(r)
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	q := r.URL.Query()
	if tok := q.Get("token"); tok != "" {
		// Scrub it from the shared URL, so no request log written after this shows it.
		q.Del("token")
		r.URL.RawQuery = q.Encode()
		if p == nil {
			var err error
			if p, err = h.Auth.Authenticate(r.Context(), "Bearer "+tok); err != nil {
				writeError(w, r, err)
				return
			}
			token = tok
		}
	}
	if secret := sessionSecret(r); secret != "" && token == "" {
		// A page of another site could open the socket with the cookie:
		// only Aura's own pages may (websockets are not subject to CORS).
		if !h.sameOrigin(r) {
			writeError(w, r, errorf(http.StatusForbidden, "", "cross-origin websocket refused: a socket opened with the session cookie must come from Aura's own pages"))
			return
		}
		token = secret // the hub checks the session again, and closes the socket when it ends
	}
	if p == nil {
		token = ""
	}
	if err := h.Events.Serve(w, r, p, token); err != nil {
		writeError(w, r, err)
	}
}

// sameOrigin reports whether a websocket upgrade comes from Aura's own pages,
// as CrossOriginProtection judges a POST: by Sec-Fetch-Site, else by Origin
// (the request's host or a trusted origin), and a request with neither is no
// browser's.
func (h *handler) sameOrigin(r *http.Request) bool {
	probe := r.Clone(r.Context())
	probe.Method = http.MethodPost
	return h.crossOrigin == nil || h.crossOrigin.Check(probe) == nil
}

// logTimes is openapi.yaml's LogTimes.
type logTimes struct {
	Attempt   int             `json:"attempt"`
	StartedAt *time.Time      `json:"startedAt,omitempty"`
	Chunks    []store.LogTime `json:"chunks"`
}

// getJobLogTimes answers when each chunk of a job attempt's log arrived.
func (h *handler) getJobLogTimes(w http.ResponseWriter, r *http.Request) {
	j := jobOf(r)
	attempt, err := intQuery(r, "attempt", 0, false)
	if err != nil {
		writeError(w, r, err)
		return
	}
	times, used, started, err := h.Store.LogTimesGet(r.Context(), j.ID, int(attempt))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, logTimes{Attempt: used, StartedAt: started, Chunks: times})
}
