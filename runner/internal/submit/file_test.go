package submit

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/runner/internal/apiclient"
	"github.com/aura-ci/aura/runner/internal/backoff"
)

const goodFile = `# the build
jobs:
  - name: build
    cmd: make
    tag: native,linux
    env: {GOFLAGS: -mod=mod, LEVEL: 3}
    collection: {suite: full}
  - name: test
    cmd: |
      make test
      make lint
    tag: native,linux
    after: [build, 12]
    timeout: 90s
    priority: 5
    max-attempts: 2
  - name: deploy
    cmd: ./deploy.sh
    tag: native,linux
    after: test
    secrets: [DEPLOY_KEY]
    delay: 10m
    when: {branch: [main, release/*], event: push}
`

func TestParseJobsFile(t *testing.T) {
	t.Parallel()

	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	jobs, err := parseJobsFile(".aura/jobs.yaml", []byte(goodFile), now)
	require.NoError(t, err)
	require.Len(t, jobs, 3)
	build, test, deploy := jobs[0], jobs[1], jobs[2]
	require.Equal(t, 3, build.line)
	require.Equal(t, apiclient.BatchJobSubmit{Name: "build", Cmd: "make", Tag: "native,linux",
		Env: map[string]string{"GOFLAGS": "-mod=mod", "LEVEL": "3"}, Collections: map[string]string{"suite": "full"}}, build.body)
	require.Equal(t, "make test\nmake lint\n", test.body.Cmd)
	require.Equal(t, []string{"build"}, test.body.PrecedingNames)
	require.Equal(t, []int64{12}, test.body.PrecedingJobs, "a number in after is an existing job's id")
	require.Equal(t, 90, *test.body.TimeoutSeconds)
	require.Equal(t, 5, *test.body.Priority)
	require.Equal(t, 2, *test.body.MaxAttempts)
	require.Equal(t, now.Add(10*time.Minute), *deploy.body.EarliestStart)
	require.Equal(t, []string{"test"}, deploy.body.PrecedingNames)
	require.Nil(t, deploy.body.SecretEnv, "secrets are filled in when the jobs are selected")

	env := map[string]string{"AURA_GIT_BRANCH": "main", "DEPLOY_KEY": "hunter2-hunter2"}
	kept, skipped, err := selectJobs(".aura/jobs.yaml", jobs, func(k string) string { return env[k] })
	require.NoError(t, err)
	require.Empty(t, skipped)
	require.Len(t, kept, 3)
	require.Equal(t, map[string]string{"DEPLOY_KEY": "hunter2-hunter2"}, kept[2].body.SecretEnv)
}

func TestSelectJobsWhen(t *testing.T) {
	t.Parallel()

	file := goodFile + `  - name: announce
    cmd: echo deployed
    tag: native,linux
    after: [deploy]
  - name: preview
    cmd: ./preview.sh
    tag: native,linux
    after: [build]
    when: {event: request, branch: main}
`
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{name: "push to main", env: map[string]string{"AURA_GIT_BRANCH": "main", "DEPLOY_KEY": "k"},
			want: []string{"build", "test", "deploy", "announce"}},
		{name: "push to a release branch", env: map[string]string{"AURA_GIT_BRANCH": "release/1.2", "DEPLOY_KEY": "k"},
			want: []string{"build", "test", "deploy", "announce"}},
		{name: "push to a feature branch: deploy and what comes after it are left out, no secret needed",
			env: map[string]string{"AURA_GIT_BRANCH": "feature"}, want: []string{"build", "test"}},
		{name: "a request from main into release", env: map[string]string{"AURA_GIT_BRANCH": "main", "AURA_GIT_REQUEST": "7",
			"AURA_GIT_TARGET_BRANCH": "release"}, want: []string{"build", "test"}},
		{name: "a request into main: its branch is the one it targets", env: map[string]string{"AURA_GIT_BRANCH": "feature",
			"AURA_GIT_REQUEST": "7", "AURA_GIT_TARGET_BRANCH": "main"}, want: []string{"build", "test", "preview"}},
		{name: "a tag", env: map[string]string{"AURA_GIT_TAG": "v1.0"}, want: []string{"build", "test"}},
		{name: "outside an integration", env: map[string]string{}, want: []string{"build", "test"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			jobs, err := parseJobsFile("f", []byte(file), time.Now())
			require.NoError(t, err)
			kept, skipped, err := selectJobs("f", jobs, func(k string) string { return tt.env[k] })
			require.NoError(t, err)
			var names []string
			for _, j := range kept {
				names = append(names, j.body.Name)
			}
			require.Equal(t, tt.want, names)
			require.Len(t, skipped, 5-len(tt.want))
		})
	}
}

