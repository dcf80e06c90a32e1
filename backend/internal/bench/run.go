package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sync"
	"time"
)

// Scenario measures a few figures on a fresh server of its own.
type Scenario struct {
	Name string
	Doc  string
	Run  func(e *Env)
}

// Scenarios are the subcommands, in the order `all` runs them.
var Scenarios = []Scenario{
	{"dispatch", "submit → job process started with 50 parked runners; preceding job finished → next started", Dispatch},
	{"claim", "claim + complete over HTTP, 50 runners: jobs/s and duplicates", Claim},
	{"logs", "log ingest over HTTP, text and random bytes", Logs},
	{"submit", "a 10,000-job DAG accepted (100,000 in --full)", Submit},
	{"webhook", "real captured Gitea deliveries persisted, 20 clients", Webhook},
	{"live", "runner write → 100 websocket viewers (1,000 in --full)", Live},
	{"footprint", "idle server and runner RSS; SQL statements per second with 50 parked runners", Footprint},
	{"scale", "dispatch with 500 parked runners and claim statements per job; pages at 1M (10M in --full) finished jobs", Scale},
	{"peers", "River in-process on the same PostgreSQL, and runner polling policies against Aura (simulations)", Peers},
}

// Parts are parts of the scenarios that may run on their own; `all` runs them
// within their scenario.
var Parts = []Scenario{
	{"scale-dispatch", "the dispatch part of scale alone: 500 parked runners, claim statements per job", scaleDispatch},
}

// Lookup finds a scenario, or a part of one, by name.
func Lookup(name string) (Scenario, bool) {
	all := append(slices.Clone(Scenarios), Parts...)
	i := slices.IndexFunc(all, func(s Scenario) bool { return s.Name == name })
	if i < 0 {
		return Scenario{}, false
	}
	return all[i], true
}

// RunScenario runs one scenario and stops the processes it started; a failure
// becomes the returned error, with the figures measured before it.
func (e *Env) RunScenario(s Scenario) (figs []Figure, err error) {
	start := time.Now()
	e.Logf("== %s: %s", s.Name, s.Doc)
	// A scenario that cannot finish (a server starved of CPU, say) ends at its
	// deadline, and the run goes on with the next.
	parent := e.Ctx
	limit := 10 * time.Minute
	if e.Full {
		limit = time.Hour
	}
	ctx, cancel := context.WithTimeoutCause(parent, limit, fmt.Errorf("%s took longer than %v", s.Name, limit))
	e.Ctx = ctx
	defer func() {
		cancel()
		e.Ctx = parent
	}()
	defer func() {
		if r := recover(); r != nil {
			if f, ok := r.(benchFailure); ok {
				err = fmt.Errorf("%s: %w", s.Name, f.err)
				if ctx.Err() != nil {
					err = fmt.Errorf("%w: %w", context.Cause(ctx), f.err)
				}
			} else {
				err = fmt.Errorf("%s: panic: %v\n%s", s.Name, r, debug.Stack())
			}
		}
		e.stopProcesses()
		e.Logf("   %s took %s", s.Name, time.Since(start).Round(100*time.Millisecond))
	}()
	collect := &figs
	e.emit = func(f Figure) {
		*collect = append(*collect, f)
		e.Logf("   %s: %s %s", f.Label, num(f.Value), f.Unit)
	}
	s.Run(e)
	return figs, nil
}

// stopProcesses stops the processes started so far and drops their databases.
func (e *Env) stopProcesses() {
	e.mu.Lock()
	procs, dbs, servers := e.procs, e.dbs, e.servers
	e.procs, e.dbs, e.servers = nil, nil, nil
	e.mu.Unlock()
	for _, s := range servers {
		s.noteRetries()
		s.pool.Close()
	}
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Go(func() { stopProcess(p) })
	}
	wg.Wait()
	for _, db := range dbs {
		e.DropDatabase(e.urlOf(db))
	}
}

// FindRoot returns the repository's root: the first folder up from the current
// one holding backend/internal/integrations/testdata.
func FindRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "backend", "internal", "integrations", "testdata")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("bench: no Aura source tree above the current folder")
		}
		dir = parent
	}
}

// Notes are the remarks the scenarios left for the end of the table.
func (e *Env) Notes() []string { return e.notes }
