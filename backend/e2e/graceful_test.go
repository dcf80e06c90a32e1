package e2e

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"
)

// TestGracefulRestart: SIGTERM stops aura serve in an orderly way (exit 0,
// websockets closed as going away), and a job running meanwhile carries on
// against the next server process on the same address and database: it
// succeeds once, with every line of its log exactly once.
func TestGracefulRestart(t *testing.T) {
	s := startServer(t, "--shutdown-timeout", "5s")
	tok := s.project("demo")
	r := startRunner(t, s, "r1", "--tag", "linux")
	s.waitCheckedIn(t, 1)

	const lines = 60
	j := s.submit(tok, map[string]any{"cmd": fmt.Sprintf("for i in $(seq 1 %d); do echo line $i; sleep 0.1; done", lines)})
	s.waitAcked(t, j.ID)
	require.Eventually(t, func() bool { return strings.Contains(s.log(j.ID), "line 5\n") }, 20*time.Second, 20*time.Millisecond)

	// A browser tab following the log on server A, and aura log -f.
	tab := dialViewer(t, s, "")
	tab.subscribe(t, fmt.Sprintf("log:%d", j.ID))
	follow := exec.Command(filepath.Join(binDir, "aura"), "log", "-f", strconv.FormatInt(j.ID, 10))
	follow.Env = cliEnv(t, s.url, tok)
	followed, followErr := &logBuffer{}, &logBuffer{}
	follow.Stdout, follow.Stderr = followed, followErr
	require.NoError(t, follow.Start())
	t.Cleanup(func() { _ = follow.Process.Kill() })
	require.Eventually(t, func() bool { return strings.Contains(followed.String(), "line 5\n") }, 20*time.Second, 10*time.Millisecond,
		"aura log -f never showed the log; stderr: %s", followErr)

	// SIGTERM server A mid-job.
	require.NoError(t, s.cmd.Process.Signal(syscall.SIGTERM))
	exited := make(chan error, 1)
	go func() { exited <- s.cmd.Wait() }()
	select {
	case err := <-exited:
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			t.Fatalf("aura serve exited %d on SIGTERM:\n%s", exit.ExitCode(), s.out)
		}
		require.NoError(t, err)
	case <-time.After(5*time.Second + 15*time.Second):
		_ = s.cmd.Process.Kill()
		t.Fatalf("aura serve did not stop within its shutdown timeout:\n%s", s.out)
	}
	s.cmd = nil
	require.Contains(t, s.out.String(), "requests in flight finished")
	require.NotContains(t, s.out.String(), "cut off")
	require.Contains(t, s.out.String(), "database connections closed")

	// The tab got a going-away close frame (after whatever log it was sent).
	require.NoError(t, tab.conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	for {
		_, _, err := tab.conn.ReadMessage()
		if err != nil {
			require.True(t, websocket.IsCloseError(err, websocket.CloseGoingAway), "the socket ended with %v, not 1001", err)
			break
		}
	}
	require.Equal(t, "running", dbJobStatus(t, s, j.ID), "the job is still running while no server is up")

	// The runner meets no server for a while: its uploads and heartbeats retry.
	r.waitOutput(t, "retrying")

	// Server B on the same address and database.
	s.start()
	got := s.waitStatus(j.ID, 60*time.Second, "succeeded", "failed", "lost", "cancelled")
	require.Equal(t, "succeeded", got.Status, "runner said:\n%s", r.out)
	require.Equal(t, 1, got.Attempt, "the job was not run again")
	var want strings.Builder
	for i := 1; i <= lines; i++ {
		fmt.Fprintf(&want, "line %d\n", i)
	}
	require.Equal(t, want.String(), s.log(j.ID), "every line exactly once, in order")
	// aura log -f reconnected to server B and printed the whole log once too.
	require.NoError(t, follow.Wait(), "stderr: %s", followErr)
	require.Equal(t, want.String(), followed.String())
	var jobs, notSucceeded int
	require.NoError(t, dbQueryRow(t, s.dbURL, `SELECT count(*), count(*) FILTER (WHERE status <> 'succeeded') FROM jobs`, &jobs, &notSucceeded))
	require.Equal(t, 1, jobs)
	require.Zero(t, notSucceeded)
}

func dbJobStatus(t *testing.T, s *server, id int64) string {
	t.Helper()
	var status string
	require.NoError(t, dbQueryRow(t, s.dbURL, fmt.Sprintf(`SELECT status FROM jobs WHERE id = %d`, id), &status))
	return status
}
