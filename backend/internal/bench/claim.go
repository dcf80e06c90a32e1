package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// claimed is a job a claim handed out.
type claimed struct {
	ID      int64
	Attempt int
}

// claimJobs claims up to n jobs of tag linux without waiting.
func claimJobs(ctx context.Context, c *http.Client, url, token string, n int) ([]claimed, error) {
	req, _ := http.NewRequestWithContext(ctx, "POST", url+"/api/v1/runner/claim", bytes.NewReader(fmt.Appendf(nil, `{"tags":["linux"],"capacity":%d,"waitSeconds":0}`, n)))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("claim: %d %.300s", resp.StatusCode, b)
	}
	var out struct{ Jobs []claimed }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, err
	}
	return out.Jobs, nil
}

// complete ends a claimed job as succeeded.
func complete(ctx context.Context, c *http.Client, url, token string, j claimed) error {
	req, _ := http.NewRequestWithContext(ctx, "POST", fmt.Sprintf("%s/api/v1/jobs/%d/complete", url, j.ID), bytes.NewReader(fmt.Appendf(nil, `{"attempt":%d,"exitCode":0}`, j.Attempt)))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("complete %d: %d %.300s", j.ID, resp.StatusCode, b)
	}
	return nil
}

// seedQueued queues n jobs on tag linux in one statement, one commit each, the
// way n submits would leave them.
func seedQueued(s *Server, first, n int) {
	s.Exec(`
		WITH e AS (
			INSERT INTO entities (project_id, key, value)
			SELECT 1, 'commit', 'q' || g FROM generate_series($1::int, $1::int + $2::int - 1) g
			RETURNING id)
		INSERT INTO jobs (project_id, entity_id, name, cmd, tag, status, created_at, queued_at)
		SELECT 1, e.id, 'build', 'true', 'linux', 'queued', now(), now() FROM e`, first, n)
	s.Exec(`ANALYZE jobs`)
}

// Claim measures: 50 runners claim (8 at a time) and complete jobs over HTTP as fast as
// the server hands them out; every job must be handed out exactly once.
func Claim(e *Env) {
	total := e.pick(5000, 1000000)
	round := min(total, 100000)
	s := e.StartServer()
	s.Project("proj")
	tokens := make([]string, 50)
	for i := range tokens {
		tokens[i] = s.RunnerToken(fmt.Sprint("r", i), "linux")
	}
	c := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	seen := make(map[int64]bool, total)
	var mu sync.Mutex
	var dups, done atomic.Int64
	var elapsed time.Duration
	for first := 0; first < total; first += round {
		n := min(round, total-first)
		seedQueued(s, first, n)
		start := time.Now()
		var wg sync.WaitGroup
		var errOnce atomic.Value
		for _, rt := range tokens {
			wg.Go(func() {
				for {
					jobs, err := claimJobs(e.Ctx, c, s.URL, rt, 8)
					if err != nil {
						errOnce.Store(err)
						return
					}
					if len(jobs) == 0 {
						return
					}
					mu.Lock()
					for _, j := range jobs {
						if seen[j.ID] {
							dups.Add(1)
						}
						seen[j.ID] = true
					}
					mu.Unlock()
					for _, j := range jobs {
						if err := complete(e.Ctx, c, s.URL, rt, j); err != nil {
							errOnce.Store(err)
							return
						}
						done.Add(1)
					}
				}
			})
		}
		wg.Wait()
		took := time.Since(start)
		elapsed += took
		if err := errOnce.Load(); err != nil {
			fail("%v", err)
		}
		e.Logf("   %d of %d jobs claimed and completed (these %d at %.0f jobs/s)", done.Load(), total, n, float64(n)/took.Seconds())
	}
	if int(done.Load()) != total {
		fail("completed %d of %d jobs", done.Load(), total)
	}
	e.emit(atLeast(Figure{Key: "claim_jobs_per_s", Label: "claim + complete over HTTP, 50 runners", Value: float64(total) / elapsed.Seconds(), Unit: "jobs/s"}, 5000))
	e.emit(atMost(Figure{Key: "claim_duplicates", Label: fmt.Sprintf("duplicate hand-outs in %s claims", num(float64(total))), Value: float64(dups.Load()), Unit: ""}, 0))
}
