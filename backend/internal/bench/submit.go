package bench

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Submit measures: a DAG of 10,000 jobs (and 100,000 in --full) accepted. A batch holds
// at most 1,000 jobs in a 1 MiB body, so the DAG goes in batches of 1,000, each
// a tree whose root follows the previous batch's last job; the figure is from the
// first request sent to the last answered.
func Submit(e *Env) {
	sizes := []int{e.pick(10000, 10000)}
	if e.Full {
		sizes = append(sizes, 100000)
	}
	s := e.StartServer()
	tok := s.Project("proj")
	for _, size := range sizes {
		d := submitDAG(s, tok, size)
		limit := 500.0
		if size > 10000 {
			limit = 5000
		}
		e.emit(atMost(Figure{Key: fmt.Sprintf("dag_%d_ms", size), Label: fmt.Sprintf("%s-job DAG accepted", num(float64(size))),
			Value: float64(d.Microseconds()) / 1000, Unit: "ms", Note: "batches of 1,000"}, limit))
	}
	logTopStatements(e, s, 14)
}

// logTopStatements logs the statements of the server's database that took
// PostgreSQL longest (pg_stat_statements, when the cluster preloads it): where
// a submission's time goes on the database's side.
func logTopStatements(e *Env, s *Server, n int) {
	if !e.StatStatements {
		return
	}
	s.Exec(`CREATE EXTENSION IF NOT EXISTS pg_stat_statements`)
	const q = `
		SELECT calls, total_exec_time, query FROM pg_stat_statements
		WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
		ORDER BY total_exec_time DESC LIMIT $1`
	rows, err := s.pool.Query(context.Background(), q, n)
	check(err, "pg_stat_statements")
	defer rows.Close()
	for rows.Next() {
		var calls int64
		var total float64
		var query string
		check(rows.Scan(&calls, &total, &query), "pg_stat_statements")
		query = strings.Join(strings.Fields(query), " ")
		if len(query) > 100 {
			query = query[:100] + "…"
		}
		e.Logf("   db: %8.0f ms in %6d calls (%.2f ms each): %s", total, calls, total/float64(calls), query)
	}
	check(rows.Err(), "pg_stat_statements")
}

// dagJob is one job of a DAG's batch, typed as a client would write it.
type dagJob struct {
	EntityKey      string   `json:"entityKey"`
	EntityVal      string   `json:"entityVal"`
	Name           string   `json:"name"`
	Cmd            string   `json:"cmd"`
	Tag            string   `json:"tag"`
	PrecedingNames []string `json:"precedingNames,omitempty"`
	PrecedingJobs  []int64  `json:"precedingJobs,omitempty"`
}

func submitDAG(s *Server, tok string, size int) time.Duration {
	entity := fmt.Sprint("dag", size)
	var last int64
	start := time.Now()
	for b := 0; b < size; b += 1000 {
		n := min(1000, size-b)
		jobs := make([]dagJob, n)
		for k := range jobs {
			jobs[k] = dagJob{EntityKey: "commit", EntityVal: entity, Name: fmt.Sprint("job", b+k), Cmd: "make", Tag: "dag"}
			switch {
			case k > 0:
				jobs[k].PrecedingNames = []string{fmt.Sprint("job", b+(k-1)/2)}
			case last != 0:
				jobs[k].PrecedingJobs = []int64{last}
			}
		}
		var out struct{ Items []struct{ ID int64 } }
		s.Call("POST", "/api/v1/jobs/batch", tok, map[string]any{"jobs": jobs}, &out, 201)
		if len(out.Items) != n {
			fail("a batch of %d jobs made %d", n, len(out.Items))
		}
		last = out.Items[n-1].ID
	}
	return time.Since(start)
}
