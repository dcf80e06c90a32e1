package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// riverNote stands beside every comparison with River.
const riverNote = "River runs in-process, no HTTP hop"

// peerOutput is the peers' JSON contract on standard output.
type peerOutput struct {
	Figures []struct {
		Key   string  `json:"key"`
		Label string  `json:"label"`
		Value float64 `json:"value"`
		Unit  string  `json:"unit"`
	} `json:"figures"`
}

// runPeer runs `go run ./cmd/<name> args…` in the peers' module and reads its figures.
func (e *Env) runPeer(name string, args ...string) peerOutput {
	ctx, cancel := context.WithTimeout(e.Ctx, 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", append([]string{"run", "./cmd/" + name}, args...)...)
	cmd.Dir = e.PeersDir
	var stderr logBuffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		fail("%s: %v: %s", name, err, stderr.tail())
	}
	var p peerOutput
	if err := json.Unmarshal(out, &p); err != nil {
		fail("%s printed no figures (%v): %.500s", name, err, out)
	}
	return p
}

// Peers runs River on the same PostgreSQL with the same offered load as Aura's
// dispatch and claim scenarios (with River's defaults and with its benchmark
// settings), and the runner polling policies of other CI systems against Aura's
// server, labelled as the simulations they are.
func Peers(e *Env) {
	if _, err := os.Stat(filepath.Join(e.PeersDir, "go.mod")); err != nil {
		e.Logf("   peers skipped: no %s (the peers' module is not in this tree)", filepath.Join(e.PeersDir, "go.mod"))
		e.notes = append(e.notes, "peers skipped: no "+filepath.Join(e.PeersDir, "go.mod")+" in this tree")
		return
	}
	for _, settings := range []string{"default", "bench"} {
		for _, sc := range []struct {
			name          string
			jobs, workers int
		}{
			{"dispatch", e.pick(200, 1000), 50},
			// River with its defaults works about 500 jobs/s (one fetch per
			// 100 ms): a million would take half an hour.
			{"throughput", e.pick(5000, 100000), 50},
		} {
			db := e.NewDatabase("river")
			p := e.runPeer("river-peer", "--database-url", db, "--scenario", sc.name, "--settings", settings,
				"--jobs", strconv.Itoa(sc.jobs), "--workers", strconv.Itoa(sc.workers))
			e.DropDatabase(db)
			for _, f := range p.Figures {
				fig := Figure{Key: "river_" + settings + "_" + f.Key, Label: f.Label, Value: f.Value, Unit: f.Unit}
				if !strings.Contains(f.Label, "River") {
					fig.Label = fmt.Sprintf("River (%s settings): %s", settings, f.Label)
				}
				if !strings.Contains(f.Label, "in-process") {
					fig.Note = riverNote
				}
				e.emit(fig)
			}
		}
	}
	s := e.StartServer()
	args := []string{"--server", s.URL, "--admin-token", s.Admin, "--jobs", strconv.Itoa(e.pick(8, 40))}
	if !e.Full {
		args = append(args, "--quick")
	}
	p := e.runPeer("poll-policies", args...)
	for _, f := range p.Figures {
		label := f.Label
		if !strings.Contains(label, "simulation") {
			label += " (simulation)"
		}
		e.emit(Figure{Key: "policy_" + f.Key, Label: label, Value: f.Value, Unit: f.Unit})
	}
}

// Ratios compares Aura's figures with River's where they measure the same thing.
func Ratios(figs []Figure) []Figure {
	by := map[string]float64{}
	for _, f := range figs {
		by[f.Key] = f.Value
	}
	var out []Figure
	for _, settings := range []string{"default", "bench"} {
		for _, c := range []struct{ aura, river, label string }{
			{"dispatch_p50_ms", "dispatch_p50_ms", "dispatch p50"},
			{"dispatch_p99_ms", "dispatch_p99_ms", "dispatch p99"},
			{"chain_p50_ms", "chain_p50_ms", "chain p50"},
			{"chain_p99_ms", "chain_p99_ms", "chain p99"},
			{"claim_jobs_per_s", "jobs_per_s", "throughput"},
		} {
			a, okA := by[c.aura]
			r, okR := by["river_"+settings+"_"+c.river]
			if !okA || !okR || r == 0 {
				continue
			}
			out = append(out, Figure{Key: "ratio_" + settings + "_" + c.aura, Label: fmt.Sprintf("Aura / River (%s settings): %s", settings, c.label),
				Value: a / r, Unit: "×", Note: riverNote})
		}
	}
	return out
}
