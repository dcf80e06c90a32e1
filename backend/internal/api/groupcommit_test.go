package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestConcurrentCompletesEachOwnAnswer: completions arriving together share
// commits, yet each is its own transition with its own answer. Of 60 running
// jobs, each is completed at the same moment by its runner (200), by a runner
// that does not hold it (410) and for an attempt it does not have (410); every
// job ends once, with its own exit code, and the job that waits for each one
// is queued exactly once.
func TestConcurrentCompletesEachOwnAnswer(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("proj", false)
	const n = 60
	firsts := make([]int64, n)
	for i := range n {
		first := b.submit(tok, map[string]any{"entityVal": fmt.Sprint("c", i), "name": "first"})
		b.submit(tok, map[string]any{"entityVal": fmt.Sprint("c", i), "name": "second", "tag": "later",
			"precedingJobs": []int64{first.ID}})
		firsts[i] = first.ID
	}
	_, holder := b.runner("holder", "linux")
	_, other := b.runner("other", "linux")
	var got []claimed
	for len(got) < n {
		c := b.claim(holder, 50, "linux")
		require.NotEmpty(t, c)
		got = append(got, c...)
	}
	for _, c := range got {
		b.heartbeat(holder, c)
	}

	post := func(token string, id int64, attempt, exit int) int {
		req, _ := http.NewRequest("POST", fmt.Sprintf("%s/api/v1/jobs/%d/complete", b.url, id),
			strings.NewReader(fmt.Sprintf(`{"attempt":%d,"exitCode":%d}`, attempt, exit)))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := b.client.Do(req)
		if err != nil {
			return 0
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	codes := make([][3]int, n)
	var wg sync.WaitGroup
	for i, c := range got {
		exit := i % 2 // odd jobs fail: their waiting job is cancelled instead
		wg.Go(func() { codes[i][0] = post(holder, c.ID, c.Attempt, exit) })
		wg.Go(func() { codes[i][1] = post(other, c.ID, c.Attempt, 0) })
		wg.Go(func() { codes[i][2] = post(holder, c.ID, c.Attempt+1, 0) })
	}
	wg.Wait()
	for i, c := range got {
		require.Equal(t, [3]int{200, 410, 410}, codes[i], "job %d: holder, other runner, wrong attempt", c.ID)
		j := b.job(c.ID)
		want := "succeeded"
		if i%2 == 1 {
			want = "failed"
		}
		require.Equal(t, want, j.Status, "job %d", c.ID)
		require.NotNil(t, j.ExitCode)
		require.Equal(t, i%2, *j.ExitCode)
	}
	var queued, cancelled int
	require.NoError(t, b.pool.QueryRow(context.Background(),
		`SELECT count(*) FILTER (WHERE status = 'queued'), count(*) FILTER (WHERE status = 'cancelled') FROM jobs WHERE name = 'second'`).
		Scan(&queued, &cancelled))
	require.Equal(t, n/2, queued)
	require.Equal(t, n/2, cancelled)
	// The same complete again (its answer was lost) is answered again.
	require.Equal(t, 200, post(holder, got[0].ID, got[0].Attempt, 0))
}

// TestTagCheckInsCoalesced: every runner of a tag records its own check-in, but
// the tag's shared row is written once per check-in period, not once per runner:
// fifty runners polling one tag do not queue up on that row.
func TestTagCheckInsCoalesced(t *testing.T) {
	t.Parallel()
	b := setup(t)
	firstID, first := b.runner("first", "linux")
	secondID, second := b.runner("second", "linux", "arm")
	b.claim(first, 1, "linux")
	tagAt := func(tag string) (at time.Time) {
		require.NoError(t, b.pool.QueryRow(context.Background(),
			`SELECT last_check_in FROM tag_check_ins WHERE tag = $1`, tag).Scan(&at))
		return at
	}
	linux := tagAt("linux")
	b.claim(second, 1, "linux", "arm")
	require.Equal(t, linux, tagAt("linux"), "the tag's row was written again within the period")
	tagAt("arm") // a tag not seen yet is recorded at once
	for _, id := range []int64{firstID, secondID} {
		var checkedIn bool
		require.NoError(t, b.pool.QueryRow(context.Background(),
			`SELECT last_check_in IS NOT NULL FROM runners WHERE id = $1`, id).Scan(&checkedIn))
		require.True(t, checkedIn, "runner %d", id)
	}
}

// TestSubmitWakesOnePoll: a job wakes one long poll of its tag, and no other:
// not the parked polls of other tags, and not a second poll of its own tag once
// the first took the only job (each would cost a claim statement for nothing).
func TestSubmitWakesOnePoll(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("proj", false)
	aID, a := b.runner("a", "linux")
	bID, bTok := b.runner("b", "linux")
	oID, o := b.runner("o", "other")
	polls := map[int64]<-chan []claimed{
		aID: b.pollWaiting(aID, a, 1, "linux"),
		bID: b.pollWaiting(bID, bTok, 1, "linux"),
		oID: b.pollWaiting(oID, o, 1, "other"),
	}
	registered := &b.disp.TestSignals.WaiterRegistered
	registered.Init(t) // from now on, a poll that goes back to waiting was woken for nothing
	j := b.submit(tok, nil)
	var winner int64
	select {
	case jobs := <-polls[aID]:
		winner = aID
		require.Len(t, jobs, 1)
		require.Equal(t, j.ID, jobs[0].ID)
	case jobs := <-polls[bID]:
		winner = bID
		require.Len(t, jobs, 1)
		require.Equal(t, j.ID, jobs[0].ID)
	case <-time.After(10 * time.Second):
		t.Fatal("no long poll was woken by the submit")
	}
	// A poll woken for nothing looks, finds nothing and waits again, at once.
	select {
	case id := <-registered.C():
		t.Fatalf("runner %d's poll was woken for nothing (runner %d took the job)", id, winner)
	case <-time.After(500 * time.Millisecond):
	}
}
