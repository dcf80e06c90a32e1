package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/runner/internal/apiclient"
	"github.com/aura-ci/aura/runner/internal/config"
)

// peer is the server side of the runner protocol (claim, heartbeat, log,
// complete, and the cancel poll), keeping just enough state to check what the
// runner does; checkContract holds it to openapi.yaml. The real server is
// exercised by the end-to-end tests.
type peer struct {
	mu               sync.Mutex
	queue            []apiclient.ClaimedJob
	added            chan struct{}
	changed          chan struct{} // closed (and replaced) by set, so a cancel poll looks again
	heartbeatSeconds int
	claims           []apiclient.ClaimRequest
	claimed          map[int64]apiclient.ClaimedJob
	claimedAt        map[int64]time.Time
	firstHeartbeat   map[int64]time.Time
	logs             map[int64]*bytes.Buffer
	completes        map[int64][]apiclient.JobComplete
	cancel           map[int64]bool
	gone             map[int64]bool
	running          int // claimed and not completed
	maxRunning       int
	claimFailures    []int // statuses to answer the next claims with
	completeFailures int   // 500s to answer the next completes with
	noCancelPoll     bool  // answer the cancel poll 404, as a server older than it
	blindCancelPoll  bool  // the cancel poll never reports a cancel (gone still), so only heartbeats do
	cancelPolls      int   // cancel poll answers that stopped an attempt
}

func newPeer() *peer {
	return &peer{
		added:            make(chan struct{}, 1),
		changed:          make(chan struct{}),
		heartbeatSeconds: 1,
		claimed:          map[int64]apiclient.ClaimedJob{},
		claimedAt:        map[int64]time.Time{},
		firstHeartbeat:   map[int64]time.Time{},
		logs:             map[int64]*bytes.Buffer{},
		completes:        map[int64][]apiclient.JobComplete{},
		cancel:           map[int64]bool{},
		gone:             map[int64]bool{},
	}
}

func (p *peer) add(jobs ...apiclient.ClaimedJob) {
	p.mu.Lock()
	p.queue = append(p.queue, jobs...)
	p.mu.Unlock()
	select {
	case p.added <- struct{}{}:
	default:
	}
}

func (p *peer) set(f func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f()
	close(p.changed)
	p.changed = make(chan struct{})
}

func reply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, code int) {
	reply(w, code, map[string]any{"code": code, "message": "test peer says " + http.StatusText(code)})
}

