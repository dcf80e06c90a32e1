package e2e

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// cliRun is one finished `aura` client command.
type cliRun struct {
	stdout, stderr string
	code           int
}

// cliEnv is the environment of the aura client commands a test runs: the
// server's URL, a token, and a home of its own (for aura login's file).
func cliEnv(t testing.TB, url, token string) []string {
	home := t.TempDir()
	return append(os.Environ(), "AURA_URL="+url, "AURA_TOKEN="+token, "HOME="+home,
		"XDG_CONFIG_HOME="+filepath.Join(home, ".config"), "AURA_CONFIG=")
}

func runCLI(t testing.TB, env []string, args ...string) cliRun {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "aura"), args...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return cliRun{stdout: out.String(), stderr: errb.String(), code: code}
}

// requireCode requires the exit code want, showing the output otherwise.
func (r cliRun) requireCode(t testing.TB, want int) cliRun {
	t.Helper()
	require.Equal(t, want, r.code, "stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	return r
}

func TestCLILogFollowsARunningJobToItsEnd(t *testing.T) {
	s := startServer(t)
	token := s.project("web")
	startRunner(t, s, "r1", "--tag", "linux")
	env := cliEnv(t, s.url, token)
	gate := filepath.Join(t.TempDir(), "go")

	// The job prints a coloured line, then waits for the test, then prints more.
	cmd := fmt.Sprintf(`printf '\033[31mred\033[0m before\n'; while [ ! -e %s ]; do sleep 0.05; done; echo after; echo done`, gate)
	sub := runCLI(t, env, "submit", "--json", "--entity", "commit/abc", "--name", "build", "--tag", "linux", "--cmd", cmd).requireCode(t, 0)
	var j struct {
		ID     int64
		Status string
	}
	require.NoError(t, json.Unmarshal([]byte(sub.stdout), &j), sub.stdout)
	require.Positive(t, j.ID)

	follow := exec.Command(filepath.Join(binDir, "aura"), "log", "-f", strconv.FormatInt(j.ID, 10))
	follow.Env = env
	out := &logBuffer{}
	var errb bytes.Buffer
	follow.Stdout, follow.Stderr = out, &errb
	require.NoError(t, follow.Start())
	t.Cleanup(func() { _ = follow.Process.Kill() })
	// It shows the log live: the first line arrives while the job still runs.
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "before") }, 20*time.Second, 10*time.Millisecond,
		"aura log -f never showed the first line; stderr: %s", &errb)
	require.Equal(t, "running", s.job(j.ID).Status)
	require.NoError(t, os.WriteFile(gate, []byte("go\n"), 0o600))
	require.NoError(t, follow.Wait(), "stderr: %s", &errb)
	// Not a terminal: the colours are stripped, the text is whole and in order.
	require.Equal(t, "red before\nafter\ndone\n", out.String())

	// --color always keeps the colours (only them).
	coloured := runCLI(t, env, "log", "--color", "always", strconv.FormatInt(j.ID, 10)).requireCode(t, 0)
	require.Equal(t, "\x1b[31mred\x1b[0m before\nafter\ndone\n", coloured.stdout)
	// On a terminal (a pty from script(1)) colours pass by default.
	if script, err := exec.LookPath("script"); err == nil {
		cmd := exec.Command(script, "-qec", filepath.Join(binDir, "aura")+" log -f "+strconv.FormatInt(j.ID, 10), "/dev/null")
		cmd.Env = env
		out, err := cmd.Output()
		require.NoError(t, err, "%s", out)
		require.Contains(t, string(out), "\x1b[31mred\x1b[0m before")
	}

	// A failing job: aura log -f exits 1 and prints the log up to the end.
	failing := runCLI(t, env, "submit", "--entity", "commit/abc", "--name", "test", "--tag", "linux",
		"--cmd", "sleep 0.5; echo broken; exit 3").requireCode(t, 0)
	id := strings.TrimSpace(failing.stdout)
	r := runCLI(t, env, "log", "-f", id).requireCode(t, 1)
	require.Equal(t, "broken\n", r.stdout)
	require.Contains(t, r.stderr, "failed")

	// submit -f: submits, follows, and exits with the job's result.
	sf := runCLI(t, env, "submit", "-f", "--entity", "commit/abc", "--name", "lint", "--tag", "linux",
		"--cmd", "echo linted; exit 2").requireCode(t, 1)
	require.Equal(t, "linted\n", sf.stdout)
	require.Contains(t, sf.stderr, "submitted job")
	runCLI(t, env, "submit", "-f", "--entity", "commit/abc", "--name", "ok", "--tag", "linux", "--cmd", "echo fine").requireCode(t, 0)

	// A job that has already ended: its log and its result at once.
	runCLI(t, env, "log", "-f", id).requireCode(t, 1)
	runCLI(t, env, "log", "-f", strconv.FormatInt(j.ID, 10)).requireCode(t, 0)

	// A cancelled job: 7, and the follower ends when the cancel lands.
	slow := strings.TrimSpace(runCLI(t, env, "submit", "--entity", "commit/abc", "--name", "slow", "--tag", "linux",
		"--cmd", "echo started; sleep 60").requireCode(t, 0).stdout)
	slowID, err := strconv.ParseInt(slow, 10, 64)
	require.NoError(t, err)
	var ee *exec.ExitError
	s.waitStatus(slowID, 20*time.Second, "running")
	follow = exec.Command(filepath.Join(binDir, "aura"), "log", "-f", slow)
	follow.Env = env
	out = &logBuffer{}
	follow.Stdout = out
	require.NoError(t, follow.Start())
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "started") }, 20*time.Second, 10*time.Millisecond)
	// Ctrl-C ends a follower (130), not the job.
	interrupted := exec.Command(filepath.Join(binDir, "aura"), "log", "-f", slow)
	interrupted.Env = env
	iout := &logBuffer{}
	interrupted.Stdout = iout
	require.NoError(t, interrupted.Start())
	require.Eventually(t, func() bool { return strings.Contains(iout.String(), "started") }, 20*time.Second, 10*time.Millisecond)
	require.NoError(t, interrupted.Process.Signal(os.Interrupt))
	err = interrupted.Wait()
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 130, ee.ExitCode())
	require.Equal(t, "running", s.job(slowID).Status)
	runCLI(t, env, "cancel", slow).requireCode(t, 0)
	err = follow.Wait()
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 7, ee.ExitCode())
}

