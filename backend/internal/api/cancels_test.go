package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
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
	_, run := b.runner("r1", "linux")
	b.submit(tok, map[string]any{"name": "a"})
	b.submit(tok, map[string]any{"name": "b"})
	jobs := b.claim(run, 2, "linux")
	require.Len(t, jobs, 2)

	// Nothing to stop: an empty answer once the wait is over.
	require.Empty(t, b.watchCancels(run, 1, jobs...))

	// The cancel comes once the poll waits, and goes through the store alone:
	// only PostgreSQL's notification can wake the poll, as it would on another
	// server process.
	var got <-chan []attemptStop
	b.startWaiting("jobs", cancelLook, 1, func() { got = b.watchCancelsAsync(run, 20, jobs...) })
	_, err := b.store.JobCancel(context.Background(), jobs[1].ID, "test")
	require.NoError(t, err)
	select {
	case stops := <-got:
		require.Equal(t, []attemptStop{{ID: jobs[1].ID, Attempt: jobs[1].Attempt, Status: "cancelled"}}, stops)
	case <-time.After(4 * time.Second): // under the 5 s recheck that would find it without a notification
		t.Fatal("the poll did not answer on the cancel")
	}
}

// watchCancelsAsync makes one cancel long poll in the background; its answer
// arrives on the channel (nil if the request failed).
func (b *testBundle) watchCancelsAsync(runnerToken string, wait int, jobs ...claimed) <-chan []attemptStop {
	refs := make([]map[string]any, len(jobs))
	for i, c := range jobs {
		refs[i] = map[string]any{"id": c.ID, "attempt": c.Attempt}
	}
	body, _ := json.Marshal(map[string]any{"jobs": refs, "waitSeconds": wait})
	got := make(chan []attemptStop, 1)
	go func() {
		req, _ := http.NewRequest("POST", b.url+"/api/v1/runner/cancels", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+runnerToken)
		resp, err := b.client.Do(req)
		if err != nil {
			got <- nil
			return
		}
		defer resp.Body.Close()
		var out struct{ Jobs []attemptStop }
		_ = jsonDecode(resp, &out)
		got <- out.Jobs
	}()
	return got
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
