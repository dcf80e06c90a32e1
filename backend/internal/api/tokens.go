package api

import (
	"net/http"
	"time"

	"github.com/aura-ci/aura/backend/internal/auth"
	"github.com/aura-ci/aura/backend/internal/store"
)

type tokenJSON struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	Project    string     `json:"project"`
	CreatedAt  time.Time  `json:"createdAt"`
	LastUsedAt *time.Time `json:"lastUsedAt,omitempty"`
}

func toToken(t *store.Token) tokenJSON {
	out := tokenJSON{ID: t.ID, Name: t.Name, CreatedAt: t.CreatedAt, LastUsedAt: t.LastUsedAt}
	if t.Project != nil {
		out.Project = *t.Project
	}
	return out
}

type tokenCreated struct {
	tokenJSON
	Token string `json:"token"`
}

type tokenCreate struct {
	Name string `json:"name" validate:"required,slug"`
}

func (h *handler) listProjectTokens(w http.ResponseWriter, r *http.Request) {
	p := projectOf(r)
	ts, err := h.Store.ProjectTokenList(r.Context(), p.ID)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listJSON[tokenJSON]{Items: mapSlice(ts, toToken)})
}

func (h *handler) createProjectToken(w http.ResponseWriter, r *http.Request) {
	p := projectOf(r)
	var body tokenCreate
	if err := decode(w, r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	secret, hash := auth.NewSecret(auth.PrefixProject, p.Slug)
	t, err := h.Store.ProjectTokenCreate(r.Context(), p.ID, body.Name, hash, audit(r))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, tokenCreated{tokenJSON: toToken(t), Token: secret})
}

func (h *handler) deleteProjectToken(w http.ResponseWriter, r *http.Request) {
	p := projectOf(r)
	id, err := idParam(r, "id")
	if err != nil {
		writeError(w, r, err)
		return
	}
	err = h.Store.ProjectTokenDelete(r.Context(), p.ID, id, audit(r))
	// Refused here at once, before the revocation comes back through the
	// listener; even when the answer is lost.
	h.Auth.ForgetAll()
	if err != nil {
		writeError(w, r, named(err, "token %d of project %s", id, p.Slug))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
