package api_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/aura-ci/aura/backend/internal/dbtest"
	"github.com/stretchr/testify/require"
)

// TestSubmitRoundTrips: a job submitted with a project token costs two
// database round trips: the token's lookup, which reads the token's project
// too, and the submission.
func TestSubmitRoundTrips(t *testing.T) {
	t.Parallel()
	// The round trips made for HTTP requests, not those of background loops.
	rec := &dbtest.SQLRecorder{Only: func(ctx context.Context) bool { return ctx.Value(http.ServerContextKey) != nil }}
	b := setupWith(t, bundleOptions{tracer: rec})
	tok := b.project("proj", true)
	job := map[string]any{"entityKey": "commit", "entityVal": "abc", "name": "build", "cmd": "true", "tag": "linux"}
	b.json(call{method: "POST", path: "/api/v1/jobs", token: tok, body: job}, 201, nil) // warm
	for _, body := range []map[string]any{job, {"project": "proj", "entityKey": "commit", "entityVal": "def", "name": "build", "cmd": "true", "tag": "linux"}} {
		var out struct {
			ID      int64
			Project string
		}
		trips := rec.Trips(func() {
			b.json(call{method: "POST", path: "/api/v1/jobs", token: tok, body: body}, 201, &out)
		})
		require.Len(t, trips, 2, "%q", trips)
		require.Contains(t, trips[0], "FROM tokens")
		require.Equal(t, "proj", out.Project)
	}
	// Another project is still looked up, and refused alike.
	b.project("other", false)
	e := b.fail(call{method: "POST", path: "/api/v1/jobs", token: tok,
		body: map[string]any{"project": "other", "entityKey": "commit", "entityVal": "abc", "name": "build", "cmd": "true", "tag": "linux"}}, 403)
	require.Equal(t, "this token may only submit jobs to project proj", e.Message)

	// The answer says when a runner last asked for the job's tag, read with
	// the submission: a single job's and a batch's.
	type answer struct {
		Status     string
		WaitingFor struct {
			Runner struct {
				LastCheckIn *time.Time
				Message     string
			}
		}
	}
	var one answer
	b.json(call{method: "POST", path: "/api/v1/jobs", token: tok, body: job}, 201, &one)
	require.Nil(t, one.WaitingFor.Runner.LastCheckIn)
	require.Equal(t, "no runner has ever asked for tag `linux`", one.WaitingFor.Runner.Message)
	_, run := b.runner("r1", "linux")
	require.Empty(t, b.claim(run, 0, "linux"), "capacity 0 only checks in")
	b.json(call{method: "POST", path: "/api/v1/jobs", token: tok, body: job}, 201, &one)
	require.NotNil(t, one.WaitingFor.Runner.LastCheckIn)
	require.Equal(t, "waiting for a free runner with tag `linux`", one.WaitingFor.Runner.Message)
	var batch struct{ Items []answer }
	b.json(call{method: "POST", path: "/api/v1/jobs/batch", token: tok, body: map[string]any{"jobs": []map[string]any{
		{"entityKey": "commit", "entityVal": "ghi", "name": "build", "cmd": "true", "tag": "linux"},
		{"entityKey": "commit", "entityVal": "ghi", "name": "odd", "cmd": "true", "tag": "odd"},
	}}}, 201, &batch)
	require.Len(t, batch.Items, 2)
	require.NotNil(t, batch.Items[0].WaitingFor.Runner.LastCheckIn)
	require.Equal(t, "waiting for a free runner with tag `linux`", batch.Items[0].WaitingFor.Runner.Message)
	require.Nil(t, batch.Items[1].WaitingFor.Runner.LastCheckIn)
	require.Equal(t, "no runner has ever asked for tag `odd`", batch.Items[1].WaitingFor.Runner.Message)
}
