package api

import "net/http"

// listAuthProviders lists the providers a browser may sign in through, for
// the sign-in page's buttons. Anyone may ask: the page is shown signed out.
func (h *handler) listAuthProviders(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, h.SignIn.Providers())
}
