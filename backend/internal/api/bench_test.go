package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Benchmarks print figures rather than assert them; run them with scripts/bench.
// Each reports p50/p99 latencies over real HTTP on loopback as custom metrics.

// timed runs fn n times and reports its p50 and p99 in milliseconds.
func timed(b *testing.B, name string, fn func()) {
	var ds []time.Duration
	for b.Loop() {
		start := time.Now()
		fn()
		ds = append(ds, time.Since(start))
	}
	slices.Sort(ds)
	ms := func(q float64) float64 {
		return float64(ds[min(len(ds)-1, int(float64(len(ds))*q))].Microseconds()) / 1000
	}
	b.ReportMetric(ms(0.50), name+"_p50_ms")
	b.ReportMetric(ms(0.99), name+"_p99_ms")
}

// post is a bare HTTP call for benchmarks: no contract validation in the timed path.
func post(b *testing.B, client *http.Client, url, token string, body any) *http.Response {
	buf, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", url, bytes.NewReader(buf))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	require.NoError(b, err)
	drain(resp)
	if resp.StatusCode >= 300 {
		b.Fatalf("POST %s: %d", url, resp.StatusCode)
	}
	return resp
}

// drain reads the answer to its end, so the connection is reused as a real client's would be.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

func get(b *testing.B, client *http.Client, url string) {
	resp, err := client.Get(url)
	require.NoError(b, err)
	drain(resp)
	if resp.StatusCode != 200 {
		b.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
}

func BenchmarkSubmit(b *testing.B) {
	tb := setupBench(b)
	tok := tb.project("proj", false)
	i := 0
	timed(b, "submit", func() {
		i++
		post(b, tb.client, tb.url+"/api/v1/jobs", tok, map[string]any{
			"entityKey": "commit", "entityVal": fmt.Sprint(i % 100), "name": "build", "cmd": "make", "tag": "linux",
			"collections": map[string]string{"ref": "main"},
		})
	})
}

// BenchmarkSubmitAlone submits jobs that wait for nothing and join no
// collection, each on an entity of its own, as aura-bench dispatch does.
func BenchmarkSubmitAlone(b *testing.B) {
	tb := setupBench(b)
	tok := tb.project("proj", false)
	i := 0
	timed(b, "submit", func() {
		i++
		post(b, tb.client, tb.url+"/api/v1/jobs", tok, map[string]any{
			"entityKey": "commit", "entityVal": fmt.Sprint(i), "name": "build", "cmd": "make", "tag": "linux",
		})
	})
}

func BenchmarkSubmitBatch1000(b *testing.B) {
	tb := setupBench(b)
	tok := tb.project("proj", false)
	i := 0
	timed(b, "batch1000", func() {
		i++
		jobs := make([]map[string]any, 1000)
		for k := range jobs {
			j := map[string]any{"entityKey": "commit", "entityVal": fmt.Sprint(i), "name": fmt.Sprint("job", k), "cmd": "make", "tag": "linux"}
			if k > 0 {
				j["precedingNames"] = []string{fmt.Sprint("job", k/2)}
			}
			jobs[k] = j
		}
		post(b, tb.client, tb.url+"/api/v1/jobs/batch", tok, map[string]any{"jobs": jobs})
	})
}

// BenchmarkReadsAt1M measures the queue listing and an entity page with a million
// finished jobs in the database (and a realistic queue of 500 runnable jobs), then
// the queue and a collection of 200,000 commits with a backlog of 200,000 queued jobs.
func BenchmarkReadsAt1M(b *testing.B) {
	tb := setupBench(b)
	tok := tb.project("proj", false)
	ctx := context.Background()
	start := time.Now()
	// 1,000,000 finished jobs over 100,000 commits, ten jobs each.
	_, err := tb.pool.Exec(ctx, `
		INSERT INTO entities (project_id, key, value)
		SELECT 1, 'commit', 'c' || g FROM generate_series(1, 100000) g;
		INSERT INTO keys (project_id, kind, key, value_count) VALUES (1, 'entity', 'commit', 100000);
		INSERT INTO jobs (project_id, entity_id, name, cmd, tag, status, created_at, ended_at, exit_code)
		SELECT 1, 1 + (g / 10), 'job' || (g % 10), 'make', 'linux',
			CASE WHEN g % 7 = 0 THEN 'failed' ELSE 'succeeded' END, now(), now(), 0
		FROM generate_series(0, 999999) g;
		ANALYZE jobs; ANALYZE entities;`)
	require.NoError(b, err)
	for i := range 500 {
		post(b, tb.client, tb.url+"/api/v1/jobs", tok, map[string]any{
			"entityKey": "commit", "entityVal": fmt.Sprint("live", i%50), "name": "build", "cmd": "make", "tag": "linux"})
	}
	b.Logf("seeded 1,000,000 finished jobs in %s", time.Since(start).Round(time.Millisecond))
	b.Run("queue", func(b *testing.B) {
		timed(b, "queue", func() { get(b, tb.client, tb.url+"/api/v1/queue?limit=50") })
	})
	b.Run("entity", func(b *testing.B) {
		timed(b, "entity", func() { get(b, tb.client, tb.url+"/api/v1/projects/proj/entities/commit/c55555") })
	})
	b.Run("entity_list", func(b *testing.B) {
		timed(b, "entity_list", func() { get(b, tb.client, tb.url+"/api/v1/projects/proj/entities/commit?limit=50") })
	})

	// A backlog: 200,000 queued jobs, one on each of 200,000 more commits, all of
	// them members of ref/main (its count kept as a submit would keep it).
	start = time.Now()
	_, err = tb.pool.Exec(ctx, `
		INSERT INTO entities (project_id, key, value)
		SELECT 1, 'commit', 'b' || g FROM generate_series(1, 200000) g;
		UPDATE keys SET value_count = value_count + 200000 WHERE project_id = 1 AND kind = 'entity' AND key = 'commit';
		INSERT INTO jobs (project_id, entity_id, name, cmd, tag, status, created_at, queued_at)
		SELECT 1, e.id, 'build', 'make', 'backlog', 'queued', now(), now()
		FROM entities e WHERE e.value LIKE 'b%';
		INSERT INTO collections (project_id, key, value, entity_count) VALUES (1, 'ref', 'main', 200000);
		INSERT INTO keys (project_id, kind, key, value_count) VALUES (1, 'collection', 'ref', 1);
		INSERT INTO collection_entities (collection_id, entity_id)
		SELECT c.id, e.id FROM collections c, entities e WHERE c.value = 'main' AND e.value LIKE 'b%';
		ANALYZE jobs; ANALYZE entities; ANALYZE collection_entities;`)
	require.NoError(b, err)
	b.Logf("seeded a backlog of 200,000 queued jobs in %s", time.Since(start).Round(time.Millisecond))
	b.Run("queue_backlog", func(b *testing.B) {
		timed(b, "queue_backlog", func() { get(b, tb.client, tb.url+"/api/v1/queue?limit=50") })
	})
	b.Run("queue_backlog_tag", func(b *testing.B) {
		timed(b, "queue_backlog_tag", func() { get(b, tb.client, tb.url+"/api/v1/queue?limit=50&tag=linux") })
	})
	b.Run("collection_list", func(b *testing.B) {
		timed(b, "collection_list", func() { get(b, tb.client, tb.url+"/api/v1/projects/proj/collections/ref?limit=50") })
	})
	b.Run("collection_200k", func(b *testing.B) {
		timed(b, "collection_200k", func() { get(b, tb.client, tb.url+"/api/v1/projects/proj/collections/ref/main?limit=50") })
	})
}

// BenchmarkEarliestStart: how late a delayed job becomes runnable, from its
// earliest start to its queued_at, as the database records them.
func BenchmarkEarliestStart(b *testing.B) {
	tb := setupBench(b)
	tok := tb.project("proj", false)
	var ds []time.Duration
	i := 0
	for b.Loop() {
		i++
		at := time.Now().Add(30 * time.Millisecond)
		post(b, tb.client, tb.url+"/api/v1/jobs", tok, map[string]any{
			"entityKey": "nightly", "entityVal": fmt.Sprint(i), "name": "n", "cmd": "make", "tag": "linux",
			"earliestStart": at.Format(time.RFC3339Nano),
		})
		var late time.Duration
		require.Eventually(b, func() bool {
			var queued, earliest *time.Time
			err := tb.pool.QueryRow(context.Background(),
				`SELECT queued_at, earliest_start FROM jobs WHERE id = (SELECT max(id) FROM jobs)`).Scan(&queued, &earliest)
			if err != nil || queued == nil {
				return false
			}
			late = queued.Sub(*earliest)
			return true
		}, 5*time.Second, 2*time.Millisecond)
		ds = append(ds, late)
	}
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, "late_p50_ms")
	b.ReportMetric(float64(ds[min(len(ds)-1, len(ds)*99/100)].Microseconds())/1000, "late_p99_ms")
}

