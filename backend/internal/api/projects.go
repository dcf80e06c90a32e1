package api

import (
	"net/http"
	"time"

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
	var own int64
	if p := principal(r); p != nil {
		own = p.ProjectID // project and job tokens also see their own private project
	}
	ps, next, err := h.Store.ProjectList(r.Context(), principal(r).IsAdmin(), own, page)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listJSON[projectJSON]{Items: mapSlice(ps, toProject), NextCursor: next})
}

func (h *handler) createProject(w http.ResponseWriter, r *http.Request) {
	if err := requireAdmin(r); err != nil {
		writeError(w, r, err)
		return
	}
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
	p, err := h.readableProject(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toProject(p))
}

func (h *handler) updateProject(w http.ResponseWriter, r *http.Request) {
	if err := requireAdmin(r); err != nil {
		writeError(w, r, err)
		return
	}
	slug, err := slugParam(r, "project")
	if err != nil {
		writeError(w, r, err)
		return
	}
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
	if err := requireAdmin(r); err != nil {
		writeError(w, r, err)
		return
	}
	slug, err := slugParam(r, "project")
	if err != nil {
		writeError(w, r, err)
		return
	}
	if err := h.Store.ProjectDelete(r.Context(), slug); err != nil {
		writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