func (p *peer) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/runner/claim", func(w http.ResponseWriter, r *http.Request) {
		var req apiclient.ClaimRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || r.Header.Get("Authorization") != "Bearer AURA_RUNNERKEY_test-x" {
			fail(w, http.StatusBadRequest)
			return
		}
		for try := 0; ; try++ {
			p.mu.Lock()
			if try == 0 {
				p.claims = append(p.claims, req)
				if len(p.claimFailures) > 0 {
					code := p.claimFailures[0]
					p.claimFailures = p.claimFailures[1:]
					p.mu.Unlock()
					if code == http.StatusOK { // an empty answer at once
						reply(w, code, apiclient.ClaimResponse{Jobs: []apiclient.ClaimedJob{}, HeartbeatSeconds: 1})
						return
					}
					fail(w, code)
					return
				}
			}
			n := min(req.Capacity, len(p.queue))
			jobs := p.queue[:n:n]
			p.queue = p.queue[n:]
			for _, j := range jobs {
				p.claimed[j.Id] = j
				p.claimedAt[j.Id] = time.Now()
				p.running++
				p.maxRunning = max(p.maxRunning, p.running)
			}
			p.mu.Unlock()
			if n > 0 || try > 0 {
				reply(w, http.StatusOK, apiclient.ClaimResponse{Jobs: append([]apiclient.ClaimedJob{}, jobs...), HeartbeatSeconds: p.heartbeatSeconds})
				return
			}
			select {
			case <-p.added:
			case <-time.After(time.Duration(*req.WaitSeconds) * time.Second / 30):
			case <-r.Context().Done():
				return
			}
		}
	})
	jobID := func(r *http.Request) int64 {
		id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
		return id
	}
	mux.HandleFunc("POST /api/v1/jobs/{id}/heartbeat", func(w http.ResponseWriter, r *http.Request) {
		id := jobID(r)
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.gone[id] {
			fail(w, http.StatusGone)
			return
		}
		if _, ok := p.firstHeartbeat[id]; !ok {
			p.firstHeartbeat[id] = time.Now()
		}
		reply(w, http.StatusOK, apiclient.Heartbeat{Cancel: p.cancel[id], Status: apiclient.JobStatusRunning, LeaseSeconds: 30})
	})
	mux.HandleFunc("PATCH /api/v1/jobs/{id}/log", func(w http.ResponseWriter, r *http.Request) {
		id := jobID(r)
		offset, _ := strconv.ParseInt(r.URL.Query().Get("offset"), 10, 64)
		body, _ := io.ReadAll(r.Body)
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.gone[id] {
			fail(w, http.StatusGone)
			return
		}
		buf := p.logs[id]
		if buf == nil {
			buf = &bytes.Buffer{}
			p.logs[id] = buf
		}
		if offset > int64(buf.Len()) {
			reply(w, http.StatusRequestedRangeNotSatisfiable, map[string]any{"code": 416, "message": "gap", "length": buf.Len()})
			return
		}
		if end := offset + int64(len(body)); end > int64(buf.Len()) {
			buf.Write(body[int64(buf.Len())-offset:])
		}
		reply(w, http.StatusOK, apiclient.LogAppended{Length: int64(buf.Len()), Cancel: p.cancel[id]})
	})
	mux.HandleFunc("POST /api/v1/runner/cancels", func(w http.ResponseWriter, r *http.Request) {
		if p.noCancelPoll {
			offSpec(r)
			http.NotFound(w, r)
			return
		}
		var req apiclient.CancelsRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || r.Header.Get("Authorization") != "Bearer AURA_RUNNERKEY_test-x" {
			fail(w, http.StatusBadRequest)
			return
		}
		wait := time.After(time.Duration(*req.WaitSeconds) * time.Second / 30)
		for {
			p.mu.Lock()
			stops := []apiclient.AttemptStop{}
			for _, ref := range req.Jobs {
				switch {
				case p.gone[ref.Id]:
					stops = append(stops, apiclient.AttemptStop{Id: ref.Id, Attempt: ref.Attempt, Gone: true})
				case p.cancel[ref.Id] && !p.blindCancelPoll:
					cancelled := apiclient.JobStatusCancelled
					stops = append(stops, apiclient.AttemptStop{Id: ref.Id, Attempt: ref.Attempt, Status: &cancelled})
				}
			}
			if len(stops) > 0 {
				p.cancelPolls++
			}
			changed := p.changed
			p.mu.Unlock()
			if len(stops) > 0 {
				reply(w, http.StatusOK, apiclient.CancelsResponse{Jobs: stops})
				return
			}
			select {
			case <-changed:
			case <-wait:
				reply(w, http.StatusOK, apiclient.CancelsResponse{Jobs: stops})
				return
			case <-r.Context().Done():
				return
			}
		}
	})
	mux.HandleFunc("POST /api/v1/jobs/{id}/complete", func(w http.ResponseWriter, r *http.Request) {
		id := jobID(r)
		var req apiclient.JobComplete
		_ = json.NewDecoder(r.Body).Decode(&req)
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.gone[id] {
			fail(w, http.StatusGone)
			return
		}
		if p.completeFailures > 0 {
			p.completeFailures--
			fail(w, http.StatusInternalServerError)
			return
		}
		if len(p.completes[id]) == 0 {
			p.running--
		}
		p.completes[id] = append(p.completes[id], req)
		status := apiclient.JobStatusSucceeded
		switch {
		case p.cancel[id]:
			status = apiclient.JobStatusCancelled
		case req.ExitCode != 0:
			status = apiclient.JobStatusFailed
		}
		j := p.claimed[id]
		secretNames := []string{}
		for name := range j.SecretEnv {
			secretNames = append(secretNames, name)
		}
		now := time.Now()
		var logLength int64
		if b := p.logs[id]; b != nil {
			logLength = int64(b.Len())
		}
		reply(w, http.StatusOK, apiclient.Job{
			Id: id, Attempt: j.Attempt, Project: j.Project, EntityKey: j.EntityKey, EntityVal: j.EntityVal, Name: j.Name,
			Cmd: j.Cmd, Tag: j.Tag, Env: j.Env, SecretEnvNames: secretNames, PrecedingJobs: []int64{},
			MaxAttempts: 1, TimeoutSeconds: j.TimeoutSeconds, CreatedAt: p.claimedAt[id], StartedAt: ptr(p.claimedAt[id]),
			EndedAt: &now, Status: status, ExitCode: &req.ExitCode, LogLength: logLength,
		})
	})
	return mux
}

