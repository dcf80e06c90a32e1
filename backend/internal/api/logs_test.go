package api_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestLogLengthAfterLimit: once the log limit dropped the middle of a log, the
// job's logLength says the bytes stored (openapi.yaml), while the offsets the
// runner appends at, and X-Log-Length a reader pages with, stay in bytes
// received, so a retried upload is still acknowledged idempotently.
func TestLogLengthAfterLimit(t *testing.T) {
	t.Parallel()
	// A thousand appends take more than the default 10 s to acknowledge a claim
	// on a loaded machine: the hand-out is acknowledged and its lease long.
	b := setupWith(t, bundleOptions{logLimit: 10000, lease: 5 * time.Minute})
	tok := b.project("proj", false)
	_, run := b.runner("r1", "linux")
	j := b.submit(tok, nil)
	c := b.claim(run, 1, "linux")[0]
	b.heartbeat(run, c)
	line := strings.Repeat(".", 49) + "\n"
	offset := 0
	for range 1000 {
		var res struct{ Length int64 }
		b.json(call{method: "PATCH", path: logPath(c.ID, 1, offset), token: run, raw: []byte(line), contentType: "application/octet-stream"}, 200, &res)
		offset += len(line)
		require.EqualValues(t, offset, res.Length, "the runner's offsets count the bytes it sent")
	}
	// A retry of the last chunk is acknowledged, not stored again.
	var res struct{ Length int64 }
	b.json(call{method: "PATCH", path: logPath(c.ID, 1, offset-len(line)), token: run, raw: []byte(line), contentType: "application/octet-stream"}, 200, &res)
	require.EqualValues(t, offset, res.Length)

	resp, body := b.do(call{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d/log", j.ID)})
	require.Equal(t, http.StatusOK, resp)
	marker := regexp.MustCompile(`\n\[aura: (\d+) bytes of log omitted: log limit exceeded\]\n`).Find(body)
	require.NotNil(t, marker)
	stored := len(body) - len(marker)
	require.EqualValues(t, 10000, stored, "the head and the tail, the limit in all")

	var got struct{ LogLength int64 }
	b.json(call{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d", j.ID)}, 200, &got)
	require.EqualValues(t, stored, got.LogLength, "logLength is the bytes stored")

	// A reader pages with X-Log-Length in the offsets of the log.
	req, _ := http.NewRequest("GET", fmt.Sprintf("%s/api/v1/jobs/%d/log?limit=1", b.url, j.ID), nil)
	r, err := b.client.Do(req)
	require.NoError(t, err)
	r.Body.Close()
	require.Equal(t, strconv.Itoa(offset), r.Header.Get("X-Log-Length"))
}

// TestLogBodyEndsEarly: a log chunk is stored as its body comes in, so one
// whose runner dies short of its Content-Length after megabytes went to the
// database must leave nothing: the log keeps its length, and the retry of the
// same offset is stored whole, once. (store's TestLogBodyStreamed: a body that
// fails is a *BodyError, answered 400.)
func TestLogBodyEndsEarly(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("proj", false)
	_, run := b.runner("r1", "linux")
	j := b.submit(tok, nil)
	c := b.claim(run, 1, "linux")[0]
	line := "compiling backend/internal/store/jobs.go ... ok\n"
	log := strings.Repeat(line, (3<<20)/len(line))
	var res struct{ Length int64 }
	b.json(call{method: "PATCH", path: logPath(c.ID, 1, 0), token: run, raw: []byte(log[:100]), contentType: "application/octet-stream"}, 200, &res)

	conn, err := net.Dial("tcp", strings.TrimPrefix(b.url, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	fmt.Fprintf(conn, "PATCH %s HTTP/1.1\r\nHost: aura\r\nAuthorization: Bearer %s\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n",
		logPath(c.ID, 1, 100), run, len(log)-100)
	_, err = io.WriteString(conn, log[100:2<<20]) // two thirds, then the runner dies
	require.NoError(t, err)
	require.NoError(t, conn.(*net.TCPConn).CloseWrite())
	// The server notices the runner gone (its request's context ends) and
	// answers, to no one, once the append gave up.
	if resp, err := http.ReadResponse(bufio.NewReader(conn), nil); err == nil {
		resp.Body.Close()
	}

	var got struct{ LogLength int64 }
	b.json(call{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d", j.ID)}, 200, &got)
	require.EqualValues(t, 100, got.LogLength, "nothing of a body that ended early")
	b.json(call{method: "PATCH", path: logPath(c.ID, 1, 100), token: run, raw: []byte(log[100:]), contentType: "application/octet-stream"}, 200, &res)
	require.EqualValues(t, len(log), res.Length)
	status, body := b.do(call{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d/log?limit=%d", j.ID, len(log))})
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, log, string(body), "the retry stored once")
}
