package main

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"testing"

	"aura.example/bench/internal/testdb"
)

// build compiles the command in this folder, so the tests run the real CLI.
func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "river-peer")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func figures(t *testing.T, out Output) map[string]float64 {
	t.Helper()
	m := map[string]float64{}
	for _, f := range out.Figures {
		if f.Label == "" || f.Unit == "" {
			t.Errorf("figure %q lacks a label or unit: %+v", f.Key, f)
		}
		m[f.Key] = f.Value
	}
	return m
}

// TestRiverPeer runs both scenarios with both settings against a real
// PostgreSQL, twice on one database (the second run finds River's tables and
// the first run's jobs, which it must not run again).
func TestRiverPeer(t *testing.T) {
	db := testdb.New(t)
	bin := build(t)
	for _, settings := range []string{"default", "bench"} {
		for _, scenario := range []string{"dispatch", "throughput"} {
			t.Run(settings+"/"+scenario, func(t *testing.T) {
				jobs := "5"
				if scenario == "throughput" {
					jobs = "300"
				}
				cmd := exec.Command(bin, "--database-url", db, "--scenario", scenario, "--settings", settings, "--jobs", jobs, "--workers", "10")
				var stdout, stderr bytes.Buffer
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				if err := cmd.Run(); err != nil {
					t.Fatalf("river-peer: %v\n%s", err, stderr.String())
				}
				var out Output
				dec := json.NewDecoder(&stdout)
				dec.DisallowUnknownFields()
				if err := dec.Decode(&out); err != nil {
					t.Fatalf("stdout is not one JSON object: %v\n%s", err, stdout.String())
				}
				if dec.More() {
					t.Fatalf("stdout holds more than one JSON object")
				}
				if out.Settings != settings || out.RiverVersion != "v0.51.2" || out.Scenario != scenario {
					t.Errorf("settings %q, river_version %q, scenario %q", out.Settings, out.RiverVersion, out.Scenario)
				}
				f := figures(t, out)
				want := []string{"dispatch_p50_ms", "dispatch_p99_ms", "chain_p50_ms", "chain_p99_ms"}
				if scenario == "throughput" {
					want = []string{"jobs_per_s", "duplicates"}
				}
				if len(f) != len(want) {
					t.Errorf("figures %v, want the keys %v", f, want)
				}
				for _, k := range want {
					v, ok := f[k]
					switch {
					case !ok:
						t.Errorf("no figure %s", k)
					case k == "duplicates" && v != 0:
						t.Errorf("%v jobs ran twice", v)
					case k != "duplicates" && v <= 0:
						t.Errorf("%s = %v, want > 0", k, v)
					}
				}
				if f["dispatch_p99_ms"] < f["dispatch_p50_ms"] || f["chain_p99_ms"] < f["chain_p50_ms"] {
					t.Errorf("p99 below p50: %v", f)
				}
				// Every job of the run completed: none is left to run later.
				var open int
				testdb.QueryRow(t, db, `SELECT count(*) FROM river_job WHERE state <> 'completed'`, &open)
				if open != 0 {
					t.Errorf("%d River jobs not completed", open)
				}
			})
		}
	}
}

func TestRiverPeerFlags(t *testing.T) {
	bin := build(t)
	for _, args := range [][]string{
		{"--scenario", "dispatch"}, // no database
		{"--database-url", "postgres://x@127.0.0.1:1/x", "--scenario", "nope"},
		{"--database-url", "postgres://x@127.0.0.1:1/x", "--settings", "fast"},
		{"--database-url", "postgres://x@127.0.0.1:1/x", "--jobs", "0"},
	} {
		cmd := exec.Command(bin, args...)
		var stdout bytes.Buffer
		cmd.Stdout = &stdout
		if err := cmd.Run(); err == nil {
			t.Errorf("%v: exit 0", args)
		}
		if stdout.Len() != 0 {
			t.Errorf("%v: printed %q to stdout", args, stdout.String())
		}
	}
}
