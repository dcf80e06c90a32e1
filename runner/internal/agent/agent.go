// Package agent is the runner's main loop: it claims jobs from the server with
// the runner's tags while it has free slots, runs each claimed job (heartbeats,
// log stream, completion) and shuts down gracefully.
//
// The life cycle of a job follows the contract (openapi.yaml, "Runner life
// cycle"): claim (long poll) → a first heartbeat at once, which acknowledges the
// claim, then one every heartbeatSeconds → log chunks while the job runs →
// complete, once every byte of the log is delivered. A cancel (pushed through the
// cancel long poll, or in a heartbeat or log answer) stops the job, which is then
// completed; 410 Gone on any job call
// kills it at once and drops it without completing. Network errors and 5xx are
// retried with backoff for as long as it takes: the runner never gives up a job's
// result, and never exits, because the server is away.
package agent

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aura-ci/aura/internal/secretform"
	"github.com/aura-ci/aura/runner/internal/apiclient"
	"github.com/aura-ci/aura/runner/internal/backoff"
	"github.com/aura-ci/aura/runner/internal/config"
	"github.com/aura-ci/aura/runner/internal/job"
	"github.com/aura-ci/aura/runner/internal/logstream"
	"github.com/aura-ci/aura/runner/internal/mask"
	"github.com/aura-ci/aura/runner/internal/metrics"
)

// WaitSeconds is how long a claim waits on the server for work.
const WaitSeconds = 30

// claimDrain is how long a shutdown lets an open claim finish arriving.
const claimDrain = 200 * time.Millisecond

// Agent claims and runs jobs.
type Agent struct {
	cfg     config.Config
	version string
	// instance names this process to the server, which refuses a second process
	// claiming with the same runner token at the same time.
	instance string
	log      *log.Logger
	client   *apiclient.ClientWithResponses
	baseEnv  []string

	// Timing, shortened by tests.
	retryMin, retryMax time.Duration
	// ackDelay is how long after its process started a job's first heartbeat,
	// which acknowledges the claim, goes out. Sent at once, its round trip
	// (and the server's commit) took the CPU from the shell and the job's first
	// command on a small machine; the acknowledgement timeout is seconds long.
	// A job that ends sooner sends none: its completion says it all.
	ackDelay     time.Duration
	refusedDelay time.Duration
	waitSeconds  int
	// flushTime bounds, past the jobs' kill grace, how long a shutdown waits
	// for the server to take the jobs' logs and ends.
	flushTime time.Duration

	// jobCtx carries every job's calls to the server; only Kill cancels it, so a
	// shutdown still reports the jobs it stops.
	jobCtx  context.Context
	killAll context.CancelFunc
	// binDir holds an aura-runner link that goes first on the jobs' PATH.
	binDir string

	mu      sync.Mutex
	tasks   map[taskKey]*task
	freed   chan struct{} // a slot was freed
	started chan struct{} // a job started: the cancel poll must cover it
	running sync.WaitGroup

	// metrics are the runner's own (--metrics-addr).
	metrics *metrics.Metrics
}

type taskKey struct {
	id      int64
	attempt int
}

// New returns an Agent for cfg, logging to logger.
func New(cfg config.Config, version string, logger *log.Logger) (*Agent, error) {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	// Every running job has a log upload and a heartbeat going; keep their
	// connections alive rather than opening new ones.
	transport.MaxIdleConnsPerHost = 2*cfg.Concurrency + 2
	transport.WriteBufferSize = 64 << 10
	userAgent := "aura-runner/" + version + " (" + runtime.GOOS + "/" + runtime.GOARCH + ")"
	client, err := apiclient.NewClientWithResponses(cfg.Server,
		apiclient.WithHTTPClient(&http.Client{Transport: transport}),
		apiclient.WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
			req.Header.Set("Authorization", "Bearer "+cfg.Token)
			req.Header.Set("User-Agent", userAgent)
			return nil
		}))
	if err != nil {
		return nil, err
	}
	jobCtx, killAll := context.WithCancel(context.Background())
	a := &Agent{
		cfg:          cfg,
		version:      version,
		instance:     instanceName(),
		log:          logger,
		client:       client,
		baseEnv:      jobBaseEnv(os.Environ()),
		retryMin:     500 * time.Millisecond,
		ackDelay:     20 * time.Millisecond,
		retryMax:     10 * time.Second,
		refusedDelay: 30 * time.Second,
		waitSeconds:  WaitSeconds,
		flushTime:    10 * time.Second,
		jobCtx:       jobCtx,
		killAll:      killAll,
		tasks:        map[taskKey]*task{},
		freed:        make(chan struct{}, 1),
		started:      make(chan struct{}, 1),
	}
	a.metrics = metrics.New(a.runningJobs)
	return a, nil
}

