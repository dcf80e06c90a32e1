package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/aura-ci/aura/backend/internal/auth"
	"github.com/aura-ci/aura/backend/internal/store"
)

type projectJSON struct {
	Slug      string    `json:"slug"`
	Name      string    `json:"name"`
	Private   bool      `json:"private"`
	CreatedAt time.Time `json:"createdAt"`
	// ArtifactRetention and CacheRetention are the project's own retention in
	// seconds; null: the instance default.
	ArtifactRetention *int64 `json:"artifactRetention"`
	CacheRetention    *int64 `json:"cacheRetention"`
	// LogRetention is how long the project's finished logs are kept, in
	// seconds; null: the instance default.
	LogRetention *int64 `json:"logRetention"`
}

func toProject(p *store.Project) projectJSON {
	return projectJSON{Slug: p.Slug, Name: p.Name, Private: p.Private, CreatedAt: p.CreatedAt,
		ArtifactRetention: p.ArtifactRetentionSeconds, CacheRetention: p.CacheRetentionSeconds,
		LogRetention: p.LogRetentionSeconds}
}

// maxRetentionSeconds bounds a project's retention (ten years), far from
// any overflow of timestamps.
const maxRetentionSeconds = 10 * 365 * 24 * 3600

// retentionField is a retention in a PATCH: absent (unchanged), null (the
// instance default) or seconds. Its bytes are checked by check, which names the field.
type retentionField struct {
	set bool
	raw []byte
}

func (f *retentionField) UnmarshalJSON(b []byte) error {
	f.set, f.raw = true, append([]byte(nil), b...)
	return nil
}

func (f *retentionField) check(name string) (store.RetentionUpdate, error) {
	if !f.set {
		return store.RetentionUpdate{}, nil
	}
	if bytes.Equal(f.raw, []byte("null")) {
		return store.RetentionUpdate{Set: true}, nil
	}
	var secs int64
	if err := json.Unmarshal(f.raw, &secs); err != nil || secs < 1 || secs > maxRetentionSeconds {
		return store.RetentionUpdate{}, errorf(http.StatusBadRequest, name,
			fmt.Sprintf("field %s must be a number of seconds from 1 to %d, or null for the instance default", name, maxRetentionSeconds))
	}
	return store.RetentionUpdate{Set: true, Seconds: &secs}, nil
}

type projectCreate struct {
	Slug    string `json:"slug" validate:"required,slug"`
	Name    string `json:"name" validate:"required,min=1,max=200"`
	Private bool   `json:"private"`
}

type projectUpdate struct {
	Name    *string `json:"name" validate:"omitnil,min=1,max=200"`
	Private *bool   `json:"private"`
	// Retentions are in seconds; null resets one to the instance default.
	ArtifactRetention retentionField `json:"artifactRetention"`
	CacheRetention    retentionField `json:"cacheRetention"`
	LogRetention      retentionField `json:"logRetention"`
}

type listJSON[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"nextCursor,omitempty"`
}

func mapSlice[S, T any](in []S, f func(S) T) []T {
	out := make([]T, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}

func (h *handler) listProjects(w http.ResponseWriter, r *http.Request) {
	page, err := pageParams(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	ps, next, err := h.Store.ProjectList(r.Context(), auth.Scope(principal(r), auth.ReadProject), page)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listJSON[projectJSON]{Items: mapSlice(ps, toProject), NextCursor: next})
}

func (h *handler) createProject(w http.ResponseWriter, r *http.Request) {
	var body projectCreate
	if err := decode(w, r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	p, err := h.Store.ProjectCreate(r.Context(), body.Slug, body.Name, body.Private, audit(r))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toProject(p))
}

func (h *handler) getProject(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, toProject(projectOf(r)))
}

func (h *handler) updateProject(w http.ResponseWriter, r *http.Request) {
	slug := projectOf(r).Slug
	var body projectUpdate
	if err := decode(w, r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	params := &store.ProjectUpdateParams{Name: body.Name, Private: body.Private}
	var err error
	if params.ArtifactRetention, err = body.ArtifactRetention.check("artifactRetention"); err != nil {
		writeError(w, r, err)
		return
	}
	if params.CacheRetention, err = body.CacheRetention.check("cacheRetention"); err != nil {
		writeError(w, r, err)
		return
	}
	if params.LogRetention, err = body.LogRetention.check("logRetention"); err != nil {
		writeError(w, r, err)
		return
	}
	p, err := h.Store.ProjectUpdate(r.Context(), slug, params, audit(r))
	if err != nil {
		writeError(w, r, named(err, "project %s", slug))
		return
	}
	writeJSON(w, http.StatusOK, toProject(p))
}

func (h *handler) deleteProject(w http.ResponseWriter, r *http.Request) {
	err := h.Store.ProjectDelete(r.Context(), projectOf(r).Slug, audit(r))
	h.Auth.ForgetAll() // its tokens: refused here at once (see deleteProjectToken)
	if err != nil {
		writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
