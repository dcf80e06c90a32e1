package integrations

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/dbtest"
	"github.com/aura-ci/aura/backend/internal/seal"
	"github.com/aura-ci/aura/backend/internal/store"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// TestSubmitGroupsWaitForTheOneInFlight: deliveries that arrive while a
// group is in the database wait for it and then go together, as one group,
// rather than in groups of their own beside it: each group's statements are
// shared by more deliveries.
func TestSubmitGroupsWaitForTheOneInFlight(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rec := &dbtest.SQLRecorder{}
	cfg, err := pgxpool.ParseConfig(dbtest.NewURL(t))
	require.NoError(t, err)
	cfg.ConnConfig.Tracer = rec
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	box, err := seal.New(make([]byte, 32))
	require.NoError(t, err)
	st := store.New(pool, box)
	p, err := st.ProjectCreate(ctx, "proj", "Proj", false, nil)
	require.NoError(t, err)
	repo := "owner/repo"
	in, err := st.IntegrationCreate(ctx, p.ID, &store.IntegrationParams{Kind: KindGitea, Repository: &repo, Secret: "s"}, nil)
	require.NoError(t, err)
	delivery := func(key string) *store.HookSubmitParams {
		return &store.HookSubmitParams{IntegrationID: in.ID, ProjectID: p.ID, Project: "proj", DedupeKeys: []string{key},
			By: &store.Actor{Kind: store.ActorForge, Name: "gitea delivery"}, Message: key,
			Jobs: []*store.JobSubmitParams{{JobSpec: store.JobSpec{Name: "build", Cmd: "true", Tag: "linux"}, ProjectID: p.ID,
				ProjectSlug: "proj", EntityKey: "commit", EntityVal: key}}}
	}

	// The first delivery's group waits in the database: another transaction
	// holds its dedupe key, not yet committed.
	hold, err := pool.Begin(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = hold.Rollback(ctx) }) // a failed test lets the group go, and the pool close
	_, err = hold.Exec(ctx, `INSERT INTO webhook_deliveries (integration_id, dedupe_key) VALUES ($1, 'first')`, in.ID)
	require.NoError(t, err)
	var g submitGroups
	var wg sync.WaitGroup
	results := make([]error, 6)
	stmts := rec.Statements(func() {
		wg.Go(func() { _, _, results[0] = g.submit(ctx, st, delivery("first")) })
		require.Eventually(t, func() bool {
			var waiting bool
			err := pool.QueryRow(ctx, `SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`).Scan(&waiting)
			return err == nil && waiting
		}, 10*time.Second, time.Millisecond)
		for i := 1; i < 6; i++ {
			wg.Go(func() { _, _, results[i] = g.submit(ctx, st, delivery(fmt.Sprintf("next-%d", i))) })
		}
		require.Eventually(t, func() bool {
			g.mu.Lock()
			defer g.mu.Unlock()
			return len(g.pending) == 5
		}, 10*time.Second, time.Millisecond, "the deliveries wait for the group in flight")
		require.NoError(t, hold.Rollback(ctx))
		wg.Wait()
	})
	for i, err := range results {
		require.NoError(t, err, "delivery %d", i)
	}
	groups := 0
	for _, s := range stmts {
		if strings.Contains(s, "INSERT INTO webhook_deliveries") && !strings.Contains(s, "VALUES") {
			groups++
		}
	}
	require.Equal(t, 2, groups, "the first delivery, then the five as one group: %q", stmts)
}