// runningJobs is how many jobs run now.
func (a *Agent) runningJobs() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.tasks)
}

// serveMetrics serves the runner's metrics at http://addr/metrics until ctx ends.
func (a *Agent) serveMetrics(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.metrics.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	a.log.Printf("metrics are served at http://%s/metrics", ln.Addr())
	go func() { _ = srv.Serve(ln) }()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	return nil
}

// jobBaseEnv is the runner's environment without the runner's own secrets, which
// a job must not see.
func jobBaseEnv(environ []string) []string {
	return slices.DeleteFunc(slices.Clone(environ), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		return name == "AURA_RUNNER_TOKEN" || name == "AURA_RUNNER_CONFIG"
	})
}

// Run claims and runs jobs until ctx is done, then shuts down: it stops claiming,
// gives running jobs the shutdown grace period to finish, stops those still
// running, reports them, and returns.
func (a *Agent) Run(ctx context.Context) error {
	a.log.Printf("aura-runner %s: taking jobs tagged %s from %s, %d at a time, in %s",
		a.version, strings.Join(a.cfg.Tags, " "), a.cfg.Server, a.cfg.Concurrency, a.cfg.WorkDir)
	if err := os.MkdirAll(a.cfg.WorkDir, 0o755); err != nil {
		return fmt.Errorf("work folder: %w", err)
	}
	unlock, err := lockWorkDir(a.cfg.WorkDir)
	if err != nil {
		return err
	}
	defer unlock()
	if a.cfg.MetricsAddr != "" {
		metricsCtx, stopMetrics := context.WithCancel(context.Background())
		defer stopMetrics()
		if err := a.serveMetrics(metricsCtx, a.cfg.MetricsAddr); err != nil {
			return err
		}
	}
	if err := job.AdoptOrphans(); err != nil {
		a.log.Printf("cannot become the subreaper of the jobs' processes (%v): detached ones are still found by their mark", err)
	}
	// What a killed runner's jobs left running must not run beside new attempts.
	if dir, err := linkSelf(a.cfg.WorkDir); err != nil {
		a.log.Printf("jobs cannot run aura-runner submit by name: %v", err)
	} else {
		a.binDir = dir
	}
	cleaned, err := job.Recover(a.cfg.WorkDir)
	for _, line := range cleaned {
		a.log.Printf("cleaning up after an earlier runner: %s", line)
	}
	if err != nil {
		a.log.Printf("cleaning up after an earlier runner: %v", err)
	}
	watchCtx, stopWatching := context.WithCancel(a.jobCtx)
	watching := make(chan struct{})
	go func() {
		defer close(watching)
		a.watchCancels(watchCtx)
	}()
	defer func() { stopWatching(); <-watching }()
	job.Prestart(a.cfg.WorkDir, a.cfg.Shell)
	a.claimLoop(ctx)

	done := make(chan struct{})
	go func() {
		a.running.Wait()
		close(done)
	}()
	if n := a.runningCount(); n > 0 {
		a.log.Printf("shutting down: waiting up to %s for %d running job(s); signal again to stop at once",
			a.cfg.ShutdownGrace, n)
		select {
		case <-done:
		case <-time.After(a.cfg.ShutdownGrace):
			a.log.Printf("shutdown grace period over: stopping %d job(s)", a.runningCount())
			a.stopAll(job.Shutdown)
		case <-a.jobCtx.Done():
		}
	}
	// What the server cannot take within the jobs' kill grace and the flush time
	// stays undelivered: a runner asked to stop must stop, server or not.
	select {
	case <-done:
	case <-a.jobCtx.Done():
		return nil
	case <-time.After(a.cfg.Grace + a.flushTime):
		a.reportUndelivered()
		a.Kill()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
	}
	a.log.Printf("stopped")
	return nil
}

