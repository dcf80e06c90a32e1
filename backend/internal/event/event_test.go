package event_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/event"
)

func TestMarshalEvent(t *testing.T) {
	t.Parallel()
	b := event.Marshal(event.Log{JobID: 1, Attempt: 2, Offset: 3, Length: 4})
	require.Equal(t, `{"type":"log","jobId":1,"attempt":2,"offset":3,"length":4}`, string(b))
	e, err := event.Parse(b)
	require.NoError(t, err)
	require.Equal(t, event.Log{JobID: 1, Attempt: 2, Offset: 3, Length: 4}, e)
	_, err = event.Parse([]byte(`{"type":"nope"}`))
	require.Error(t, err)
	require.Equal(t, `{"type":"access","runnerId":7}`, string(event.Marshal(event.Access{RunnerID: 7})))
}

// TestParseSpellings decodes a job event as Marshal spells it, as the store's
// SQL (json_build_object) spells it, and with its type elsewhere than first.
func TestParseSpellings(t *testing.T) {
	t.Parallel()
	want := event.Job{JobID: 5, Project: "p", EntityKey: "commit", EntityVal: "a\"b", Status: "running", Tag: "linux", Attempt: 2, RunnerID: 7}
	for _, payload := range []string{
		string(event.Marshal(want)),
		`{"type" : "job", "jobId" : 5, "project" : "p", "entityKey" : "commit", "entityVal" : "a\"b", "status" : "running", "tag" : "linux", "attempt" : 2, "runnerId" : 7}`,
		` { "jobId":5,"project":"p","entityKey":"commit","entityVal":"a\"b","status":"running","tag":"linux","attempt":2,"runnerId":7,"type":"job"}`,
		`{"type":"j\u006fb","jobId":5,"project":"p","entityKey":"commit","entityVal":"a\"b","status":"running","tag":"linux","attempt":2,"runnerId":7}`,
	} {
		e, err := event.Parse([]byte(payload))
		require.NoError(t, err, payload)
		require.Equal(t, want, e, payload)
	}
	for _, bad := range []string{``, `{`, `{"type":"job"`, `{"type":"job",}`, `{"type":"nope"}`, `[]`, `{"type":1}`} {
		_, err := event.Parse([]byte(bad))
		require.Error(t, err, bad)
	}
}

func BenchmarkParseJob(b *testing.B) {
	payload := `{"type" : "job", "jobId" : 123456, "project" : "proj", "entityKey" : "commit", "entityVal" : "0123456789abcdef0123456789abcdef01234567", "status" : "running", "tag" : "linux", "attempt" : 1, "runnerId" : 42}`
	for b.Loop() {
		if _, err := event.Parse([]byte(payload)); err != nil {
			b.Fatal(err)
		}
	}
}
