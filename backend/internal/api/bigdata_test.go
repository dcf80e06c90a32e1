package api_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCollectionCounts checks that the member counts kept with each collection
// match its members through single submits, batches, repeats and concurrent
// submits into the same collections.
func TestCollectionCounts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("proj", false)
	b.submit(tok, map[string]any{"entityVal": "a", "collections": map[string]string{"ref": "main", "mr": "1"}})
	b.submit(tok, map[string]any{"entityVal": "a", "name": "test", "collections": map[string]string{"ref": "main"}})
	jobs := make([]map[string]any, 5)
	for i := range jobs {
		jobs[i] = map[string]any{"entityKey": "commit", "entityVal": fmt.Sprint("b", i%3), "name": fmt.Sprint("j", i),
			"cmd": "true", "tag": "linux", "collections": map[string]string{"ref": "main", "mr": fmt.Sprint(i % 2)}}
	}
	b.json(call{method: "POST", path: "/api/v1/jobs/batch", token: tok, body: map[string]any{"jobs": jobs}}, 201, nil)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			b.submit(tok, map[string]any{"entityVal": fmt.Sprint("c", i%4), "name": fmt.Sprint("n", i),
				"collections": map[string]string{"ref": "dev", "mr": "1"}})
		})
	}
	wg.Wait()

	want := map[string]int64{}
	rows, err := b.pool.Query(context.Background(), `
		SELECT c.key || '/' || c.value, count(ce.entity_id) FROM collections c
		LEFT JOIN collection_entities ce ON ce.collection_id = c.id GROUP BY 1`)
	require.NoError(t, err)
	for rows.Next() {
		var name string
		var n int64
		require.NoError(t, rows.Scan(&name, &n))
		want[name] = n
	}
	require.NoError(t, rows.Err())
	require.Equal(t, map[string]int64{"ref/main": 4, "ref/dev": 4, "mr/1": 7, "mr/0": 3}, want)

	got := map[string]int64{}
	for _, key := range []string{"ref", "mr"} {
		var list struct {
			Items []struct {
				Value       string
				EntityCount int64
			}
		}
		b.json(call{method: "GET", path: "/api/v1/projects/proj/collections/" + key}, 200, &list)
		for _, c := range list.Items {
			got[key+"/"+c.Value] = c.EntityCount
			var one struct{ EntityCount int64 }
			b.json(call{method: "GET", path: "/api/v1/projects/proj/collections/" + key + "/" + c.Value}, 200, &one)
			require.Equal(t, c.EntityCount, one.EntityCount)
		}
	}
	require.Equal(t, want, got)
}

// TestEntityJobPages pages through an entity's jobs: 200 by default (what every
// caller got before pages, up to that size), any limit, oldest first, no job twice.
func TestEntityJobPages(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("proj", false)
	jobs := make([]map[string]any, 205)
	for i := range jobs {
		jobs[i] = map[string]any{"entityKey": "commit", "entityVal": "big", "name": fmt.Sprint("j", i), "cmd": "true", "tag": "linux"}
	}
	b.json(call{method: "POST", path: "/api/v1/jobs/batch", token: tok, body: map[string]any{"jobs": jobs}}, 201, nil)
	type page struct {
		Summary    string
		Jobs       []struct{ ID int64 }
		NextCursor string
	}
	var first page
	b.json(call{method: "GET", path: "/api/v1/projects/proj/entities/commit/big"}, 200, &first)
	require.Len(t, first.Jobs, 200)
	require.NotEmpty(t, first.NextCursor)
	require.Equal(t, "205 queued", first.Summary, "the counts cover every job, not the page")

	var ids []int64
	cursor := ""
	for range 10 {
		var p page
		b.json(call{method: "GET", path: "/api/v1/projects/proj/entities/commit/big?limit=60&cursor=" + cursor}, 200, &p)
		for _, j := range p.Jobs {
			ids = append(ids, j.ID)
		}
		if cursor = p.NextCursor; cursor == "" {
			break
		}
	}
	require.Len(t, ids, 205)
	for i := 1; i < len(ids); i++ {
		require.Less(t, ids[i-1], ids[i])
	}
	require.Equal(t, first.Jobs[199].ID, ids[199])
	b.fail(call{method: "GET", path: "/api/v1/projects/proj/entities/commit/big?cursor=bogus"}, 400)
	b.fail(call{method: "GET", path: "/api/v1/projects/proj/entities/commit/big?limit=201", invalid: true}, 400)
}

