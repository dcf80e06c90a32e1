package api_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestQueuedJobSaysWhichRunner: a queued job names its tag and when a runner
// last asked for it, so a job no live runner can take says so; the tags view and
// the runners list show the per-tag check-ins.
func TestQueuedJobSaysWhichRunner(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("proj", false)
	j := b.submit(tok, map[string]any{"tag": "beta"})

	type waitingJob struct {
		Status     string
		WaitingFor *struct {
			Runner *struct {
				Tag         string
				LastCheckIn *time.Time
				Message     string
			}
		}
	}
	get := func() waitingJob {
		var w waitingJob
		b.json(call{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d", j.ID)}, 200, &w)
		require.Equal(t, "queued", w.Status)
		require.NotNil(t, w.WaitingFor)
		require.NotNil(t, w.WaitingFor.Runner)
		require.Equal(t, "beta", w.WaitingFor.Runner.Tag)
		return w
	}
	w := get()
	require.Nil(t, w.WaitingFor.Runner.LastCheckIn)
	require.Equal(t, "no runner has ever asked for tag `beta`", w.WaitingFor.Runner.Message)

	_, run := b.runner("r1", "beta")
	require.Empty(t, b.claim(run, 0, "beta"), "capacity 0 only checks in")
	w = get()
	require.NotNil(t, w.WaitingFor.Runner.LastCheckIn)
	require.Equal(t, "waiting for a free runner with tag `beta`", w.WaitingFor.Runner.Message)

	_, err := b.pool.Exec(context.Background(), `UPDATE tag_check_ins SET last_check_in = now() - interval '11 minutes'`)
	require.NoError(t, err)
	w = get()
	require.Equal(t, "no runner has asked for tag `beta` in the last 10 minutes", w.WaitingFor.Runner.Message)

	var tags struct {
		Items []struct {
			Tag         string
			LastCheckIn *time.Time
			Queued      int
			Runners     []string
		}
	}
	b.json(call{method: "GET", path: "/api/v1/tags"}, 200, &tags)
	require.Len(t, tags.Items, 1)
	require.Equal(t, "beta", tags.Items[0].Tag)
	require.Equal(t, 1, tags.Items[0].Queued)
	require.Equal(t, []string{"r1"}, tags.Items[0].Runners)
	require.NotNil(t, tags.Items[0].LastCheckIn)

	var runners struct {
		Items []struct {
			Name        string
			TagCheckIns map[string]time.Time
		}
	}
	b.json(call{method: "GET", path: "/api/v1/runners", token: b.admin}, 200, &runners)
	require.Len(t, runners.Items, 1)
	require.Contains(t, runners.Items[0].TagCheckIns, "beta")
}
