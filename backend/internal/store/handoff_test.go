package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/store"
)

// TestHandoffDurableAndAnnounced: a transaction's hand-off claims with the
// transaction committing durably (a submission or a completion waits for the
// disk, though a claim alone would not), leaves the statements after it
// planned as before, and announces the jobs it queued that its claim left
// queued, only those.
func TestHandoffDurableAndAnnounced(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, raw, _ := recordedStore(t)
	var ids []int64
	execAll(t, raw,
		`INSERT INTO projects (slug, name) VALUES ('p', 'p')`,
		`INSERT INTO entities (project_id, key, value) SELECT 1, 'commit', 'c' || g FROM generate_series(1, 3) g`,
	)
	rows, _ := raw.Query(ctx, `INSERT INTO jobs (project_id, entity_id, name, cmd, tag, status, created_at, queued_at)
		SELECT 1, id, 'build', 'true', 'linux', 'queued', now(), now() FROM entities ORDER BY id RETURNING id`)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	require.NoError(t, err)
	runner, err := st.RunnerCreate(ctx, &store.RunnerCreateParams{Name: "r1", Tags: []string{"linux"}, Hash: []byte("handoff-runner")}, &store.Audit{})
	require.NoError(t, err)

	listen, err := raw.Acquire(ctx)
	require.NoError(t, err)
	defer listen.Release()
	_, err = listen.Exec(ctx, `LISTEN `+store.ChannelRunnable)
	require.NoError(t, err)

	tx, err := raw.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	// As a real installation runs (the test cluster runs without).
	_, err = tx.Exec(ctx, `SET LOCAL synchronous_commit = on`)
	require.NoError(t, err)
	b := &pgx.Batch{}
	// Two of the three jobs "queued in this transaction"; the claim takes one.
	deliver := store.QueueHandoff(b, &store.JobClaimParams{RunnerID: runner.ID, Tag: "linux", Limit: 1, Lease: time.Minute,
		PolledSince: time.Now()}, ids[:2])
	var sync, plans string
	b.Queue(`SELECT current_setting('synchronous_commit'), current_setting('plan_cache_mode')`).QueryRow(func(row pgx.Row) error {
		return row.Scan(&sync, &plans)
	})
	require.NoError(t, tx.SendBatch(ctx, b).Close())
	require.Equal(t, "on", sync, "the transaction commits durably")
	require.Equal(t, "auto", plans, "the statements after the hand-off are planned as before")
	require.NoError(t, tx.Commit(ctx))
	jobs, err := deliver(nil)
	require.NoError(t, err)
	require.Len(t, jobs, 1)
	require.Equal(t, ids[0], jobs[0].ID)

	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	n, err := listen.Conn().WaitForNotification(wctx)
	require.NoError(t, err)
	require.Equal(t, "1 linux", n.Payload, "the one of its jobs left queued (not the third, queued before)")

	// A transaction that failed delivers its error, and nothing.
	jobs, err = store.QueueHandoff(&pgx.Batch{}, &store.JobClaimParams{RunnerID: runner.ID, Tag: "linux", Limit: 1}, nil)(context.Canceled)
	require.ErrorIs(t, err, context.Canceled)
	require.Nil(t, jobs)
}
