package app

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/aura-ci/aura/backend/internal/auth"
	"github.com/aura-ci/aura/backend/internal/store"
)

// seedDemo fills an empty database with sample projects, runners and jobs in every
// state, through the same store calls the API uses. A database that already has
// projects is left alone, and seeded reports false.
func seedDemo(ctx context.Context, st *store.Store, stdout io.Writer) (seeded bool, err error) {
	existing, _, err := st.ProjectList(ctx, store.ProjectScope{All: true}, store.Page{Limit: 1})
	if err != nil || len(existing) > 0 {
		return false, err
	}
	return true, seedDemoData(ctx, st, stdout)
}

func seedDemoData(ctx context.Context, st *store.Store, stdout io.Writer) error {
	var runners []*store.Runner
	for _, r := range []struct {
		name string
		tags []string
	}{{"builder-1", []string{"native,linux"}}, {"builder-2", []string{"native,linux", "docker,linux"}}, {"mac-mini", []string{"native,mac"}}} {
		secret, hash := auth.NewSecret(auth.PrefixRunner, r.name)
		run, err := st.RunnerCreate(ctx, &store.RunnerCreateParams{Name: r.name, Tags: r.tags, Hash: hash}, nil)
		if err != nil {
			return err
		}
		if err := st.RunnerCheckIn(ctx, run.ID, r.tags, "demo", "linux", "amd64"); err != nil {
			return err
		}
		runners = append(runners, run)
		fmt.Fprintf(stdout, "demo runner %s token: %s\n", r.name, secret)
	}
	for _, p := range []struct {
		slug, name string
		private    bool
		tag        string
	}{{"aura", "Aura", false, "native,linux"}, {"website", "Website", false, "docker,linux"}, {"internal-tools", "Internal tools", true, "native,mac"}} {
		proj, err := st.ProjectCreate(ctx, p.slug, p.name, p.private, nil)
		if err != nil {
			return err
		}
		secret, hash := auth.NewSecret(auth.PrefixProject, p.slug)
		if _, err := st.ProjectTokenCreate(ctx, proj.ID, "demo", hash, nil); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "demo project %s token: %s\n", p.slug, secret)
		for i := range 4 {
			if err := seedCommit(ctx, st, proj, p.tag, runners[0].ID, i); err != nil {
				return err
			}
		}
	}
	return nil
}

