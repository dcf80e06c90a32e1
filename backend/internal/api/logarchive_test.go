package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/logarchive"
)

// logReads are the answers a log reader gets: /log whole and in pages,
// X-Log-Length, /log/times, the job, and a websocket catch-up.
type logReads struct {
	Whole, Tail, Middle string
	Length              string
	Times               string
	LogLength           int64
	Socket              string
	Ranges              []string // Range reads: status, Content-Range, body
}

// rangeRead sends GET log with a Range header, validated against openapi.yaml.
func (b *testBundle) rangeRead(t *testing.T, id int64, rng string) string {
	t.Helper()
	req, err := http.NewRequest("GET", fmt.Sprintf("%s/api/v1/jobs/%d/log", b.url, id), nil)
	require.NoError(t, err)
	req.Header.Set("Range", rng)
	resp, err := b.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	b.validate(req, nil, resp, body, true)
	return fmt.Sprintf("%d %s %s", resp.StatusCode, resp.Header.Get("Content-Range"), body)
}

func (b *testBundle) logReads(t *testing.T, id int64, n int) logReads {
	t.Helper()
	var r logReads
	get := func(query string) string {
		code, body := b.do(call{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d/log%s", id, query)})
		require.Equal(t, http.StatusOK, code, "%s", body)
		return string(body)
	}
	r.Whole = get("")
	r.Tail = get(fmt.Sprintf("?offset=%d", n-1000))
	r.Middle = get(fmt.Sprintf("?offset=%d&limit=%d", n/3, n/3))
	resp, err := b.client.Get(fmt.Sprintf("%s/api/v1/jobs/%d/log?limit=1", b.url, id))
	require.NoError(t, err)
	resp.Body.Close()
	r.Length = resp.Header.Get("X-Log-Length")
	_, times := b.do(call{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d/log/times", id)})
	r.Times = string(times)
	r.LogLength = b.logJob(id).LogLength
	ws := openEvents(t, b.url, "")
	ws.subscribe(fmt.Sprintf("log:%d", id), "offset", 5)
	r.Socket = string(ws.readLog(id, 5, n-5))
	for _, rng := range []string{"bytes=100-199", "bytes=-1000", fmt.Sprintf("bytes=%d-", n-300), fmt.Sprintf("bytes=%d-", n), "bytes=0-0,5-9"} {
		r.Ranges = append(r.Ranges, b.rangeRead(t, id, rng))
	}
	return r
}

// TestLogArchivedReadsSame: once a finished log has moved to the blob store,
// every read of it over the API answers as it did from PostgreSQL; once
// the retention sweep deleted it, /log and /log/times answer 410 saying
// when, and the job carries logExpiredAt.
func TestLogArchivedReadsSame(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("proj", false)
	_, run := b.runner("r1", "linux")
	j := b.submit(tok, nil)
	c := b.claim(run, 1, "linux")[0]
	var log strings.Builder
	for i := range 40 {
		chunk := strings.Repeat(fmt.Sprintf("line %d of the build\n", i), 2000)
		b.appendLog(run, c.ID, c.Attempt, log.Len(), chunk)
		log.WriteString(chunk)
	}
	b.finish(run, c, 0)
	want := b.logReads(t, j.ID, log.Len())
	require.Equal(t, log.String(), want.Whole)
	n := log.Len()
	require.Equal(t, fmt.Sprintf("206 bytes 100-199/%d %s", n, log.String()[100:200]), want.Ranges[0])
	require.Equal(t, fmt.Sprintf("206 bytes %d-%d/%d %s", n-1000, n-1, n, log.String()[n-1000:]), want.Ranges[1])
	require.Equal(t, fmt.Sprintf("206 bytes %d-%d/%d %s", n-300, n-1, n, log.String()[n-300:]), want.Ranges[2])
	require.Contains(t, want.Ranges[3], fmt.Sprintf("416 bytes */%d", n))
	require.Equal(t, "200  "+log.String(), want.Ranges[4], "several ranges: offset and limit")

	rep, err := (&logarchive.Archiver{Store: b.store, Grace: -1}).Archive(context.Background())
	require.NoError(t, err)
	require.Equal(t, 1, rep.Logs)
	require.Zero(t, b.count("log_chunks"))
	require.Equal(t, want, b.logReads(t, j.ID, log.Len()))

	// Kept for a day, and ended two days ago: the sweep deletes it.
	var p struct{ LogRetention *int64 }
	b.json(call{method: "PATCH", path: "/api/v1/projects/proj", token: b.admin, body: map[string]any{"logRetention": 86400}}, 200, &p)
	require.EqualValues(t, 86400, *p.LogRetention)
	b.exec(`UPDATE log_archives SET ended_at = now() - interval '2 days'`)
	sw, _ := b.sweeper(10)
	require.Equal(t, 1, b.sweep(sw).Logs)
	require.Empty(t, b.blobKeys("logs/"))
	job := b.logJob(j.ID)
	require.NotNil(t, job.LogExpiredAt)
	day := job.LogExpiredAt.UTC().Format("2006-01-02")
	for _, path := range []string{"/log", "/log?offset=10", "/log/times"} {
		e := b.fail(call{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d%s", j.ID, path)}, http.StatusGone)
		require.Contains(t, e.Message, "expired on "+day)
	}
	b.fail(call{method: "PATCH", path: "/api/v1/projects/proj", token: b.admin, body: map[string]any{"logRetention": 0}, invalid: true}, 400)
}

type logJobResp struct {
	LogLength    int64
	LogExpiredAt *time.Time
}

func (b *testBundle) logJob(id int64) logJobResp {
	b.t.Helper()
	var j logJobResp
	b.json(call{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d", id)}, 200, &j)
	return j
}
