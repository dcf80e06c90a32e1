package api_test

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestEventsFollowABatch: the jobs of a batch are NOTIFYed as one event per
// kind of change (store.groupJobs), and still reach the websocket as an event
// per job, each on its topics.
func TestEventsFollowABatch(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("proj", false)
	ws := openEvents(t, b.url, "")
	ws.subscribe("queue")
	ws.subscribe("entity:proj/commit/abc")
	var out struct{ Items []struct{ ID int64 } }
	b.json(call{method: "POST", path: "/api/v1/jobs/batch", token: tok, body: map[string]any{"jobs": []map[string]any{
		{"entityKey": "commit", "entityVal": "abc", "name": "build", "cmd": "true", "tag": "linux"},
		{"entityKey": "commit", "entityVal": "abc", "name": "test", "cmd": "true", "tag": "linux", "precedingNames": []string{"build"}},
		{"entityKey": "commit", "entityVal": "abc", "name": "lint", "cmd": "true", "tag": "linux", "precedingNames": []string{"build"}},
	}}}, 201, &out)
	require.Len(t, out.Items, 3)
	want := map[float64]string{float64(out.Items[0].ID): "queued", float64(out.Items[1].ID): "waiting", float64(out.Items[2].ID): "waiting"}
	got := map[float64]string{}
	for len(got) < len(want) {
		m := ws.nextOf("job")
		require.ElementsMatch(t, []any{"queue", "entity:proj/commit/abc"}, m["topics"])
		require.Equal(t, "linux", m["tag"])
		require.EqualValues(t, 1, m["attempt"])
		got[m["jobId"].(float64)] = m["status"].(string)
	}
	require.Equal(t, want, got)
}
