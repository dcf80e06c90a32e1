package store_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/dbtest"
	"github.com/aura-ci/aura/backend/internal/store"
)

func TestConnURL(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u@h:5432/db?sslmode=disable&pool_max_conns=4":         "postgres://u@h:5432/db?sslmode=disable",
		"postgresql://u@h/db?pool_max_conns=4&pool_max_conn_idle_time=1m": "postgresql://u@h/db",
		"postgres://u@h/db?sslmode=disable":                               "postgres://u@h/db?sslmode=disable",
		"host=h dbname=db pool_max_conns=4 sslmode=disable":               "host=h dbname=db sslmode=disable",
		"pool_min_conns=1 host=h":                                         "host=h",
	} {
		require.Equal(t, want, store.ConnURL(in), in)
	}
}

// TestMigrateWithPoolSize: a pool size given in the URL, which the server's pool
// honours, does not break the migrations (PostgreSQL refused it as a run-time
// parameter: aura serve did not start).
func TestMigrateWithPoolSize(t *testing.T) {
	t.Parallel()
	url := dbtest.NewURL(t) + "&pool_max_conns=4"
	require.NoError(t, store.MigrateUp(url))
	_, dirty, err := store.MigrateVersion(url)
	require.NoError(t, err)
	require.False(t, dirty)
}