func TestSelectJobsMissingSecret(t *testing.T) {
	t.Parallel()

	jobs, err := parseJobsFile(".aura/jobs.yaml", []byte(goodFile), time.Now())
	require.NoError(t, err)
	_, _, err = selectJobs(".aura/jobs.yaml", jobs, func(k string) string {
		return map[string]string{"AURA_GIT_BRANCH": "main"}[k]
	})
	require.EqualError(t, err, ".aura/jobs.yaml:21:15: secrets: DEPLOY_KEY is not set in this job's environment "+
		"(give it to the job that submits the file)")
}

// TestParseJobsFileErrors: each problem is named with its line and column.
func TestParseJobsFileErrors(t *testing.T) {
	t.Parallel()

	job := "  - name: a\n    cmd: x\n    tag: t\n"
	tests := []struct {
		name string
		file string
		want string // every line of the error
	}{
		{name: "syntax", file: "jobs:\n  - name: a\n    cmd: x: y\n", want: "f:3: mapping values are not allowed in this context"},
		{name: "empty file", file: "# nothing\n", want: "f: the file is empty: want a jobs: list"},
		{name: "top is a list", file: "- name: a\n", want: "f:1:1: want a mapping with a jobs: list, not a list"},
		{name: "unknown top field", file: "job:\n" + job, want: `f:1:1: unknown field "job" at the top (the file holds jobs:)`},
		{name: "no jobs", file: "jobs:\n", want: "f:1:6: jobs: want a list of jobs, not nothing"},
		{name: "empty jobs", file: "jobs: []\n", want: "f:1:7: jobs: the list is empty"},
		{name: "job is not a mapping", file: "jobs:\n  - build\n", want: `f:2:5: a job is a mapping of fields (name:, cmd:, tag:, …), not "build"`},
		{name: "unknown field", file: "jobs:\n" + job + "    comand: y\n",
			want: `f:5:5: unknown field "comand" (a job has name, cmd, tag, after, env, secrets, collection, delay, earliest-start, timeout, priority, max-attempts, when)`},
		{name: "unknown field with a hint", file: "jobs:\n" + job + "    secret-env: {K: v}\n",
			want: `f:5:5: unknown field "secret-env": a secret's value cannot be in a repository: list its name under secrets, and the job that submits the file passes it on from its environment`},
		{name: "field twice", file: "jobs:\n" + job + "    cmd: y\n", want: "f:5:5: field cmd given twice (first on line 3)"},
		{name: "missing fields", file: "jobs:\n  - name: a\n", want: "f:2:5: a job needs cmd, tag"},
		{name: "empty cmd", file: "jobs:\n  - name: a\n    cmd: '  '\n    tag: t\n", want: "f:3:10: cmd is empty"},
		{name: "cmd of the wrong type", file: "jobs:\n  - name: a\n    cmd: [make, test]\n    tag: t\n",
			want: "f:3:10: cmd: want text, not a list"},
		{name: "null cmd", file: "jobs:\n  - name: a\n    cmd:\n    tag: t\n", want: "f:3:9: cmd: want text, not nothing"},
		{name: "bad name", file: "jobs:\n  - name: a b\n    cmd: x\n    tag: t\n", want: `f:2:11: name "a b": use 1 to 260 of A-Z a-z 0-9 _ : . -`},
		{name: "bad tag", file: "jobs:\n  - name: a\n    cmd: x\n    tag: native linux\n",
			want: `f:4:10: tag "native linux": one tag such as native,linux, without spaces`},
		{name: "env is a list", file: "jobs:\n" + job + "    env: [A=1]\n", want: "f:5:10: env: want a mapping such as {KEY: value}, not a list"},
		{name: "env name", file: "jobs:\n" + job + "    env: {1A: x}\n", want: `f:5:11: env: "1A" is not a variable name`},
		{name: "env value is a list", file: "jobs:\n" + job + "    env: {A: [1]}\n", want: "f:5:14: env: A: want text, not a list"},
		{name: "secret name", file: "jobs:\n" + job + "    secrets: [DEPLOY-KEY]\n", want: `f:5:15: secrets: "DEPLOY-KEY" is not a variable name`},
		{name: "collection value", file: "jobs:\n" + job + "    collection: {ref: feature/x}\n",
			want: `f:5:23: collection: value "feature/x": use 1 to 260 of A-Z a-z 0-9 _ : . -`},
		{name: "bad delay", file: "jobs:\n" + job + "    delay: soon\n", want: `f:5:12: delay "soon": want a duration such as 90s or 10m`},
		{name: "negative delay", file: "jobs:\n" + job + "    delay: -1m\n", want: "f:5:12: delay cannot be negative"},
		{name: "delay and earliest-start", file: "jobs:\n" + job + "    delay: 1m\n    earliest-start: 2030-01-02T03:04:05Z\n",
			want: "f:5:12: give delay or earliest-start, not both"},
		{name: "bad earliest-start", file: "jobs:\n" + job + "    earliest-start: tomorrow\n",
			want: `f:5:21: earliest-start "tomorrow": want an RFC 3339 time such as 2024-05-01T12:00:00Z`},
		{name: "timeout too long", file: "jobs:\n" + job + "    timeout: 200h\n", want: "f:5:14: timeout must be from 1s to 168h"},
		{name: "priority is a word", file: "jobs:\n" + job + "    priority: high\n",
			want: `f:5:15: priority: want a whole number from -1000 to 1000, not "high"`},
		{name: "max-attempts too many", file: "jobs:\n" + job + "    max-attempts: 11\n",
			want: "f:5:19: max-attempts: want a whole number from 1 to 10, not 11"},
		{name: "when is a word", file: "jobs:\n" + job + "    when: main\n", want: `f:5:11: when: want a mapping such as {branch: main, event: push}, not "main"`},
		{name: "when event", file: "jobs:\n" + job + "    when: {event: pull_request}\n", want: `f:5:19: when: event "pull_request": want push, tag or request`},
		{name: "when field", file: "jobs:\n" + job + "    when: {ref: main}\n", want: `f:5:12: unknown field "ref" in when (it has branch, event)`},
		{name: "after is a mapping", file: "jobs:\n" + job + "    after: {a: 1}\n", want: "f:5:12: after: want a list, not a mapping"},
		{name: "after a job id of 0", file: "jobs:\n" + job + "    after: [0]\n", want: "f:5:13: after: 0 is not a job id"},
		{name: "duplicate name", file: "jobs:\n" + job + job, want: "f:5:5: two jobs are named a (the first on line 2)"},
		{name: "after an unknown job", file: "jobs:\n" + job + "    after: [biuld]\n", want: "f:5:13: after: no job named biuld in this file"},
		{name: "after itself", file: "jobs:\n" + job + "    after: a\n", want: "f:5:12: after: job a cannot come after itself"},
		{name: "cycle", file: "jobs:\n" +
			"  - {name: a, cmd: x, tag: t, after: [c]}\n" +
			"  - {name: b, cmd: x, tag: t, after: [a]}\n" +
			"  - {name: c, cmd: x, tag: t, after: [b]}\n",
			want: "f:3:39: after: a cycle: a after c after b after a"},
		{name: "several problems at once", file: "jobs:\n  - name: a\n    cmd: ''\n    tag: t\n    env: x\n",
			want: "f:3:10: cmd is empty\nf:5:10: env: want a mapping such as {KEY: value}, not \"x\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			jobs, err := parseJobsFile("f", []byte(tt.file), time.Now())
			require.Nil(t, jobs)
			require.EqualError(t, err, tt.want)
		})
	}
}