// reportUndelivered says, for each job still on its way to the server, what the
// server will not get from this runner.
func (a *Agent) reportUndelivered() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, t := range a.tasks {
		t.mu.Lock()
		what := "its end (it was still stopping)"
		if t.ended {
			what = fmt.Sprintf("its end (exit code %d)", t.exitCode)
		}
		stream := t.stream
		t.mu.Unlock()
		if stream != nil {
			if n := stream.Buffered(); n > 0 {
				what += fmt.Sprintf(" and the last %d bytes of its log", n)
			}
		}
		a.log.Printf("could not deliver job %d attempt %d to the server before exiting: %s; "+
			"the server will declare it lost when its lease runs out", t.job.Id, t.job.Attempt, what)
	}
}

// Kill kills every job at once and abandons their reports: the second signal.
// The server declares the jobs lost when their leases run out. The workspaces
// are removed if that takes no more than a few seconds.
func (a *Agent) Kill() {
	a.stopAll(job.Dropped)
	a.killAll()
	a.mu.Lock()
	var dirs []string
	for _, t := range a.tasks {
		t.mu.Lock()
		if t.proc != nil {
			dirs = append(dirs, t.proc.Dir())
		}
		t.mu.Unlock()
	}
	a.mu.Unlock()
	removed := make(chan struct{})
	go func() {
		defer close(removed)
		for _, dir := range dirs {
			_ = os.RemoveAll(dir)
		}
	}()
	select {
	case <-removed:
	case <-time.After(5 * time.Second):
	}
}

// linkSelf links the running executable as aura-runner into a folder of the
// work folder, for the jobs' PATH.
func linkSelf(workDir string) (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	dir, err := filepath.Abs(filepath.Join(workDir, ".bin"))
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	link := filepath.Join(dir, "aura-runner")
	_ = os.Remove(link)
	return dir, os.Symlink(exe, link)
}

// lookup returns the last value of name in env.
func lookup(env []string, name string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], name+"="); ok {
			return v
		}
	}
	return ""
}

// lockWorkDir makes sure one runner at a time uses a work folder: a runner
// cleans up what the folder's previous runner left, which must not be a live one.
// The lock goes with the process, even on kill -9.
func lockWorkDir(dir string) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("work folder: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("work folder %s is in use by another aura-runner; give each runner its own --work-dir", dir)
	}
	return func() { _ = f.Close() }, nil
}

func (a *Agent) runningCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.tasks)
}

func (a *Agent) stopAll(reason job.StopReason) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, t := range a.tasks {
		t.stop(reason)
	}
}

