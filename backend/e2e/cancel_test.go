package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// trapJob records when its shell got SIGTERM, in ns since the epoch, in $OUT/term.
const trapJob = `
	trap 'date +%s%N > "$OUT/term"; exit 0' TERM
	echo $$ > "$OUT/started"
	sleep 600 & wait`

// cancelToTerm cancels a running trapJob and returns how long after the cancel
// call its shell got SIGTERM.
func cancelToTerm(t testing.TB, s *server, tok, dir string, i int) time.Duration {
	out := filepath.Join(dir, strconv.Itoa(i))
	require.NoError(t, os.MkdirAll(out, 0o755))
	j := s.submit(tok, map[string]any{"entityVal": fmt.Sprint("c", i), "env": map[string]string{"OUT": out}, "cmd": trapJob})
	waitFile(t, filepath.Join(out, "started"), 10*time.Second)
	began := time.Now()
	s.call("POST", fmt.Sprintf("/api/v1/jobs/%d/cancel", j.ID), tok, nil, nil, 200)
	ns, err := strconv.ParseInt(waitFile(t, filepath.Join(out, "term"), 10*time.Second), 10, 64)
	require.NoError(t, err)
	s.waitStatus(j.ID, 10*time.Second, "cancelled")
	return time.Unix(0, ns).Sub(began)
}

// TestCancelIsPushed: with heartbeats 10 s apart, a cancel still reaches the job
// at once, through the runner's cancel poll.
func TestCancelIsPushed(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--lease", "60s")
	tok := s.project("proj")
	startRunner(t, s, "r1", "--tag", "linux")
	d := cancelToTerm(t, s, tok, t.TempDir(), 1)
	require.Less(t, d, 5*time.Second, "SIGTERM came %s after the cancel: it waited for a heartbeat", d)
}

// BenchmarkCancel: from the cancel call to SIGTERM reaching the job's shell.
func BenchmarkCancel(b *testing.B) {
	s := startServer(b, "--lease", "60s")
	tok := s.project("proj")
	startRunner(b, s, "r1", "--tag", "linux", "--concurrency", "1")
	dir := b.TempDir()
	var ds []time.Duration
	i := 0
	for b.Loop() {
		i++
		ds = append(ds, cancelToTerm(b, s, tok, dir, i))
	}
	quantiles(b, "cancel_to_sigterm", ds)
}
