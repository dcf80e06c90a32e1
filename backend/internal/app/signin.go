package app

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/aura-ci/aura/backend/internal/api"
	"github.com/aura-ci/aura/backend/internal/auth"
	"github.com/aura-ci/aura/backend/internal/signin"
	"github.com/aura-ci/aura/backend/internal/store"
)

// completeSignIn turns a provider's verified identity into a session: the
// user linked to the identity, or a new user on a first sign-in. With link,
// the identity is linked to the user already signed in on r instead, whose
// session stays as it is.
func completeSignIn(st *store.Store, sessions *api.Sessions, logger *slog.Logger) signin.CompleteFunc {
	return func(w http.ResponseWriter, r *http.Request, id signin.Identity, link bool) error {
		ctx := r.Context()
		if link {
			p, err := sessions.Current(r)
			if err != nil || p == nil || p.Kind != auth.KindUser {
				return &signin.Refused{Reason: "sign in first, then link your " + id.Provider + " account"}
			}
			if err := st.IdentityLink(ctx, p.UserID, id.Provider, id.Subject, id.Login); err != nil {
				if errors.Is(err, store.ErrConflict) {
					return &signin.Refused{Reason: "this " + id.Provider + " account is linked to another user"}
				}
				return err
			}
			logger.Info("sign-in account linked", "user", p.UserName, "provider", id.Provider, "login", id.Login)
			return nil
		}
		u, err := st.UserByIdentity(ctx, id.Provider, id.Subject)
		if errors.Is(err, store.ErrNotFound) {
			login := id.Login
			if login == "" {
				login = id.Email
			}
			display := id.Name
			if display == "" {
				display = id.Login
			}
			u, err = st.UserCreateExternal(ctx, auth.UserNameFrom(login), display, id.Email, id.Provider, id.Subject, id.Login)
			if err == nil {
				logger.Info("user created on first sign-in", "user", u.Name, "provider", id.Provider, "login", id.Login)
			}
		}
		if err != nil {
			return err
		}
		if err := sessions.Start(w, r, u.ID); err != nil {
			if errors.Is(err, auth.ErrUserDisabled) {
				return &signin.Refused{Reason: "this user is disabled"}
			}
			return err
		}
		return nil
	}
}