func (p *peer) log(id int64) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if b := p.logs[id]; b != nil {
		return b.String()
	}
	return ""
}

func (p *peer) completed(id int64) []apiclient.JobComplete {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]apiclient.JobComplete(nil), p.completes[id]...)
}

// lines is the runner's output, safe to read while it runs.
type lines struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type testBundle struct {
	peer     *peer
	server   *httptest.Server
	agent    *Agent
	out      *lines
	shutdown context.CancelFunc
	stopped  chan struct{}
}

// setup starts a runner against a fresh peer; prepare runs on the peer before
// the runner makes its first call.
func setup(t *testing.T, concurrency int, prepare ...func(*peer)) *testBundle {
	t.Helper()
	return setupConfig(t, concurrency, nil, prepare...)
}

// setupConfig is setup with more settings: configure changes the config.
func setupConfig(t *testing.T, concurrency int, configure func(*config.Config), prepare ...func(*peer)) *testBundle {
	t.Helper()
	p := newPeer()
	for _, f := range prepare {
		f(p)
	}
	srv := httptest.NewServer(checkContract(t, p.routes()))
	t.Cleanup(srv.Close)

	out := &lines{}
	cfg := config.Config{
		Server: srv.URL, Token: "AURA_RUNNERKEY_test-x", Tags: []string{"native,linux", "docker"},
		Concurrency: concurrency, WorkDir: workDir(t), Shell: "sh", Grace: time.Second, ShutdownGrace: time.Second,
	}
	if configure != nil {
		configure(&cfg)
	}
	a, err := New(cfg, "test", log.New(out, "", 0))
	require.NoError(t, err)
	a.retryMin, a.retryMax, a.refusedDelay = 5*time.Millisecond, 50*time.Millisecond, 50*time.Millisecond

	ctx, shutdown := context.WithCancel(context.Background())
	a.flushTime = 500 * time.Millisecond
	b := &testBundle{peer: p, server: srv, agent: a, out: out, shutdown: shutdown, stopped: make(chan struct{})}
	go func() {
		defer close(b.stopped)
		require.NoError(t, a.Run(ctx))
	}()
	t.Cleanup(func() {
		shutdown()
		select {
		case <-b.stopped:
		case <-time.After(10 * time.Second):
			a.Kill()
			t.Error("the runner did not stop")
		}
	})
	return b
}

func claimedJob(id int64, cmd string) apiclient.ClaimedJob {
	return apiclient.ClaimedJob{
		Id: id, Attempt: 1, Project: "p", EntityKey: "commit", EntityVal: "abc", Name: "build", Cmd: cmd,
		Tag: "native,linux", Token: "AURA_JOBKEY_" + strconv.FormatInt(id, 10) + "_1_s3cr3t",
		Env: map[string]string{"PLAIN": "visible"}, SecretEnv: map[string]string{"SECRET": "hunter2"},
		TimeoutSeconds: 60, LeaseSeconds: 30, LogLimit: 64 << 20,
	}
}

func (b *testBundle) waitCompleted(t *testing.T, id int64) apiclient.JobComplete {
	t.Helper()
	require.Eventually(t, func() bool { return len(b.peer.completed(id)) > 0 }, 10*time.Second, 5*time.Millisecond,
		"job %d was not completed; runner said:\n%s", id, b.out)
	return b.peer.completed(id)[0]
}

