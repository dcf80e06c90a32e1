// Command aura is Aura's server.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/aura-ci/aura/backend/internal/app"
)

// defaultGCPercent is the collector's target when GOGC is not set: collect
// once the heap has grown by three times what the last collection kept, not
// by as much (Go's 100). The server keeps little and allocates fast, so at
// 100 it collected so often that, on 2 CPUs, the collector's work took time
// from PostgreSQL's: claim + complete, log ingest and webhooks each ran 3-8%
// faster at 300 (aura-bench, same-hour A/B; docs/performance.md), for 41 → 53
// MiB resident under load and no change at idle.
const defaultGCPercent = 300

func main() {
	setGCPercent()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(app.Run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// setGCPercent sets the collector's target to defaultGCPercent unless the
// operator chose one (GOGC).
func setGCPercent() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(defaultGCPercent)
	}
}
