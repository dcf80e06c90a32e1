package api

import (
	"net/http"
	"time"

	"github.com/aura-ci/aura/backend/internal/dispatch"
)

type attemptRef struct {
	ID      int64 `json:"id" validate:"min=1"`
	Attempt int   `json:"attempt" validate:"min=1"`
}

type cancelsRequest struct {
	Jobs        []attemptRef `json:"jobs" validate:"max=256,dive"`
	WaitSeconds *int         `json:"waitSeconds" validate:"omitnil,min=0,max=60"`
}

type stopJSON struct {
	ID      int64  `json:"id"`
	Attempt int    `json:"attempt"`
	Status  string `json:"status,omitempty"`
	Gone    bool   `json:"gone"`
}

type cancelsResponse struct {
	Jobs []stopJSON `json:"jobs"`
}

// watchCancels is the runner's cancel long poll: it answers as soon as one of the
// attempts the runner runs was cancelled, ended or superseded, so a cancel
// reaches the job's processes at once rather than on the next heartbeat.
func (h *handler) watchCancels(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	var body cancelsRequest
	if err := decode(w, r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	wait := 30 * time.Second
	if body.WaitSeconds != nil {
		wait = time.Duration(*body.WaitSeconds) * time.Second
	}
	attempts := mapSlice(body.Jobs, func(a attemptRef) dispatch.Attempt {
		return dispatch.Attempt{ID: a.ID, Attempt: a.Attempt}
	})
	stops, err := h.Dispatcher.WatchCancels(r.Context(), p.RunnerID, attempts, wait)
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := cancelsResponse{Jobs: mapSlice(stops, func(s dispatch.Stop) stopJSON {
		return stopJSON{ID: s.ID, Attempt: s.Attempt.Attempt, Status: s.Status, Gone: s.Gone}
	})}
	writeJSON(w, http.StatusOK, out)
}
