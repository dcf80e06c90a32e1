package logarchive_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/blob"
	"github.com/aura-ci/aura/backend/internal/events"
	"github.com/aura-ci/aura/backend/internal/logarchive"
	"github.com/aura-ci/aura/backend/internal/store"
)

func dirStore(t *testing.T) blob.Store {
	d, err := blob.NewDir(t.TempDir())
	require.NoError(t, err)
	return d
}

// runArchiver runs a until the test ends, with a listener when listen; its
// period (an hour) is longer than any test.
func (b *testBundle) runArchiver(t *testing.T, a *logarchive.Archiver, listen bool) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	if listen {
		l := events.NewListener(store.ConnURL(b.url))
		a.Listen(l)
		wg.Go(func() { l.Run(ctx) })
		<-l.Ready()
	}
	wg.Go(func() { a.Run(ctx, time.Hour) })
}

func (b *testBundle) archived(t *testing.T) int {
	var n int
	require.NoError(t, b.pool.QueryRow(t.Context(), `SELECT count(*) FROM log_archives`).Scan(&n))
	return n
}

// TestRunSleepsUntilDue: a log whose attempt ended before the archiver looked,
// but inside the grace, is moved when its grace is over: the archiver looked
// ahead instead of waiting for its period.
func TestRunSleepsUntilDue(t *testing.T) {
	t.Parallel()
	b := setup(t, dirStore)
	b.run(t, 0, [][]byte{[]byte("hello\n")}, 1<<20, 0)
	start := time.Now()
	b.runArchiver(t, &logarchive.Archiver{Store: b.st, Grace: 1500 * time.Millisecond}, false)
	require.Eventually(t, func() bool { return b.archived(t) == 1 }, 10*time.Second, 10*time.Millisecond)
	require.GreaterOrEqual(t, time.Since(start), time.Second, "not before its grace")
}

// TestRunWakesForEndedJob: an archiver asleep with nothing to move (for an hour
// here) hears of an attempt that ended on any server and moves its log once
// its grace is over.
func TestRunWakesForEndedJob(t *testing.T) {
	t.Parallel()
	b := setup(t, dirStore)
	b.runArchiver(t, &logarchive.Archiver{Store: b.st, Grace: 300 * time.Millisecond}, true)
	// Its first pass and look ahead find nothing (the look ahead is the last
	// statement before it sleeps); a job then ends elsewhere.
	require.Eventually(t, func() bool {
		var n int
		require.NoError(t, b.pool.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'idle'
				AND query LIKE '%min(CASE WHEN c.attempt < j.attempt%'`).Scan(&n))
		return n > 0
	}, 5*time.Second, time.Millisecond, "the archiver looked ahead")
	b.run(t, 0, [][]byte{[]byte("hello\n")}, 1<<20, 0)
	require.Eventually(t, func() bool { return b.archived(t) == 1 }, 10*time.Second, 10*time.Millisecond)
}
