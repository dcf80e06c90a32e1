package e2e

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/integrations"
)

// A repository describes its build: an integration's default job clones the
// commit and runs .aura/ci, or submits .aura/jobs.yaml with `aura-runner submit
// --file`. These tests use real git repositories on disk, a real server and a
// real runner.

// gitRepo is a git repository on disk that a job clones by its path.
type gitRepo struct {
	t   *testing.T
	dir string
}

func newGitRepo(t *testing.T) *gitRepo {
	r := &gitRepo{t: t, dir: t.TempDir()}
	r.git("init", "--quiet", "--initial-branch=main")
	return r
}

func (r *gitRepo) git(args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=Aura Test", "-c", "user.email=test@aura.invalid"}, args...)...)
	cmd.Dir = r.dir
	out, err := cmd.CombinedOutput()
	require.NoError(r.t, err, "git %v: %s", args, out)
	return strings.TrimSpace(string(out))
}

// commit writes files (path → content; a path ending in "*" is executable) on
// branch and returns the commit's hash.
func (r *gitRepo) commit(branch string, files map[string]string) string {
	r.t.Helper()
	r.git("checkout", "--quiet", "-B", branch)
	for name, content := range files {
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, "*") {
			name, mode = strings.TrimSuffix(name, "*"), 0o755
		}
		path := filepath.Join(r.dir, name)
		require.NoError(r.t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(r.t, os.WriteFile(path, []byte(content), mode))
		r.git("add", name)
	}
	r.git("commit", "--quiet", "--allow-empty", "-m", "change on "+branch)
	return r.git("rev-parse", "HEAD")
}

// hook is a generic integration of project proj.
type hook struct {
	s      *server
	id     int64
	secret string
	jobs   []map[string]any
}

func newHook(t *testing.T, s *server, jobs []map[string]any) *hook {
	t.Helper()
	body := map[string]any{"kind": "generic", "repository": "owner/repo"}
	if jobs != nil {
		body["jobs"] = jobs
	}
	var in struct {
		ID     int64
		Secret string
		Jobs   []map[string]any
	}
	s.call("POST", "/api/v1/projects/proj/integrations", s.admin, body, &in, 201)
	return &hook{s: s, id: in.ID, secret: in.Secret, jobs: in.Jobs}
}

// push delivers a signed push of branch at sha, to be cloned from repo.
func (h *hook) push(t *testing.T, repo *gitRepo, branch, sha string) {
	t.Helper()
	body := fmt.Appendf(nil, `{"repository":"owner/repo","ref":"refs/heads/%s","sha":"%s","cloneUrl":%q}`, branch, sha, repo.dir)
	m := hmac.New(sha256.New, []byte(h.secret))
	m.Write(body)
	req, err := http.NewRequest("POST", fmt.Sprintf("%s/api/v1/hooks/%d", h.s.url, h.id), bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)))
	resp, err := httpClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

// entityJobs are the jobs of commit/sha by name, once the entity has want of them
// and all have ended.
func (s *server) entityJobs(t *testing.T, sha string, want int) map[string]job {
	t.Helper()
	byName := map[string]job{}
	require.Eventually(t, func() bool {
		var ent struct{ Jobs []job }
		s.call("GET", "/api/v1/projects/proj/entities/commit/"+sha, s.admin, nil, &ent, 200)
		clear(byName)
		for _, j := range ent.Jobs {
			if j.EndedAt == nil {
				return false
			}
			byName[j.Name] = j
		}
		return len(ent.Jobs) == want
	}, 30*time.Second, 50*time.Millisecond, "commit/%s: want %d ended jobs, have %v", sha, want, byName)
	return byName
}