func TestParseJobsFileAnchors(t *testing.T) {
	t.Parallel()

	jobs, err := parseJobsFile("f", []byte(`jobs:
  - name: a
    cmd: x
    tag: &tag native,linux
    env: &env {A: "1"}
  - name: b
    cmd: y
    tag: *tag
    env: *env
`), time.Now())
	require.NoError(t, err)
	require.Equal(t, "native,linux", jobs[1].body.Tag)
	require.Equal(t, map[string]string{"A": "1"}, jobs[1].body.Env)
}

// batchPeer is the server side of POST /api/v1/jobs/batch.
type batchPeer struct {
	mu    sync.Mutex
	calls int
	body  apiclient.JobBatchSubmit
	fail  string // an error body to answer with 400
}

func (p *batchPeer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if r.Method != http.MethodPost || r.URL.Path != "/api/v1/jobs/batch" {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	p.calls++
	_ = json.NewDecoder(r.Body).Decode(&p.body)
	if p.fail != "" {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(p.fail))
		return
	}
	out := apiclient.JobList{}
	for i, j := range p.body.Jobs {
		out.Items = append(out.Items, apiclient.Job{Id: int64(100 + i), Name: j.Name})
	}
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(out)
}

func runFile(t *testing.T, p *batchPeer, file string, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	path := filepath.Join(t.TempDir(), "jobs.yaml")
	require.NoError(t, os.WriteFile(path, []byte(file), 0o644))
	all := map[string]string{"AURA_SERVER_URL": srv.URL, "AURA_JOB_TOKEN": "AURA_JOBKEY_1_1_x",
		"AURA_ENTITY_KEY": "commit", "AURA_ENTITY_VAL": "f2ac9bab"}
	for k, v := range env {
		all[k] = v
	}
	var out, errOut strings.Builder
	code := run(context.Background(), append([]string{"--file", path}, args...), func(k string) string { return all[k] },
		strings.NewReader(""), &out, &errOut, "test",
		retryPolicy{tries: 1, backoff: backoff.Backoff{Min: time.Millisecond, Max: time.Millisecond}})
	return code, out.String(), strings.ReplaceAll(errOut.String(), path, "jobs.yaml")
}

