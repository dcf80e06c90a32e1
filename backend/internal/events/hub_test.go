package events

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/dbtest"
	"github.com/aura-ci/aura/backend/internal/event"
	"github.com/aura-ci/aura/backend/internal/store"
	"github.com/aura-ci/aura/backend/internal/topic"
)

// TestEntityFlushRereadsPrivacy: an entity whose jobs changed while its project
// was public waits to be flushed (the hub drains its backlog first); made
// private meanwhile, its update must not reach an anonymous subscriber. The
// entity's update is read at the flush, so it may already show jobs submitted
// after the change. The pending entity kept the project as it was when the job
// event came, and the update went out: TestEventsPrivateAtOnce saw it now and then.
func TestEntityFlushRereadsPrivacy(t *testing.T) {
	ctx := context.Background()
	st := store.New(dbtest.New(t), nil)
	p, err := st.ProjectCreate(ctx, "pub", "Pub", false, nil)
	require.NoError(t, err)
	jobs, err := st.JobSubmit(ctx, []*store.JobSubmitParams{{
		JobSpec:   store.JobSpec{Name: "a", Cmd: "true", Tag: "linux", TimeoutSeconds: 60, MaxAttempts: 1},
		ProjectID: p.ID, ProjectSlug: p.Slug, EntityKey: "commit", EntityVal: "c1",
	}})
	require.NoError(t, err)

	h := NewHub(st, nil, HubConfig{})
	anon := &client{hub: h, send: make(chan item, 16), topics: map[string]struct{}{}, killed: make(chan struct{})}
	anon.who.Store(newIdentity(nil, ""))
	h.clients[anon] = struct{}{}
	h.topics[topic.Project("pub")] = map[*client]struct{}{anon: {}}

	dirty := map[entityRef]*pendingEntity{}
	h.handle(ctx, event.Job{JobID: jobs[0].ID, Project: "pub", EntityKey: "commit", EntityVal: "c1", Status: "queued", Tag: "linux"}, dirty)
	require.Len(t, anon.send, 1, "the job event of a public project reaches anyone")
	<-anon.send
	require.Len(t, dirty, 1)

	private := true
	_, err = st.ProjectUpdate(ctx, "pub", &store.ProjectUpdateParams{Private: &private}, nil)
	require.NoError(t, err)
	h.access(event.Access{Project: "pub"})
	h.flushEntities(ctx, dirty)
	require.Len(t, anon.send, 0, "an entity update of a project made private reached an anonymous socket")
}
