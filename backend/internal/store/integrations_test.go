package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/seal"
	"github.com/aura-ci/aura/backend/internal/store"
)

// TestIntegrationSecretsRotate: the store seals the webhook secret, the access
// token and the project secrets it is handed (no plain text in the database),
// opens them for the reads that need them, and they rotate with the server key
// like every other sealed value.
func TestIntegrationSecretsRotate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := newPool(t)
	oldKey, newKey := seal.NewKey(), seal.NewKey()
	st := store.New(pool, newBox(t, oldKey))
	p, err := st.ProjectCreate(ctx, "proj", "Proj", false, nil)
	require.NoError(t, err)
	repo, url, token := "owner/repo", "https://forge.example/api/v1", "forge-token"
	in, err := st.IntegrationCreate(ctx, p.ID, &store.IntegrationParams{Kind: "gitea", Repository: &repo,
		Secret: "hook-secret", APIURL: &url, Token: &token,
		Jobs: []store.JobTemplate{{Name: "build", Cmd: "make", Tag: "linux"}}}, nil)
	require.NoError(t, err)
	require.True(t, in.HasSecret)
	require.True(t, in.HasToken)
	_, created, err := st.ProjectSecretPut(ctx, p.ID, "DEPLOY", "deploy-key", nil)
	require.NoError(t, err)
	require.True(t, created)
	for _, plain := range []string{"hook-secret", "forge-token", "deploy-key"} {
		var n int
		require.NoError(t, pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM integrations i WHERE i::text LIKE '%' || $1 || '%'
			OR encode(i.secret_sealed, 'escape') LIKE '%' || $1 || '%' OR encode(i.token_sealed, 'escape') LIKE '%' || $1 || '%')
			+ (SELECT count(*) FROM project_secrets s WHERE encode(s.value_sealed, 'escape') LIKE '%' || $1 || '%')`, plain).Scan(&n))
		require.Zero(t, n, "%s is sealed at rest", plain)
	}

	rotating := newBox(t, newKey, oldKey)
	n, err := store.New(pool, rotating).SecretsRotate(ctx, rotating)
	require.NoError(t, err)
	require.Equal(t, 3, n)

	rotated := store.New(pool, newBox(t, newKey))
	opened, err := rotated.IntegrationOpen(ctx, in.ID)
	require.NoError(t, err)
	require.Equal(t, "hook-secret", opened.Secret)
	require.Equal(t, "forge-token", opened.Token)
	secrets, err := rotated.ProjectSecretsOpen(ctx, p.ID, []string{"DEPLOY", "MISSING"})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"DEPLOY": "deploy-key"}, secrets)
	byRepo, err := rotated.IntegrationsByRepository(ctx, []string{"gitea"}, "OWNER/repo", 4)
	require.NoError(t, err)
	require.Len(t, byRepo, 1)
	require.Equal(t, "hook-secret", byRepo[0].Secret)

	_, err = st.IntegrationOpen(ctx, in.ID)
	require.ErrorIs(t, err, seal.ErrOpen, "the old key no longer opens them")
	_, err = st.ProjectSecretsOpen(ctx, p.ID, []string{"DEPLOY"})
	require.ErrorIs(t, err, seal.ErrOpen)

	// A status to send carries the token opened; one that cannot be opened
	// fails its row, not the claim.
	_, err = pool.Exec(ctx, `INSERT INTO status_outbox (integration_id, project_id, sha) VALUES ($1, $2, 'abc')`, in.ID, p.ID)
	require.NoError(t, err)
	rows, err := st.StatusClaim(ctx, 10, time.Minute)
	require.NoError(t, err)
	require.Len(t, rows, 1)
	require.ErrorIs(t, rows[0].TokenErr, seal.ErrOpen)
	require.Empty(t, rows[0].Token)
	_, err = pool.Exec(ctx, `UPDATE status_outbox SET locked_until = NULL`)
	require.NoError(t, err)
	rows, err = rotated.StatusClaim(ctx, 10, time.Minute)
	require.NoError(t, err)
	require.Len(t, rows, 1)
	require.NoError(t, rows[0].TokenErr)
	require.Equal(t, "forge-token", rows[0].Token)

	// An update seals what it is given and removes the token given as "".
	empty := ""
	_, err = rotated.IntegrationUpdate(ctx, in.ID, &store.IntegrationParams{Secret: "new-hook-secret", Token: &empty}, nil)
	require.NoError(t, err)
	opened, err = rotated.IntegrationOpen(ctx, in.ID)
	require.NoError(t, err)
	require.Equal(t, "new-hook-secret", opened.Secret)
	require.False(t, opened.HasToken)
	require.Empty(t, opened.Token)
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
	p, err := st.ProjectCreate(ctx, "proj", "Proj", false, nil)
	require.NoError(t, err)
	repo := "owner/repo"
	in, err := st.IntegrationCreate(ctx, p.ID, &store.IntegrationParams{Kind: "gitea", Repository: &repo,
		Secret: "hook-secret", Jobs: []store.JobTemplate{{Name: "build", Cmd: "make", Tag: "linux"}}}, nil)
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
