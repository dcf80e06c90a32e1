package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/seal"
	"github.com/aura-ci/aura/backend/internal/store"
)

// TestUserIdentities: the store functions of a sign-in through a provider.
// The first sign-in creates the user (a free name when the one asked is taken)
// linked to the account; later ones find it; an account links to one user.
func TestUserIdentities(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := store.New(newPool(t), newBox(t, seal.NewKey()))
	_, err := st.UserByIdentity(ctx, "gitea", "42")
	require.ErrorIs(t, err, store.ErrNotFound)

	alice, err := st.UserCreate(ctx, &store.UserCreateParams{Name: "alice"}, nil)
	require.NoError(t, err)
	u, err := st.UserCreateExternal(ctx, "alice", "Alice G.", "alice@gitea.example", "gitea", "42", "alice")
	require.NoError(t, err)
	require.Equal(t, "alice-2", u.Name, "alice is taken")
	require.Nil(t, u.PasswordHash)
	require.Equal(t, []store.Identity{{Provider: "gitea", Subject: "42", Login: "alice"}}, u.Identities)
	again, err := st.UserCreateExternal(ctx, "alice", "", "", "github", "7", "al")
	require.NoError(t, err)
	require.Equal(t, "alice-3", again.Name)

	found, err := st.UserByIdentity(ctx, "gitea", "42")
	require.NoError(t, err)
	require.Equal(t, u.ID, found.ID)

	_, err = st.UserCreateExternal(ctx, "bob", "", "", "gitea", "42", "alice")
	require.ErrorIs(t, err, store.ErrConflict, "the account is linked already")
	_, err = st.UserGet(ctx, "bob")
	require.ErrorIs(t, err, store.ErrNotFound, "nothing half-written")

	require.NoError(t, st.IdentityLink(ctx, alice.ID, "oidc", "sub-1", "alice@corp"))
	require.NoError(t, st.IdentityLink(ctx, alice.ID, "oidc", "sub-1", "alice2@corp"), "again, a new login")
	require.ErrorIs(t, st.IdentityLink(ctx, u.ID, "oidc", "sub-1", "x"), store.ErrConflict)
	found, err = st.UserByIdentity(ctx, "oidc", "sub-1")
	require.NoError(t, err)
	require.Equal(t, "alice", found.Name)
	require.Equal(t, "alice2@corp", found.Identities[0].Login)
}

// TestSessionsPrune forgets sessions that can never be used again, and keeps
// the live ones.
func TestSessionsPrune(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := newPool(t)
	st := store.New(pool, newBox(t, seal.NewKey()))
	u, err := st.UserCreate(ctx, &store.UserCreateParams{Name: "alice"}, nil)
	require.NoError(t, err)
	for i, when := range []string{"", "expires_at = now() - interval '2 days'", "last_seen_at = now() - interval '9 days'",
		"revoked = true, last_seen_at = now() - interval '2 days'", "revoked = true"} {
		_, err := st.SessionCreate(ctx, &store.SessionCreateParams{UserID: u.ID, Hash: []byte{byte(i)}, ExpiresAt: time.Now().Add(time.Hour)})
		require.NoError(t, err)
		if when != "" {
			_, err = pool.Exec(ctx, `UPDATE sessions SET `+when+` WHERE hash = $1`, []byte{byte(i)})
			require.NoError(t, err)
		}
	}
	n, err := st.SessionsPrune(ctx, 7*24*time.Hour)
	require.NoError(t, err)
	require.EqualValues(t, 3, n)
	var left int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM sessions`).Scan(&left))
	require.Equal(t, 2, left, "the live one, and the one revoked today")
}