// TestFirstHeartbeatAfterTheStart: the heartbeat that acknowledges a claim
// goes out ackDelay after the job's process started, not while it starts,
// and long before the acknowledgement timeout.
func TestFirstHeartbeatAfterTheStart(t *testing.T) {
	t.Parallel()

	b := setup(t, 1)
	b.peer.add(claimedJob(7, "sleep 0.3"))
	b.waitCompleted(t, 7)

	b.peer.mu.Lock()
	first, claimed := b.peer.firstHeartbeat[7], b.peer.claimedAt[7]
	b.peer.mu.Unlock()
	require.False(t, first.IsZero(), "no heartbeat")
	require.GreaterOrEqual(t, first.Sub(claimed), b.agent.ackDelay)
	require.Less(t, first.Sub(claimed), 2*time.Second)
}

func TestJobLifeCycle(t *testing.T) {
	t.Parallel()

	b := setup(t, 2)
	b.peer.add(claimedJob(42, `echo "id=$AURA_JOB_ID/$AURA_JOBID name=$AURA_JOB_NAME/$AURA_JOBNAME`+
		` entity=$AURA_ENTITY_KEY/$AURA_ENTITY_VAL $AURA_ENTITYKEY/$AURA_ENTITYVAL project=$AURA_PROJECT ci=$CI/$AURA_CI`+
		` server=${AURA_SERVER_URL%%:*} token=$AURA_JOB_TOKEN/$AURA_JOBKEY plain=$PLAIN secret=$SECRET"; echo "hunter" 2 >&2; exit 3`))

	done := b.waitCompleted(t, 42)
	want := "id=42/42 name=build/build entity=commit/abc commit/abc project=p ci=true/true server=http" +
		" token=***/*** plain=visible secret=***\nhunter 2\n"
	require.Equal(t, want, b.peer.log(42))
	sum := sha256.Sum256([]byte(want))
	require.Equal(t, apiclient.JobComplete{Attempt: 1, ExitCode: 3, LogLength: ptr(int64(len(want))),
		LogSha256: ptr(hex.EncodeToString(sum[:]))}, done)

	b.peer.mu.Lock()
	ack := b.peer.firstHeartbeat[42].Sub(b.peer.claimedAt[42])
	claim := b.peer.claims[0]
	b.peer.mu.Unlock()
	require.Less(t, ack, 2*time.Second, "the first heartbeat acknowledges the claim at once")
	require.Equal(t, []string{"native,linux", "docker"}, claim.Tags)
	require.Equal(t, 2, claim.Capacity)
	require.Equal(t, 30, *claim.WaitSeconds)
	require.Equal(t, "test", *claim.Version)

	require.Eventually(t, func() bool { return strings.Contains(b.out.String(), "finished job 42 in") }, 5*time.Second, 5*time.Millisecond)
	require.Contains(t, b.out.String(), "claimed job 42 (p/commit/abc build) attempt 1\n")
	require.Contains(t, b.out.String(), ": failed (exit 3)\n")
	t.Logf("ack after %s; runner said:\n%s", ack, b.out)
}

func ptr[T any](v T) *T { return &v }

// TestCancelOnPoll: a cancel reaches the job through the cancel poll, long before
// the next heartbeat (a minute away here) would carry it.
func TestCancelOnPoll(t *testing.T) {
	t.Parallel()

	b := setup(t, 1, func(p *peer) { p.heartbeatSeconds = 60 })
	b.peer.add(claimedJob(6, `echo started; sleep 600 & sleep 600; wait`))
	require.Eventually(t, func() bool { return b.peer.log(6) == "started\n" }, 5*time.Second, 5*time.Millisecond)
	b.peer.set(func() { b.peer.cancel[6] = true })

	done := b.waitCompleted(t, 6)
	require.Equal(t, 143, done.ExitCode)
	b.peer.mu.Lock()
	require.Equal(t, 1, b.peer.cancelPolls, "the cancel poll told the runner")
	b.peer.mu.Unlock()
	require.Contains(t, b.peer.log(6), "aura-runner: the job was cancelled: sending SIGTERM")
	require.Eventually(t, func() bool { return strings.Contains(b.out.String(), "finished job 6") }, 5*time.Second, 5*time.Millisecond)
	require.Contains(t, b.out.String(), "job 6: cancelled on the server: stopping it")
}