// claimLoop asks for as many jobs as there are free slots, until ctx is done.
func (a *Agent) claimLoop(ctx context.Context) {
	bo := backoff.Backoff{Min: a.retryMin, Max: a.retryMax}
	quick := backoff.Backoff{Min: 50 * time.Millisecond, Max: 2 * time.Second}
	var lastErr string
	var lastLogged time.Time
	for ctx.Err() == nil {
		free := a.cfg.Concurrency - a.runningCount()
		if free <= 0 {
			select {
			case <-a.freed:
			case <-ctx.Done():
			}
			continue
		}

		began := time.Now()
		claimed, err := a.claim(ctx, free)
		if ctx.Err() != nil {
			// A claim cut short is released by the server. Jobs whose claim was
			// answered as the shutdown began are ours: they run under the shutdown
			// grace rather than wait out the server's acknowledgement timeout.
			if claimed != nil && len(claimed.Jobs) > 0 {
				a.log.Printf("shutting down: running the %d job(s) claimed as it began", len(claimed.Jobs))
				for _, cj := range claimed.Jobs {
					a.start(cj, claimed.HeartbeatSeconds)
				}
			}
			return
		}
		if err != nil {
			delay := bo.Next()
			hint := ""
			switch {
			case apiclient.HasStatus(err, http.StatusUnauthorized), apiclient.HasStatus(err, http.StatusForbidden):
				delay, hint = a.refusedDelay, " (is the runner token right, and the runner still registered?)"
			case !apiclient.Temporary(err):
				delay = a.refusedDelay
			}
			if msg := err.Error(); msg != lastErr || time.Since(lastLogged) > time.Minute {
				a.log.Printf("cannot claim jobs: %v%s; retrying in %s", err, hint, delay.Round(time.Millisecond))
				lastErr, lastLogged = msg, time.Now()
			}
			a.metrics.Retry("claim")
			backoff.Sleep(ctx, delay)
			continue
		}
		// An empty answer at once proves little (a server shutting down answers
		// so); say that claiming works again only once the server really served
		// a claim: jobs, or a long poll it held.
		if lastErr != "" && (len(claimed.Jobs) > 0 || time.Since(began) >= time.Second) {
			a.log.Printf("claiming works again")
			lastErr = ""
		}
		bo.Reset()

		if len(claimed.Jobs) == 0 {
			// An empty answer long before the wait is over is unusual (another runner
			// took the job first); do not let a server that answers at once turn this
			// loop into a busy one.
			if time.Since(began) < time.Second {
				backoff.Sleep(ctx, quick.Next())
			} else {
				quick.Reset()
			}
			continue
		}
		quick.Reset()
		for _, cj := range claimed.Jobs {
			a.start(cj, claimed.HeartbeatSeconds)
		}
	}
}

// instanceName is host:pid:random, unique to this process.
func instanceName() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s:%d:%x", host, os.Getpid(), b)
}

// claim makes one claim call.
func (a *Agent) claim(ctx context.Context, capacity int) (*apiclient.ClaimResponse, error) {
	// A shutdown ends the long poll a moment late, so that an answer already on
	// its way (jobs the server just handed out) is read rather than cut off.
	claimCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Duration(a.waitSeconds+15)*time.Second)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(claimDrain, cancel) })
	defer stop()
	ctx = claimCtx
	goos, goarch := runtime.GOOS, runtime.GOARCH
	resp, err := a.client.ClaimJobsWithResponse(ctx, apiclient.ClaimRequest{
		Tags:        a.cfg.Tags,
		Capacity:    capacity,
		Version:     &a.version,
		Os:          &goos,
		Arch:        &goarch,
		WaitSeconds: &a.waitSeconds,
		Instance:    &a.instance,
	})
	if err != nil {
		return nil, err
	}
	if resp.JSON200 == nil {
		return nil, apiclient.NewStatusError(resp.StatusCode(), resp.Body)
	}
	return resp.JSON200, nil
}

// start runs a claimed job in the background.
func (a *Agent) start(cj apiclient.ClaimedJob, heartbeatSeconds int) {
	t := &task{agent: a, job: cj, gone: make(chan struct{})}
	t.heartbeat = time.Duration(heartbeatSeconds) * time.Second
	if t.heartbeat <= 0 {
		t.heartbeat = 5 * time.Second
	}
	key := taskKey{cj.Id, cj.Attempt}
	a.mu.Lock()
	if _, running := a.tasks[key]; running {
		a.mu.Unlock()
		a.log.Printf("job %d attempt %d was claimed again while it runs here: ignoring the second claim", cj.Id, cj.Attempt)
		return
	}
	a.tasks[key] = t
	a.mu.Unlock()
	select {
	case a.started <- struct{}{}:
	default:
	}
	a.running.Add(1)
	go func() {
		defer func() {
			a.mu.Lock()
			delete(a.tasks, key)
			a.mu.Unlock()
			a.running.Done()
			select {
			case a.freed <- struct{}{}:
			default:
			}
		}()
		t.run()
	}()
}

