// Command aura-runner takes jobs from an Aura server and runs them, or, as
// `aura-runner submit`, submits a job from inside one, or, as `aura-runner
// artifact upload|download` and `aura-runner cache save|restore`, keeps and
// fetches a job's files and caches.
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
	"regexp"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/aura-ci/aura/runner/internal/agent"
	"github.com/aura-ci/aura/runner/internal/artifact"
	"github.com/aura-ci/aura/runner/internal/cache"
	"github.com/aura-ci/aura/runner/internal/config"
	"github.com/aura-ci/aura/runner/internal/submit"
)

// Set at link time (-ldflags "-X main.version=v1.2.3"): version, when set, wins;
// revision and modified ("true" with uncommitted changes) stand in for the VCS
// information the toolchain embeds, where it cannot (a git worktree,
// -buildvcs=false). scripts/build sets them.
var version, revision, modified string

func main() {
	if version == "" {
		info, ok := debug.ReadBuildInfo()
		if !ok {
			info = &debug.BuildInfo{}
		}
		version = versionOf(info, revision, modified == "true")
	}
	os.Exit(run(os.Args[1:]))
}

// pseudoVersion matches the version Go makes up for an untagged commit
// (v0.0.0-20260101120000-0123456789ab): the bare revision says the same, shorter.
var pseudoVersion = regexp.MustCompile(`\d{14}-[0-9a-f]{12}(\+dirty)?$`)

// versionOf returns the version to report: the module version (go install
// …@v1.2.3), else the VCS revision the binary was built from (12 characters,
// "+dirty" with uncommitted changes), from the build information or else from rev
// and modified, else "dev". It says what the server's version.String says.
func versionOf(info *debug.BuildInfo, rev string, modified bool) string {
	v := info.Main.Version
	if v == "(devel)" {
		v = ""
	}
	if v != "" && !pseudoVersion.MatchString(v) {
		return v
	}
	var vcsRev, vcsModified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			vcsRev = s.Value
		case "vcs.modified":
			vcsModified = s.Value
		}
	}
	if vcsRev != "" {
		rev, modified = vcsRev, vcsModified == "true"
	}
	switch {
	case rev != "" && modified:
		return rev[:min(12, len(rev))] + "+dirty"
	case rev != "":
		return rev[:min(12, len(rev))]
	case v != "":
		return v // go install …@<commit>: a pseudo-version, and no VCS information
	}
	return "dev"
}

func run(args []string) int {
	if len(args) > 0 && args[0] == "submit" {
		return submit.Main(args[1:], version)
	}
	if len(args) > 0 && args[0] == "artifact" {
		return artifact.Main(args[1:], version)
	}
	if len(args) > 0 && args[0] == "cache" {
		return cache.Main(args[1:], version)
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
