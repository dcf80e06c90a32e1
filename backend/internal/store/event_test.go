package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/dbtest"
	"github.com/aura-ci/aura/backend/internal/event"
	"github.com/aura-ci/aura/backend/internal/seal"
	"github.com/aura-ci/aura/backend/internal/store"
)

// listen returns a connection LISTENing on the events channel of a fresh database, and its store.
func listen(t *testing.T) (*store.Store, func() event.Event) {
	t.Helper()
	url := dbtest.NewURL(t)
	pool, err := pgxpool.New(context.Background(), url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	conn, err := pgx.Connect(context.Background(), url)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	_, err = conn.Exec(context.Background(), "LISTEN "+store.ChannelEvents)
	require.NoError(t, err)
	next := func() event.Event {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		n, err := conn.WaitForNotification(ctx)
		require.NoError(t, err)
		e, err := event.Parse([]byte(n.Payload))
		require.NoError(t, err, n.Payload)
		// Every payload field belongs to its type: decode the rest strictly.
		var fields map[string]any
		require.NoError(t, json.Unmarshal([]byte(n.Payload), &fields))
		delete(fields, "type")
		rest, _ := json.Marshal(fields)
		d := json.NewDecoder(bytes.NewReader(rest))
		d.DisallowUnknownFields()
		x := reflect.New(reflect.TypeOf(e))
		require.NoError(t, d.Decode(x.Interface()), n.Payload)
		return e
	}
	box, err := seal.New(seal.NewKey())
	require.NoError(t, err)
	return store.New(pool, box), next
}

// TestEvents follows one job through the store and checks every typed event its
// transitions NOTIFY, including the claim's, which is built in SQL.
func TestEvents(t *testing.T) {
	t.Parallel()
	st, next := listen(t)
	ctx := context.Background()
	p, err := st.ProjectCreate(ctx, "proj", "Proj", false, nil)
	require.NoError(t, err)
	r, err := st.RunnerCreate(ctx, &store.RunnerCreateParams{Name: "r1", Tags: []string{"linux"}, Hash: []byte("hash")}, nil)
	require.NoError(t, err)
	jobs, err := st.JobSubmit(ctx, []*store.JobSubmitParams{{ProjectID: p.ID, ProjectSlug: "proj",
		EntityKey: "commit", EntityVal: "abc", JobSpec: store.JobSpec{Name: "build", Cmd: "true", Tag: "linux", MaxAttempts: 1}}})
	require.NoError(t, err)
	id := jobs[0].ID
	want := event.Job{JobID: id, Project: "proj", EntityKey: "commit", EntityVal: "abc", Status: "queued", Tag: "linux", Attempt: 1}
	require.Equal(t, want, next())

	claimed, err := st.JobClaim(ctx, &store.JobClaimParams{RunnerID: r.ID, Tag: "linux", Limit: 1, Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	want.Status, want.RunnerID = "running", r.ID
	require.Equal(t, want, next(), "the claim's SQL-built event equals the Go type")

	_, err = st.LogAppend(ctx, &store.LogAppendParams{Holder: store.Holder{JobID: id, Attempt: 1, RunnerID: r.ID}, Offset: 0, Data: []byte("hello\n")})
	require.NoError(t, err)
	require.Equal(t, event.Log{JobID: id, Attempt: 1, Offset: 0, Length: 6}, next())

	require.NoError(t, st.RunnerCheckIn(ctx, r.ID, []string{"linux", "gpu"}, "1.0", "linux", "amd64"))
	re, ok := next().(event.Runner)
	require.True(t, ok)
	require.Equal(t, r.ID, re.RunnerID)
	require.Equal(t, "r1", re.Name)
	require.Equal(t, []string{"linux"}, re.Tags, "a check-in leaves the registered tags as they are")
	require.WithinDuration(t, time.Now(), re.LastCheckIn, time.Minute)

	_, err = st.JobComplete(ctx, &store.JobCompleteParams{Holder: store.Holder{JobID: id, Attempt: 1, RunnerID: r.ID}})
	require.NoError(t, err)
	want.Status, want.RunnerID = "succeeded", 0
	require.Equal(t, want, next())
}

func TestLogChunksRead(t *testing.T) {
	t.Parallel()
	st, _ := listen(t)
	ctx := context.Background()
	p, err := st.ProjectCreate(ctx, "proj", "Proj", false, nil)
	require.NoError(t, err)
	r, err := st.RunnerCreate(ctx, &store.RunnerCreateParams{Name: "r1", Tags: []string{"linux"}, Hash: []byte("hash")}, nil)
	require.NoError(t, err)
	jobs, err := st.JobSubmit(ctx, []*store.JobSubmitParams{{ProjectID: p.ID, ProjectSlug: "proj",
		EntityKey: "commit", EntityVal: "abc", JobSpec: store.JobSpec{Name: "build", Cmd: "true", Tag: "linux", MaxAttempts: 1}}})
	require.NoError(t, err)
	id := jobs[0].ID
	_, err = st.JobClaim(ctx, &store.JobClaimParams{RunnerID: r.ID, Tag: "linux", Limit: 1, Lease: time.Minute})
	require.NoError(t, err)
	var off int64
	for _, s := range []string{"aaaa", "bbbb", "cccc", "dddd"} {
		_, err := st.LogAppend(ctx, &store.LogAppendParams{Holder: store.Holder{JobID: id, Attempt: 1, RunnerID: r.ID}, Offset: off, Data: []byte(s)})
		require.NoError(t, err)
		off += 4
	}
	readBounded := func(from, to int64, max int, maxBytes int64) string {
		chunks, attempt, err := st.LogChunksRead(ctx, id, 0, from, to, max, maxBytes)
		require.NoError(t, err)
		require.Equal(t, 1, attempt)
		var b strings.Builder
		next := from
		for _, c := range chunks {
			require.Equal(t, next, c.Offset)
			require.False(t, c.Time.IsZero())
			b.Write(c.Data)
			next += int64(len(c.Data))
		}
		return b.String()
	}
	read := func(from, to int64, max int) string { return readBounded(from, to, max, 0) }
	require.Equal(t, "aaaabbbbccccdddd", read(0, 0, 100))
	require.Equal(t, "aaaabbbb", readBounded(0, 0, 100, 8), "no chunk starting 8 bytes or more in")
	require.Equal(t, "aaaa", readBounded(0, 0, 100, 1), "the first chunk whatever its size")
	require.Equal(t, "abbbbccc", read(3, 11, 100))
	require.Equal(t, "bbcccc", read(6, 0, 2))
	require.Equal(t, "", read(16, 0, 100))
	_, _, err = st.LogChunksRead(ctx, 999, 0, 0, 0, 1, 0)
	require.ErrorIs(t, err, store.ErrNotFound)
}
