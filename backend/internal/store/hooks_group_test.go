package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/store"
)

// TestHookSubmitGroupRoundTrips: a group of deliveries costs the round trips
// of one submission, however many deliveries it holds: their dedupe keys are
// recorded by one statement in the first, and the integration's last delivery
// is written in the last, with the commit, not after it in a transaction of
// its own.
func TestHookSubmitGroupRoundTrips(t *testing.T) {
	t.Parallel()
	st, c := countedStore(t)
	ctx := context.Background()
	p, err := st.ProjectCreate(ctx, "proj", "Proj", false, nil)
	require.NoError(t, err)
	repo := "owner/repo"
	in, err := st.IntegrationCreate(ctx, p.ID, &store.IntegrationParams{Kind: "gitea", Repository: &repo, Secret: "hook-secret"}, nil)
	require.NoError(t, err)
	seq := 0
	group := func(n int) []*store.HookSubmitParams {
		var ps []*store.HookSubmitParams
		for range n {
			seq++
			sha := fmt.Sprintf("%040x", seq)
			ps = append(ps, &store.HookSubmitParams{IntegrationID: in.ID, ProjectID: p.ID, Project: "proj",
				DedupeKeys: []string{"event:push:refs/heads/main:" + sha, fmt.Sprintf("delivery:%d", seq)}, ReportSHA: sha,
				By: &store.Actor{Kind: store.ActorForge, Name: "gitea delivery"}, Message: fmt.Sprintf("push %d", seq),
				ReceivedAt: time.Now(),
				Jobs: []*store.JobSubmitParams{{JobSpec: store.JobSpec{Name: "build", Cmd: "true", Tag: "linux"}, ProjectID: p.ID,
					ProjectSlug: "proj", EntityKey: "commit", EntityVal: sha, Collections: map[string]string{"ref": "main"}}}})
		}
		return ps
	}
	for range 2 { // warm the connection's statement cache
		for _, r := range st.HookSubmitGroup(ctx, group(2)) {
			require.NoError(t, r.Err)
		}
	}
	for _, n := range []int{2, 6} {
		var res []store.HookSubmitResult
		stmts, trips := c.During(func() { res = st.HookSubmitGroup(ctx, group(n)) })
		for _, r := range res {
			require.NoError(t, r.Err)
			require.False(t, r.Duplicate)
			require.Len(t, r.Jobs, 1)
		}
		require.Len(t, trips, 2, "%d deliveries: %q", n, trips)
		var dedupe, delivered int
		for _, s := range stmts {
			if strings.Contains(s, "INSERT INTO webhook_deliveries") {
				dedupe++
			}
			if strings.Contains(s, "UPDATE integrations i SET last_delivery_at") {
				delivered++
			}
		}
		require.Equal(t, 1, dedupe, "%d deliveries: %q", n, stmts)
		require.Equal(t, 1, delivered, "%d deliveries: %q", n, stmts)
		got, err := st.IntegrationGet(ctx, in.ID)
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("push %d", seq), got.LastDelivery, "the latest delivery of the group")
	}

	// A duplicate leaves the group to the others, and its message out.
	ps := group(3)
	dup := group(1)[0]
	dup.DedupeKeys, dup.Message = ps[0].DedupeKeys[:1], "the duplicate"
	dup.ReceivedAt = time.Now().Add(time.Hour)
	res := st.HookSubmitGroup(ctx, append(ps, dup))
	for i, r := range res {
		require.NoError(t, r.Err)
		require.Equal(t, i == 3, r.Duplicate, "delivery %d", i)
	}
	got, err := st.IntegrationGet(ctx, in.ID)
	require.NoError(t, err)
	require.Equal(t, ps[2].Message, got.LastDelivery)
	_, err = st.EntityRefGet(ctx, p.ID, "commit", dup.ReportSHA)
	require.ErrorIs(t, err, store.ErrNotFound, "nothing of the duplicate is written")
}