func TestSubmitFile(t *testing.T) {
	t.Parallel()

	p := &batchPeer{}
	code, stdout, stderr := runFile(t, p, goodFile, map[string]string{"AURA_GIT_BRANCH": "feature", "AURA_GIT_SHA": "f2ac9bab"})
	require.Equal(t, 0, code, stderr)
	require.Equal(t, "100\n101\n", stdout, "the ids, one a line, in the file's order")
	require.Equal(t, "aura-runner submit: left out deploy: when (branch \"feature\", event \"push\") does not hold\n"+
		"aura-runner submit: submitted build (job 100)\n"+
		"aura-runner submit: submitted test (job 101) after build\n", stderr)
	require.Equal(t, 1, p.calls, "one request for all the jobs")
	require.Len(t, p.body.Jobs, 2)
	require.Equal(t, "commit", p.body.Jobs[0].EntityKey)
	require.Equal(t, "f2ac9bab", p.body.Jobs[1].EntityVal)
	require.Equal(t, []string{"build"}, p.body.Jobs[1].PrecedingNames)
	require.Equal(t, map[string]string{"AURA_GIT_BRANCH": "feature", "AURA_GIT_SHA": "f2ac9bab", "GOFLAGS": "-mod=mod", "LEVEL": "3"},
		p.body.Jobs[0].Env, "the jobs get the commit's AURA_GIT_* variables")
}

