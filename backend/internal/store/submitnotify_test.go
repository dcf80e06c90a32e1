package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/dbtest"
	"github.com/aura-ci/aura/backend/internal/event"
	"github.com/aura-ci/aura/backend/internal/store"
)

// TestJobSubmitNotifiesPerKind: a batch of 1,000 jobs on one entity is two
// notifications, the queued job's event and one event.Jobs for the 999
// waiting ones, which stand for the event of each job.
func TestJobSubmitNotifiesPerKind(t *testing.T) {
	t.Parallel()
	url := dbtest.NewURL(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	defer pool.Close()
	st := store.New(pool, newBox(t, make([]byte, 32)))
	p, err := st.ProjectCreate(ctx, "proj", "Proj", false, nil)
	require.NoError(t, err)
	listen, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer listen.Close(ctx)
	_, err = listen.Exec(ctx, "LISTEN "+store.ChannelEvents)
	require.NoError(t, err)

	params := make([]*store.JobSubmitParams, 1000)
	for i := range params {
		params[i] = &store.JobSubmitParams{JobSpec: store.JobSpec{Name: fmt.Sprint("job", i), Cmd: "true", Tag: "linux"},
			ProjectID: p.ID, ProjectSlug: "proj", EntityKey: "commit", EntityVal: "abc"}
		if i > 0 {
			params[i].PrecedingNames = []string{fmt.Sprint("job", (i-1)/2)}
		}
	}
	jobs, err := st.JobSubmit(ctx, params)
	require.NoError(t, err)
	var want, got []event.Job
	for _, j := range jobs {
		want = append(want, event.Job{JobID: j.ID, Project: "proj", EntityKey: "commit", EntityVal: "abc",
			Status: j.Status, Tag: "linux", Attempt: 1})
	}
	notifications := 0
	for len(got) < len(want) {
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		n, err := listen.WaitForNotification(wctx)
		cancel()
		require.NoError(t, err, "%d notifications, %d events so far", notifications, len(got))
		notifications++
		e, err := event.Parse([]byte(n.Payload))
		require.NoError(t, err)
		switch e := e.(type) {
		case event.Jobs:
			e.Each(func(j event.Job) { got = append(got, j) })
		case event.Job:
			got = append(got, e)
		}
	}
	require.ElementsMatch(t, want, got)
	require.Equal(t, 2, notifications)
}
