package api_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type attemptStop struct {
	ID      int64
	Attempt int
	Status  string
	Gone    bool
}

// watchCancels makes one cancel long poll for the claimed jobs.
func (b *testBundle) watchCancels(runnerToken string, wait int, jobs ...claimed) []attemptStop {
	b.t.Helper()
	refs := make([]map[string]any, len(jobs))
	for i, c := range jobs {
		refs[i] = map[string]any{"id": c.ID, "attempt": c.Attempt}
	}
	var resp struct{ Jobs []attemptStop }
	b.json(call{method: "POST", path: "/api/v1/runner/cancels", token: runnerToken,
		body: map[string]any{"jobs": refs, "waitSeconds": wait}}, 200, &resp)
	return resp.Jobs
}

func TestCancelWatchWakesOnCancel(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("proj", false)
	runID, run := b.runner("r1", "linux")
	b.submit(tok, map[string]any{"name": "a"})
	b.submit(tok, map[string]any{"name": "b"})
	jobs := b.claim(run, 2, "linux")
	require.Len(t, jobs, 2)

	// Nothing to stop: an empty answer once the wait is over.
	require.Empty(t, b.watchCancels(run, 1, jobs...))

	// The cancel goes through the store alone: only PostgreSQL's notification can
	// wake the poll, as it would on another server process. It comes once the
	// poll waits, so the poll's first look cannot have seen it.
	waiting := &b.disp.TestSignals.CancelWatchWaiting
	waiting.Init(t)
	go func() {
		timeout := time.After(10 * time.Second)
		for {
			select {
			case id := <-waiting.C():
				if id != runID {
					continue
				}
				_, _ = b.store.JobCancel(context.Background(), jobs[1].ID, "test", nil)
			case <-timeout: // the poll below fails the test
			}
			return
		}
	}()
	began := time.Now()
	stops := b.watchCancels(run, 20, jobs...)
	require.Less(t, time.Since(began), 5*time.Second, "the poll must answer on the cancel, not at its end")
	require.Equal(t, []attemptStop{{ID: jobs[1].ID, Attempt: jobs[1].Attempt, Status: "cancelled"}}, stops)
}

func TestCancelWatchGone(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("proj", false)
	_, run := b.runner("r1", "linux")
	_, other := b.runner("r2", "linux")
	b.submit(tok, nil)
	jobs := b.claim(run, 1, "linux")
	require.Len(t, jobs, 1)

	// Another runner's attempt, an attempt that is not the current one and a job
	// that does not exist are gone at once.
	stale := claimed{ID: jobs[0].ID, Attempt: jobs[0].Attempt + 1}
	missing := claimed{ID: jobs[0].ID + 1000, Attempt: 1}
	stops := b.watchCancels(run, 20, stale, missing)
	require.Len(t, stops, 2)
	for _, s := range stops {
		require.True(t, s.Gone, "%+v", s)
	}
	stops = b.watchCancels(other, 20, jobs[0])
	require.Equal(t, []attemptStop{{ID: jobs[0].ID, Attempt: jobs[0].Attempt, Status: "running", Gone: true}}, stops)

	// A job that ended answers at once too.
	b.finish(run, jobs[0], 0)
	stops = b.watchCancels(run, 20, jobs[0])
	require.Equal(t, []attemptStop{{ID: jobs[0].ID, Attempt: jobs[0].Attempt, Status: "succeeded"}}, stops)
}

func TestCancelWatchAuthAndInput(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("proj", false)
	_, run := b.runner("r1", "linux")
	body := map[string]any{"jobs": []any{}}
	b.fail(call{method: "POST", path: "/api/v1/runner/cancels", body: body}, 401)
	b.fail(call{method: "POST", path: "/api/v1/runner/cancels", token: tok, body: body}, 403)
	require.Empty(t, b.watchCancels(run, 20))
	e := b.fail(call{method: "POST", path: "/api/v1/runner/cancels", token: run, invalid: true,
		body: map[string]any{"jobs": []any{map[string]any{"id": 1, "attempt": 0}}}}, 400)
	require.Contains(t, e.Field, "attempt")
	b.fail(call{method: "POST", path: "/api/v1/runner/cancels", token: run, invalid: true,
		body: map[string]any{"jobs": []any{}, "waitSeconds": 61}}, 400)
}
