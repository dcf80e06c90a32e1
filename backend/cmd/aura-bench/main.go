// Command aura-bench measures Aura from outside: it starts its own PostgreSQL
// cluster, the real aura server and real aura-runner processes on loopback,
// drives them over HTTP and websockets, prints one table of each figure beside
// its target, and writes the same as JSON. scripts/bench builds the binaries and
// runs it.
//
//	aura-bench [--quick|--full] [--json FILE] dispatch|claim|logs|submit|webhook|live|footprint|scale|peers|all
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/aura-ci/aura/backend/internal/bench"
	"github.com/aura-ci/aura/backend/internal/pgcluster"
)

func main() {
	log.SetFlags(0)
	if err := run(os.Args[1:]); err != nil {
		log.Fatal("aura-bench: ", err)
	}
}

func usage(fs *flag.FlagSet) {
	fmt.Fprintln(os.Stderr, "usage: aura-bench [flags] SUBCOMMAND\n\nsubcommands:")
	for _, s := range bench.Scenarios {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", s.Name, s.Doc)
	}
	fmt.Fprintf(os.Stderr, "  %-10s %s\n\nflags:\n", "all", "every one of them, in this order (--quick leaves out scale)")
	fs.PrintDefaults()
}

func run(args []string) error {
	fs := flag.NewFlagSet("aura-bench", flag.ContinueOnError)
	quick := fs.Bool("quick", false, "short counts, a few minutes in all, without scale (the default)")
	full := fs.Bool("full", false, "the long counts (a million claims: about forty minutes in all)")
	jsonPath := fs.String("json", "bench-results.json", "where to write the figures as JSON")
	binDir := fs.String("bin", "bin", "folder holding aura and aura-runner")
	pgDir := fs.String("pg-dir", "", "PostgreSQL data folder (default: a new one in the temporary folder, removed at the end)")
	fastPG := fs.Bool("fast-pg", false, "run PostgreSQL without fsync (figures then say little about a real disk)")
	dbURL := fs.String("database-url", "", "use this PostgreSQL server (a maintenance database URL whose user may create databases) instead of starting one")
	peersDir := fs.String("peers-dir", "bench", "the peers' Go module (river-peer, poll-policies)")
	calibrate := fs.Int("calibrate-seconds", 5, "length of the pgbench calibration; 0 skips it")
	fs.Usage = func() { usage(fs) }
	// The subcommand may come first or after the flags.
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if name == "" && fs.NArg() > 0 {
		name = fs.Arg(0)
	} else if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if name == "" {
		name = "all"
	}
	if *quick && *full {
		return errors.New("--quick or --full, not both")
	}
	var scenarios []bench.Scenario
	if name == "all" {
		// scale fills a million jobs and parks 500 runners: minutes, not seconds;
		// a quick run leaves it to `aura-bench scale` and to --full.
		for _, s := range bench.Scenarios {
			if *full || s.Name != "scale" {
				scenarios = append(scenarios, s)
			}
		}
	} else if s, ok := bench.Lookup(name); ok {
		scenarios = []bench.Scenario{s}
	} else {
		usage(fs)
		return fmt.Errorf("no subcommand %q", name)
	}
	bins, err := filepath.Abs(*binDir)
	if err != nil {
		return err
	}
	for _, b := range []string{"aura", "aura-runner"} {
		if _, err := os.Stat(filepath.Join(bins, b)); err != nil {
			return fmt.Errorf("%w (build it: scripts/bench does)", err)
		}
	}
	root, err := bench.FindRoot()
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logf := func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, a...))
	}
	maint, pgBin := *dbURL, ""
	if maint == "" {
		dir, created := *pgDir, false
		if dir == "" {
			if dir, err = os.MkdirTemp("", "aura-bench-pg-"); err != nil {
				return err
			}
			if err := os.Chmod(dir, 0o755); err != nil {
				return err
			}
			created = true
		}
		c, err := pgcluster.Start(ctx, pgcluster.Config{Dir: dir, Fast: *fastPG, Logf: logf, Settings: map[string]string{
			"shared_preload_libraries": "pg_stat_statements",
			"max_connections":          "400",
		}})
		if err != nil {
			return err
		}
		defer func() {
			if err := c.Stop(); err != nil {
				logf("%v", err)
			}
			if created {
				_ = os.RemoveAll(dir)
			}
		}()
		maint, pgBin = c.URL("postgres"), c.BinDir()
	}
	env, err := bench.NewEnv(maint, bins, "")
	if err != nil {
		return err
	}
	defer env.Close()
	env.Full, env.PGBinDir, env.Root, env.Logf = *full, pgBin, root, logf
	env.PeersDir, env.Ctx = *peersDir, ctx

	mode := "quick"
	if *full {
		mode = "full"
	}
	report := &bench.Report{Started: time.Now().UTC(), Mode: mode, Machine: machine()}
	logf("aura-bench %s %s on %s", name, mode, report.Machine)
	if *calibrate > 0 {
		figs, err := env.Calibrate(*calibrate)
		if err != nil {
			logf("calibration skipped: %v", err)
			report.Errors = append(report.Errors, err.Error())
		}
		report.Figures = append(report.Figures, figs...)
		bench.PrintTable(os.Stderr, figs)
	}
	for _, s := range scenarios {
		if ctx.Err() != nil {
			break
		}
		figs, err := env.RunScenario(s)
		report.Figures = append(report.Figures, figs...)
		if err != nil {
			logf("%v", err)
			report.Errors = append(report.Errors, err.Error())
		}
	}
	report.Figures = append(report.Figures, bench.Ratios(report.Figures)...)
	report.Notes = env.Notes()
	report.Duration = time.Since(report.Started).Seconds()
	fmt.Printf("\nAura benchmark (%s, %s, %.0f s)\n\n", mode, report.Machine, report.Duration)
	bench.PrintTable(os.Stdout, report.Figures)
	for _, n := range report.Notes {
		fmt.Println("note:", n)
	}
	for _, e := range report.Errors {
		fmt.Printf("error: %s\n", e)
	}
	if err := bench.WriteJSON(*jsonPath, report); err != nil {
		return err
	}
	fmt.Printf("\nwritten to %s\n", *jsonPath)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if len(report.Errors) > 0 && name != "all" {
		return errors.New("the scenario failed")
	}
	return nil
}

// machine describes the machine: CPUs, memory, load.
func machine() string {
	desc := fmt.Sprintf("%d CPUs", runtime.NumCPU())
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "model name") {
				_, v, _ := strings.Cut(line, ":")
				desc += " (" + strings.TrimSpace(v) + ")"
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			desc += fmt.Sprintf(", %.0f GiB", float64(kb)/(1<<20))
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(b))
		if len(f) >= 3 {
			desc += ", load " + strings.Join(f[:3], " ")
		}
	}
	return desc
}
