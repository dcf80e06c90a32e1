package dispatch_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/dispatch"
	"github.com/aura-ci/aura/backend/internal/events"
	"github.com/aura-ci/aura/backend/internal/seal"
	"github.com/aura-ci/aura/backend/internal/store"
)

// setupHandoff is setupIdle with the store handing jobs to the dispatcher's
// parked polls, as the app wires them.
func setupHandoff(t *testing.T) *idleBundle {
	t.Helper()
	b := setupIdle(t, dispatch.Config{})
	b.st.SetHandoff(b.d)
	return b
}

// runner registers another runner of tag linux, limited to projects when not nil.
func (b *idleBundle) runner(t *testing.T, name string, projects []string) int64 {
	t.Helper()
	r, err := b.st.RunnerCreate(b.ctx, &store.RunnerCreateParams{Name: name, Tags: []string{"linux"}, Projects: projects,
		Hash: []byte("hash-" + name)}, nil)
	require.NoError(t, err)
	return r.ID
}

// plainStore is a second store on b's database that hands nothing off, as
// another server's would.
func (b *idleBundle) plainStore(t *testing.T) *store.Store {
	t.Helper()
	box, err := seal.New(make([]byte, 32))
	require.NoError(t, err)
	return store.New(b.pool, box)
}

// park starts a long poll of runnerID for linux and waits until it is parked.
func (b *idleBundle) park(t *testing.T, ctx context.Context, runnerID int64, wait time.Duration) <-chan []*store.ClaimedJob {
	t.Helper()
	return parkOn(t, ctx, b.d, runnerID, wait)
}

func parkOn(t *testing.T, ctx context.Context, d *dispatch.Dispatcher, runnerID int64, wait time.Duration) <-chan []*store.ClaimedJob {
	t.Helper()
	got := make(chan []*store.ClaimedJob, 1)
	go func() {
		jobs, err := d.Claim(ctx, &dispatch.ClaimRequest{RunnerID: runnerID, Tags: []string{"linux"}, Capacity: 1,
			Wait: wait, Version: "1.0", OS: "linux", Arch: "amd64"})
		if err != nil {
			t.Error(err)
		}
		got <- jobs
	}()
	// Not WaiterRegistered: earlier polls of the runner left theirs.
	require.Eventually(t, func() bool { return d.Parked(runnerID) }, 10*time.Second, time.Millisecond)
	return got
}

func submitTo(t *testing.T, ctx context.Context, st *store.Store, projectID int64, name, val string) *store.Job {
	t.Helper()
	jobs, err := st.JobSubmit(ctx, []*store.JobSubmitParams{{JobSpec: store.JobSpec{Name: name, Cmd: "true", Tag: "linux"},
		ProjectID: projectID, ProjectSlug: "proj", EntityKey: "commit", EntityVal: val}})
	require.NoError(t, err)
	return jobs[0]
}

func receive(t *testing.T, got <-chan []*store.ClaimedJob) []*store.ClaimedJob {
	t.Helper()
	select {
	case jobs := <-got:
		return jobs
	case <-time.After(10 * time.Second):
		t.Fatal("the poll did not return")
		return nil
	}
}

func requireWaiting(t *testing.T, got <-chan []*store.ClaimedJob) {
	t.Helper()
	select {
	case jobs := <-got:
		t.Fatalf("the poll returned %d jobs; it should still wait", len(jobs))
	case <-time.After(100 * time.Millisecond):
	}
}

func claimStatements(stmts []string) int {
	n := 0
	for _, s := range stmts {
		if strings.Contains(s, "FOR UPDATE SKIP LOCKED") {
			n++
		}
	}
	return n
}

// notifications listens on the runnable and event channels of b's database.
func (b *idleBundle) notifications(t *testing.T) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(b.ctx, b.pool.Config().ConnConfig.ConnString())
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	_, err = conn.Exec(b.ctx, `LISTEN `+store.ChannelRunnable+`; LISTEN `+store.ChannelEvents)
	require.NoError(t, err)
	return conn
}

// drain returns the notifications that arrive on conn within a short while.
func drain(t *testing.T, conn *pgx.Conn) []*pgconnNotification {
	t.Helper()
	var out []*pgconnNotification
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		n, err := conn.WaitForNotification(ctx)
		cancel()
		if err != nil {
			return out
		}
		out = append(out, &pgconnNotification{Channel: n.Channel, Payload: n.Payload})
	}
}

type pgconnNotification struct{ Channel, Payload string }

