package api

import (
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
}

func toProject(p *store.Project) projectJSON {
	return projectJSON{Slug: p.Slug, Name: p.Name, Private: p.Private, CreatedAt: p.CreatedAt}
}

type projectCreate struct {
	Slug    string `json:"slug" validate:"required,slug"`
	Name    string `json:"name" validate:"required,min=1,max=200"`
	Private bool   `json:"private"`
}

type projectUpdate struct {
	Name    *string `json:"name" validate:"omitnil,min=1,max=200"`
	Private *bool   `json:"private"`
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
	p, err := h.Store.ProjectCreate(r.Context(), body.Slug, body.Name, body.Private)
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
	p, err := h.Store.ProjectUpdate(r.Context(), slug, &store.ProjectUpdateParams{Name: body.Name, Private: body.Private})
	if err != nil {
		writeError(w, r, named(err, "project %s", slug))
		return
	}
	writeJSON(w, http.StatusOK, toProject(p))
}

func (h *handler) deleteProject(w http.ResponseWriter, r *http.Request) {
	if err := h.Store.ProjectDelete(r.Context(), projectOf(r).Slug); err != nil {
		writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