// TestHookSubmitIntegrationVersion: a delivery handled on an integration's
// settings is submitted only while they hold; its last delivery and status
// changing does not count. One handled on changed settings writes nothing.
func TestHookSubmitIntegrationVersion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := store.New(newPool(t), newBox(t, make([]byte, 32)))
	p, err := st.ProjectCreate(ctx, "proj", "Proj", false, nil)
	require.NoError(t, err)
	repo := "owner/repo"
	in, err := st.IntegrationCreate(ctx, p.ID, &store.IntegrationParams{Kind: "gitea", Repository: &repo, Secret: "hook-secret"}, nil)
	require.NoError(t, err)
	seq := 0
	delivery := func(version string) *store.HookSubmitParams {
		seq++
		sha := fmt.Sprintf("%040x", seq)
		return &store.HookSubmitParams{IntegrationID: in.ID, ProjectID: p.ID, Project: "proj",
			DedupeKeys: []string{fmt.Sprintf("delivery:%d", seq)}, ReportSHA: sha, IntegrationVersion: version,
			By: &store.Actor{Kind: store.ActorForge, Name: "gitea delivery"}, Message: fmt.Sprintf("push %d", seq),
			Jobs: []*store.JobSubmitParams{{JobSpec: store.JobSpec{Name: "build", Cmd: "true", Tag: "linux"}, ProjectID: p.ID,
				ProjectSlug: "proj", EntityKey: "commit", EntityVal: sha}}}
	}
	written := func(d *store.HookSubmitParams) bool {
		_, err := st.EntityRefGet(ctx, p.ID, "commit", d.ReportSHA)
		return err == nil
	}
	opened, err := st.IntegrationOpen(ctx, in.ID)
	require.NoError(t, err)
	old := opened.Version
	require.NotEmpty(t, old)

	_, dup, err := st.HookSubmit(ctx, delivery(old))
	require.NoError(t, err)
	require.False(t, dup)
	for _, r := range st.HookSubmitGroup(ctx, []*store.HookSubmitParams{delivery(old), delivery(old)}) {
		require.NoError(t, r.Err)
	}
	require.NoError(t, st.IntegrationStatusReported(ctx, in.ID, "the forge answered 500"))
	opened, err = st.IntegrationOpen(ctx, in.ID)
	require.NoError(t, err)
	require.Equal(t, old, opened.Version, "deliveries and statuses are not settings")

	events := []string{"tag"}
	_, err = st.IntegrationUpdate(ctx, in.ID, &store.IntegrationParams{Events: events}, nil)
	require.NoError(t, err)
	opened, err = st.IntegrationOpen(ctx, in.ID)
	require.NoError(t, err)
	require.NotEqual(t, old, opened.Version)

	stale := delivery(old)
	_, dup, err = st.HookSubmit(ctx, stale)
	require.ErrorIs(t, err, store.ErrIntegrationChanged)
	require.False(t, dup)
	require.False(t, written(stale))

	group := []*store.HookSubmitParams{delivery(old), delivery(opened.Version), delivery("")}
	res := st.HookSubmitGroup(ctx, group)
	require.ErrorIs(t, res[0].Err, store.ErrIntegrationChanged)
	require.False(t, written(group[0]))
	for i := 1; i < 3; i++ {
		require.NoError(t, res[i].Err)
		require.Len(t, res[i].Jobs, 1)
		require.True(t, written(group[i]))
	}
	got, err := st.IntegrationGet(ctx, in.ID)
	require.NoError(t, err)
	require.Equal(t, group[2].Message, got.LastDelivery)

	// Redelivered on the current settings, the refused delivery goes in.
	group[0].IntegrationVersion = opened.Version
	_, dup, err = st.HookSubmit(ctx, group[0])
	require.NoError(t, err)
	require.False(t, dup)
	require.True(t, written(group[0]))
}