// BenchmarkLogRead20 has 20 clients read a 64 MiB log at once, each in one
// request, and prints the process's peak RSS above what it held before: the
// server streams, so that stays near 20 × one read's batch, not 20 × 64 MiB.
// (The server runs in this process; the clients discard what they read.)
func BenchmarkLogRead20(b *testing.B) {
	tb := setupBench(b)
	tok := tb.project("proj", false)
	post(b, tb.client, tb.url+"/api/v1/jobs", tok, map[string]any{
		"entityKey": "commit", "entityVal": "big", "name": "build", "cmd": "make", "tag": "linux"})
	// 64 chunks of 1 MiB, as a runner streams them, of incompressible bytes.
	_, err := tb.pool.Exec(context.Background(), `
		INSERT INTO log_chunks (job_id, attempt, "offset", data)
		SELECT 1, 1, g * 1048576, (SELECT string_agg(sha512((g * 100000 + i)::text::bytea), '') FROM generate_series(1, 16384) i)
		FROM generate_series(0, 63) g;
		UPDATE jobs SET log_length = 64 * 1048576 WHERE id = 1`)
	require.NoError(b, err)
	runtime.GC()
	before := rss(b, "VmRSS")
	require.NoError(b, os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)) // resets VmHWM
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 20}}
	start := time.Now()
	for b.Loop() {
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				resp, err := client.Get(tb.url + "/api/v1/jobs/1/log?limit=67108864")
				if err != nil {
					b.Error(err)
					return
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if n != 64<<20 {
					b.Errorf("read %d bytes", n)
				}
			})
		}
		wg.Wait()
	}
	b.ReportMetric(float64(20*64*b.N)/time.Since(start).Seconds(), "MiB/s")
	b.ReportMetric(float64(rss(b, "VmHWM")-before)/(1<<20), "peak_rss_growth_MiB")
	b.ReportMetric(float64(rss(b, "VmHWM"))/(1<<20), "peak_rss_MiB")
}

// rss reads a memory figure (VmRSS, VmHWM) of this process from /proc, in bytes.
func rss(b *testing.B, field string) int64 {
	data, err := os.ReadFile("/proc/self/status")
	require.NoError(b, err)
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			var kb int64
			_, err := fmt.Sscan(rest, &kb)
			require.NoError(b, err)
			return kb << 10
		}
	}
	b.Fatalf("no %s in /proc/self/status", field)
	return 0
}
