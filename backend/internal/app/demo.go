package app

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"time"

	"github.com/aura-ci/aura/backend/internal/auth"
	"github.com/aura-ci/aura/backend/internal/store"
)

// seedDemo fills an empty database with sample projects, runners and jobs in every
// state, through the same store calls the API uses. A database that already has
// projects is left alone, and seeded reports false.
func seedDemo(ctx context.Context, st *store.Store, stdout io.Writer) (seeded bool, err error) {
	existing, _, err := st.ProjectList(ctx, true, 0, store.Page{Limit: 1})
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
		run, err := st.RunnerCreate(ctx, &store.RunnerCreateParams{Name: r.name, Tags: r.tags, Hash: hash})
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
		proj, err := st.ProjectCreate(ctx, p.slug, p.name, p.private)
		if err != nil {
			return err
		}
		secret, hash := auth.NewSecret(auth.PrefixProject, p.slug)
		if _, err := st.ProjectTokenCreate(ctx, proj.ID, "demo", hash); err != nil {
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
		ProjectID: proj.ID, ProjectSlug: proj.Slug, EntityKey: "commit", EntityVal: sha, Tag: tag,
		Collections: map[string]string{"ref": "main"}, TimeoutSeconds: 3600, MaxAttempts: 1,
	}
	if i == 3 {
		base.Collections = map[string]string{"mr": "12", "ref": "feature-login"}
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
		_, err := st.JobCancel(ctx, testMac.ID, "cancelled by user")
		return err
	}
	return nil
}