// TestDefaultJobSubmitsJobsFile: a push runs the default job, which submits the
// repository's .aura/jobs.yaml as its children in one batch; they run in the
// file's order, and deploy (only on main, with a project secret) only on main.
func TestDefaultJobSubmitsJobsFile(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	s.project("proj")
	s.call("PUT", "/api/v1/projects/proj/secrets/DEPLOY_KEY", s.admin, map[string]any{"value": "s3cret-deploy-key"}, nil, 201)
	// The template names no command: it gets the default job's.
	h := newHook(t, s, []map[string]any{{"name": "ci", "tag": "native,linux", "secrets": []string{"DEPLOY_KEY"}}})
	require.Equal(t, integrations.DefaultJobCmd, h.jobs[0]["cmd"])
	startRunner(t, s, "r1", "--tag", "native,linux", "--concurrency", "2")

	repo := newGitRepo(t)
	main := repo.commit("main", map[string]string{".aura/jobs.yaml": `# build, test after build, deploy on main
jobs:
  - name: build
    cmd: sleep 0.3; echo built
    tag: native,linux
  - name: test
    cmd: |
      git clone --quiet "$AURA_GIT_URL" src && cd src && git checkout --quiet "$AURA_GIT_SHA"
      test -f .aura/jobs.yaml && echo tested
    tag: native,linux
    after: [build]
  - name: deploy
    cmd: echo "deploying with $DEPLOY_KEY"
    tag: native,linux
    after: [test]
    secrets: [DEPLOY_KEY]
    when: {branch: main, event: push}
`})
	h.push(t, repo, "main", main)
	jobs := s.entityJobs(t, main, 4)
	ci, build, test, deploy := jobs["ci"], jobs["build"], jobs["test"], jobs["deploy"]
	for _, j := range []job{ci, build, test, deploy} {
		require.Equal(t, "succeeded", j.Status, "%s: %s", j.Name, s.log(j.ID))
	}
	ciLog := s.log(ci.ID)
	require.Contains(t, ciLog, "+ git clone --quiet --no-checkout "+repo.dir+" src", "the default job's steps are in its log")
	require.Contains(t, ciLog, "+ exec aura-runner submit --file .aura/jobs.yaml")
	require.Contains(t, ciLog, "aura-runner submit: submitted test (job ")
	for _, j := range []job{build, test, deploy} {
		require.Equal(t, ci.ID, *j.ParentJob, "%s is a child of the job that submitted the file", j.Name)
	}
	require.False(t, test.StartedAt.Before(*build.EndedAt), "test runs after build")
	require.False(t, deploy.StartedAt.Before(*test.EndedAt), "deploy runs after test")
	require.Equal(t, "built\n", s.log(build.ID))
	require.Equal(t, "tested\n", s.log(test.ID), "the file's jobs get the commit's AURA_GIT_* variables")
	deployLog := s.log(deploy.ID)
	require.Contains(t, deployLog, "deploying with ")
	require.NotContains(t, deployLog, "s3cret-deploy-key", "the secret is masked")

	// On another branch deploy is left out, and says so.
	feature := repo.commit("feature", map[string]string{"README": "a feature\n"})
	h.push(t, repo, "feature", feature)
	jobs = s.entityJobs(t, feature, 3)
	require.NotContains(t, jobs, "deploy")
	require.Equal(t, "succeeded", jobs["test"].Status)
	require.Contains(t, s.log(jobs["ci"].ID), `left out deploy: when (branch "feature", event "push") does not hold`)
}

// TestDefaultJobBadJobsFile: a jobs file with a mistake submits nothing, and the
// default job fails with the line of the mistake in its log.
func TestDefaultJobBadJobsFile(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	s.project("proj")
	h := newHook(t, s, nil)
	startRunner(t, s, "r1", "--tag", "native,linux")

	repo := newGitRepo(t)
	sha := repo.commit("main", map[string]string{".aura/jobs.yaml": `jobs:
  - name: build
    cmd: make
    tag: native,linux
  - name: test
    cmd: make test
    tag: native,linux
    after: [biuld]
`})
	h.push(t, repo, "main", sha)
	jobs := s.entityJobs(t, sha, 1)
	ci := jobs["ci"]
	require.Equal(t, "failed", ci.Status)
	log := s.log(ci.ID)
	require.Contains(t, log, "aura-runner submit: .aura/jobs.yaml:8:13: after: no job named biuld in this file\n")
	require.Contains(t, log, "aura-runner submit: nothing submitted\n")
}

// TestDefaultJobRunsAuraCI: an integration created without jobs gets the default
// job, which runs the repository's .aura/ci in the checked-out commit.
func TestDefaultJobRunsAuraCI(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	s.project("proj")
	h := newHook(t, s, nil)
	require.Equal(t, []map[string]any{{"name": integrations.DefaultJobName, "tag": integrations.DefaultJobTag,
		"cmd": integrations.DefaultJobCmd}}, h.jobs)
	startRunner(t, s, "r1", "--tag", "native,linux")

	repo := newGitRepo(t)
	sha := repo.commit("main", map[string]string{
		".aura/ci*":       "#!/bin/sh\necho \"ci at $(git rev-parse HEAD) on $AURA_GIT_BRANCH\"\n",
		".aura/jobs.yaml": "jobs: [] # .aura/ci wins\n",
	})
	repo.commit("main", map[string]string{"later": "a later commit is not the one built\n"})
	h.push(t, repo, "main", sha)
	ci := s.entityJobs(t, sha, 1)["ci"]
	log := s.log(ci.ID)
	require.Equal(t, "succeeded", ci.Status, log)
	require.Contains(t, log, "+ exec .aura/ci\n")
	require.Contains(t, log, "ci at "+sha+" on main\n")

	// A commit with neither file fails and says why.
	repo.git("checkout", "--quiet", "-B", "other")
	repo.git("rm", "--quiet", "-r", ".aura")
	bare := repo.commit("other", nil)
	h.push(t, repo, "other", bare)
	ci = s.entityJobs(t, bare, 1)["ci"]
	require.Equal(t, "failed", ci.Status)
	require.Contains(t, s.log(ci.ID), "This commit has neither .aura/ci nor .aura/jobs.yaml: nothing to build.\n")
}