// task is one claimed job attempt on its way through the life cycle.
type task struct {
	agent     *Agent
	job       apiclient.ClaimedJob
	heartbeat time.Duration
	stream    *logstream.Stream

	mu        sync.Mutex
	proc      *job.Process
	stopAsked job.StopReason // asked for before the process existed
	gone      chan struct{}
	isGone    bool
	ended     bool // the process has exited
	exitCode  int
	completed bool
	stopSeen  bool // the cancel poll reported this attempt's end
}

// cancel stops the job because the server said so, unless it has ended already.
func (t *task) cancel(reason job.StopReason, why string) {
	t.mu.Lock()
	first := !t.ended && t.stopAsked == job.NotStopped
	t.mu.Unlock()
	if first {
		t.logf("%s: stopping it", why)
	}
	t.stop(reason)
}

func (t *task) logf(format string, args ...any) {
	t.agent.log.Printf("job %d: "+format, append([]any{t.job.Id}, args...)...)
}

// stop stops the job's process, now or as soon as it is started.
func (t *task) stop(reason job.StopReason) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.proc != nil {
		t.proc.Stop(reason)
	}
	if reason > t.stopAsked {
		t.stopAsked = reason
	}
}

// drop handles a 410: the attempt is not ours any more. The process is killed at
// once and the job is forgotten without completing it.
func (t *task) drop(why string) {
	t.mu.Lock()
	if t.isGone || t.completed {
		t.mu.Unlock()
		return
	}
	t.isGone = true
	close(t.gone)
	t.mu.Unlock()
	t.logf("the server took the job back (%s): killing it", why)
	t.stop(job.Dropped)
	if t.stream != nil {
		t.stream.Abort()
	}
}

func (t *task) dropped() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.isGone
}

// env is the job's environment: the runner's, Aura's variables, then the job's
// env and secretEnv.
func (t *task) env() []string {
	j := t.job
	id := strconv.FormatInt(j.Id, 10)
	env := slices.Clone(t.agent.baseEnv)
	env = append(env,
		"CI=true",
		"AURA_CI=true",
		"AURA_SERVER_URL="+t.agent.cfg.Server,
		"AURA_JOB_ID="+id,
		"AURA_JOB_ATTEMPT="+strconv.Itoa(j.Attempt),
		"AURA_JOB_NAME="+j.Name,
		"AURA_JOB_TOKEN="+j.Token,
		"AURA_JOB_TAG="+j.Tag,
		"AURA_PROJECT="+j.Project,
		"AURA_ENTITY_KEY="+j.EntityKey,
		"AURA_ENTITY_VAL="+j.EntityVal,
		// The names Aura 0.4 used.
		"AURA_JOBID="+id,
		"AURA_JOBNAME="+j.Name,
		"AURA_JOBKEY="+j.Token,
		"AURA_ENTITYKEY="+j.EntityKey,
		"AURA_ENTITYVAL="+j.EntityVal,
	)
	for _, k := range slices.Sorted(maps.Keys(j.Env)) {
		env = append(env, k+"="+j.Env[k])
	}
	if t.agent.binDir != "" {
		// `aura-runner submit` works inside the job whatever the runner's PATH.
		env = append(env, "PATH="+t.agent.binDir+string(os.PathListSeparator)+lookup(env, "PATH"))
	}
	for _, k := range slices.Sorted(maps.Keys(j.SecretEnv)) {
		env = append(env, k+"="+j.SecretEnv[k])
	}
	return env
}

// secrets are the values masked in the log: the secret variables, and the job and
// runner tokens, should a job print them.
func (t *task) secrets() []string {
	s := slices.Collect(maps.Values(t.job.SecretEnv))
	return append(s, t.job.Token, t.agent.cfg.Token)
}