// seedCommit submits build → (test-linux, test-mac) → deploy for one commit and
// moves the jobs into a different set of states for each commit number i.
// Each project uses its own tag, so a claim here picks exactly the job meant.
func seedCommit(ctx context.Context, st *store.Store, proj *store.Project, tag string, runnerID int64, i int) error {
	sum := sha1.Sum([]byte(fmt.Sprint(proj.ID, i)))
	sha := hex.EncodeToString(sum[:])
	base := store.JobSubmitParams{
		JobSpec:   store.JobSpec{Tag: tag, MaxAttempts: 1},
		ProjectID: proj.ID, ProjectSlug: proj.Slug, EntityKey: "commit", EntityVal: sha,
		Collections: map[string]string{"ref": "main"},
	}
	// The project page lists builds by their commit: give each a message and an author.
	messages := []string{"Add the cart total", "Fix rounding of totals", "Speed up the search index", "Log in with a forge account"}
	authors := [][2]string{{"Ann Example", "ann"}, {"Bob Example", "bob"}}
	base.EntityTitle = messages[i%len(messages)]
	base.EntityMeta = &store.EntityMeta{Message: base.EntityTitle, AuthorName: authors[i%2][0], AuthorLogin: authors[i%2][1], Branch: "main"}
	if i == 3 {
		base.Collections = map[string]string{"mr": "12", "ref": "feature-login"}
		base.EntityMeta.Branch, base.EntityMeta.RequestNumber, base.EntityMeta.RequestTitle = "feature-login", 12, "Log in with a forge account"
	}
	job := func(name, cmd string, after ...string) *store.JobSubmitParams {
		p := base
		p.Name, p.Cmd, p.PrecedingNames = name, cmd, after
		return &p
	}
	later := time.Now().Add(time.Hour)
	deploy := job("deploy", "./deploy.sh", "test-linux", "test-mac")
	deploy.EarliestStart = &later
	jobs, err := st.JobSubmit(ctx, []*store.JobSubmitParams{
		job("build", "make build"), job("test-linux", "make test", "build"), job("test-mac", "make test", "build"), deploy,
	})
	if err != nil {
		return err
	}
	build, testLinux, testMac := jobs[0], jobs[1], jobs[2]
	// run claims the oldest queued job (j) and, unless exit is nil, completes it
	// with a short log. A negative lease makes the reaper find it lost.
	run := func(j *store.Job, exit *int, lease time.Duration) error {
		claimed, err := st.JobClaim(ctx, &store.JobClaimParams{RunnerID: runnerID, Tag: j.Tag, Limit: 1, Lease: lease, Acked: true})
		if err != nil || len(claimed) == 0 {
			return err
		}
		hold := store.Holder{JobID: claimed[0].ID, Attempt: claimed[0].Attempt, RunnerID: runnerID}
		log := fmt.Sprintf("$ %s\nrunning %s for commit %s\n", claimed[0].Cmd, claimed[0].Name, sha[:8])
		if _, err := st.LogAppend(ctx, &store.LogAppendParams{Holder: hold, Data: []byte(log), Limit: 64 << 20}); err != nil {
			return err
		}
		if exit == nil {
			return nil
		}
		_, err = st.JobComplete(ctx, &store.JobCompleteParams{Holder: hold, ExitCode: *exit})
		return err
	}
	ok, fail := 0, 1
	switch i {
	case 0: // all green up to the delayed deploy
		for _, j := range []*store.Job{build, testLinux, testMac} {
			if err := run(j, &ok, time.Hour); err != nil {
				return err
			}
		}
	case 1: // a failed test cancels deploy
		if err := run(build, &ok, time.Hour); err != nil {
			return err
		}
		if err := run(testLinux, &fail, time.Hour); err != nil {
			return err
		}
		return run(testMac, &ok, time.Hour)
	case 2: // build running, the tests wait; lint times out and a flaky job is lost
		if err := run(build, nil, time.Hour); err != nil {
			return err
		}
		lint, flaky := base, base
		lint.Name, lint.Cmd, lint.TimeoutSeconds = "lint", "make lint", 1
		flaky.Name, flaky.Cmd = "integration", "make integration"
		more, err := st.JobSubmit(ctx, []*store.JobSubmitParams{&lint, &flaky})
		if err != nil {
			return err
		}
		if err := run(more[0], nil, time.Hour); err != nil {
			return err
		}
		return run(more[1], nil, -time.Second)
	case 3: // queued build, then a user cancels a waiting test
		_, err := st.JobCancel(ctx, testMac.ID, "cancelled by user", store.SystemActor)
		return err
	}
	return nil
}

// The live demo: with --demo the server starts a real aura-runner of its own and
// submits a new commit every minute or so, whose jobs print what the log viewer
// is for (colours, a \r progress bar, ::group:: sections), one of which fails,
// one is retried and one is delayed.
const (
	demoProject    = "aura"
	demoRunnerName = "demo-live"
	demoTag        = "demo,live"
)

// liveDemo is the runner process and the commit loop of a running demo.
type liveDemo struct {
	stopOnce sync.Once
	cancel   context.CancelFunc
	runner   *exec.Cmd
	exited   chan struct{}
	loops    sync.WaitGroup
}

// findRunnerBinary looks for aura-runner beside the server's executable, then on PATH.
func findRunnerBinary() (string, error) {
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), "aura-runner")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return exec.LookPath("aura-runner")
}

// loopbackURL is how a process on this machine reaches a server listening on addr.
func loopbackURL(addr net.Addr) string {
	a, ok := addr.(*net.TCPAddr)
	if !ok {
		return "http://" + addr.String()
	}
	host := a.IP.String()
	if a.IP == nil || a.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(a.Port))
}

