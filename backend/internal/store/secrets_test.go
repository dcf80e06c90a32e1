package store_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/seal"
	"github.com/aura-ci/aura/backend/internal/store"
)

// TestSecretsRotate re-seals a job's secrets under a new key: the new key alone
// opens them afterwards, the old one no longer does, and a second run has
// nothing left to do.
func TestSecretsRotate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := newPool(t)
	oldKey, newKey := seal.NewKey(), seal.NewKey()
	oldBox := newBox(t, oldKey)
	st := store.New(pool, oldBox)
	p, err := st.ProjectCreate(ctx, "proj", "Proj", false, nil)
	require.NoError(t, err)
	_, err = st.JobSubmit(ctx, []*store.JobSubmitParams{{
		ProjectID: p.ID, ProjectSlug: p.Slug, EntityKey: "commit", EntityVal: "abc", SecretEnv: map[string]string{"TOKEN": "s3cret-value-1"},
		JobSpec: store.JobSpec{Name: "build", Cmd: "true", Tag: "linux", TimeoutSeconds: 60, MaxAttempts: 1},
	}})
	require.NoError(t, err)

	rotating := newBox(t, newKey, oldKey)
	n, err := store.New(pool, rotating).SecretsRotate(ctx, rotating)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	n, err = store.New(pool, rotating).SecretsRotate(ctx, rotating)
	require.NoError(t, err)
	require.Zero(t, n, "a second run finds everything rotated")

	var sealed []byte
	require.NoError(t, pool.QueryRow(ctx, `SELECT secret_sealed FROM jobs`).Scan(&sealed))
	_, err = oldBox.Open(sealed)
	require.Error(t, err, "the old key no longer opens it")

	newBox := newBox(t, newKey)
	runner, err := pool.Exec(ctx, `INSERT INTO runners (name, tags) VALUES ('r', '{linux}')`)
	require.NoError(t, err)
	require.EqualValues(t, 1, runner.RowsAffected())
	var runnerID int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT id FROM runners`).Scan(&runnerID))
	claimed, err := store.New(pool, newBox).JobClaim(ctx, &store.JobClaimParams{RunnerID: runnerID, Tag: "linux", Limit: 1, Lease: 60e9})
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	require.Equal(t, "s3cret-value-1", claimed[0].SecretEnv["TOKEN"])
}

// TestSecretsSealLegacy seals the plain-text secrets a database from before
// sealing still holds, and leaves no plain text behind.
func TestSecretsSealLegacy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := newPool(t)
	box, err := seal.New(seal.NewKey())
	require.NoError(t, err)
	st := store.New(pool, box)
	p, err := st.ProjectCreate(ctx, "proj", "Proj", false, nil)
	require.NoError(t, err)
	_, err = st.JobSubmit(ctx, []*store.JobSubmitParams{{
		ProjectID: p.ID, ProjectSlug: p.Slug, EntityKey: "commit", EntityVal: "abc",
		JobSpec: store.JobSpec{Name: "build", Cmd: "true", Tag: "linux", TimeoutSeconds: 60, MaxAttempts: 1},
	}})
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `UPDATE jobs SET secret_env = '{"OLD": "plain-text-secret"}', secret_names = '{OLD}'`)
	require.NoError(t, err)
	n, err := st.SecretsSealLegacy(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	var plain int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM jobs WHERE jobs::text LIKE '%plain-text-secret%'`).Scan(&plain))
	require.Zero(t, plain)
	var sealed []byte
	require.NoError(t, pool.QueryRow(ctx, `SELECT secret_sealed FROM jobs`).Scan(&sealed))
	opened, err := box.Open(sealed)
	require.NoError(t, err)
	require.JSONEq(t, `{"OLD": "plain-text-secret"}`, string(opened))
}

// TestSealCheck: a server whose key is not the one the database's secrets are
// sealed with is refused before it serves, whether the database has a seal check
// yet or only sealed secrets from before it; after a rotation only the new key passes.
func TestSealCheck(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	keyA, keyB := seal.NewKey(), seal.NewKey()

	pool := newPool(t)
	require.NoError(t, store.New(pool, newBox(t, keyA)).SealCheck(ctx))
	require.NoError(t, store.New(pool, newBox(t, keyA)).SealCheck(ctx), "again")
	require.ErrorIs(t, store.New(pool, newBox(t, keyB)).SealCheck(ctx), store.ErrWrongSealKey)

	rotating := newBox(t, keyB, keyA)
	_, err := store.New(pool, rotating).SecretsRotate(ctx, rotating)
	require.NoError(t, err)
	require.NoError(t, store.New(pool, newBox(t, keyB)).SealCheck(ctx))
	require.ErrorIs(t, store.New(pool, newBox(t, keyA)).SealCheck(ctx), store.ErrWrongSealKey)

	// A database from before the check: its sealed secrets decide.
	old := newPool(t)
	st := store.New(old, newBox(t, keyA))
	p, err := st.ProjectCreate(ctx, "proj", "Proj", false, nil)
	require.NoError(t, err)
	_, err = st.JobSubmit(ctx, []*store.JobSubmitParams{{
		ProjectID: p.ID, ProjectSlug: p.Slug, EntityKey: "commit", EntityVal: "abc", SecretEnv: map[string]string{"TOKEN": "s3cret-value-1"},
		JobSpec: store.JobSpec{Name: "build", Cmd: "true", Tag: "linux", TimeoutSeconds: 60, MaxAttempts: 1},
	}})
	require.NoError(t, err)
	require.ErrorIs(t, store.New(old, newBox(t, keyB)).SealCheck(ctx), store.ErrWrongSealKey)
	require.NoError(t, store.New(old, newBox(t, keyA)).SealCheck(ctx))
}
