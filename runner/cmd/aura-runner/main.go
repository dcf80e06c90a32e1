// Command aura-runner takes jobs from an Aura server and runs them, or, as
// `aura-runner submit`, submits a job from inside one.
//
//	aura-runner --server http://aura:8420 --token AURA_RUNNERKEY_… --tag native,linux
//
// Settings are flags, environment variables or a config file; see --help. The
// first SIGTERM or SIGINT stops claiming and lets running jobs finish within
// --shutdown-grace before stopping them; a second one kills them at once.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/aura-ci/aura/runner/internal/agent"
	"github.com/aura-ci/aura/runner/internal/config"
	"github.com/aura-ci/aura/runner/internal/submit"
)

// version is set at build time with -ldflags "-X main.version=…"; otherwise the
// build info supplies it.
var version = "dev"

func main() {
	version = buildVersion(version)
	os.Exit(run(os.Args[1:]))
}

// buildVersion returns the version to report: the one set at build time, else
// the module version (go install …@v1.2.3), else the VCS revision the binary was
// built from ("dev-0123456789ab", "-dirty" with uncommitted changes).
func buildVersion(set string) string {
	info, ok := debug.ReadBuildInfo()
	if set != "dev" || !ok {
		return set
	}
	return versionOf(info)
}

// versionOf reads the version from build info.
func versionOf(info *debug.BuildInfo) string {
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, dirty string
	for _, s := range info.Settings {
		switch {
		case s.Key == "vcs.revision":
			rev = s.Value[:min(12, len(s.Value))]
		case s.Key == "vcs.modified" && s.Value == "true":
			dirty = "-dirty"
		}
	}
	if rev == "" {
		return "dev"
	}
	return "dev-" + rev + dirty
}

func run(args []string) int {
	if len(args) > 0 && args[0] == "submit" {
		return submit.Main(args[1:], version)
	}
	cfg, err := config.Load(args, os.Getenv, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		for line := range strings.SplitSeq(err.Error(), "\n") {
			fmt.Fprintf(os.Stderr, "aura-runner: %s\n", line)
		}
		fmt.Fprintf(os.Stderr, "aura-runner: see aura-runner --help\n")
		return 2
	case cfg.ShowVersion:
		fmt.Println("aura-runner " + version)
		return 0
	}

	logger := log.New(os.Stdout, "", log.LstdFlags)
	a, err := agent.New(cfg, version, logger)
	if err != nil {
		fmt.Fprintf(os.Stderr, "aura-runner: %v\n", err)
		return 2
	}
	ctx, shutdown := context.WithCancel(context.Background())
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		sig := <-signals
		logger.Printf("%s: stopping (no new jobs)", sig)
		shutdown()
		sig = <-signals
		logger.Printf("%s again: killing running jobs and exiting", sig)
		a.Kill()
		os.Exit(1)
	}()
	if err := a.Run(ctx); err != nil {
		logger.Printf("%v", err)
		return 1
	}
	return 0
}
