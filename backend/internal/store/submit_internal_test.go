package store

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestSubmitStatus is the rule a submitted job's first status follows, without a database.
func TestSubmitStatus(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 24, 14, 15, 32, 0, time.UTC)
	later, earlier := now.Add(time.Minute), now.Add(-time.Minute)
	pre := func(id int64, status string) precedingState {
		return precedingState{ID: id, Name: "build", Status: status}
	}
	for _, tc := range []struct {
		name      string
		preceding []precedingState
		earliest  *time.Time
		want      submitDecision
	}{
		{"nothing to wait for", nil, nil, submitDecision{Status: StatusQueued}},
		{"earliest start passed", nil, &earlier, submitDecision{Status: StatusQueued}},
		{"earliest start now", nil, &now, submitDecision{Status: StatusQueued}},
		{"earliest start ahead", nil, &later, submitDecision{Status: StatusWaiting}},
		{"preceding succeeded", []precedingState{pre(1, StatusSucceeded)}, nil, submitDecision{Status: StatusQueued}},
		{"preceding succeeded, start ahead", []precedingState{pre(1, StatusSucceeded)}, &later, submitDecision{Status: StatusWaiting}},
		{"preceding queued", []precedingState{pre(1, StatusQueued)}, nil, submitDecision{Status: StatusWaiting, Pending: 1}},
		{"preceding waiting and running", []precedingState{pre(1, StatusWaiting), pre(2, StatusRunning)}, nil,
			submitDecision{Status: StatusWaiting, Pending: 2}},
		{"preceding failed", []precedingState{pre(3, StatusFailed)}, nil,
			submitDecision{Status: StatusCancelled, Reason: "preceding job build #3 failed"}},
		{"preceding cancelled", []precedingState{pre(3, StatusCancelled)}, nil,
			submitDecision{Status: StatusCancelled, Reason: "preceding job build #3 was cancelled"}},
		{"preceding timed out", []precedingState{pre(3, StatusTimedOut)}, nil,
			submitDecision{Status: StatusCancelled, Reason: "preceding job build #3 timed out"}},
		{"preceding lost", []precedingState{pre(3, StatusLost)}, nil,
			submitDecision{Status: StatusCancelled, Reason: "preceding job build #3 was lost"}},
		{"the first that did not succeed is named", []precedingState{pre(1, StatusSucceeded), pre(4, StatusLost), pre(3, StatusFailed)}, nil,
			submitDecision{Status: StatusCancelled, Reason: "preceding job build #4 was lost"}},
		{"skipped still counts what it waited for", []precedingState{pre(1, StatusRunning), pre(3, StatusFailed)}, &later,
			submitDecision{Status: StatusCancelled, Reason: "preceding job build #3 failed", Pending: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, submitStatus(tc.preceding, tc.earliest, now))
		})
	}
}
