package bench

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/pgcluster"
)

// TestWebhookSmoke runs the webhook scenario with tiny counts on the real
// server: it reports the deliveries persisted per second and what each cost
// the database.
func TestWebhookSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real server")
	}
	// A cluster of its own, which preloads pg_stat_statements as aura-bench's does.
	dir, err := pgcluster.TempDir("aura-bench-test-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	c, err := pgcluster.Start(context.Background(), pgcluster.Config{Dir: dir, Fast: true,
		Settings: map[string]string{"shared_preload_libraries": "pg_stat_statements"}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Stop() })
	maint := c.URL("postgres")
	root, err := FindRoot()
	require.NoError(t, err)
	bin := t.TempDir()
	cmd := exec.Command("go", "build", "-o", filepath.Join(bin, "aura"), "./backend/cmd/aura")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	e, err := NewEnv(maint, bin, "")
	require.NoError(t, err)
	t.Cleanup(e.Close)
	e.Scale, e.Root, e.Logf = 25, root, t.Logf
	s, ok := Lookup("webhook")
	require.True(t, ok)
	figs, err := e.RunScenario(s)
	require.NoError(t, err)
	keys := map[string]Figure{}
	for _, f := range figs {
		keys[f.Key] = f
	}
	require.Greater(t, keys["webhook_jobs_per_s"].Value, 0.0)
	require.NotNil(t, keys["webhook_jobs_per_s"].OK)
	require.True(t, e.StatStatements)
	require.Greater(t, keys["webhook_sql_per_delivery"].Value, 0.0)
}
