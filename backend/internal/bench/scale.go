package bench

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
)

// claimSQL picks the claim statement out of pg_stat_statements.
const claimSQL = `%WITH alive AS%`

// Scale measures: the pages with 1M finished jobs (and 10M in --full) and a backlog of
// 200,000; then dispatch with 500 parked runners (300 of them on other tags) and
// the claim statements each job costs.
func Scale(e *Env) {
	pages(e)
	e.stopProcesses()
	scaleDispatch(e)
}

func scaleDispatch(e *Env) {
	same, other := 200, 300
	if e.Scale > 1 {
		same, other = 2, 3
	}
	n := min(e.pick(100, 200), same)
	s := e.StartServer()
	tok := s.Project("proj")
	s.StartRunners("r", "linux", same)
	// The runners on other tags never get a job here: the bench parks them
	// itself, sending the long-poll claims a runner sends, which spares the
	// machine 300 processes.
	stop := make(chan struct{})
	defer close(stop)
	for i := range other {
		tag := fmt.Sprint("other", i%3)
		tok := s.RunnerToken(fmt.Sprint("o", i), tag)
		go park(s.URL, tok, tag, stop)
	}
	e.Logf("   %d runners started, %d long polls parked by the bench; waiting for their check-ins", same, other)
	s.WaitCheckedIn(same+other, 5*time.Minute)
	e.Logf("   %d runners checked in", same+other)
	time.Sleep(time.Second)
	// The runners' long polls end without work every 30 s and claim again: count
	// that idle rate first and take it out of the figure.
	idle0, what := s.statementCount(claimSQL)
	t0 := time.Now()
	time.Sleep(3 * time.Second)
	idle1, _ := s.statementCount(claimSQL)
	idleRate := (idle1 - idle0) / time.Since(t0).Seconds()
	// Each job holds its runner past the end of the measurement, so no runner
	// comes back to claim meanwhile: every claim counted is a wake-up.
	c0, _ := s.statementCount(claimSQL)
	h0, herr := s.Metric("aura_claims_total")
	t1 := time.Now()
	starts := e.watchStarts()
	defer starts.stop()
	ds, _ := submitToStart(s, tok, starts, n, 10*time.Minute)
	c1, _ := s.statementCount(claimSQL)
	claims := (c1 - c0 - idleRate*time.Since(t1).Seconds()) / float64(n)
	label := fmt.Sprintf("submit → job process started, %d parked runners (%d on other tags, simulated long polls): p99", same+other, other)
	e.emit(atMost(Figure{Key: "dispatch_500_p99_ms", Label: label, Value: quantile(ds, 0.99), Unit: "ms"}, 50))
	if what == "statements" {
		e.emit(atMost(Figure{Key: "claims_per_job", Label: "claim statements per job", Value: claims, Unit: "",
			Note: fmt.Sprintf("pg_stat_statements, idle rate %.1f/s taken out", idleRate)}, 1))
	} else if h1, err := s.Metric("aura_claims_total"); err == nil && herr == nil {
		e.emit(atMost(Figure{Key: "claims_per_job", Label: "claims per job", Value: (h1 - h0) / float64(n), Unit: "",
			Note: "/metrics hand-outs: the cluster does not preload pg_stat_statements"}, 1))
	} else {
		e.notes = append(e.notes, "claim statements per job not measured: no pg_stat_statements and no /metrics claims counter")
	}
}

// park long-polls for jobs of tag as an idle runner does until stop is closed.
func park(url, token, tag string, stop <-chan struct{}) {
	c := &http.Client{Timeout: 40 * time.Second}
	body := fmt.Sprintf(`{"tags":[%q],"capacity":1,"waitSeconds":30}`, tag)
	for {
		select {
		case <-stop:
			return
		default:
		}
		req, _ := http.NewRequest("POST", url+"/api/v1/runner/claim", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			time.Sleep(time.Second)
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			time.Sleep(time.Second)
		}
	}
}

// seedFinished adds n finished jobs over n/10 new commits named prefix<k>.
func seedFinished(s *Server, prefix string, n int) {
	s.Exec(`INSERT INTO entities (project_id, key, value)
		SELECT 1, 'commit', $1 || g FROM generate_series(1, $2::int) g`, prefix, n/10)
	s.Exec(`UPDATE keys SET value_count = value_count + $1 WHERE project_id = 1 AND kind = 'entity' AND key = 'commit'`, n/10)
	s.Exec(`INSERT INTO jobs (project_id, entity_id, name, cmd, tag, status, created_at, ended_at, exit_code)
		SELECT 1, e.id, 'job' || k, 'make', 'linux', CASE WHEN (e.id + k) % 7 = 0 THEN 'failed' ELSE 'succeeded' END, now(), now(), 0
		FROM entities e, generate_series(0, 9) k
		WHERE e.project_id = 1 AND e.key = 'commit' AND e.value LIKE $1 || '%'`, prefix)
	s.Exec(`ANALYZE jobs`)
	s.Exec(`ANALYZE entities`)
}