// startLiveDemo starts the demo's runner (against serverURL, working in
// dataDir/demo-runner) and its commit loop, one commit every interval. Without an
// aura-runner binary it says so and returns a no-op: the demo keeps its snapshot.
// The returned stop ends both and waits for the runner to exit.
func startLiveDemo(ctx context.Context, st *store.Store, serverURL, dataDir string, interval time.Duration, logger *slog.Logger) (stop func(), err error) {
	bin, err := findRunnerBinary()
	if err != nil {
		logger.Warn("demo: no aura-runner beside aura or on PATH, so no job runs live: the demo shows its snapshot only (build it with go build -o bin/aura-runner ./runner/cmd/aura-runner)")
		return func() {}, nil
	}
	proj, err := st.ProjectGet(ctx, demoProject)
	if errors.Is(err, store.ErrNotFound) {
		proj, err = st.ProjectCreate(ctx, demoProject, "Aura", false, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("demo project: %w", err)
	}
	token, err := demoRunnerToken(ctx, st)
	if err != nil {
		return nil, err
	}
	work := filepath.Join(dataDir, "demo-runner")
	if err := os.MkdirAll(work, 0o700); err != nil {
		return nil, fmt.Errorf("demo runner work dir: %w", err)
	}

	d := &liveDemo{exited: make(chan struct{})}
	// The token goes in the environment, not the arguments, where ps would show it.
	d.runner = exec.Command(bin, "--server", serverURL, "--tag", demoTag, "--work-dir", work,
		"--concurrency", "4", "--grace", "2s", "--shutdown-grace", "3s")
	d.runner.Env = append(os.Environ(), "AURA_RUNNER_TOKEN="+token, "AURA_TAGS=", "AURA_RUNNER_CONFIG=")
	out, err := d.runner.StdoutPipe()
	if err != nil {
		return nil, err
	}
	d.runner.Stderr = d.runner.Stdout
	// Its own process group, so a Ctrl-C at the terminal reaches the server only,
	// and the server stops the runner in order.
	d.runner.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.runner.Start(); err != nil {
		return nil, fmt.Errorf("demo runner: %w", err)
	}
	logger.Info("demo: started aura-runner for the live jobs", "binary", bin, "pid", d.runner.Process.Pid, "tag", demoTag)
	go func() {
		forwardLines(out, logger.With("demo-runner", d.runner.Process.Pid))
		err := d.runner.Wait()
		logger.Info("demo: aura-runner exited", "err", err)
		close(d.exited)
	}()

	loopCtx, cancel := context.WithCancel(ctx)
	d.cancel = cancel
	d.loops.Go(func() { demoCommits(loopCtx, st, proj, interval, logger) })
	return d.stop, nil
}

// stop ends the commit loop and the runner: SIGTERM (it finishes or stops its
// jobs within its grace), SIGKILL if it has not exited 10 s later.
func (d *liveDemo) stop() {
	d.stopOnce.Do(func() {
		d.cancel()
		d.loops.Wait()
		_ = d.runner.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.exited:
		case <-time.After(10 * time.Second):
			_ = d.runner.Process.Kill()
			<-d.exited
		}
	})
}

func forwardLines(r io.Reader, logger *slog.Logger) {
	s := bufio.NewScanner(r)
	for s.Scan() {
		logger.Info(s.Text())
	}
}

// demoRunnerToken registers the demo's runner afresh (a token is stored only as
// a hash, so the one of an earlier start cannot be read back) and returns its token.
func demoRunnerToken(ctx context.Context, st *store.Store) (string, error) {
	for cursor := ""; ; {
		rs, next, err := st.RunnerList(ctx, store.Page{Limit: 200, Cursor: cursor})
		if err != nil {
			return "", err
		}
		for _, r := range rs {
			if r.Name == demoRunnerName {
				if err := st.RunnerDelete(ctx, r.ID, nil); err != nil && !errors.Is(err, store.ErrNotFound) {
					return "", err
				}
			}
		}
		if next == "" {
			break
		}
		cursor = next
	}
	secret, hash := auth.NewSecret(auth.PrefixRunner, demoRunnerName)
	if _, err := st.RunnerCreate(ctx, &store.RunnerCreateParams{Name: demoRunnerName, Tags: []string{demoTag}, Hash: hash}, nil); err != nil {
		return "", fmt.Errorf("demo runner: %w", err)
	}
	return secret, nil
}

