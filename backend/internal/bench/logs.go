package bench

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Logs measures: 1 MiB log chunks appended to one running job over HTTP, as build output
// (text, which PostgreSQL compresses) and as random bytes (incompressible).
func Logs(e *Env) {
	text := make([]byte, 0, 1<<20+100)
	for i := 0; len(text) < 1<<20; i++ {
		var id [4]byte
		_, _ = rand.Read(id[:])
		text = fmt.Appendf(text, "[%6d] compiling backend/internal/store/jobs.go (%x) ... ok\n", i, id)
	}
	random := make([]byte, 1<<20)
	_, _ = rand.Read(random)
	chunks := e.pick(64, 512)
	for _, c := range []struct {
		name   string
		chunk  []byte
		target float64
	}{{"text", text[:1<<20], 250}, {"random", random, 150}} {
		mbs := ingest(e, c.chunk, chunks)
		e.emit(atLeast(Figure{Key: "log_ingest_" + c.name + "_mb_s", Label: "log ingest, " + c.name, Value: mbs, Unit: "MB/s"}, c.target))
	}
}

// ingest appends n copies of chunk to one job and returns MB/s.
func ingest(e *Env, chunk []byte, n int) float64 {
	s := e.StartServer("--log-limit", "100000000000")
	defer s.Stop()
	tok := s.Project("proj")
	rt := s.RunnerToken("r1", "linux")
	j := s.Submit(tok, nil)
	jobs, err := claimJobs(e.Ctx, client, s.URL, rt, 1)
	check(err, "claim")
	if len(jobs) != 1 || jobs[0].ID != j.ID {
		fail("the job was not claimed")
	}
	// The first heartbeat acknowledges the claim, which would otherwise go back to
	// the queue after the ack timeout.
	s.Call("POST", fmt.Sprintf("/api/v1/jobs/%d/heartbeat", j.ID), rt, map[string]any{"attempt": 1}, nil, 200)
	offset := 0
	start := time.Now()
	for range n {
		req, _ := http.NewRequestWithContext(e.Ctx, "PATCH", fmt.Sprintf("%s/api/v1/jobs/%d/log?attempt=1&offset=%d", s.URL, j.ID, offset), bytes.NewReader(chunk))
		req.Header.Set("Authorization", "Bearer "+rt)
		req.Header.Set("Content-Type", "application/octet-stream")
		resp, err := client.Do(req)
		check(err, "append")
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			fail("append: %s", resp.Status)
		}
		offset += len(chunk)
	}
	return float64(offset) / 1e6 / time.Since(start).Seconds()
}
