package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestStatusClaimGenericPlan: the status sender's claim, planned for any
// LIMIT (as PostgreSQL soon plans a statement it runs often), reads the
// outbox by its indexes. Joined with its picked rows, it read the whole
// outbox to hash it: 9 ms a claim at 16,000 rows in the webhook bench.
func TestStatusClaimGenericPlan(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, raw, rec := recordedStore(t)
	execAll(t, raw,
		`INSERT INTO projects (slug, name) VALUES ('p', 'p')`,
		`INSERT INTO integrations (project_id, kind, repository) VALUES (1, 'gitea', 'o/r')`,
		// Many commits, half of them due when the statistics were taken (a
		// burst of pushes), most reported since.
		`INSERT INTO status_outbox (integration_id, project_id, sha, version, sent_version, sent)
			SELECT 1, 1, md5(g::text) || md5(g::text), 1, g % 2, '{"aura/build": "success: the build passed after 2 minutes"}'
			FROM generate_series(1, 20000) g`,
		`ANALYZE status_outbox`,
		`UPDATE status_outbox SET sent_version = 1 WHERE id > 40`,
	)
	stmts := rec.record(func() {
		rows, err := st.StatusClaim(ctx, 64, time.Minute)
		require.NoError(t, err)
		require.Len(t, rows, 20)
	})
	require.Len(t, stmts, 1)
	conn, err := raw.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	scans := genericScans(t, conn, "status_claim", stmts[0].sql, "(64, '1 minute')")
	t.Logf("generic plan: %v", scans)
	require.NotContains(t, scans, "Seq Scan on status_outbox")
	require.Contains(t, scans, "Index Scan using status_outbox_due")
}
