// Command poll-policies measures, against a running Aura server, how soon a job
// is claimed when runners poll as other CI systems' runners do, beside Aura's own
// long poll, and prints one JSON object of figures to stdout:
//
//	poll-policies --server URL --admin-token TOKEN --jobs N [--quick]
//
// These are simulations of polling policies, not the other systems: each policy
// is a simulated runner speaking Aura's runner protocol (POST
// /api/v1/runner/claim, a heartbeat that acknowledges the claim, complete):
//
//   - gitlab: a claim with no long poll (waitSeconds 0), then 3 s of sleep when
//     it got nothing (GitLab Runner's check_interval);
//   - buildkite: the same every 10 s plus a random 0–1 s jitter (the Buildkite
//     agent's ping interval);
//   - act_runner: every 2 s, doubling while idle up to 60 s, back to 2 s on a job
//     (Gitea act_runner's fetch_interval with its idle back-off);
//   - aura_longpoll: Aura's long poll (waitSeconds 30, as aura-runner does).
//
// After a job a runner claims again at once; jobs take no time. Each policy has
// a runner and a tag of its own, so all four run at the same time, and gets the
// same number of jobs submitted at random times spread over a window: submit
// (POST /api/v1/jobs sent) → claimed (the claim answer arriving) is measured.
// A second runner per policy, on a tag that never gets a job, polls for the whole
// run: its requests per minute are the idle cost of the policy.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"aura.example/bench/internal/report"
)

// Output is what poll-policies prints.
type Output struct {
	Simulation    bool            `json:"simulation"`
	JobsPerPolicy int             `json:"jobs_per_policy"`
	WindowSeconds float64         `json:"window_s"`
	RunSeconds    float64         `json:"run_s"`
	Figures       []report.Figure `json:"figures"`
	PolicyDetails []policyDetail  `json:"policies"`
}

type policyDetail struct {
	Key         string `json:"key"`
	Description string `json:"description"`
}

// policy is how a simulated runner polls.
type policy struct {
	key, name, description string
	// wait is the claim's waitSeconds (0: no long poll).
	wait int
	// sleep is how long to sleep after the idle'th empty claim in a row (1, 2, …).
	sleep func(idle int) time.Duration
}

var policies = []policy{
	{key: "gitlab", name: "GitLab Runner", description: "claim without long poll, 3 s sleep when idle",
		sleep: func(int) time.Duration { return 3 * time.Second }},
	{key: "buildkite", name: "Buildkite agent", description: "claim without long poll, 10 s + 0–1 s jitter sleep when idle",
		sleep: func(int) time.Duration { return 10*time.Second + time.Duration(mrand.Int64N(int64(time.Second))) }},
	{key: "act_runner", name: "act_runner", description: "claim without long poll, 2 s sleep doubling while idle up to 60 s, reset on a job",
		sleep: func(idle int) time.Duration { return min(60*time.Second, 2*time.Second<<min(idle-1, 6)) }},
	{key: "aura_longpoll", name: "Aura long poll", description: "claim with waitSeconds 30, at once again", wait: 30,
		sleep: func(int) time.Duration { return 0 }},
}

type options struct {
	server, admin string
	jobs          int
	quick         bool
	window        time.Duration
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "poll-policies:", err)
		os.Exit(1)
	}
}

func parse(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("poll-policies", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.server, "server", "", "Aura's base URL, e.g. http://127.0.0.1:8420")
	fs.StringVar(&o.admin, "admin-token", os.Getenv("AURA_ADMIN_TOKEN"), "an admin token (creates a project and runners)")
	fs.IntVar(&o.jobs, "jobs", 40, "jobs per policy (at most 8 with --quick)")
	fs.BoolVar(&o.quick, "quick", false, "about a minute: at most 8 jobs per policy over 30 s")
	fs.DurationVar(&o.window, "window", 0, "the time the submissions are spread over (default 30 s with --quick, else 5 s per job)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.server = strings.TrimRight(o.server, "/")
	switch {
	case o.server == "":
		return o, errors.New("--server is required")
	case o.admin == "":
		return o, errors.New("--admin-token is required")
	case o.jobs < 1:
		return o, errors.New("--jobs must be at least 1")
	}
	if o.quick {
		o.jobs = min(o.jobs, 8)
	}
	if o.window == 0 {
		o.window = time.Duration(o.jobs) * 5 * time.Second
		if o.quick {
			o.window = 30 * time.Second
		}
	}
	return o, nil
}

// api is an Aura client.
type api struct {
	base string
	http *http.Client
}

// call sends body as JSON with token and decodes the answer into out,
// requiring status want.
func (a *api) call(ctx context.Context, method, path, token string, body, out any, want int) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, r)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := a.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(data))
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// simRunner is one simulated runner.
type simRunner struct {
	api    *api
	token  string
	tag    string
	policy policy
	// requests counts claim calls.
	requests atomic.Int64
	// claimed gets each job's id and when its claim answer arrived.
	claimed func(id int64, at time.Time)
}