var pageList = []struct{ name, path string }{
	{"queue", "/api/v1/queue?limit=50"},
	{"queue by tag", "/api/v1/queue?limit=50&tag=linux"},
	{"entity", "/api/v1/projects/proj/entities/commit/c5555"},
	{"entity list", "/api/v1/projects/proj/entities/commit?limit=50"},
	{"collection list", "/api/v1/projects/proj/collections/ref?limit=50"},
	{"collection of 200k", "/api/v1/projects/proj/collections/ref/main?limit=50"},
}

// pages times each page and reports the worst p99.
func pages(e *Env) {
	s := e.StartServer()
	tok := s.Project("proj")
	start := time.Now()
	s.Exec(`INSERT INTO keys (project_id, kind, key, value_count) VALUES (1, 'entity', 'commit', 0)`)
	seedFinished(s, "c", 1000000/max(1, e.Scale*e.Scale))
	// A realistic queue of 500 runnable jobs, submitted as users would.
	for b := range 5 {
		jobs := make([]map[string]any, 100)
		for k := range jobs {
			jobs[k] = map[string]any{"entityKey": "commit", "entityVal": fmt.Sprint("live", b*10+k%10), "name": fmt.Sprint("build", k), "cmd": "make", "tag": "linux"}
		}
		s.Call("POST", "/api/v1/jobs/batch", tok, map[string]any{"jobs": jobs}, nil, 201)
	}
	// A backlog: 200,000 queued jobs on as many more commits, all members of ref/main.
	backlog := 200000 / max(1, e.Scale*e.Scale)
	s.Exec(`INSERT INTO entities (project_id, key, value) SELECT 1, 'commit', 'b' || g FROM generate_series(1, $1::int) g`, backlog)
	s.Exec(`UPDATE keys SET value_count = value_count + $1 WHERE project_id = 1 AND kind = 'entity' AND key = 'commit'`, backlog)
	s.Exec(`INSERT INTO jobs (project_id, entity_id, name, cmd, tag, status, created_at, queued_at)
		SELECT 1, e.id, 'build', 'make', 'backlog', 'queued', now(), now() FROM entities e WHERE e.value LIKE 'b%'`)
	s.Exec(`INSERT INTO collections (project_id, key, value, entity_count) VALUES (1, 'ref', 'main', $1)`, backlog)
	s.Exec(`INSERT INTO keys (project_id, kind, key, value_count) VALUES (1, 'collection', 'ref', 1)`)
	s.Exec(`INSERT INTO collection_entities (collection_id, entity_id)
		SELECT c.id, e.id FROM collections c, entities e WHERE c.value = 'main' AND e.value LIKE 'b%'`)
	s.Exec(`ANALYZE`)
	e.Logf("   seeded 1M finished jobs and a backlog of 200k in %s", time.Since(start).Round(time.Second))
	timePages(e, s, "1M", 10)
	if e.Full {
		start := time.Now()
		seedFinished(s, "d", 9000000)
		s.Exec(`ANALYZE`)
		e.Logf("   seeded 9M more finished jobs in %s", time.Since(start).Round(time.Second))
		timePages(e, s, "10M", 20)
	}
}

func timePages(e *Env, s *Server, size string, limit float64) {
	n := e.pick(100, 300)
	c := &http.Client{Timeout: time.Minute}
	worst, worstName := 0.0, ""
	var all []string
	for _, p := range pageList {
		var ds []time.Duration
		for range n {
			t := time.Now()
			resp, err := c.Get(s.URL + p.path)
			check(err, p.name)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				fail("GET %s: %s", p.path, resp.Status)
			}
			ds = append(ds, time.Since(t))
		}
		q := quantile(ds, 0.99)
		all = append(all, fmt.Sprintf("%s %s", p.name, num(q)))
		if q > worst {
			worst, worstName = q, p.name
		}
	}
	slices.Sort(all)
	e.Logf("   p99 ms at %s: %v", size, all)
	e.emit(atMost(Figure{Key: "pages_" + size + "_p99_ms", Label: fmt.Sprintf("pages at %s finished jobs, 200k backlog: p99", size),
		Value: worst, Unit: "ms", Note: "worst: " + worstName}, limit))
}
