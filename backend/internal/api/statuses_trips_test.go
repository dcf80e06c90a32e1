package api_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/dbtest"
	"github.com/aura-ci/aura/backend/internal/integrations"
)

// senderCtx marks the sender's calls in a test, for the SQL recorder.
type senderCtx struct{}

// setupStatusesRecorded is setupStatuses on a pool whose round trips made
// with a senderCtx context are recorded.
func setupStatusesRecorded(t *testing.T, kind, repo string, extra map[string]any) (*statusBundle, *dbtest.SQLRecorder) {
	rec := &dbtest.SQLRecorder{Only: func(ctx context.Context) bool { return ctx.Value(senderCtx{}) != nil }}
	b := setupWith(t, bundleOptions{tracer: rec})
	b.project("forge", false)
	f := newFakeForge(t)
	body := map[string]any{"kind": kind, "repository": repo, "apiUrl": f.URL + "/api/v1",
		"accessToken": "forge-token-1234", "allowPrivateNetwork": true}
	for k, v := range extra {
		body[k] = v
	}
	in := b.integration("forge", body)
	rid, _ := b.runner("r1", "native,linux")
	return &statusBundle{testBundle: b, forge: f, in: in, runner: rid}, rec
}

// TestStatusSendRoundTrips: a sender's batch costs the same round trips
// whatever its size: the claim, one read of the commits' states and one write
// of what was sent (with the integration's last status), not three per row.
func TestStatusSendRoundTrips(t *testing.T) {
	t.Parallel()
	for _, perJob := range []bool{false, true} {
		t.Run(fmt.Sprintf("contextPerJob=%v", perJob), func(t *testing.T) {
			t.Parallel()
			s, rec := setupStatusesRecorded(t, "gitea", "owner/repo", map[string]any{"contextPerJob": perJob,
				"jobs": []map[string]any{{"name": "build", "cmd": "x", "tag": "native,linux"}, {"name": "test", "cmd": "x", "tag": "odd"}}})
			ctx := context.WithValue(context.Background(), senderCtx{}, true)
			snd := s.sender()
			const commits = 5
			for i := range commits {
				s.push(sha(200 + i))
			}
			var n int
			trips := rec.Trips(func() {
				var err error
				n, err = snd.SendDue(ctx)
				require.NoError(t, err)
			})
			require.Equal(t, commits, n)
			require.Len(t, trips, 3, "%q", trips)
			require.Contains(t, trips[0], "UPDATE status_outbox o SET locked_until")
			require.Contains(t, trips[1], "FROM unnest")
			require.Contains(t, trips[2], "UPDATE integrations i SET last_status_at")

			got := s.forge.received()
			want := map[string]bool{}
			for i := range commits {
				if perJob {
					want[sha(200+i)+" aura/build pending build queued"] = true
					want[sha(200+i)+" aura/test pending test queued"] = true
				} else {
					want[sha(200+i)+" aura pending 2 queued"] = true
				}
			}
			seen := map[string]bool{}
			for _, st := range got {
				seen[st.Path[strings.LastIndex(st.Path, "/")+1:]+" "+st.Context+" "+st.State+" "+st.Description] = true
			}
			require.Equal(t, want, seen)
			require.Len(t, got, len(want), "each status once")

			// What was sent is recorded: nothing is due any more.
			n, err := snd.SendDue(ctx)
			require.NoError(t, err)
			require.Zero(t, n)
			var in integrationResp
			s.json(call{method: "GET", path: fmt.Sprintf("/api/v1/projects/forge/integrations/%d", s.in.ID), token: s.admin}, 200, &in)
			require.NotNil(t, in.LastStatusAt)
			require.Empty(t, in.LastFailure)

			// A change is sent again, and only the change.
			s.run(0)
			drainOutbox(t, snd)
			require.Len(t, s.forge.received(), len(want)+commits, "the build jobs succeeded, the test jobs still wait")
		})
	}
}

// TestStatusSenderKicksCoalesce: a burst of deliveries, each of which kicks
// the sender, is served by a few looks (each a claim and its statements),
// not a look per delivery; the statuses still follow the burst at once.
func TestStatusSenderKicksCoalesce(t *testing.T) {
	t.Parallel()
	s, rec := setupStatusesRecorded(t, "gitea", "owner/repo", nil)
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), senderCtx{}, true))
	snd := integrations.NewSender(s.testBundle.forge, integrations.SenderConfig{Poll: time.Hour,
		KickEvery: 200 * time.Millisecond}, nil)
	const pushes = 10
	stmts := rec.Statements(func() {
		done := make(chan struct{})
		go func() { snd.Run(ctx); close(done) }()
		for i := range pushes {
			s.push(sha(300 + i))
		}
		require.Eventually(t, func() bool { return len(s.forge.received()) == pushes }, 10*time.Second, 5*time.Millisecond)
		cancel()
		<-done
	})
	claims := 0
	for _, st := range stmts {
		if strings.Contains(st, "FROM status_outbox WHERE version > sent_version") && strings.Contains(st, "SKIP LOCKED") {
			claims++
		}
	}
	require.LessOrEqual(t, claims, 4, "looks for %d deliveries", pushes)
}
