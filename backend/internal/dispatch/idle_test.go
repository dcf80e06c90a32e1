package dispatch_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/dbtest"
	"github.com/aura-ci/aura/backend/internal/dispatch"
	"github.com/aura-ci/aura/backend/internal/events"
	"github.com/aura-ci/aura/backend/internal/seal"
	"github.com/aura-ci/aura/backend/internal/store"
)

type idleBundle struct {
	ctx      context.Context
	st       *store.Store
	stmts    *dbtest.SQLRecorder
	d        *dispatch.Dispatcher
	l        *events.Listener
	runnerID int64
	project  *store.Project
	pool     *pgxpool.Pool
}

// setupIdle starts a dispatcher with its listener on a fresh database whose
// pool counts statements, and registers a runner of tag linux.
func setupIdle(t *testing.T, cfg dispatch.Config) *idleBundle {
	t.Helper()
	dbURL := dbtest.NewURL(t)
	pcfg, err := pgxpool.ParseConfig(dbURL)
	require.NoError(t, err)
	b := &idleBundle{ctx: context.Background(), stmts: &dbtest.SQLRecorder{}}
	pcfg.ConnConfig.Tracer = b.stmts
	b.pool, err = pgxpool.NewWithConfig(b.ctx, pcfg)
	require.NoError(t, err)
	t.Cleanup(b.pool.Close)
	box, err := seal.New(make([]byte, 32))
	require.NoError(t, err)
	b.st = store.New(b.pool, box)
	ctx, cancel := context.WithCancel(b.ctx)
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	if cfg.Lease == 0 {
		cfg.Lease, cfg.AckTimeout = 30*time.Second, 10*time.Second
	}
	b.d = dispatch.New(b.st, cfg)
	b.d.TestSignals.Init(t)
	b.l = events.NewListener(store.ConnURL(dbURL))
	b.l.TestSignals.Init(t)
	b.d.Listen(b.l)
	wg.Go(func() { b.l.Run(ctx) })
	<-b.l.Ready()
	b.project, err = b.st.ProjectCreate(b.ctx, "proj", "Proj", false, nil)
	require.NoError(t, err)
	r, err := b.st.RunnerCreate(b.ctx, &store.RunnerCreateParams{Name: "r1", Tags: []string{"linux"}, Hash: []byte("hash")}, nil)
	require.NoError(t, err)
	b.runnerID = r.ID
	return b
}

func (b *idleBundle) poll(t *testing.T, wait time.Duration, version string) []*store.ClaimedJob {
	t.Helper()
	jobs, err := b.d.Claim(b.ctx, &dispatch.ClaimRequest{RunnerID: b.runnerID, Tags: []string{"linux"}, Capacity: 1,
		Wait: wait, Version: version, OS: "linux", Arch: "amd64"})
	require.NoError(t, err)
	return jobs
}

func (b *idleBundle) submit(t *testing.T, name string) {
	t.Helper()
	_, err := b.st.JobSubmit(b.ctx, []*store.JobSubmitParams{{JobSpec: store.JobSpec{Name: name, Cmd: "true", Tag: "linux"},
		ProjectID: b.project.ID, ProjectSlug: "proj", EntityKey: "commit", EntityVal: "abc"}})
	require.NoError(t, err)
}