// TestCancelOnHeartbeat: a cancel the poll does not report still arrives with the
// next heartbeat.
func TestCancelOnHeartbeat(t *testing.T) {
	t.Parallel()

	b := setup(t, 1, func(p *peer) { p.blindCancelPoll = true })
	b.peer.add(claimedJob(7, `echo started; sleep 600 & sleep 600; wait`))
	require.Eventually(t, func() bool { return b.peer.log(7) == "started\n" }, 5*time.Second, 5*time.Millisecond)
	b.peer.set(func() { b.peer.cancel[7] = true })

	done := b.waitCompleted(t, 7)
	require.Equal(t, 143, done.ExitCode)
	require.Contains(t, b.peer.log(7), "aura-runner: the job was cancelled: sending SIGTERM")
	require.Eventually(t, func() bool { return strings.Contains(b.out.String(), "finished job 7") }, 5*time.Second, 5*time.Millisecond)
	require.Contains(t, b.out.String(), "job 7: cancelled on the server: stopping it")
	require.Contains(t, b.out.String(), ": cancelled (exit 143)")
}

// TestServerWithoutCancelPoll: against a server older than the cancel poll (404),
// the runner says so once and takes cancels from heartbeats.
func TestServerWithoutCancelPoll(t *testing.T) {
	t.Parallel()

	b := setup(t, 1, func(p *peer) { p.noCancelPoll = true })
	b.peer.add(claimedJob(5, `echo started; sleep 600`))
	require.Eventually(t, func() bool { return b.peer.log(5) == "started\n" }, 5*time.Second, 5*time.Millisecond)
	b.peer.set(func() { b.peer.cancel[5] = true })

	require.Equal(t, 143, b.waitCompleted(t, 5).ExitCode)
	require.Contains(t, b.out.String(), "the server has no cancel poll; cancels arrive with heartbeats")
}

func TestGoneDropsTheJob(t *testing.T) {
	t.Parallel()

	b := setup(t, 1)
	b.peer.add(claimedJob(8, `trap '' TERM; echo started; sleep 600`))
	require.Eventually(t, func() bool { return b.peer.log(8) == "started\n" }, 5*time.Second, 5*time.Millisecond)
	b.peer.set(func() { b.peer.gone[8] = true })

	require.Eventually(t, func() bool { return strings.Contains(b.out.String(), "dropped job 8 attempt 1") }, 5*time.Second,
		5*time.Millisecond, b.out.String())
	require.Empty(t, b.peer.completed(8), "a dropped job is never completed")
	// The slot is free again: the next job runs.
	b.peer.add(claimedJob(9, `true`))
	require.Zero(t, b.waitCompleted(t, 9).ExitCode)
}

func TestServerTrouble(t *testing.T) {
	t.Parallel()

	// The failures are in place before the first claim, so they come before the job.
	b := setup(t, 1, func(p *peer) {
		p.claimFailures = []int{http.StatusServiceUnavailable, http.StatusInternalServerError, http.StatusUnauthorized}
		p.completeFailures = 3
	})
	b.peer.add(claimedJob(10, `echo ok`))
	done := b.waitCompleted(t, 10)
	require.Zero(t, done.ExitCode)
	require.Equal(t, "ok\n", b.peer.log(10))
	require.Len(t, b.peer.completed(10), 1)
	out := b.out.String()
	require.Contains(t, out, "cannot claim jobs: 503 Service Unavailable: test peer says Service Unavailable; retrying in")
	require.Contains(t, out, "cannot claim jobs: 401 Unauthorized: test peer says Unauthorized (is the runner token right")
	require.Contains(t, out, "claiming works again")
	require.Contains(t, out, "job 10: cannot report its end yet (500 Internal Server Error")
}

func TestCapacity(t *testing.T) {
	t.Parallel()

	b := setup(t, 2)
	for id := int64(20); id < 25; id++ {
		b.peer.add(claimedJob(id, `sleep 0.2`))
	}
	for id := int64(20); id < 25; id++ {
		b.waitCompleted(t, id)
	}
	b.peer.mu.Lock()
	defer b.peer.mu.Unlock()
	require.Equal(t, 2, b.peer.maxRunning, "never more jobs than slots")
	for _, c := range b.peer.claims {
		require.Greater(t, c.Capacity, 0, "no claim while every slot is busy")
		require.LessOrEqual(t, c.Capacity, 2)
	}
}

