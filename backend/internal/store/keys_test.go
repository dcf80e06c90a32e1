package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/golang-migrate/migrate/v4"
	_ "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/dbtest"
	"github.com/aura-ci/aura/backend/internal/store"
	"github.com/aura-ci/aura/migrations"
)

// TestMigrationDropsServerKey: a database from before 000009 holds the job-token
// signing key in plain text (settings.server_key); the upgrade removes it, so a
// backup taken afterwards holds no key material.
func TestMigrationDropsServerKey(t *testing.T) {
	t.Parallel()
	url := dbtest.NewURL(t)
	src, err := iofs.New(migrations.FS, ".")
	require.NoError(t, err)
	m, err := migrate.NewWithSourceInstance("iofs", src, strings.Replace(url, "postgres://", "pgx5://", 1))
	require.NoError(t, err)
	require.NoError(t, m.Migrate(8))
	_, _ = m.Close()

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `INSERT INTO settings (key, value) VALUES ('server_key', repeat('ab', 32))`)
	require.NoError(t, err)
	require.NoError(t, store.MigrateUp(url))
	var n int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM settings WHERE key = 'server_key'`).Scan(&n))
	require.Zero(t, n)
}