// TestIdleRepollStatements: a parked runner's long polls that end empty and
// come back cost no SQL while nothing changed. Its first poll costs its
// check-in and one claim, one statement each, its second the claim that
// confirms the first found nothing; a re-poll with a new version writes the
// check-in at once, and nothing else.
func TestIdleRepollStatements(t *testing.T) {
	t.Parallel()
	b := setupIdle(t, dispatch.Config{})

	first := b.stmts.Statements(func() { require.Empty(t, b.poll(t, 20*time.Millisecond, "1.0")) })
	require.Len(t, first, 2, "the first poll: one check-in statement and one claim statement: %q", first)
	second := b.stmts.Statements(func() { require.Empty(t, b.poll(t, 10*time.Millisecond, "1.0")) })
	require.Len(t, second, 1, "the second poll: the confirming claim: %q", second)

	again := b.stmts.Statements(func() {
		for range 10 {
			require.Empty(t, b.poll(t, 10*time.Millisecond, "1.0"))
		}
	})
	require.Empty(t, again, "ten re-polls with nothing queued and nothing changed run no SQL")

	upgraded := b.stmts.Statements(func() { require.Empty(t, b.poll(t, 10*time.Millisecond, "1.1")) })
	require.Len(t, upgraded, 1, "a new version is written at once, in one statement: %q", upgraded)
	var version string
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT version FROM runners WHERE id = $1`, b.runnerID).Scan(&version))
	require.Equal(t, "1.1", version)
}

// TestRepollClaimsWhatIsQueued: after empty re-polls that skipped the claim, a
// job queued while no poll is open is claimed by the next poll, and one queued
// while a poll is parked is claimed by it at once.
func TestRepollClaimsWhatIsQueued(t *testing.T) {
	t.Parallel()
	b := setupIdle(t, dispatch.Config{})
	for range 3 {
		require.Empty(t, b.poll(t, 10*time.Millisecond, "1.0"))
	}

	// Queued between polls (as by another server: only its notification tells).
	b.submit(t, "between")
	start := time.Now()
	jobs := b.poll(t, 5*time.Second, "1.0")
	require.Len(t, jobs, 1, "the next poll claims the job queued before it")
	require.Less(t, time.Since(start), time.Second)

	require.Empty(t, b.poll(t, 10*time.Millisecond, "1.0"))
	require.Empty(t, b.poll(t, 10*time.Millisecond, "1.0"))
	// Queued while a poll that skipped its claim is parked.
	got := make(chan []*store.ClaimedJob, 1)
	go func() {
		jobs, _ := b.d.Claim(b.ctx, &dispatch.ClaimRequest{RunnerID: b.runnerID, Tags: []string{"linux"}, Capacity: 1,
			Wait: 10 * time.Second, Version: "1.0", OS: "linux", Arch: "amd64"})
		got <- jobs
	}()
	b.d.TestSignals.WaiterRegistered.Wait()
	start = time.Now()
	b.submit(t, "parked")
	select {
	case jobs := <-got:
		require.Len(t, jobs, 1)
		require.Less(t, time.Since(start), time.Second, "claimed as soon as it was queued")
	case <-time.After(5 * time.Second):
		t.Fatal("the parked poll did not claim the job queued meanwhile")
	}
}

// TestRepollClaimsAfterReconnectAndSafetyNet: a re-poll runs its claim again
// after the listener reconnected (notifications may have been missed), and once
// ClaimEvery passed since its last real claim.
func TestRepollClaimsAfterReconnectAndSafetyNet(t *testing.T) {
	t.Parallel()
	b := setupIdle(t, dispatch.Config{ClaimEvery: 500 * time.Millisecond})
	require.Empty(t, b.poll(t, 10*time.Millisecond, "1.0"))
	require.Empty(t, b.poll(t, 10*time.Millisecond, "1.0"))
	require.Empty(t, b.stmts.Statements(func() { b.poll(t, 10*time.Millisecond, "1.0") }))

	pid := b.l.PID()
	_, err := b.pool.Exec(b.ctx, `SELECT pg_terminate_backend($1)`, int32(pid))
	require.NoError(t, err)
	require.NotEqual(t, pid, b.l.TestSignals.Reconnected.Wait())
	after := b.stmts.Statements(func() { b.poll(t, 10*time.Millisecond, "1.0") })
	require.Len(t, after, 1, "the claim runs again after a reconnect: %q", after)
	require.Len(t, b.stmts.Statements(func() { b.poll(t, 10*time.Millisecond, "1.0") }), 1, "and is confirmed")
	require.Empty(t, b.stmts.Statements(func() { b.poll(t, 10*time.Millisecond, "1.0") }))

	time.Sleep(600 * time.Millisecond) // the duration is what is under test
	net := b.stmts.Statements(func() { b.poll(t, 10*time.Millisecond, "1.0") })
	require.Len(t, net, 1, "the claim runs again after ClaimEvery: %q", net)
	require.Empty(t, b.stmts.Statements(func() { b.poll(t, 10*time.Millisecond, "1.0") }), "confirmed by the one before")
}

// TestRepollClaimsJobItSkippedAsLocked: a claim that skipped a queued job as
// locked, by a transaction that then left it queued (a refused retry), finds
// nothing; the job's announcement came before it, and none comes after. The
// next poll still claims for real and gets the job.
func TestRepollClaimsJobItSkippedAsLocked(t *testing.T) {
	t.Parallel()
	b := setupIdle(t, dispatch.Config{})
	require.Empty(t, b.poll(t, 10*time.Millisecond, "1.0"))
	require.Empty(t, b.poll(t, 10*time.Millisecond, "1.0"))
	b.submit(t, "held")
	tx, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	_, err = tx.Exec(b.ctx, `SELECT id FROM jobs WHERE status = 'queued' FOR UPDATE`)
	require.NoError(t, err)
	// Long enough for the job's notification to arrive while it polls.
	require.Empty(t, b.poll(t, 300*time.Millisecond, "1.0"), "the job is locked")
	require.NoError(t, tx.Rollback(b.ctx))
	require.Len(t, b.poll(t, 10*time.Millisecond, "1.0"), 1, "the next poll claims it")
}

// TestCheckInRewrittenAfterCheckInEvery: an unchanged runner's check-in is
// written again once CheckInEvery passed, so its last check-in stays recent
// enough to call it online; alone, in one statement.
func TestCheckInRewrittenAfterCheckInEvery(t *testing.T) {
	t.Parallel()
	// Long enough that the polls before "not due yet" fit in it on a loaded
	// machine (CI runs the packages' tests at once): with 200 ms they did not.
	const every = time.Second
	b := setupIdle(t, dispatch.Config{CheckInEvery: every})
	require.Empty(t, b.poll(t, 10*time.Millisecond, "1.0"))
	require.Empty(t, b.poll(t, 10*time.Millisecond, "1.0"))
	var before time.Time
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT last_check_in FROM runners WHERE id = $1`, b.runnerID).Scan(&before))
	require.Empty(t, b.stmts.Statements(func() { b.poll(t, 10*time.Millisecond, "1.0") }), "not due yet")

	time.Sleep(every + 50*time.Millisecond) // the duration is what is under test
	due := b.stmts.Statements(func() { b.poll(t, 10*time.Millisecond, "1.0") })
	require.Len(t, due, 1, "the check-in alone: %q", due)
	require.Contains(t, due[0], "UPDATE runners SET last_check_in")
	var after time.Time
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT last_check_in FROM runners WHERE id = $1`, b.runnerID).Scan(&after))
	require.Greater(t, after.Sub(before), every)
}

// TestParkedRunnersCheckInTogether: the check-ins of runners parked in long
// polls are written together, one statement for them all, often enough that
// none gets older than CheckInEvery.
func TestParkedRunnersCheckInTogether(t *testing.T) {
	t.Parallel()
	const every = 400 * time.Millisecond
	b := setupIdle(t, dispatch.Config{CheckInEvery: every})
	ctx, cancel := context.WithCancel(b.ctx)
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	wg.Go(func() { b.d.Run(ctx) })
	ids := []int64{b.runnerID}
	for _, name := range []string{"r2", "r3"} {
		r, err := b.st.RunnerCreate(b.ctx, &store.RunnerCreateParams{Name: name, Tags: []string{"linux"}, Hash: []byte(name)}, nil)
		require.NoError(t, err)
		ids = append(ids, r.ID)
	}
	oldest := func() time.Duration {
		var age time.Duration
		require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT max(clock_timestamp() - last_check_in) FROM runners`).Scan(&age))
		return age
	}
	// Each polls on and on; its first poll writes its own check-in.
	for _, id := range ids {
		wg.Go(func() {
			for ctx.Err() == nil {
				_, err := b.d.Claim(ctx, &dispatch.ClaimRequest{RunnerID: id, Tags: []string{"linux"}, Capacity: 1,
					Wait: 3 * every, Version: "1.0", OS: "linux", Arch: "amd64"})
				require.NoError(t, err)
			}
		})
	}
	for range ids {
		b.d.TestSignals.WaiterRegistered.Wait()
	}
	var checkIns []string
	stmts := b.stmts.Statements(func() {
		deadline := time.Now().Add(5 * every)
		for time.Now().Before(deadline) {
			require.Less(t, oldest(), every+every/2, "no polling runner's check-in grows old")
			time.Sleep(every / 8)
		}
	})
	for _, s := range stmts {
		if strings.Contains(s, "UPDATE runners SET last_check_in") {
			checkIns = append(checkIns, s)
		}
	}
	require.NotEmpty(t, checkIns)
	require.LessOrEqual(t, len(checkIns), 12, "about one per tick: %q", checkIns)
	for _, s := range checkIns {
		require.Contains(t, s, "WHERE id = ANY($1)", "written together")
	}
}