// TestLogReadStreams reads a 5 MiB log stored in chunks of very different sizes
// (one far larger than a read's piece) in many ranges: every range is exact, a
// read without limit stops at 4 MiB and X-Log-Length says how far to page on.
func TestLogReadStreams(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("proj", false)
	_, run := b.runner("r1", "linux")
	b.submit(tok, nil)
	c := b.claim(run, 1, "linux")[0]
	b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/heartbeat", c.ID), token: run, body: map[string]any{"attempt": 1}}, 200, nil)
	log := make([]byte, 5<<20+123)
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := range log {
		log[i] = byte('a' + rnd.IntN(26))
	}
	for off := 0; off < len(log); {
		n := min(len(log)-off, []int{1, 700, 3 << 20, 300 << 10, 5000}[rnd.IntN(5)])
		code, body := b.do(call{method: "PATCH", path: logPath(c.ID, 1, off), token: run, raw: log[off : off+n], contentType: "application/octet-stream"})
		require.Equal(t, 200, code, "%s", body)
		off += n
	}
	read := func(query string) ([]byte, string) {
		t.Helper()
		resp, err := http.Get(fmt.Sprintf("%s/api/v1/jobs/%d/log%s", b.url, c.ID, query))
		require.NoError(t, err)
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, 200, resp.StatusCode, "%s: %.200s", query, data)
		return data, resp.Header.Get("X-Log-Length")
	}
	data, length := read("")
	require.Equal(t, fmt.Sprint(len(log)), length)
	require.Equal(t, 4<<20, len(data), "a read without limit stops at 4 MiB")
	require.True(t, bytes.Equal(log[:4<<20], data))
	var paged []byte
	for off := 0; off < len(log); off += 1 << 20 {
		part, _ := read(fmt.Sprintf("?offset=%d&limit=%d", off, 1<<20))
		paged = append(paged, part...)
	}
	require.True(t, bytes.Equal(log, paged), "pages of 1 MiB put the log together")
	for range 10 {
		off := rnd.IntN(len(log))
		n := 1 + rnd.IntN(1<<20)
		part, _ := read(fmt.Sprintf("?offset=%d&limit=%d", off, n))
		require.True(t, bytes.Equal(log[off:min(len(log), off+n)], part), "offset %d limit %d", off, n)
	}
	all, _ := read(fmt.Sprintf("?limit=%d", math.MaxInt64))
	require.True(t, bytes.Equal(log, all))
	end, _ := read(fmt.Sprintf("?offset=%d", len(log)))
	require.Empty(t, end)

	e := b.fail(call{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d/log?attempt=9", c.ID)}, 404)
	require.Contains(t, e.Message, "attempt 9")
	e = b.fail(call{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d/log?attempt=%d", c.ID, int64(math.MaxInt32)+1)}, 404)
	require.Contains(t, e.Message, "attempt 2147483648")
	e = b.fail(call{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d/log?offset=%d", c.ID, int64(math.MaxInt64))}, 400)
	require.Equal(t, "offset", e.Field)
	e = b.fail(call{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d/log?limit=0", c.ID), invalid: true}, 400)
	require.Equal(t, "limit", e.Field)
}

// TestCompatLogUploadInPieces uploads a 3.5 MiB log the 0.4 way: it is stored
// as it arrives, a piece at a time, and reads back whole; a retried upload
// doubles nothing.
func TestCompatLogUploadInPieces(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("proj", false)
	_, run := b.runner("old", "linux")
	var sub struct{ ID int64 }
	b.json(call{method: "POST", path: "/api/submit", token: tok, body: map[string]any{
		"project": "proj", "entityKey": "commit", "entityVal": "a", "name": "build", "cmd": "true", "tag": "linux"}}, 200, &sub)
	b.json(call{method: "POST", path: "/api/runner", token: run, body: map[string]any{"name": "old", "tags": []string{"linux"}, "limit": 1}}, 200, nil)
	log := bytes.Repeat([]byte("0123456789abcdef"), 7<<15)
	for range 2 {
		b.json(call{method: "POST", path: fmt.Sprintf("/api/storage/%d/log", sub.ID), token: run, raw: log, contentType: "text/plain"}, 200, nil)
	}
	require.Equal(t, 14, b.count("log_chunks"), "stored once, in rows of 256 KiB")
	_, got := b.do(call{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d/log", sub.ID)})
	require.True(t, bytes.Equal(log, got))
}

// TestProjectDeleteInBackground deletes a project with jobs in every state, logs
// and collections: it leaves the API at once (its slug is free again, its tokens
// stop working), and ProjectPurge then removes its rows in batches, leaving the
// other project alone.
func TestProjectDeleteInBackground(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("doomed", false)
	keep := b.project("keep", false)
	_, run := b.runner("r1", "linux")
	first := b.submit(tok, map[string]any{"collections": map[string]string{"ref": "main"}})
	c := b.claim(run, 1, "linux")[0]
	b.do(call{method: "PATCH", path: logPath(c.ID, 1, 0), token: run, raw: []byte("log"), contentType: "application/octet-stream"})
	b.finish(run, c, 0)
	jobs := make([]map[string]any, 450)
	for i := range jobs {
		jobs[i] = map[string]any{"entityKey": "commit", "entityVal": fmt.Sprint("c", i%120), "name": fmt.Sprint("j", i),
			"cmd": "true", "tag": "other", "collections": map[string]string{"ref": fmt.Sprint("r", i%3)}}
		if i%2 == 1 {
			jobs[i]["precedingNames"] = []string{fmt.Sprint("j", i-1)}
		}
	}
	b.json(call{method: "POST", path: "/api/v1/jobs/batch", token: tok, body: map[string]any{"jobs": jobs}}, 201, nil)
	kept := b.submit(keep, map[string]any{"collections": map[string]string{"ref": "main"}})
	rowsBefore := map[string]int{}
	for _, tbl := range []string{"jobs", "entities", "collections", "log_chunks", "collection_entities", "job_edges"} {
		rowsBefore[tbl] = b.count(tbl)
	}

	code, _ := b.do(call{method: "DELETE", path: "/api/v1/projects/doomed", token: b.admin})
	require.Equal(t, 204, code)
	e := b.fail(call{method: "GET", path: "/api/v1/projects/doomed"}, 404)
	require.Contains(t, e.Message, "doomed")
	b.fail(call{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d", first.ID)}, 404)
	b.fail(call{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d/log", first.ID)}, 404)
	b.fail(call{method: "DELETE", path: "/api/v1/projects/doomed", token: b.admin}, 404)
	b.fail(call{method: "POST", path: "/api/v1/jobs", token: tok, body: map[string]any{
		"entityKey": "commit", "entityVal": "x", "name": "n", "cmd": "true", "tag": "linux"}}, 401)
	var queue struct{ Items []struct{ Project string } }
	b.json(call{method: "GET", path: "/api/v1/queue?limit=200", token: b.admin}, 200, &queue)
	require.Len(t, queue.Items, 1)
	require.Equal(t, "keep", queue.Items[0].Project)
	var projects struct{ Items []struct{ Slug string } }
	b.json(call{method: "GET", path: "/api/v1/projects", token: b.admin}, 200, &projects)
	require.Len(t, projects.Items, 1)
	require.Equal(t, 451, b.count("jobs")-1, "the rows are still there: the delete only marked the project")
	_, other := b.runner("r2", "other")
	require.Empty(t, b.claim(other, 10, "other"), "no runner gets a deleted project's jobs while they wait for the purge")

	b.project("doomed", false) // the slug is free at once
	b.submit(keep, nil)

	steps := 0
	for {
		more, err := b.store.ProjectPurge(context.Background())
		require.NoError(t, err)
		if !more {
			break
		}
		steps++
	}
	require.Greater(t, steps, 5, "the purge went in batches")
	var left int
	require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT count(*) FROM projects`).Scan(&left))
	require.Equal(t, 2, left)
	require.Equal(t, 2, b.count("jobs"))
	require.Equal(t, 1, b.count("entities"))
	require.Equal(t, 1, b.count("collections"))
	require.Zero(t, b.count("log_chunks"))
	require.Zero(t, b.count("job_edges"))
	require.Equal(t, kept.ID, b.job(kept.ID).ID)
	require.Less(t, b.count("jobs"), rowsBefore["jobs"])
}