func TestSubmitFileErrors(t *testing.T) {
	t.Parallel()

	t.Run("a bad file sends nothing", func(t *testing.T) {
		t.Parallel()
		p := &batchPeer{}
		code, stdout, stderr := runFile(t, p, "jobs:\n  - name: a\n    cmd: x\n", nil)
		require.Equal(t, 2, code)
		require.Empty(t, stdout)
		require.Equal(t, "aura-runner submit: jobs.yaml:2:5: a job needs tag\naura-runner submit: nothing submitted\n", stderr)
		require.Zero(t, p.calls)
	})
	t.Run("flags of one job", func(t *testing.T) {
		t.Parallel()
		p := &batchPeer{}
		code, _, stderr := runFile(t, p, goodFile, nil, "--name", "x", "--tag", "t")
		require.Equal(t, 2, code)
		require.Contains(t, stderr, "--name, --tag cannot be given with --file")
		require.Zero(t, p.calls)
	})
	t.Run("the server refuses a job: its line is named", func(t *testing.T) {
		t.Parallel()
		p := &batchPeer{fail: `{"code":400,"message":"field jobs[1].env has a bad name","field":"jobs[1].env"}`}
		code, stdout, stderr := runFile(t, p, goodFile, nil)
		require.Equal(t, 1, code)
		require.Empty(t, stdout)
		require.Equal(t, "aura-runner submit: left out deploy: when (branch \"\", event \"\") does not hold\n"+
			"aura-runner submit: jobs.yaml:8:5: job test: 400 Bad Request: field jobs[1].env has a bad name; nothing submitted\n", stderr)
	})
	t.Run("no such file", func(t *testing.T) {
		t.Parallel()
		var out, errOut strings.Builder
		code := Run(context.Background(), []string{"--file", "/nonexistent/jobs.yaml"}, func(string) string { return "" },
			strings.NewReader(""), &out, &errOut, "test")
		require.Equal(t, 2, code)
		require.Contains(t, errOut.String(), "/nonexistent/jobs.yaml: no such file or directory")
	})
}

// TestReadmeJobsFile: the README's .aura/jobs.yaml is a good file, and keeps
// deploy for pushes to main.
func TestReadmeJobsFile(t *testing.T) {
	t.Parallel()

	readme, err := os.ReadFile(filepath.Join("..", "..", "..", "README.md"))
	require.NoError(t, err)
	var file string
	for _, block := range strings.Split(string(readme), "```yaml\n")[1:] {
		if strings.HasPrefix(block, "jobs:\n") {
			file = block[:strings.Index(block, "```")]
			break
		}
	}
	require.NotEmpty(t, file, "the README shows a jobs file")
	jobs, err := parseJobsFile("README.md", []byte(file), time.Now())
	require.NoError(t, err)
	for branch, want := range map[string]int{"main": 3, "feature": 2} {
		env := map[string]string{"AURA_GIT_BRANCH": branch, "DEPLOY_KEY": "k"}
		kept, _, err := selectJobs("README.md", jobs, func(k string) string { return env[k] })
		require.NoError(t, err)
		require.Len(t, kept, want, branch)
	}
}

// BenchmarkParseJobsFile: checking a file of 1000 jobs, each after the one before.
func BenchmarkParseJobsFile(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("jobs:\n")
	for i := range maxFileJobs {
		fmt.Fprintf(&sb, "  - name: job-%d\n    cmd: make step-%d\n    tag: native,linux\n    env: {STEP: %q}\n", i, i, fmt.Sprint(i))
		if i > 0 {
			fmt.Fprintf(&sb, "    after: [job-%d]\n", i-1)
		}
	}
	data := []byte(sb.String())
	for b.Loop() {
		if _, err := parseJobsFile("f", data, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}
