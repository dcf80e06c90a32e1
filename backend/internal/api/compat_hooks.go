package api

import (
	"net/http"

	"github.com/aura-ci/aura/backend/internal/integrations"
)

// compatGitea is 0.4's Gitea webhook, mapped onto the gitea and forgejo
// integrations: the one whose secret signs the body receives it.
func (h *handler) compatGitea(w http.ResponseWriter, r *http.Request) {
	h.hookDeadline(w)
	body, release, err := h.readHook(w, r)
	defer release()
	if err != nil {
		writeError(w, r, err)
		return
	}
	hdr := r.Header.Clone()
	// 0.4 documented a push without saying which header names the event.
	if hdr.Get("X-Gitea-Event") == "" && hdr.Get("X-Forgejo-Event") == "" && hdr.Get("X-Gogs-Event") == "" && hdr.Get("X-GitHub-Event") == "" {
		hdr.Set("X-Gitea-Event", "push")
	}
	res, err := h.Integrations.ReceiveCompat(r.Context(), []string{integrations.KindGitea, integrations.KindForgejo}, hdr, body)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeHookResult(w, res)
}

// compatDarke is 0.4's Darke Files webhook, mapped onto the darke integrations.
func (h *handler) compatDarke(w http.ResponseWriter, r *http.Request) {
	h.hookDeadline(w)
	body, release, err := h.readHook(w, r)
	defer release()
	if err != nil {
		writeError(w, r, err)
		return
	}
	res, err := h.Integrations.ReceiveCompat(r.Context(), []string{integrations.KindDarke}, r.Header, body)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeHookResult(w, res)
}