func TestShutdownStopsAndReports(t *testing.T) {
	t.Parallel()

	b := setup(t, 2)
	b.peer.add(claimedJob(30, `echo started; sleep 600`), claimedJob(31, `sleep 0.1; echo quick`))
	require.Eventually(t, func() bool { return b.peer.log(30) == "started\n" }, 5*time.Second, 5*time.Millisecond)

	b.shutdown()
	select {
	case <-b.stopped:
	case <-time.After(5 * time.Second):
		t.Fatalf("Run did not return; runner said:\n%s", b.out)
	}
	require.Equal(t, 143, b.peer.completed(30)[0].ExitCode)
	require.Zero(t, b.peer.completed(31)[0].ExitCode)
	require.Contains(t, b.peer.log(30), "aura-runner: the runner is shutting down: sending SIGTERM")
	out := b.out.String()
	require.Contains(t, out, "shutting down: waiting up to 1s for")
	require.Contains(t, out, "shutdown grace period over: stopping 1 job(s)")
	require.True(t, strings.HasSuffix(out, "stopped\n"), out)

	// Run has returned, so no goroutine of the runner is left to claim with; a
	// job added now wakes any long poll still open, and Close waits for it.
	b.peer.mu.Lock()
	claims := len(b.peer.claims)
	b.peer.mu.Unlock()
	b.peer.add(claimedJob(32, `true`))
	b.server.Close()
	b.peer.mu.Lock()
	defer b.peer.mu.Unlock()
	require.Equal(t, claims, len(b.peer.claims), "no claims after shutdown")
	require.Len(t, b.peer.queue, 1, "job 32 is still queued")
}

func TestJobBaseEnvHidesRunnerSecrets(t *testing.T) {
	t.Parallel()

	env := jobBaseEnv([]string{"PATH=/bin", "AURA_RUNNER_TOKEN=AURA_RUNNERKEY_x", "AURA_RUNNER_CONFIG=/etc/aura.yaml", "HOME=/root"})
	require.Equal(t, []string{"PATH=/bin", "HOME=/root"}, env)
}

// TestShutdownWithTheServerGone: SIGTERM while the server is away ends the runner
// within the shutdown grace, the kill grace and the flush time, saying what it
// could not deliver.
func TestShutdownWithTheServerGone(t *testing.T) {
	t.Parallel()

	b := setup(t, 1)
	b.peer.add(claimedJob(50, `echo started; sleep 600`))
	require.Eventually(t, func() bool { return b.peer.log(50) == "started\n" }, 5*time.Second, 5*time.Millisecond)
	b.server.CloseClientConnections()
	b.server.Listener.Close()
	b.shutdown()
	began := time.Now()
	select {
	case <-b.stopped:
	case <-time.After(8 * time.Second):
		t.Fatalf("Run did not return with the server gone; runner said:\n%s", b.out)
	}
	// shutdown grace 1 s + kill grace 1 s + flush 0.5 s, and the 200 ms claim drain.
	require.Less(t, time.Since(began), 5*time.Second)
	out := b.out.String()
	require.Contains(t, out, "could not deliver job 50 attempt 1 to the server before exiting: its end (exit code 143)")
	require.True(t, strings.HasSuffix(out, "stopped\n"), out)
}

// TestNoFalseRecovery: an empty answer at once between a 503 and a 401 is no
// sign that claiming works again.
func TestNoFalseRecovery(t *testing.T) {
	t.Parallel()

	b := setup(t, 1, func(p *peer) {
		p.claimFailures = []int{http.StatusServiceUnavailable, http.StatusOK, http.StatusUnauthorized}
	})
	require.Eventually(t, func() bool { return strings.Contains(b.out.String(), "401 Unauthorized") },
		5*time.Second, 5*time.Millisecond)
	require.NotContains(t, b.out.String(), "claiming works again")
}

// workDir is a work folder for the agent's jobs. Unlike t.TempDir, its removal
// tolerates the next job's workspace being made ahead in it meanwhile (the job
// package makes it in the background, a moment after a job started).
func workDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "aura-agent-test")
	require.NoError(t, err)
	t.Cleanup(func() {
		for range 100 {
			if os.RemoveAll(dir) == nil {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Errorf("cannot remove %s", dir)
	})
	return dir
}