type claimedJob struct {
	ID      int64 `json:"id"`
	Attempt int   `json:"attempt"`
}

// loop claims as the policy says until ctx is done.
func (r *simRunner) loop(ctx context.Context) error {
	idle := 0
	for ctx.Err() == nil {
		var resp struct{ Jobs []claimedJob }
		r.requests.Add(1)
		err := r.api.call(ctx, "POST", "/api/v1/runner/claim", r.token,
			map[string]any{"tags": []string{r.tag}, "capacity": 1, "waitSeconds": r.policy.wait}, &resp, 200)
		at := time.Now()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("%s claim: %w", r.policy.key, err)
		}
		for _, j := range resp.Jobs {
			if r.claimed != nil {
				r.claimed(j.ID, at)
			}
			if err := r.finish(ctx, j); err != nil {
				return err
			}
		}
		if len(resp.Jobs) > 0 {
			idle = 0
			continue
		}
		idle++
		select {
		case <-ctx.Done():
		case <-time.After(r.policy.sleep(idle)):
		}
	}
	return nil
}

// finish acknowledges the claim of j (the first heartbeat) and completes it,
// even when ctx ends meanwhile, so no job is left running.
func (r *simRunner) finish(ctx context.Context, j claimedJob) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	hb := fmt.Sprintf("/api/v1/jobs/%d/heartbeat", j.ID)
	if err := r.api.call(ctx, "POST", hb, r.token, map[string]any{"attempt": j.Attempt}, nil, 200); err != nil {
		return err
	}
	done := fmt.Sprintf("/api/v1/jobs/%d/complete", j.ID)
	return r.api.call(ctx, "POST", done, r.token, map[string]any{"attempt": j.Attempt, "exitCode": 0}, nil, 200)
}

