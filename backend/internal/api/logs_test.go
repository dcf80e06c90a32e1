package api_test

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestLogLengthAfterLimit: once the log limit dropped the middle of a log, the
// job's logLength says the bytes stored (openapi.yaml), while the offsets the
// runner appends at, and X-Log-Length a reader pages with, stay in bytes
// received, so a retried upload is still acknowledged idempotently.
func TestLogLengthAfterLimit(t *testing.T) {
	t.Parallel()
	b := setupWith(t, bundleOptions{logLimit: 10000})
	tok := b.project("proj", false)
	_, run := b.runner("r1", "linux")
	j := b.submit(tok, nil)
	c := b.claim(run, 1, "linux")[0]
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
