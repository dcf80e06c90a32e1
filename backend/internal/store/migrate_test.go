package store_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/dbtest"
	"github.com/aura-ci/aura/backend/internal/store"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// TestMigrateDownUp reverts the whole schema and applies it again.
func TestMigrateDownUp(t *testing.T) {
	t.Parallel()
	url := dbtest.NewURL(t)
	v, dirty, err := store.MigrateVersion(url)
	require.NoError(t, err)
	require.False(t, dirty)
	require.NotZero(t, v)
	require.NoError(t, store.MigrateDown(url))
	conn, err := pgx.Connect(context.Background(), url)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var tables int
	require.NoError(t, conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations'`).Scan(&tables))
	require.Zero(t, tables)
	require.NoError(t, store.MigrateUp(url))
	v2, _, err := store.MigrateVersion(url)
	require.NoError(t, err)
	require.Equal(t, v, v2)
}