func TestCLICommandsAgainstARealServer(t *testing.T) {
	s := startServer(t)
	token := s.project("web")
	env := cliEnv(t, s.url, token)
	adminEnv := cliEnv(t, s.url, s.admin)

	// submit: the id, or the API's JSON with --json; the flags of aura-runner submit.
	first := runCLI(t, env, "submit", "--entity", "commit/abc", "--name", "build", "--tag", "nobody-runs-this",
		"--cmd", "true", "--env", "A=1", "--collection", "ref=main", "--title", "Fix the parser").requireCode(t, 0)
	firstID := strings.TrimSpace(first.stdout)
	second := runCLI(t, env, "submit", "--json", "--entity-key", "commit", "--entity-val", "abc", "--name", "test",
		"--tag", "nobody-runs-this", "--cmd", "true", "--after", firstID).requireCode(t, 0)
	var sj struct {
		ID            int64
		Status        string
		Env           map[string]string
		PrecedingJobs []int64
	}
	require.NoError(t, json.Unmarshal([]byte(second.stdout), &sj))
	require.Equal(t, "waiting", sj.Status)
	require.Equal(t, []int64{mustInt(t, firstID)}, sj.PrecedingJobs)
	require.Equal(t, "queued", s.job(mustInt(t, firstID)).Status)
	runCLI(t, env, "submit", "--name", "x").requireCode(t, 2)

	// jobs: the queue (queued and waiting), as a table and as JSON.
	list := runCLI(t, env, "jobs").requireCode(t, 0)
	require.Contains(t, list.stdout, "ID")
	require.Contains(t, list.stdout, firstID)
	require.Contains(t, list.stdout, "after build #"+firstID)
	var queue struct{ Items []struct{ ID int64 } }
	require.NoError(t, json.Unmarshal([]byte(runCLI(t, env, "jobs", "--json", "--status", "waiting").requireCode(t, 0).stdout), &queue))
	require.Len(t, queue.Items, 1)
	require.Equal(t, sj.ID, queue.Items[0].ID)
	require.NoError(t, json.Unmarshal([]byte(runCLI(t, env, "jobs", "--json", "--limit", "1").requireCode(t, 0).stdout), &queue))
	require.Len(t, queue.Items, 1)
	// An entity's jobs, with a status filter; a collection's.
	ent := runCLI(t, env, "jobs", "--project", "web", "--entity", "commit/abc", "--status", "queued").requireCode(t, 0)
	require.Contains(t, ent.stdout, "build")
	require.NotContains(t, ent.stdout, " test ")
	var entity struct{ Jobs []struct{ ID int64 } }
	require.NoError(t, json.Unmarshal([]byte(runCLI(t, env, "jobs", "--json", "--project", "web", "--entity", "commit/abc").requireCode(t, 0).stdout), &entity))
	require.Len(t, entity.Jobs, 2)
	coll := runCLI(t, env, "jobs", "--project", "web", "--collection", "ref/main").requireCode(t, 0)
	require.Contains(t, coll.stdout, "commit/abc")
	runCLI(t, env, "jobs", "--entity", "commit/abc").requireCode(t, 2)
	runCLI(t, env, "jobs", "--project", "web", "--entity", "commit/nope").requireCode(t, 3)

	// builds: the project's builds.
	builds := runCLI(t, env, "builds", "web").requireCode(t, 0)
	require.Contains(t, builds.stdout, "Fix the parser")
	var bl struct{ Builds []struct{ Title string } }
	require.NoError(t, json.Unmarshal([]byte(runCLI(t, env, "builds", "web", "--json", "--collection", "ref/main").requireCode(t, 0).stdout), &bl))
	require.Len(t, bl.Builds, 1)
	runCLI(t, env, "builds", "nope").requireCode(t, 3)

	// runners: anyone may list them.
	s.runnerToken("r1", "linux")
	runners := runCLI(t, env, "runners").requireCode(t, 0)
	require.Contains(t, runners.stdout, "r1")
	var rl struct{ Items []struct{ Name string } }
	require.NoError(t, json.Unmarshal([]byte(runCLI(t, env, "runners", "--json").requireCode(t, 0).stdout), &rl))
	require.Len(t, rl.Items, 1)

	// cancel, then retry; each state conflict is 6.
	runCLI(t, env, "retry", firstID).requireCode(t, 6)
	c := runCLI(t, env, "cancel", "--json", firstID).requireCode(t, 0)
	var cj struct{ Status string }
	require.NoError(t, json.Unmarshal([]byte(c.stdout), &cj))
	require.Equal(t, "cancelled", cj.Status)
	require.Equal(t, "cancelled", s.job(sj.ID).Status, "the job after it is skipped")
	runCLI(t, env, "cancel", firstID).requireCode(t, 6)
	r := runCLI(t, env, "retry", firstID).requireCode(t, 0)
	require.Contains(t, r.stdout, "queued again")
	require.Equal(t, "queued", s.job(mustInt(t, firstID)).Status)
	// approve: a job that waits for no approval is a conflict.
	a := runCLI(t, env, "approve", firstID).requireCode(t, 6)
	require.NotEmpty(t, a.stderr)

	// Unknown jobs: 3, for every command that takes one.
	for _, cmd := range []string{"log", "retry", "cancel", "approve"} {
		r := runCLI(t, env, cmd, "999999").requireCode(t, 3)
		require.Contains(t, r.stderr, "999999", cmd)
	}
	runCLI(t, env, "log", "-f", "999999").requireCode(t, 3)
	runCLI(t, env, "log", "--attempt", "5", firstID).requireCode(t, 3)

	// A wrong token: 4, with a message that says what to do.
	bad := cliEnv(t, s.url, "AURA_PROJECTKEY_web-wrong")
	for _, args := range [][]string{{"jobs"}, {"log", "-f", firstID}, {"cancel", firstID}, {"runners"}} {
		r := runCLI(t, bad, args...).requireCode(t, 4)
		require.Contains(t, r.stderr, "token", args)
	}
	// A token that may not: another project's token cancelling this one's job.
	other := cliEnv(t, s.url, s.project("other"))
	runCLI(t, other, "cancel", firstID).requireCode(t, 4)

	// No server there: 5. Bad usage: 2.
	runCLI(t, cliEnv(t, "http://"+freeAddr(t), token), "jobs").requireCode(t, 5)
	runCLI(t, env, "log").requireCode(t, 2)
	runCLI(t, env, "cancel", "abc").requireCode(t, 2)
	runCLI(t, env, "jobs", "--no-such-flag").requireCode(t, 2)
	runCLI(t, env, "log", "--color", "sometimes", "1").requireCode(t, 2)

	// login: saves the URL and token; later commands need no environment.
	noEnv := cliEnv(t, "", "")
	runCLI(t, append(noEnv, "AURA_TOKEN=nope"), "login", s.url).requireCode(t, 4)
	runCLI(t, noEnv, "jobs").requireCode(t, 2)
	login := runCLI(t, append(noEnv, "AURA_TOKEN="+s.admin), "login", s.url).requireCode(t, 0)
	require.Contains(t, login.stdout, "admin")
	var home string // the last HOME= wins
	for _, e := range noEnv {
		if h, ok := strings.CutPrefix(e, "HOME="); ok {
			home = h
		}
	}
	fi, err := os.Stat(filepath.Join(home, ".config", "aura", "config"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "only its owner reads the token")
	runCLI(t, noEnv, "jobs").requireCode(t, 0)
	runCLI(t, adminEnv, "cancel", firstID).requireCode(t, 0)
}

func mustInt(t testing.TB, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	require.NoError(t, err)
	return n
}

func TestCLICompletionScripts(t *testing.T) {
	env := cliEnv(t, "", "")
	for _, shell := range []string{"bash", "zsh", "fish"} {
		r := runCLI(t, env, "completion", shell).requireCode(t, 0)
		for _, cmd := range []string{"jobs", "log", "submit", "runners"} {
			require.Contains(t, r.stdout, cmd, shell)
		}
		// Each shell that is installed reads its script without a syntax error.
		if path, err := exec.LookPath(shell); err == nil {
			script := filepath.Join(t.TempDir(), "aura."+shell)
			require.NoError(t, os.WriteFile(script, []byte(r.stdout), 0o600))
			out, err := exec.Command(path, "-n", script).CombinedOutput()
			require.NoError(t, err, "%s -n: %s", shell, out)
		}
	}
	runCLI(t, env, "completion", "powershell").requireCode(t, 2)
}

func TestCLIApprovesAForkPullRequest(t *testing.T) {
	s := startServer(t)
	token := s.project("web")
	env := cliEnv(t, s.url, token)
	// A gitea delivery of a pull request from a fork: its build waits for approval.
	var in struct {
		ID     int64
		Secret string
	}
	s.call("POST", "/api/v1/projects/web/integrations", s.admin, map[string]any{"kind": "gitea", "repository": "example/example",
		"jobs": []map[string]any{{"name": "build", "cmd": "make", "tag": "linux"}}}, &in, 201)
	body, err := os.ReadFile("../internal/integrations/testdata/webhooks/gitea/pull_request-opened.json")
	require.NoError(t, err)
	mac := hmac.New(sha256.New, []byte(in.Secret))
	mac.Write(body)
	req, err := http.NewRequest("POST", fmt.Sprintf("%s/api/v1/hooks/%d", s.url, in.ID), bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Gitea-Event", "pull_request")
	req.Header.Set("X-Gitea-Signature", hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	var res struct{ Jobs []int64 }
	require.NoError(t, jsonDecode(resp, &res))
	resp.Body.Close()
	require.Len(t, res.Jobs, 2, "the approval gate and the build")
	build := strconv.FormatInt(res.Jobs[1], 10)

	waiting := runCLI(t, env, "jobs", "--status", "waiting").requireCode(t, 0)
	require.Contains(t, waiting.stdout, "waits for approval")
	r := runCLI(t, env, "approve", "--json", build).requireCode(t, 0)
	var gate struct {
		ID     int64
		Status string
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &gate))
	require.Equal(t, res.Jobs[0], gate.ID)
	require.Equal(t, "succeeded", gate.Status)
	require.Equal(t, "queued", s.job(res.Jobs[1]).Status)
	runCLI(t, env, "approve", build).requireCode(t, 6)
}

// TestCLILogFollowsAcrossAServerRestart: the server stops and comes back while
// aura log -f follows a job; the follower reconnects and prints every line once.
func TestCLILogFollowsAcrossAServerRestart(t *testing.T) {
	s := startServer(t)
	token := s.project("web")
	startRunner(t, s, "r1", "--tag", "linux")
	env := cliEnv(t, s.url, token)
	j := s.submit(token, map[string]any{"cmd": `for i in $(seq 1 60); do echo "line $i of the job"; sleep 0.05; done`})
	s.waitStatus(j.ID, 10*time.Second, "running")
	follow := exec.Command(filepath.Join(binDir, "aura"), "log", "-f", strconv.FormatInt(j.ID, 10))
	follow.Env = env
	out := &logBuffer{}
	var errb bytes.Buffer
	follow.Stdout, follow.Stderr = out, &errb
	require.NoError(t, follow.Start())
	t.Cleanup(func() { _ = follow.Process.Kill() })
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "line 10 of the job") }, 10*time.Second, 10*time.Millisecond)
	s.stop()
	time.Sleep(1500 * time.Millisecond)
	s.start()
	require.NoError(t, follow.Wait(), "stderr: %s", &errb)
	var want strings.Builder
	for i := 1; i <= 60; i++ {
		fmt.Fprintf(&want, "line %d of the job\n", i)
	}
	require.Equal(t, want.String(), out.String())
}