// TestHandoffSubmit: a job submitted while a runner's long poll is parked
// here is claimed for it inside the submission's one round trip, with its
// secrets opened; the poll runs no claim of its own, the job's "queued" event
// goes out before its "running" one, and it is not announced runnable: the
// other parked poll is not woken for it.
func TestHandoffSubmit(t *testing.T) {
	t.Parallel()
	b := setupHandoff(t)
	other := b.runner(t, "r2", nil)
	got := b.park(t, b.ctx, b.runnerID, 10*time.Second)
	otherGot := b.park(t, b.ctx, other, 10*time.Second)
	listen := b.notifications(t)
	var jobs []*store.ClaimedJob
	var submitted []*store.Job
	stmts, trips := b.stmts.During(func() {
		var err error
		submitted, err = b.st.JobSubmit(b.ctx, []*store.JobSubmitParams{{JobSpec: store.JobSpec{Name: "j", Cmd: "true", Tag: "linux"},
			ProjectID: b.project.ID, ProjectSlug: "proj", EntityKey: "commit", EntityVal: "abc",
			SecretEnv: map[string]string{"S": "v"}}})
		require.NoError(t, err)
		jobs = receive(t, got)
	})
	require.Len(t, jobs, 1, "the oldest parked poll gets it")
	require.Equal(t, submitted[0].ID, jobs[0].ID)
	require.Equal(t, map[string]string{"S": "v"}, jobs[0].SecretEnv)
	require.Len(t, trips, 1, "the submission and the hand-off: one round trip: %q", trips)
	require.Equal(t, 1, claimStatements(stmts), "one claim statement: %q", stmts)
	requireWaiting(t, otherGot)

	var statuses []string
	for _, n := range drain(t, listen) {
		require.NotEqual(t, store.ChannelRunnable, n.Channel, "a job handed off is not announced: %s", n.Payload)
		var e struct {
			Type   string `json:"type"`
			JobID  int64  `json:"jobId"`
			Status string `json:"status"`
		}
		require.NoError(t, json.Unmarshal([]byte(n.Payload), &e))
		if e.Type == "job" && e.JobID == jobs[0].ID {
			statuses = append(statuses, e.Status)
		}
	}
	require.Equal(t, []string{"queued", "running"}, statuses, "events in statement order")

	var status string
	var runner int64
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT status, runner_id FROM jobs WHERE id = $1`, jobs[0].ID).Scan(&status, &runner))
	require.Equal(t, "running", status)
	require.Equal(t, b.runnerID, runner)
}

// lockKeys holds the rows of the project's key counts (every shard's), which
// a submission that creates an entity updates after its hand-off's claim: the
// submission waits, reserved poll and claimed job included, until release.
func (b *idleBundle) lockKeys(t *testing.T) (release func()) {
	t.Helper()
	_, err := b.pool.Exec(b.ctx, `INSERT INTO keys (project_id, kind, key, shard, value_count)
		SELECT $1, 'entity', 'commit', g, 0 FROM generate_series(0, 63) g ON CONFLICT DO NOTHING`, b.project.ID)
	require.NoError(t, err)
	tx, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	_, err = tx.Exec(b.ctx, `SELECT * FROM keys FOR UPDATE`)
	require.NoError(t, err)
	var once sync.Once
	release = func() { once.Do(func() { require.NoError(t, tx.Rollback(b.ctx)) }) }
	t.Cleanup(release)
	return release
}

// waitBlocked waits until a backend of b's database waits for a lock.
func (b *idleBundle) waitBlocked(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool {
		var n int
		require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n))
		return n > 0
	}, 10*time.Second, 5*time.Millisecond)
}

// TestHandoffOutlivesItsPoll: a poll reserved for a hand-off whose time runs
// out, whose runner hangs up, or whose server stops meanwhile waits for the
// delivery and returns what the hand-off claimed (the API puts back the jobs
// of a runner that hung up).
func TestHandoffOutlivesItsPoll(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"time", "hang-up", "stop"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			b := setupHandoff(t)
			ctx, cancel := context.WithCancel(b.ctx)
			defer cancel()
			wait := 10 * time.Second
			if how == "time" {
				wait = 300 * time.Millisecond
			}
			got := b.park(t, ctx, b.runnerID, wait)
			release := b.lockKeys(t)
			submitted := make(chan *store.Job, 1)
			go func() { submitted <- submitTo(t, b.ctx, b.st, b.project.ID, "second", "new") }()
			b.waitBlocked(t)
			switch how {
			case "hang-up":
				cancel()
			case "stop":
				b.d.Stop()
			}
			b.d.TestSignals.HandoffAwaited.WaitFor(func(id int64) bool { return id == b.runnerID })
			requireWaiting(t, got)
			release()
			jobs := receive(t, got)
			j := <-submitted
			require.Len(t, jobs, 1, "the poll returns what was handed to it")
			require.Equal(t, j.ID, jobs[0].ID)
			if how == "hang-up" {
				// As the API does for a runner that hung up.
				require.NoError(t, b.st.JobUnclaim(b.ctx, []int64{jobs[0].ID}))
				var status string
				require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT status FROM jobs WHERE id = $1`, j.ID).Scan(&status))
				require.Equal(t, "queued", status)
			}
		})
	}
}