// policyRun is one policy's busy and idle runners and its jobs.
type policyRun struct {
	policy    policy
	busy      *simRunner
	idle      *simRunner
	mu        sync.Mutex
	submitted map[int64]time.Time
	claimedAt map[int64]time.Time
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parse(args, stderr)
	if err != nil {
		return err
	}
	a := &api{base: o.server, http: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}}
	id := "pollsim-" + randomHex(4)
	if err := a.call(ctx, "POST", "/api/v1/projects", o.admin, map[string]any{"slug": id, "name": "Poll policy simulation"}, nil, 201); err != nil {
		return err
	}
	var projectToken struct{ Token string }
	if err := a.call(ctx, "POST", "/api/v1/projects/"+id+"/tokens", o.admin, map[string]any{"name": "bench"}, &projectToken, 201); err != nil {
		return err
	}
	// The simulated runners are deleted at the end, so they do not stay
	// registered beside the suite's next figures.
	var runnerIDs []int64
	defer func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		for _, rid := range runnerIDs {
			if err := a.call(ctx, "DELETE", fmt.Sprintf("/api/v1/runners/%d", rid), o.admin, nil, nil, 204); err != nil {
				fmt.Fprintln(stderr, "poll-policies: delete runner:", err)
			}
		}
	}()
	newRunner := func(name string, p policy) (*simRunner, error) {
		tag := id + "-" + name
		var r struct {
			ID    int64
			Token string
		}
		err := a.call(ctx, "POST", "/api/v1/runners", o.admin, map[string]any{"name": tag, "tags": []string{tag}, "projects": []string{id}}, &r, 201)
		if err == nil {
			runnerIDs = append(runnerIDs, r.ID)
		}
		return &simRunner{api: a, token: r.Token, tag: tag, policy: p}, err
	}
	var runs []*policyRun
	for _, p := range policies {
		pr := &policyRun{policy: p, submitted: map[int64]time.Time{}, claimedAt: map[int64]time.Time{}}
		if pr.busy, err = newRunner(p.key, p); err != nil {
			return err
		}
		if pr.idle, err = newRunner(p.key+"-idle", p); err != nil {
			return err
		}
		pr.busy.claimed = func(id int64, at time.Time) {
			pr.mu.Lock()
			defer pr.mu.Unlock()
			pr.claimedAt[id] = at
		}
		runs = append(runs, pr)
	}

	runCtx, stopRunners := context.WithCancel(ctx)
	defer stopRunners()
	errs := make(chan error, 2*len(runs))
	var runners sync.WaitGroup
	began := time.Now()
	for _, pr := range runs {
		for _, r := range []*simRunner{pr.busy, pr.idle} {
			runners.Go(func() {
				if err := r.loop(runCtx); err != nil {
					errs <- err
					stopRunners()
				}
			})
		}
	}

	// Each policy's submissions at random times over the window, all at once.
	var submitters sync.WaitGroup
	for _, pr := range runs {
		offsets := make([]time.Duration, o.jobs)
		for i := range offsets {
			offsets[i] = time.Duration(mrand.Int64N(int64(o.window)))
		}
		slices.Sort(offsets)
		submitters.Go(func() {
			for i, off := range offsets {
				select {
				case <-runCtx.Done():
					return
				case <-time.After(time.Until(began.Add(off))):
				}
				body := map[string]any{"project": id, "entityKey": "sim", "entityVal": pr.policy.key,
					"name": fmt.Sprintf("job-%d", i), "cmd": "true", "tag": pr.busy.tag}
				var j struct{ ID int64 }
				// From the request being sent: a long poll's answer may
				// arrive before the submit's own.
				at := time.Now()
				if err := a.call(runCtx, "POST", "/api/v1/jobs", projectToken.Token, body, &j, 201); err != nil {
					if runCtx.Err() == nil {
						errs <- err
						stopRunners()
					}
					return
				}
				pr.mu.Lock()
				pr.submitted[j.ID] = at
				pr.mu.Unlock()
			}
		})
	}
	submitters.Wait()

	// Every job claimed, within the longest sleep a policy may be in.
	deadline := time.Now().Add(90 * time.Second)
	for {
		all := true
		for _, pr := range runs {
			pr.mu.Lock()
			for id := range pr.submitted {
				if _, ok := pr.claimedAt[id]; !ok {
					all = false
				}
			}
			pr.mu.Unlock()
		}
		if all || runCtx.Err() != nil {
			break
		}
		if time.Now().After(deadline) {
			stopRunners()
			return errors.New("not every job was claimed within 90 s of the last submission")
		}
		time.Sleep(20 * time.Millisecond)
	}
	elapsed := time.Since(began)
	stopRunners()
	runners.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}

	out := Output{Simulation: true, JobsPerPolicy: o.jobs, WindowSeconds: o.window.Seconds(), RunSeconds: report.Round(elapsed.Seconds(), 1)}
	for _, pr := range runs {
		var ds []time.Duration
		for id, s := range pr.submitted {
			ds = append(ds, pr.claimedAt[id].Sub(s))
		}
		label := fmt.Sprintf("%s polling (simulation: %s)", pr.policy.name, pr.policy.description)
		perMin := float64(pr.idle.requests.Load()) / elapsed.Minutes()
		out.Figures = append(out.Figures,
			report.Figure{Key: pr.policy.key + "_p50_ms", Label: label + " submit → claimed p50", Value: report.Quantile(ds, 0.5), Unit: "ms"},
			report.Figure{Key: pr.policy.key + "_p99_ms", Label: label + " submit → claimed p99", Value: report.Quantile(ds, 0.99), Unit: "ms"},
			report.Figure{Key: pr.policy.key + "_requests_per_min", Label: fmt.Sprintf("%s polling (simulation) claim requests per idle minute (one runner idle for the whole %.0f s run)", pr.policy.name, elapsed.Seconds()),
				Value: report.Round(perMin, 2), Unit: "requests/min"},
		)
		out.PolicyDetails = append(out.PolicyDetails, policyDetail{Key: pr.policy.key, Description: pr.policy.description})
	}
	return report.Write(stdout, out)
}
