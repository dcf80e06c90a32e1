package e2e

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Dispatch figures over loopback with the real binaries; run with scripts/bench.

func quantiles(b *testing.B, name string, ds []time.Duration) {
	slices.Sort(ds)
	q := func(p float64) float64 {
		return float64(ds[min(len(ds)-1, int(float64(len(ds))*p))].Microseconds()) / 1000
	}
	b.ReportMetric(q(0.5), name+"_p50_ms")
	b.ReportMetric(q(0.99), name+"_p99_ms")
	b.ReportMetric(0, "ns/op")
}

func waitForFile(path string, within time.Duration) ([]byte, error) {
	deadline := time.Now().Add(within)
	for {
		b, err := os.ReadFile(path)
		if err == nil && len(b) > 0 {
			return b, nil
		}
		if time.Now().After(deadline) {
			return nil, err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startedAt reads the start time a job wrote ($(date +%s%N)).
func startedAt(b *testing.B, path string) time.Time {
	ns, err := strconv.ParseInt(waitFile(b, path, 10*time.Second), 10, 64)
	if err != nil {
		b.Fatal(err)
	}
	return time.Unix(0, ns)
}

func benchDispatch(b *testing.B, idle int) {
	s := startServer(b)
	tok := s.project("proj")
	dir := b.TempDir()
	startRunner(b, s, "r0", "--tag", "linux", "--concurrency", "1")
	for i := range idle {
		startRunner(b, s, fmt.Sprint("idle", i), "--tag", "linux", "--concurrency", "1")
	}
	s.waitCheckedIn(b, idle+1) // every runner is long-polling now
	var ds []time.Duration
	i := 0
	for b.Loop() {
		i++
		out := filepath.Join(dir, fmt.Sprint(i))
		j := s.submit(tok, map[string]any{"entityVal": fmt.Sprint(i), "cmd": "date +%s%N > " + out})
		submitted := time.Now()
		ds = append(ds, startedAt(b, out).Sub(submitted))
		s.waitStatus(j.ID, 10*time.Second, "succeeded")
	}
	quantiles(b, "dispatch", ds)
}

// BenchmarkDispatch1Runner: from submit returning to the job's process starting.
func BenchmarkDispatch1Runner(b *testing.B) { benchDispatch(b, 0) }

// BenchmarkDispatch50Idle: the same with 50 more runners long-polling the same tag.
func BenchmarkDispatch50Idle(b *testing.B) { benchDispatch(b, 50) }

// BenchmarkPromotion: a job whose preceding job just succeeded → its process start.
func BenchmarkPromotion(b *testing.B) {
	s := startServer(b)
	tok := s.project("proj")
	dir := b.TempDir()
	startRunner(b, s, "r0", "--tag", "linux", "--concurrency", "2")
	s.waitCheckedIn(b, 1)
	var ds []time.Duration
	i := 0
	for b.Loop() {
		i++
		out := filepath.Join(dir, fmt.Sprint(i))
		first := s.submit(tok, map[string]any{"entityVal": fmt.Sprint(i), "name": "first", "cmd": "true"})
		second := s.submit(tok, map[string]any{"entityVal": fmt.Sprint(i), "name": "second", "cmd": "date +%s%N > " + out,
			"precedingJobs": []int64{first.ID}})
		if _, err := waitForFile(out, 10*time.Second); err != nil {
			f, sj := s.job(first.ID), s.job(second.ID)
			b.Fatalf("second job never started: first %+v second %+v", f, sj)
		}
		start := startedAt(b, out)
		ended := s.waitStatus(first.ID, 10*time.Second, "succeeded").EndedAt
		ds = append(ds, start.Sub(*ended))
		s.waitStatus(second.ID, 10*time.Second, "succeeded")
	}
	quantiles(b, "promotion", ds)
}

// BenchmarkClaimThroughput: 50 concurrent claimers over 10,000 queued jobs; it
// fails on any double claim.
func BenchmarkClaimThroughput(b *testing.B) {
	s := startServer(b)
	tok := s.project("proj")
	tokens := make([]string, 50)
	for i := range tokens {
		tokens[i] = s.runnerToken(fmt.Sprint("r", i))
	}
	for b.Loop() {
		b.StopTimer()
		for k := 0; k < 10000; k += 1000 {
			batch := make([]map[string]any, 1000)
			for n := range batch {
				batch[n] = map[string]any{"entityKey": "commit", "entityVal": fmt.Sprint(k + n), "name": "j", "cmd": "true", "tag": "linux"}
			}
			s.call("POST", "/api/v1/jobs/batch", tok, map[string]any{"jobs": batch}, nil, 201)
		}
		b.StartTimer()
		start := time.Now()
		var mu sync.Mutex
		seen := map[int64]bool{}
		var wg sync.WaitGroup
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
		for _, rt := range tokens {
			wg.Go(func() {
				for {
					ids := claimIDs(b, client, s.url, rt, 8)
					if len(ids) == 0 {
						return
					}
					mu.Lock()
					for _, id := range ids {
						if seen[id] {
							b.Errorf("job %d claimed twice", id)
						}
						seen[id] = true
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(seen) != 10000 {
			b.Fatalf("claimed %d of 10000 jobs", len(seen))
		}
		b.ReportMetric(10000/time.Since(start).Seconds(), "jobs/s")
	}
}

func claimIDs(b *testing.B, client *http.Client, url, token string, n int) []int64 {
	req, _ := http.NewRequest("POST", url+"/api/v1/runner/claim", strings.NewReader(fmt.Sprintf(`{"tags":["linux"],"capacity":%d,"waitSeconds":0}`, n)))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		b.Error(err)
		return nil
	}
	defer resp.Body.Close()
	var out struct{ Jobs []struct{ ID int64 } }
	if err := jsonDecode(resp, &out); err != nil {
		b.Error(err)
		return nil
	}
	ids := make([]int64, len(out.Jobs))
	for i, j := range out.Jobs {
		ids[i] = j.ID
	}
	return ids
}

// BenchmarkLogIngest: 1 MiB log chunks appended to one running job over HTTP,
// as build output (text, which PostgreSQL compresses with lz4) and as random
// bytes (the incompressible worst case).
func BenchmarkLogIngest(b *testing.B) {
	text := make([]byte, 0, 1<<20)
	for i := 0; len(text) < 1<<20; i++ {
		var id [4]byte
		_, _ = rand.Read(id[:])
		text = fmt.Appendf(text, "[%6d] compiling backend/internal/store/jobs.go (%x) ... ok\n", i, id)
	}
	random := make([]byte, 1<<20)
	_, _ = rand.Read(random)
	for _, c := range []struct {
		name  string
		chunk []byte
	}{{"text", text[:1<<20]}, {"random", random}} {
		b.Run(c.name, func(b *testing.B) { benchIngest(b, c.chunk) })
	}
}

func benchIngest(b *testing.B, chunk []byte) {
	s := startServer(b, "--log-limit", "100000000000")
	tok := s.project("proj")
	rt := s.runnerToken("r1")
	j := s.submit(tok, nil)
	ids := claimIDs(b, http.DefaultClient, s.url, rt, 1)
	if len(ids) != 1 || ids[0] != j.ID {
		b.Fatal("no job claimed")
	}
	// A runner's first heartbeat acknowledges the claim, which would otherwise
	// go back to the queue after the ack timeout while a slow run still appends.
	s.call("POST", fmt.Sprintf("/api/v1/jobs/%d/heartbeat", j.ID), rt, map[string]any{"attempt": 1}, nil, 200)
	db := s.dbURL[strings.LastIndexByte(s.dbURL, '/')+1:]
	db, _, _ = strings.Cut(db, "?")
	proc := fmt.Sprintf("/proc/%d", s.cmd.Process.Pid)
	server0, db0 := procCPU(proc), dbCPU(db)
	offset := 0
	b.SetBytes(int64(len(chunk)))
	for b.Loop() {
		req, _ := http.NewRequest("PATCH", fmt.Sprintf("%s/api/v1/jobs/%d/log?attempt=1&offset=%d", s.url, j.ID, offset), bytes.NewReader(chunk))
		req.Header.Set("Authorization", "Bearer "+rt)
		req.Header.Set("Content-Type", "application/octet-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("append: %v %v", err, resp.Status)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		offset += len(chunk)
	}
	// CPU per chunk, a figure that a busy machine distorts less than the wall
	// clock: the server's, and its database backends'.
	n := float64(offset / len(chunk))
	b.ReportMetric((procCPU(proc)-server0).Seconds()*1000/n, "server_cpu_ms/op")
	b.ReportMetric((dbCPU(db)-db0).Seconds()*1000/n, "db_cpu_ms/op")
}

// dbCPU is the CPU time used so far by the PostgreSQL backends serving database db.
func dbCPU(db string) time.Duration {
	var total time.Duration
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		cmd, err := os.ReadFile(d + "/cmdline")
		if err == nil && bytes.HasPrefix(cmd, []byte("postgres: ")) && bytes.Contains(cmd, []byte(" "+db+" ")) {
			total += procCPU(d)
		}
	}
	return total
}

// procCPU is the CPU time used so far by the process whose /proc folder is dir
// (0 without /proc).
func procCPU(dir string) time.Duration {
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return 0
	}
	// utime and stime, in ticks of 1/100 s, are fields 14 and 15; the command
	// name before them is in parentheses and may hold spaces.
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	sys, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+sys) * time.Second / 100
}

// BenchmarkRunnerStreams1GB: a real runner streams a job printing 1 GB; reports
// the throughput and the runner's peak resident memory.
func BenchmarkRunnerStreams1GB(b *testing.B) {
	s := startServer(b, "--log-limit", "100000000000")
	tok := s.project("proj")
	r := startRunner(b, s, "r1", "--tag", "linux", "--concurrency", "1")
	for b.Loop() {
		start := time.Now()
		j := s.submit(tok, map[string]any{"cmd": "head -c 1000000000 /dev/zero"})
		done := s.waitStatus(j.ID, 10*time.Minute, "succeeded", "failed")
		if done.Status != "succeeded" {
			b.Fatalf("job %s: %s", done.Status, done.Reason)
		}
		b.ReportMetric(1000/time.Since(start).Seconds(), "MB/s")
	}
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", r.cmd.Process.Pid))
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			kb, _ := strconv.Atoi(strings.Fields(line)[1])
			b.ReportMetric(float64(kb)/1024, "runner_peak_RSS_MB")
		}
	}
}