// TestHandoffTransactionFails: a submission whose transaction fails after its
// hand-off's claim delivers nothing; the poll waits on, and the next job is
// handed to it. One whose first statement fails (an entity created
// concurrently: submitted again as a batch, announced as usual) does too.
func TestHandoffTransactionFails(t *testing.T) {
	t.Parallel()
	b := setupHandoff(t)
	// A store whose statements give up waiting for a lock, handing off to b's
	// dispatcher as b's store does.
	cfg := b.pool.Config().Copy()
	cfg.ConnConfig.RuntimeParams["lock_timeout"] = "200ms"
	impatient, err := pgxpool.NewWithConfig(b.ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(impatient.Close)
	box, err := seal.New(make([]byte, 32))
	require.NoError(t, err)
	failing := store.New(impatient, box)
	failing.SetHandoff(b.d)

	got := b.park(t, b.ctx, b.runnerID, 20*time.Second)
	// Rolled back after the claim: the key counts stay locked too long.
	release := b.lockKeys(t)
	_, err = failing.JobSubmit(b.ctx, []*store.JobSubmitParams{{JobSpec: store.JobSpec{Name: "lost", Cmd: "true", Tag: "linux"},
		ProjectID: b.project.ID, ProjectSlug: "proj", EntityKey: "commit", EntityVal: "lost"}})
	require.ErrorContains(t, err, "lock")
	release()
	requireWaiting(t, got)
	var n int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM jobs`).Scan(&n))
	require.Zero(t, n, "rolled back")

	j := submitTo(t, b.ctx, b.st, b.project.ID, "next", "abc")
	jobs := receive(t, got)
	require.Len(t, jobs, 1, "the poll, back to waiting, gets the next job")
	require.Equal(t, j.ID, jobs[0].ID)

	// The entity is created by a transaction that commits while the
	// submission waits for it: the one-statement submission fails at once.
	got = b.park(t, b.ctx, b.runnerID, 20*time.Second)
	tx, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	_, err = tx.Exec(b.ctx, `INSERT INTO entities (project_id, key, value) VALUES ($1, 'commit', 'raced')`, b.project.ID)
	require.NoError(t, err)
	submitted := make(chan *store.Job, 1)
	go func() { submitted <- submitTo(t, b.ctx, b.st, b.project.ID, "raced", "raced") }()
	b.waitBlocked(t)
	require.NoError(t, tx.Commit(b.ctx))
	j = <-submitted
	jobs = receive(t, got)
	require.Len(t, jobs, 1, "the poll, back to waiting, is woken for the job submitted again")
	require.Equal(t, j.ID, jobs[0].ID)
}

// TestHandoffReservedPoll: a reserved poll gets no second reservation, and no
// wake-up for a job announced meanwhile (another poll claims it); delivered
// an error, it waits on and gets the next job.
func TestHandoffReservedPoll(t *testing.T) {
	t.Parallel()
	b := setupHandoff(t)
	plain := b.plainStore(t)
	got := b.park(t, b.ctx, b.runnerID, 20*time.Second)
	res := b.d.Reserve("linux")
	require.NotNil(t, res)
	require.Equal(t, b.runnerID, res.Params().RunnerID)
	require.Equal(t, "linux", res.Params().Tag)
	require.Equal(t, 1, res.Params().Limit)
	require.Nil(t, b.d.Reserve("linux"), "reserved, it gets no second reservation")

	other := b.runner(t, "r2", nil)
	otherGot := b.park(t, b.ctx, other, 20*time.Second)
	j := submitTo(t, b.ctx, plain, b.project.ID, "announced", "abc") // as another server does
	jobs := receive(t, otherGot)
	require.Len(t, jobs, 1, "the announcement wakes the poll that is not reserved")
	require.Equal(t, j.ID, jobs[0].ID)
	requireWaiting(t, got)

	res.Deliver(nil, errors.New("the transaction failed"))
	requireWaiting(t, got)
	j = submitTo(t, b.ctx, b.st, b.project.ID, "next", "abc")
	jobs = receive(t, got)
	require.Len(t, jobs, 1)
	require.Equal(t, j.ID, jobs[0].ID)
}

// TestHandoffClaimsNothing: a hand-off to a runner that may not run the job
// (bound to another project) claims nothing; the job is announced after the
// claim, and a runner whose last claims found nothing is woken and claims it
// (before the bound runner, which is older: it would claim nothing again).
// The bound runner's poll gets no hand-off again.
func TestHandoffClaimsNothing(t *testing.T) {
	t.Parallel()
	b := setupHandoff(t)
	_, err := b.st.ProjectCreate(b.ctx, "elsewhere", "Elsewhere", false, nil)
	require.NoError(t, err)
	bound := b.runner(t, "bound", []string{"elsewhere"})
	// The free runner's empty claims are confirmed: it skips its claim until
	// something of its tag is announced.
	require.Empty(t, b.poll(t, 10*time.Millisecond, "1.0"))
	require.Empty(t, b.poll(t, 10*time.Millisecond, "1.0"))
	boundGot := b.park(t, b.ctx, bound, 20*time.Second)
	got := b.park(t, b.ctx, b.runnerID, 20*time.Second)
	listen := b.notifications(t)
	var stmts []string
	var j *store.Job
	var jobs []*store.ClaimedJob
	stmts = b.stmts.Statements(func() {
		j = submitTo(t, b.ctx, b.st, b.project.ID, "j", "abc")
		jobs = receive(t, got)
	})
	require.Len(t, jobs, 1)
	require.Equal(t, j.ID, jobs[0].ID)
	require.Equal(t, 2, claimStatements(stmts), "the hand-off's, for nothing, and the woken poll's: %q", stmts)
	var runnable []string
	for _, n := range drain(t, listen) {
		if n.Channel == store.ChannelRunnable {
			runnable = append(runnable, n.Payload)
		}
	}
	require.Equal(t, []string{"1 linux"}, runnable)
	requireWaiting(t, boundGot)
	require.Nil(t, b.d.Reserve("linux"), "the bound runner's poll gets no hand-off again")
}

// TestHandoffCompletion: a completion that queues a dependant hands it to a
// parked poll in its transaction: one claim statement, no announcement.
func TestHandoffCompletion(t *testing.T) {
	t.Parallel()
	b := setupHandoff(t)
	first := submitTo(t, b.ctx, b.st, b.project.ID, "first", "abc")
	_, err := b.st.JobSubmit(b.ctx, []*store.JobSubmitParams{{JobSpec: store.JobSpec{Name: "second", Cmd: "true", Tag: "linux"},
		ProjectID: b.project.ID, ProjectSlug: "proj", EntityKey: "commit", EntityVal: "abc", PrecedingJobs: []int64{first.ID}}})
	require.NoError(t, err)
	claimed := b.poll(t, time.Second, "1.0")
	require.Len(t, claimed, 1)
	require.Equal(t, first.ID, claimed[0].ID)

	other := b.runner(t, "r2", nil)
	got := b.park(t, b.ctx, other, 20*time.Second)
	listen := b.notifications(t)
	var jobs []*store.ClaimedJob
	stmts := b.stmts.Statements(func() {
		_, err := b.st.JobComplete(b.ctx, &store.JobCompleteParams{Holder: store.Holder{JobID: first.ID, Attempt: 1, RunnerID: b.runnerID}})
		require.NoError(t, err)
		jobs = receive(t, got)
	})
	require.Len(t, jobs, 1)
	require.Equal(t, "second", jobs[0].Name)
	require.Equal(t, 1, claimStatements(stmts), "%q", stmts)
	for _, n := range drain(t, listen) {
		require.NotEqual(t, store.ChannelRunnable, n.Channel, "a job handed off is not announced: %s", n.Payload)
	}
}

// TestHandoffTwoServers: a job submitted on a server where no poll is parked
// is announced, and a poll parked on the other server claims it.
func TestHandoffTwoServers(t *testing.T) {
	t.Parallel()
	b := setupHandoff(t)
	second := b.plainStore(t)
	d2 := dispatch.New(second, dispatch.Config{Lease: 30 * time.Second, AckTimeout: 10 * time.Second})
	d2.TestSignals.Init(t)
	second.SetHandoff(d2)
	l2 := events.NewListener(store.ConnURL(b.pool.Config().ConnString()))
	d2.Listen(l2)
	ctx, cancel := context.WithCancel(b.ctx)
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	wg.Go(func() { l2.Run(ctx) })
	<-l2.Ready()

	got := parkOn(t, b.ctx, d2, b.runnerID, 20*time.Second)
	j := submitTo(t, b.ctx, b.st, b.project.ID, "j", "abc")
	jobs := receive(t, got)
	require.Len(t, jobs, 1)
	require.Equal(t, j.ID, jobs[0].ID)

	// And the other way round.
	got = b.park(t, b.ctx, b.runnerID, 20*time.Second)
	j = submitTo(t, b.ctx, second, b.project.ID, "k", "abc")
	jobs = receive(t, got)
	require.Len(t, jobs, 1)
	require.Equal(t, j.ID, jobs[0].ID)
}

// TestHandoffThenClaims: after a hand-off, the runner's next poll claims for
// real (its empty claims no longer hold), and a runner whose empty claims
// were confirmed keeps skipping its claim: the job handed off was never
// announced, and there is nothing for it.
func TestHandoffThenClaims(t *testing.T) {
	t.Parallel()
	b := setupHandoff(t)
	other := b.runner(t, "r2", nil)
	for _, id := range []int64{b.runnerID, other} {
		for range 2 {
			jobs, err := b.d.Claim(b.ctx, &dispatch.ClaimRequest{RunnerID: id, Tags: []string{"linux"}, Capacity: 1,
				Wait: 10 * time.Millisecond, Version: "1.0", OS: "linux", Arch: "amd64"})
			require.NoError(t, err)
			require.Empty(t, jobs)
		}
	}
	got := b.park(t, b.ctx, b.runnerID, 20*time.Second)
	submitTo(t, b.ctx, b.st, b.project.ID, "j", "abc")
	require.Len(t, receive(t, got), 1)
	stmts := b.stmts.Statements(func() { require.Empty(t, b.poll(t, 10*time.Millisecond, "1.0")) })
	require.Equal(t, 1, claimStatements(stmts), "the runner that got a job claims again: %q", stmts)
	stmts = b.stmts.Statements(func() {
		jobs, err := b.d.Claim(b.ctx, &dispatch.ClaimRequest{RunnerID: other, Tags: []string{"linux"}, Capacity: 1,
			Wait: 10 * time.Millisecond, Version: "1.0", OS: "linux", Arch: "amd64"})
		require.NoError(t, err)
		require.Empty(t, jobs)
	})
	require.Zero(t, claimStatements(stmts), "%q", stmts)
}

// TestHandoffFanOut: a completion that queues more dependants than one
// transaction hands off hands off what it may (16 claims) and announces the
// rest: the polls it did not reserve are woken and claim them, and every
// parked poll gets one job.
func TestHandoffFanOut(t *testing.T) {
	t.Parallel()
	b := setupHandoff(t)
	first := submitTo(t, b.ctx, b.st, b.project.ID, "first", "abc")
	params := make([]*store.JobSubmitParams, 20)
	for i := range params {
		params[i] = &store.JobSubmitParams{JobSpec: store.JobSpec{Name: fmt.Sprint("dep", i), Cmd: "true", Tag: "linux"},
			ProjectID: b.project.ID, ProjectSlug: "proj", EntityKey: "commit", EntityVal: "abc", PrecedingJobs: []int64{first.ID}}
	}
	_, err := b.st.JobSubmit(b.ctx, params)
	require.NoError(t, err)
	require.Len(t, b.poll(t, time.Second, "1.0"), 1)

	var polls []<-chan []*store.ClaimedJob
	for i := range 18 {
		polls = append(polls, b.park(t, b.ctx, b.runner(t, fmt.Sprint("p", i), nil), 20*time.Second))
	}
	listen := b.notifications(t)
	seen := map[int64]bool{}
	stmts := b.stmts.Statements(func() {
		_, err := b.st.JobComplete(b.ctx, &store.JobCompleteParams{Holder: store.Holder{JobID: first.ID, Attempt: 1, RunnerID: b.runnerID}})
		require.NoError(t, err)
		for _, got := range polls {
			jobs := receive(t, got)
			require.Len(t, jobs, 1)
			require.False(t, seen[jobs[0].ID])
			seen[jobs[0].ID] = true
		}
	})
	require.Equal(t, 18, claimStatements(stmts), "16 hand-offs and 2 woken polls' claims: %q", stmts)
	var runnable []string
	for _, n := range drain(t, listen) {
		if n.Channel == store.ChannelRunnable {
			runnable = append(runnable, n.Payload)
		}
	}
	require.Equal(t, []string{"4 linux"}, runnable)
}