// run drives the job through its life cycle.
func (t *task) run() {
	a := t.agent
	j := t.job
	a.log.Printf("claimed job %d (%s/%s/%s %s) attempt %d", j.Id, j.Project, j.EntityKey, j.EntityVal, j.Name, j.Attempt)
	a.metrics.JobStarted()

	ctx := a.jobCtx
	hbCtx, stopHeartbeats := context.WithCancel(ctx)
	defer stopHeartbeats()

	stream := logstream.New(a.client, j.Id, j.Attempt, logstream.Options{
		RetryMin: a.retryMin, RetryMax: a.retryMax, LogFunc: a.log.Printf,
		Acked: a.metrics.Uploaded, Retried: func() { a.metrics.Retry("log") },
	})
	t.mu.Lock()
	t.stream = stream
	t.mu.Unlock()
	go func() {
		select {
		case <-t.stream.Cancelled():
			t.cancel(job.Cancelled, "cancelled on the server (log answer)")
		case <-t.stream.Gone():
			t.drop("410 Gone on a log upload")
		case <-hbCtx.Done():
		}
	}()

	output := mask.NewWriter(t.stream, secretform.Forms(t.secrets()))
	var res job.Result
	proc, err := job.Start(job.Spec{
		ID: j.Id, Attempt: j.Attempt, Cmd: j.Cmd, Shell: a.cfg.Shell, Env: t.env(), WorkDir: a.cfg.WorkDir,
		Timeout: time.Duration(j.TimeoutSeconds) * time.Second, Grace: a.cfg.Grace, Output: output,
	})
	// The first heartbeat acknowledges the claim. It goes out ackDelay after
	// the process started, not while it starts (see ackDelay).
	go t.heartbeats(hbCtx)
	if err != nil {
		t.logf("cannot run it: %v", err)
		fmt.Fprintf(output, "aura-runner: cannot run the job: %v\n", err)
		res = job.Result{ExitCode: job.ExitNotStarted}
	} else {
		t.mu.Lock()
		t.proc = proc
		if t.stopAsked != job.NotStopped {
			proc.Stop(t.stopAsked)
		}
		t.mu.Unlock()
		res = proc.Wait()
	}
	t.mu.Lock()
	t.ended = true
	t.exitCode = res.ExitCode
	t.mu.Unlock()
	_ = output.Close()
	_ = t.stream.Close()

	logResult, logErr := t.stream.Wait(ctx)
	if t.dropped() || errors.Is(logErr, logstream.ErrGone) {
		t.drop("410 Gone")
		a.log.Printf("dropped job %d attempt %d: it is no longer this runner's", j.Id, j.Attempt)
		return
	}
	if ctx.Err() != nil {
		a.log.Printf("abandoned job %d attempt %d", j.Id, j.Attempt)
		return
	}
	if logErr != nil {
		t.logf("the log is incomplete on the server: %v", logErr)
	}

	ended, err := t.complete(ctx, res.ExitCode, logResult)
	switch {
	case errors.Is(err, errGone):
		a.log.Printf("dropped job %d attempt %d: the server refused its completion (410 Gone)", j.Id, j.Attempt)
	case err != nil:
		a.log.Printf("could not complete job %d attempt %d: %v", j.Id, j.Attempt, err)
	default:
		a.log.Printf("finished job %d in %s: %s", j.Id, res.Duration.Round(100*time.Millisecond), describe(ended, res))
	}
}

// describe says how a job ended, as the server sees it when it answered.
func describe(ended *apiclient.Job, res job.Result) string {
	status := "failed"
	if res.ExitCode == 0 {
		status = "succeeded"
	}
	if ended != nil && ended.Status != "" {
		status = strings.ReplaceAll(string(ended.Status), "_", " ")
	}
	s := fmt.Sprintf("%s (exit %d", status, res.ExitCode)
	if res.Stopped != job.NotStopped && res.Stopped.String() != status {
		s += ", " + res.Stopped.String()
	}
	s += ")"
	if ended != nil && ended.LogMismatch != nil && *ended.LogMismatch {
		s += "; the server's log differs from what the runner sent"
	}
	return s
}

