package events

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/event"
	"github.com/aura-ci/aura/backend/internal/store"
)

// TestListenerExpandsJobs: an event.Jobs reaches every EventFunc as the
// event.Job of each of its jobs, as if each had been NOTIFYed alone.
func TestListenerExpandsJobs(t *testing.T) {
	t.Parallel()
	l := NewListener("")
	var got [2][]event.Event
	l.HandleEvents(func(e event.Event) { got[0] = append(got[0], e) })
	l.HandleEvents(func(e event.Event) { got[1] = append(got[1], e) })
	js := event.Jobs{JobIDs: []event.IDRange{{4, 6}, {9, 9}}, Project: "p", EntityKey: "commit", EntityVal: "abc",
		Status: "waiting", Tag: "linux", Attempt: 1}
	l.dispatch(store.ChannelEvents, string(event.Marshal(js)))
	var want []event.Event
	for _, id := range []int64{4, 5, 6, 9} {
		want = append(want, event.Job{JobID: id, Project: "p", EntityKey: "commit", EntityVal: "abc",
			Status: "waiting", Tag: "linux", Attempt: 1})
	}
	require.Equal(t, [2][]event.Event{want, want}, got)
}
