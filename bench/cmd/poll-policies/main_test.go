package main

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"aura.example/bench/internal/testdb"
)

// testSecretKey seals the secrets of the server the test starts (32 bytes, hex).
const testSecretKey = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

const adminToken = "AURA_ADMINKEY_bench-admin"

// buildAura compiles bin/aura from the repository around this module.
func buildAura(t *testing.T, dir string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..", "..")
	bin := filepath.Join(dir, "aura")
	cmd := exec.Command("go", "build", "-o", bin, "./backend/cmd/aura")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build aura: %v\n%s", err, out)
	}
	return bin
}

// startAura runs `aura serve` on a fresh database, as backend/e2e does, and
// returns its URL and database URL.
func startAura(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	bin := buildAura(t, dir)
	db := testdb.New(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	url := "http://" + addr
	var out bytes.Buffer
	cmd := exec.Command(bin, "serve", "--addr", addr, "--database-url", db, "--admin-token", adminToken,
		"--base-url", url, "--secret-key", testSecretKey, "--data", filepath.Join(dir, "data"))
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(waited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-waited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-waited
		}
		if t.Failed() {
			t.Logf("aura output:\n%s", out.String())
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get(url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case <-waited:
			t.Fatalf("aura exited:\n%s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("aura did not start")
		}
	}
	return url, db
}

// TestPollPolicies runs the simulation with two jobs per policy against a real
// aura serve and checks its figures and that every job ended succeeded.
func TestPollPolicies(t *testing.T) {
	url, db := startAura(t)
	bin := filepath.Join(t.TempDir(), "poll-policies")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "--server", url, "--admin-token", adminToken, "--jobs", "2", "--window", "2s")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	began := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("poll-policies: %v\n%s", err, stderr.String())
	}
	t.Logf("ran in %s", time.Since(began).Round(time.Millisecond))
	var out Output
	dec := json.NewDecoder(&stdout)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, stdout.String())
	}
	if dec.More() {
		t.Fatal("stdout holds more than one JSON object")
	}
	if !out.Simulation || out.JobsPerPolicy != 2 {
		t.Errorf("simulation %v, jobs_per_policy %d", out.Simulation, out.JobsPerPolicy)
	}
	got := map[string]float64{}
	for _, f := range out.Figures {
		if !strings.Contains(f.Label, "simulation") || f.Unit == "" {
			t.Errorf("figure %s is not labelled a simulation, or has no unit: %+v", f.Key, f)
		}
		got[f.Key] = f.Value
	}
	for _, p := range []string{"gitlab", "buildkite", "act_runner", "aura_longpoll"} {
		p50, p99, rate := got[p+"_p50_ms"], got[p+"_p99_ms"], got[p+"_requests_per_min"]
		if p50 <= 0 || p99 < p50 || rate <= 0 {
			t.Errorf("%s: p50 %v, p99 %v, requests/min %v", p, p50, p99, rate)
		}
	}
	if len(got) != 12 {
		t.Errorf("%d figures, want 12: %v", len(got), got)
	}
	// A poll every 3 s is 20 requests a minute, give or take the run's ends; a
	// long poll of 30 s at most a few.
	if r := got["gitlab_requests_per_min"]; r < 15 || r > 40 {
		t.Errorf("gitlab requests per idle minute %v", r)
	}
	var total, succeeded int
	testdb.QueryRow(t, db, `SELECT count(*), count(*) FILTER (WHERE status = 'succeeded') FROM jobs`, &total, &succeeded)
	if total != 8 || succeeded != 8 {
		t.Errorf("%d jobs, %d succeeded; want 8 and 8", total, succeeded)
	}
	var runners int
	testdb.QueryRow(t, db, `SELECT count(*) FROM runners`, &runners)
	if runners != 0 {
		t.Errorf("%d simulated runners left registered", runners)
	}
}

func TestPollPoliciesFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--admin-token", "x"},
		{"--server", "http://127.0.0.1:1"},
		{"--server", "http://127.0.0.1:1", "--admin-token", "x", "--jobs", "0"},
	} {
		if _, err := parse(args, &bytes.Buffer{}); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
	o, err := parse([]string{"--server", "http://h/", "--admin-token", "x", "--jobs", "100", "--quick"}, &bytes.Buffer{})
	if err != nil || o.jobs != 8 || o.window != 30*time.Second || o.server != "http://h" {
		t.Errorf("--quick: %+v %v", o, err)
	}
}

func TestPolicySleeps(t *testing.T) {
	sleeps := map[string]func(int) time.Duration{}
	for _, p := range policies {
		sleeps[p.key] = p.sleep
	}
	for idle, want := range map[int]time.Duration{1: 2 * time.Second, 2: 4 * time.Second, 5: 32 * time.Second, 6: time.Minute, 50: time.Minute} {
		if got := sleeps["act_runner"](idle); got != want {
			t.Errorf("act_runner after %d empty claims sleeps %s, want %s", idle, got, want)
		}
	}
	for range 100 {
		if got := sleeps["buildkite"](1); got < 10*time.Second || got >= 11*time.Second {
			t.Errorf("buildkite sleeps %s", got)
		}
	}
	if got := sleeps["gitlab"](7); got != 3*time.Second {
		t.Errorf("gitlab sleeps %s", got)
	}
	if got := sleeps["aura_longpoll"](1); got != 0 {
		t.Errorf("aura long poll sleeps %s", got)
	}
}
