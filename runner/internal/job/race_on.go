//go:build race

package job

import (
	"os"
	"strings"
)

// supervisorEnv is what a supervisor's environment starts with. Built with
// the race detector, a supervisor (this binary) would sleep a second as it
// exits (GORACE's atexit_sleep_ms, 1000 by default), and every job's end
// would wait for it; the runner's own GORACE options still apply.
func supervisorEnv() []string {
	return []string{"GORACE=" + strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0")}
}
