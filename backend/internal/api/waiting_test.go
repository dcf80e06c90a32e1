package api_test

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// The statements a long poll looks with, as pg_stat_activity shows them.
const (
	claimLook  = "%picked AS%FOR UPDATE SKIP LOCKED%"          // store.JobClaim, once per tag
	statusLook = "%FROM status_outbox%FOR UPDATE SKIP LOCKED%" // store.StatusClaim
)

// startWaiting runs start, which opens a long poll (a claim or a cancel watch),
// and returns once that poll is waiting: its waiter is registered and its looks
// at the database (looks statements like pattern, on table) are over, so
// whatever the test does next reaches the poll only by waking it. A poll
// registers its waiter before it looks. Each look is held on a lock of table until a second
// lock request has queued behind it; PostgreSQL grants locks in the order they
// were asked for, so once that second lock is granted, the look is over.
func (b *testBundle) startWaiting(table, pattern string, looks int, start func()) {
	b.t.Helper()
	ctx := context.Background()
	conns := b.waitConns()
	lock := func(conn *pgx.Conn) (pgx.Tx, error) {
		tx, err := conn.Begin(ctx)
		if err != nil {
			return nil, err
		}
		_, err = tx.Exec(ctx, `LOCK TABLE `+table+` IN ACCESS EXCLUSIVE MODE`)
		return tx, err
	}
	waitingOnLock := func(what, pattern string) {
		b.t.Helper()
		require.Eventually(b.t, func() bool {
			var n int
			err := conns[2].QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
				WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE $1`, pattern).Scan(&n)
			return err == nil && n > 0
		}, 10*time.Second, 2*time.Millisecond, "%s never waited for the lock", what)
	}

	held, err := lock(conns[0])
	require.NoError(b.t, err)
	defer func() { _ = held.Rollback(ctx) }()
	start()
	for i := range looks {
		waitingOnLock("the long poll's look", pattern)
		type locked struct {
			tx  pgx.Tx
			err error
		}
		next := make(chan locked, 1)
		go func() {
			tx, err := lock(conns[(i+1)%2])
			next <- locked{tx, err}
		}()
		waitingOnLock("the next lock", "LOCK TABLE "+table+"%")
		require.NoError(b.t, held.Rollback(ctx))
		l := <-next
		require.NoError(b.t, l.err)
		held = l.tx
	}
}

// waitConns are startWaiting's connections, its own so that the server's pool
// stays free for the poll: two lockers taking turns, and a watcher. They are
// made once per test database.
func (b *testBundle) waitConns() [3]*pgx.Conn {
	b.t.Helper()
	waitConnsMu.Lock()
	defer waitConnsMu.Unlock()
	if conns, ok := waitConnsOf[b.dbURL]; ok {
		return conns
	}
	var conns [3]*pgx.Conn
	for i := range conns {
		conn, err := pgx.Connect(context.Background(), b.dbURL)
		require.NoError(b.t, err)
		conns[i] = conn
	}
	waitConnsOf[b.dbURL] = conns
	b.t.Cleanup(func() {
		waitConnsMu.Lock()
		delete(waitConnsOf, b.dbURL)
		waitConnsMu.Unlock()
		for _, c := range conns {
			_ = c.Close(context.Background())
		}
	})
	return conns
}

var (
	waitConnsMu sync.Mutex
	waitConnsOf = map[string][3]*pgx.Conn{}
)
