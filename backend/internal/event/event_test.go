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
