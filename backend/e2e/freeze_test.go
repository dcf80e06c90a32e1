package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// freezeAnswerWithin is how soon every request must be answered while the
// database is frozen.
const freezeAnswerWithin = 5 * time.Second

// TestDatabaseFrozen freezes PostgreSQL (SIGSTOP on all its processes, sockets
// open: what a stalled disk, a paused VM or a network partition looks like) for
// longer than the lease while a real runner runs jobs. Meanwhile every route
// answers 503 with Retry-After and a JSON error within 5 s, /readyz says 503,
// /healthz answers at once, and an open websocket stays open. Once the database
// is thawed the server serves again by itself and every job succeeds on its first
// attempt. TestDatabaseOutage stops the database instead.
func TestDatabaseFrozen(t *testing.T) {
	t.Parallel()
	const lease = 6 * time.Second
	const freeze = 10 * time.Second
	pg := startOwnCluster(t)
	s := startServerOn(t, pg.url(), "--lease", lease.String())
	tok := s.project("proj")
	startRunner(t, s, "r1", "--tag", "linux", "--concurrency", "3")
	var ids []int64
	for i := range 3 {
		ids = append(ids, s.submit(tok, map[string]any{"entityVal": fmt.Sprint(i), "cmd": "echo start; sleep 16; echo done"}).ID)
	}
	for _, id := range ids {
		s.waitStatus(id, 10*time.Second, "running")
	}
	tab := dialViewer(t, s, s.admin)
	tab.subscribe(t, fmt.Sprintf("job:%d", ids[0]))

	require.NoError(t, pg.c.Freeze())
	frozen := time.Now()
	// Twice: at once, while the pool still holds its connections, and again
	// once those requests have given up on them.
	for round := range 2 {
		checkFrozenAnswers(t, s, tok, ids[0], round)
	}
	time.Sleep(freeze - time.Since(frozen)) // the freeze lasting this long is what is tested
	require.NoError(t, pg.c.Thaw())
	thawed := time.Now()
	require.Eventually(t, func() bool { return get(s.url+"/api/v1/projects") == 200 }, 5*time.Second, 20*time.Millisecond,
		"serving again after the database was thawed")
	t.Logf("frozen %v; serving again %v after the thaw", thawed.Sub(frozen).Round(time.Millisecond),
		time.Since(thawed).Round(time.Millisecond))
	// A probe's failure stands for half a second, so readiness may trail the first answers.
	require.Eventually(t, func() bool { return get(s.url+"/readyz") == 200 }, 3*time.Second, 20*time.Millisecond,
		"ready again after the database was thawed")

	for _, id := range ids {
		j := s.waitStatus(id, 40*time.Second, "succeeded", "failed", "lost", "cancelled", "timed_out")
		require.Equal(t, "succeeded", j.Status, "job %d: %s", id, j.Reason)
		require.Equal(t, 1, j.Attempt, "job %d ran once: %s", id, j.Reason)
		require.Equal(t, "start\ndone\n", s.log(id))
	}
	// The websocket opened before the freeze is still the one that tells.
	for {
		m := tab.read(t)
		if m.Type == "job" && m.Status == "succeeded" {
			break
		}
	}
}

// checkFrozenAnswers sends requests to s at once and requires each to be
// answered within freezeAnswerWithin: 503, Retry-After and a JSON error, except
// /healthz, the liveness probe, which answers 200 within about a second.
func checkFrozenAnswers(t *testing.T, s *server, tok string, jobID int64, round int) {
	t.Helper()
	cases := []struct {
		method, path, token, body string
		want                      int
	}{
		{"GET", fmt.Sprintf("/api/v1/jobs/%d", jobID), "", "", 503},
		{"GET", "/api/v1/projects", "", "", 503},
		{"GET", "/api/v1/projects", s.admin, "", 503},
		{"POST", "/api/v1/jobs", tok, `{"entityKey":"commit","entityVal":"x","name":"n","cmd":"true","tag":"linux"}`, 503},
		{"GET", fmt.Sprintf("/api/v1/jobs/%d/log", jobID), "", "", 503},
		{"GET", "/readyz", "", "", 503},
		{"GET", "/healthz", "", "", 200},
	}
	client := &http.Client{Timeout: 3 * freezeAnswerWithin}
	var wg sync.WaitGroup
	errs := make([]string, len(cases))
	for i, c := range cases {
		wg.Go(func() {
			req, err := http.NewRequest(c.method, s.url+c.path, strings.NewReader(c.body))
			if err != nil {
				errs[i] = err.Error()
				return
			}
			if c.token != "" {
				req.Header.Set("Authorization", "Bearer "+c.token)
			}
			start := time.Now()
			resp, err := client.Do(req)
			took := time.Since(start)
			if err != nil {
				errs[i] = fmt.Sprintf("%s %s: no answer after %v: %v", c.method, c.path, took.Round(time.Millisecond), err)
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var e struct {
				Code    int
				Message string
			}
			within := freezeAnswerWithin
			if c.path == "/healthz" {
				within = 1500 * time.Millisecond
			}
			switch {
			case took > within:
				errs[i] = fmt.Sprintf("%s %s answered after %v, more than %v", c.method, c.path, took.Round(time.Millisecond), within)
			case resp.StatusCode != c.want:
				errs[i] = fmt.Sprintf("%s %s: %d, want %d: %s", c.method, c.path, resp.StatusCode, c.want, body)
			case c.want == 503 && resp.Header.Get("Retry-After") == "":
				errs[i] = fmt.Sprintf("%s %s: 503 without Retry-After", c.method, c.path)
			case c.want == 503 && (json.Unmarshal(body, &e) != nil || e.Code != 503 || e.Message == ""):
				errs[i] = fmt.Sprintf("%s %s: not a JSON error: %s", c.method, c.path, body)
			default:
				t.Logf("round %d: %s %s answered %d in %v", round, c.method, c.path, resp.StatusCode, took.Round(time.Millisecond))
			}
		})
	}
	wg.Wait()
	var failed []string
	for _, e := range errs {
		if e != "" {
			failed = append(failed, e)
		}
	}
	require.Empty(t, failed, "round %d with the database frozen", round)
}
