package api_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzLogChunks appends a log in chunks at fuzzed offsets (overlapping, repeated,
// leaving gaps) and reads a fuzzed range back: the server keeps exactly the
// contiguous bytes a model keeps, a gap is 416 with the server's length, and the
// read is the model's slice. Each input runs on a job of its own.
func FuzzLogChunks(f *testing.F) {
	f.Add([]byte{0, 10, 5, 10, 30, 5}, uint16(3), uint16(7))
	f.Add([]byte{0, 200, 0, 200, 100, 255, 3, 1}, uint16(0), uint16(65535))
	f.Add([]byte{9, 9}, uint16(0), uint16(1))
	f.Add([]byte{}, uint16(5), uint16(5))
	b := setupWith(f, bundleOptions{})
	tok := b.project("proj", false)
	_, run := b.runner("r1", "fuzz")
	data := make([]byte, 8192)
	for i := range data {
		data[i] = byte('a' + i*7%26)
	}
	n := 0
	f.Fuzz(func(t *testing.T, ops []byte, readOff, readLen uint16) {
		b := b.sub(t)
		n++
		b.submit(tok, map[string]any{"tag": "fuzz", "entityVal": fmt.Sprint("e", n)})
		c := b.claim(run, 1, "fuzz")[0]
		b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/heartbeat", c.ID), token: run, body: map[string]any{"attempt": 1}}, 200, nil)
		length := 0
		for i := 0; i+1 < len(ops) && i < 40; i += 2 {
			off, size := int(ops[i])*16, int(ops[i+1])*4+1
			code, body := b.do(call{method: "PATCH", path: logPath(c.ID, 1, off), token: run, raw: data[off : off+size], contentType: "application/octet-stream"})
			var got struct{ Length int }
			require.NoError(t, json.Unmarshal(body, &got), "%s", body)
			if off > length {
				require.Equal(t, 416, code, "a chunk at %d after %d bytes leaves a gap", off, length)
			} else {
				require.Equal(t, 200, code, "%s", body)
				length = max(length, off+size)
			}
			require.Equal(t, length, got.Length)
		}
		off, limit := int(readOff)%(length+2), int(readLen)+1
		resp, err := http.Get(fmt.Sprintf("%s/api/v1/jobs/%d/log?offset=%d&limit=%d", b.url, c.ID, off, limit))
		require.NoError(t, err)
		defer resp.Body.Close()
		if off > length {
			require.Equal(t, 400, resp.StatusCode)
			return
		}
		require.Equal(t, 200, resp.StatusCode)
		require.Equal(t, fmt.Sprint(length), resp.Header.Get("X-Log-Length"))
		got, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, string(data[off:min(length, off+limit)]), string(got))
	})
}
