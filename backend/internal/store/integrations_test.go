package store_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/seal"
	"github.com/aura-ci/aura/backend/internal/store"
)

// TestIntegrationSecretsRotate: the webhook secret, the access token and the
// project secrets rotate with the server key like every other sealed value.
func TestIntegrationSecretsRotate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := newPool(t)
	oldKey, newKey := seal.NewKey(), seal.NewKey()
	oldBox := newBox(t, oldKey)
	st := store.New(pool, oldBox)
	p, err := st.ProjectCreate(ctx, "proj", "Proj", false)
	require.NoError(t, err)
	repo, url := "owner/repo", "https://forge.example/api/v1"
	in, err := st.IntegrationCreate(ctx, p.ID, &store.IntegrationParams{Kind: "gitea", Repository: &repo,
		SecretSealed: oldBox.Seal([]byte("hook-secret")), APIURL: &url, TokenSealed: oldBox.Seal([]byte("forge-token")),
		Jobs: []store.JobTemplate{{Name: "build", Cmd: "make", Tag: "linux"}}})
	require.NoError(t, err)
	_, created, err := st.ProjectSecretPut(ctx, p.ID, "DEPLOY", oldBox.Seal([]byte("deploy-key")))
	require.NoError(t, err)
	require.True(t, created)

	rotating := newBox(t, newKey, oldKey)
	n, err := store.New(pool, rotating).SecretsRotate(ctx, rotating)
	require.NoError(t, err)
	require.Equal(t, 3, n)

	newBox := newBox(t, newKey)
	got, err := st.IntegrationGet(ctx, in.ID)
	require.NoError(t, err)
	for want, sealed := range map[string][]byte{"hook-secret": got.SecretSealed, "forge-token": got.TokenSealed} {
		plain, err := newBox.Open(sealed)
		require.NoError(t, err)
		require.Equal(t, want, string(plain))
		_, err = oldBox.Open(sealed)
		require.Error(t, err)
	}
	secrets, err := st.ProjectSecretsSealed(ctx, p.ID, []string{"DEPLOY", "MISSING"})
	require.NoError(t, err)
	require.Len(t, secrets, 1)
	plain, err := newBox.Open(secrets["DEPLOY"])
	require.NoError(t, err)
	require.Equal(t, "deploy-key", string(plain))
}

// TestWebhookDeliveriesPrune: deliveries past the retention are forgotten (so
// the table does not grow forever); recent ones still refuse a redelivery.
func TestWebhookDeliveriesPrune(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := newPool(t)
	box, err := seal.New(seal.NewKey())
	require.NoError(t, err)
	st := store.New(pool, box)
	p, err := st.ProjectCreate(ctx, "proj", "Proj", false)
	require.NoError(t, err)
	repo := "owner/repo"
	in, err := st.IntegrationCreate(ctx, p.ID, &store.IntegrationParams{Kind: "gitea", Repository: &repo,
		SecretSealed: box.Seal([]byte("hook-secret")), Jobs: []store.JobTemplate{{Name: "build", Cmd: "make", Tag: "linux"}}})
	require.NoError(t, err)
	deliver := func(key string) bool {
		_, dup, err := st.HookSubmit(ctx, &store.HookSubmitParams{IntegrationID: in.ID, DedupeKeys: []string{key}})
		require.NoError(t, err)
		return dup
	}
	require.False(t, deliver("delivery:old"))
	require.False(t, deliver("delivery:new"))
	_, err = pool.Exec(ctx, `UPDATE webhook_deliveries SET received_at = now() - interval '31 days' WHERE dedupe_key = 'delivery:old'`)
	require.NoError(t, err)

	n, err := st.WebhookDeliveriesPrune(ctx, store.DeliveryRetention)
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	require.True(t, deliver("delivery:new"), "a recent delivery is still a duplicate")
	require.False(t, deliver("delivery:old"), "an old one is forgotten")
}