// heartbeats sends the first heartbeat at once and then one every interval, until
// ctx is done, the job is cancelled on the server or the attempt is gone.
func (t *task) heartbeats(ctx context.Context) {
	a := t.agent
	bo := backoff.Backoff{Min: a.retryMin, Max: min(a.retryMax, t.heartbeat)}
	var failingSince time.Time
	wait := a.ackDelay
	for backoff.Sleep(ctx, wait) {
		hb, err := t.sendHeartbeat(ctx)
		switch {
		case err == nil:
			if !failingSince.IsZero() {
				t.logf("heartbeats work again after %s", time.Since(failingSince).Round(time.Second))
				failingSince = time.Time{}
			}
			bo.Reset()
			wait = t.heartbeat
			switch {
			case hb.Status == apiclient.JobStatusTimedOut:
				t.cancel(job.TimedOut, "timed out on the server")
			case hb.Cancel || hb.Status == apiclient.JobStatusCancelled:
				t.cancel(job.Cancelled, "cancelled on the server")
			}
		case apiclient.HasStatus(err, http.StatusGone), apiclient.HasStatus(err, http.StatusNotFound):
			t.drop("410 Gone on a heartbeat")
			return
		case ctx.Err() != nil:
			return
		default:
			wait = bo.Next()
			a.metrics.Retry("heartbeat")
			if failingSince.IsZero() {
				failingSince = time.Now()
				t.logf("heartbeat failed (%v); retrying", err)
			}
		}
	}
}

func (t *task) sendHeartbeat(ctx context.Context) (*apiclient.Heartbeat, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	resp, err := t.agent.client.HeartbeatJobWithResponse(ctx, t.job.Id, apiclient.HeartbeatRequest{Attempt: t.job.Attempt})
	if err != nil {
		return nil, err
	}
	if resp.JSON200 == nil {
		return nil, apiclient.NewStatusError(resp.StatusCode(), resp.Body)
	}
	return resp.JSON200, nil
}

var errGone = errors.New("gone")

// complete reports the job's end, retrying until the server has it, refuses it
// for good, or ctx is done.
func (t *task) complete(ctx context.Context, exitCode int, logResult logstream.Result) (*apiclient.Job, error) {
	a := t.agent
	body := apiclient.JobComplete{
		Attempt:   t.job.Attempt,
		ExitCode:  exitCode,
		LogLength: &logResult.Length,
		LogSha256: &logResult.SHA256,
	}
	bo := backoff.Backoff{Min: a.retryMin, Max: a.retryMax}
	for {
		ended, err := t.sendComplete(ctx, body)
		switch {
		case err == nil:
			t.mu.Lock()
			t.completed = true
			t.mu.Unlock()
			return ended, nil
		case apiclient.HasStatus(err, http.StatusGone), apiclient.HasStatus(err, http.StatusNotFound):
			return nil, errGone
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case apiclient.Temporary(err),
			apiclient.HasStatus(err, http.StatusUnauthorized),
			apiclient.HasStatus(err, http.StatusForbidden):
			d := bo.Next()
			if f := bo.Failures(); f == 1 || f%10 == 0 {
				t.logf("cannot report its end yet (%v); retrying, exit code %d kept", err, exitCode)
			}
			a.metrics.Retry("complete")
			backoff.Sleep(ctx, d)
		default:
			return nil, err
		}
	}
}

func (t *task) sendComplete(ctx context.Context, body apiclient.JobComplete) (*apiclient.Job, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := t.agent.client.CompleteJobWithResponse(ctx, t.job.Id, body)
	if err != nil {
		return nil, err
	}
	if resp.JSON200 == nil {
		return nil, apiclient.NewStatusError(resp.StatusCode(), resp.Body)
	}
	return resp.JSON200, nil
}
