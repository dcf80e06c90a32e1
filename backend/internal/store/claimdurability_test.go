package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/store"
)

// TestClaimCommitsWithoutWaitingForDisk: a claim's transaction commits
// without waiting for the disk (its runner's first heartbeat makes it final),
// unless a claim in it is acknowledged at once (a 0.4 runner's), whatever the
// order of the claims that share it.
func TestClaimCommitsWithoutWaitingForDisk(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, raw, _ := recordedStore(t)
	execAll(t, raw,
		`INSERT INTO projects (slug, name) VALUES ('p', 'p')`,
		`INSERT INTO entities (project_id, key, value) SELECT 1, 'commit', 'c' || g FROM generate_series(1, 4) g`,
		`INSERT INTO jobs (project_id, entity_id, name, cmd, tag, status, created_at, queued_at)
			SELECT 1, id, 'build', 'true', 'linux', 'queued', now(), now() FROM entities`,
	)
	runner, err := st.RunnerCreate(ctx, &store.RunnerCreateParams{Name: "r1", Tags: []string{"linux"}, Hash: []byte("durability-runner")}, &store.Audit{})
	require.NoError(t, err)

	// claims runs one claim per entry of acked in one transaction, and returns
	// the transaction's synchronous_commit after each.
	claims := func(acked ...bool) []string {
		tx, err := raw.Begin(ctx)
		require.NoError(t, err)
		defer func() { _ = tx.Rollback(ctx) }()
		// As a real installation runs (the test cluster runs without).
		_, err = tx.Exec(ctx, `SET LOCAL synchronous_commit = on`)
		require.NoError(t, err)
		var settings []string
		for _, a := range acked {
			rows, _ := tx.Query(ctx, store.ClaimQuery(1), runner.ID, "linux", time.Now(), time.Minute, a, a)
			n := 0
			for rows.Next() {
				n++
			}
			require.NoError(t, rows.Err())
			require.Equal(t, 1, n, "one job claimed")
			var s string
			require.NoError(t, tx.QueryRow(ctx, `SHOW synchronous_commit`).Scan(&s))
			settings = append(settings, s)
		}
		return settings
	}
	require.Equal(t, []string{"off"}, claims(false), "a claim acknowledged by a heartbeat later")
	require.Equal(t, []string{"on"}, claims(true), "a 0.4 runner's claim, acknowledged at once")
	require.Equal(t, []string{"off", "on"}, claims(false, true))
	require.Equal(t, []string{"on", "on"}, claims(true, false), "a later claim does not undo an earlier one's durability")

	// A claim alone commits by itself; nothing stays with the connection.
	conn, err := raw.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	_, err = conn.Exec(ctx, `SET synchronous_commit = on`)
	require.NoError(t, err)
	defer func() { _, _ = conn.Exec(ctx, `RESET synchronous_commit`) }()
	var after string
	rows, _ := conn.Query(ctx, store.ClaimQuery(1), runner.ID, "linux", time.Now(), time.Minute, false, false)
	_, err = pgx.CollectRows(rows, func(pgx.CollectableRow) (int, error) { return 0, nil })
	require.NoError(t, err)
	require.NoError(t, conn.QueryRow(ctx, `SHOW synchronous_commit`).Scan(&after))
	require.Equal(t, "on", after)
}
