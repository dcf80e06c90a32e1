package dispatch_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/dispatch"
	"github.com/aura-ci/aura/backend/internal/store"
)

// setupHandoff is setupIdle with the store handing jobs to the dispatcher's
// parked polls, as the app wires them.
func setupHandoff(t *testing.T) *idleBundle {
	t.Helper()
	b := setupIdle(t, dispatch.Config{})
	b.st.SetHandoff(b.d)
	return b
}

// park starts a long poll of runnerID for linux and waits until it is parked.
func (b *idleBundle) park(t *testing.T, ctx context.Context, runnerID int64, wait time.Duration) <-chan []*store.ClaimedJob {
	t.Helper()
	got := make(chan []*store.ClaimedJob, 1)
	go func() {
		jobs, err := b.d.Claim(ctx, &dispatch.ClaimRequest{RunnerID: runnerID, Tags: []string{"linux"}, Capacity: 1,
			Wait: wait, Version: "1.0", OS: "linux", Arch: "amd64"})
		if err != nil {
			t.Error(err)
		}
		got <- jobs
	}()
	b.d.TestSignals.WaiterRegistered.WaitFor(func(id int64) bool { return id == runnerID })
	return got
}

func claimStatements(stmts []string) int {
	n := 0
	for _, s := range stmts {
		if strings.Contains(s, "FOR UPDATE SKIP LOCKED") {
			n++
		}
	}
	return n
}

// TestHandoffSubmit: a job submitted while a runner's long poll is parked
// here is claimed for it inside the submission's one round trip, with its
// secrets opened; the poll runs no claim of its own, and no other parked poll
// is woken for it.
func TestHandoffSubmit(t *testing.T) {
	t.Parallel()
	b := setupHandoff(t)
	got := b.park(t, b.ctx, b.runnerID, 10*time.Second)
	var jobs []*store.ClaimedJob
	stmts, trips := b.stmts.During(func() {
		_, err := b.st.JobSubmit(b.ctx, []*store.JobSubmitParams{{JobSpec: store.JobSpec{Name: "j", Cmd: "true", Tag: "linux"},
			ProjectID: b.project.ID, ProjectSlug: "proj", EntityKey: "commit", EntityVal: "abc",
			SecretEnv: map[string]string{"S": "v"}}})
		require.NoError(t, err)
		jobs = <-got
	})
	require.Len(t, jobs, 1)
	require.Equal(t, map[string]string{"S": "v"}, jobs[0].SecretEnv)
	require.Len(t, trips, 1, "the submission and the hand-off: one round trip: %q", trips)
	require.Equal(t, 1, claimStatements(stmts), "one claim statement: %q", stmts)
}