// demoCommits submits a commit at once and then one every interval until ctx ends.
func demoCommits(ctx context.Context, st *store.Store, proj *store.Project, interval time.Duration, logger *slog.Logger) {
	var retries sync.WaitGroup
	defer retries.Wait()
	for n := 1; ; n++ {
		jobs, err := submitDemoCommit(ctx, st, proj, n)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			logger.Warn("demo: could not submit a commit", "err", err)
		} else {
			logger.Info("demo: a new commit arrived", "commit", jobs[0].EntityVal[:8], "jobs", len(jobs))
			for _, j := range jobs {
				if j.Name == "integration" {
					retries.Go(func() { retryWhenFailed(ctx, st, j.ID, logger) })
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

// retryWhenFailed retries job id once if its first attempt fails, as a person
// would retry a flaky test.
func retryWhenFailed(ctx context.Context, st *store.Store, id int64, logger *slog.Logger) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		j, err := st.JobGet(ctx, id)
		if err != nil || !store.Ended(j.Status) {
			continue
		}
		if j.Status == store.StatusFailed && j.Attempt == 1 {
			if _, err := st.JobRetry(ctx, id, store.SystemActor); err != nil {
				logger.Warn("demo: could not retry the flaky job", "job", id, "err", err)
			} else {
				logger.Info("demo: retried the flaky job", "job", id)
			}
		}
		return
	}
}

var demoMessages = []string{
	"runner: stream logs while an upload is in flight",
	"web: name the browser tab after the page",
	"store: one transaction per job transition",
	"api: GET /api/v1/me says who the token belongs to",
	"log view: fold ::group:: sections",
	"dispatch: wake claims through LISTEN/NOTIFY",
}

// submitDemoCommit submits commit number n's jobs:
//
//	checkout → build → unit, lint, integration (fails once, then retried), e2e (fails on odd commits)
//	unit, lint, integration → package → deploy (delayed)
//	e2e → report (skipped when e2e fails)
func submitDemoCommit(ctx context.Context, st *store.Store, proj *store.Project, n int) ([]*store.Job, error) {
	sum := sha1.Sum([]byte(fmt.Sprint("live", time.Now().UnixNano(), n)))
	sha := hex.EncodeToString(sum[:])
	msg := demoMessages[n%len(demoMessages)]
	// Every other commit fails its e2e job (and so skips its report), the first
	// one included, so a fresh demo shows a failure at once.
	e2e := demoE2EPass
	if n%2 == 1 {
		e2e = demoE2EFail
	}
	later := time.Now().Add(40 * time.Second)
	job := func(name, cmd string, after ...string) *store.JobSubmitParams {
		return &store.JobSubmitParams{
			JobSpec: store.JobSpec{Name: name, Cmd: cmd, Tag: demoTag, TimeoutSeconds: 600, MaxAttempts: 1,
				Env: map[string]string{"DEMO_MESSAGE": msg}},
			ProjectID: proj.ID, ProjectSlug: proj.Slug, EntityKey: "commit", EntityVal: sha,
			Collections: map[string]string{"ref": "main"}, PrecedingNames: after,
		}
	}
	deploy := job("deploy", demoDeploy, "package")
	deploy.EarliestStart = &later
	return st.JobSubmit(ctx, []*store.JobSubmitParams{
		job("checkout", demoCheckout),
		job("build", demoBuild, "checkout"),
		job("unit", demoUnit, "build"),
		job("lint", demoLint, "build"),
		job("integration", demoIntegration, "build"),
		job("e2e", e2e, "build"),
		job("report", demoReport, "e2e"),
		job("package", demoPackage, "unit", "lint", "integration"),
		deploy,
	})
}

// The jobs' scripts run under sh -c (dash on Debian): printf, not echo -e.
const (
	demoCheckout = `printf '\033[1;34m$ git clone https://example.com/aura.git\033[0m\n'
echo "Cloning into 'aura'..."
for p in 5 20 40 60 80 100; do printf '\rReceiving objects: %3d%% (%d/1240)' $p $((p * 1240 / 100)); sleep 0.2; done
printf ', done.\n'
printf 'HEAD is now at \033[33m%s\033[0m %s\n' "$(echo "$AURA_ENTITY_VAL" | cut -c1-8)" "$DEMO_MESSAGE"`

	demoBuild = `echo "::group::Download modules"
for m in github.com/jackc/pgx/v5 github.com/gorilla/mux github.com/go-playground/validator/v10 github.com/getkin/kin-openapi; do
  printf '\033[2mgo: downloading\033[0m %s\n' "$m"; sleep 0.3
done
echo "::endgroup::"
echo "::group::Compile"
bar=""; i=0
while [ $i -lt 30 ]; do
  i=$((i + 1)); bar="$bar#"
  printf '\r\033[36mcompiling\033[0m [%-30s] %3d%%' "$bar" $((i * 100 / 30)); sleep 0.25
done
printf '\n'
echo "::endgroup::"
printf '\033[1;32m✔ built bin/aura and bin/aura-runner\033[0m\n'`

	demoUnit = `n=7
for p in api store dispatch events auth seal integrations pgcluster web runner/agent runner/logstream runner/mask; do
  sleep 0.4; n=$((n * 37 % 997))
  printf '\033[32mok  \033[0m  github.com/aura-ci/aura/%-22s \033[2m%d.%03ds\033[0m\n' "$p" $((n % 3)) "$n"
done
printf '\n\033[1;32mPASS\033[0m 12 packages\n'`

	demoLint = `echo "::group::gofmt"
echo "gofmt -l: nothing to format"
echo "::endgroup::"
echo "::group::go vet"
sleep 1
printf '\033[33mwarning\033[0m backend/internal/api/jobs.go:412: \033[1mjob\033[0m shadows a declaration\n'
printf '\033[33mwarning\033[0m frontend/src/pages/Job.tsx:88: unused variable \033[1mfirst\033[0m\n'
echo "::endgroup::"
for c in 196 202 208 214 220 226 190 154 118 82 46; do printf '\033[38;5;%dm█' $c; done
printf '\033[0m  2 warnings, 0 errors\n'`

	demoIntegration = `echo "starting PostgreSQL 15 on port 54329"
sleep 1
if [ "${AURA_JOB_ATTEMPT:-1}" = 1 ]; then
  printf '\033[31mFAIL\033[0m TestDispatchUnderLoad (3.02s)\n'
  printf '    dispatch_test.go:88: \033[1mconnection reset by peer\033[0m (a flaky network, it passes when retried)\n'
  exit 1
fi
for t in TestClaimOnce TestLeaseExpiry TestCancelIsPushed TestDispatchUnderLoad; do
  sleep 0.5; printf '\033[32m--- PASS\033[0m %s\n' "$t"
done
printf '\033[1;32mok\033[0m on attempt %s\n' "$AURA_JOB_ATTEMPT"`

	demoE2EPass = `n=11
for s in "sign in" "projects" "entity graph" "live log" "history grid"; do
  sleep 0.8; n=$((n * 37 % 997))
  printf '\033[32m✓\033[0m %s \033[2m(%d ms)\033[0m\n' "$s" $((n + 100))
done
printf '\n\033[1;32m5 passed\033[0m\n'`

	demoE2EFail = `n=11
for s in "sign in" "projects" "entity graph"; do
  sleep 0.8; n=$((n * 37 % 997))
  printf '\033[32m✓\033[0m %s \033[2m(%d ms)\033[0m\n' "$s" $((n + 100))
done
sleep 0.8
printf '\033[31m✗ live log\033[0m\n'
printf '  \033[1mError:\033[0m timed out waiting for .log-line "done"\n'
printf '  \033[2m    at frontend/e2e/app.spec.ts:133:5\033[0m\n'
printf '\n\033[1;31m1 failed\033[0m, 3 passed\n'
exit 1`

	demoReport = `echo "publishing the test report"; sleep 1; echo done`

	demoPackage = `echo "::group::Build the web app"
for f in index.html assets/index.js assets/index.css assets/logWorker.js; do sleep 0.3; printf '  \033[2mbackend/internal/web/dist/\033[0m%s\n' "$f"; done
echo "::endgroup::"
bar=""; i=0
while [ $i -lt 20 ]; do
  i=$((i + 1)); bar="$bar="
  printf '\r\033[35mpacking\033[0m  [%-20s] %3d%%' "$bar>" $((i * 5)); sleep 0.15
done
printf '\n\033[1;32m✔ aura_linux_amd64.tar.gz\033[0m (18.4 MB)\n'`

	demoDeploy = `printf '\033[1;34mdeploying\033[0m %s to staging (it waited for its earliest start)\n' "$(echo "$AURA_ENTITY_VAL" | cut -c1-8)"
for h in web-1 web-2 worker-1; do sleep 0.5; printf '  %-9s \033[32mhealthy\033[0m\n' "$h"; done`
)
