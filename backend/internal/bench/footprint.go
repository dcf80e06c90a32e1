package bench

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// rssMiB reads a process's resident memory in MiB.
func rssMiB(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	check(err, "process status")
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			_, err := fmt.Sscan(rest, &kb)
			check(err, "VmRSS")
			return float64(kb) / 1024
		}
	}
	fail("no VmRSS for process %d", pid)
	return 0
}

// statementCount is the number of SQL statements the server's database has run
// so far (pg_stat_statements, leaving out the bench's own), or its transactions
// when the cluster does not preload pg_stat_statements (less the one of each
// count before); what says which.
func (s *Server) statementCount(filter string) (n float64, what string) {
	if s.env.StatStatements {
		s.Exec(`CREATE EXTENSION IF NOT EXISTS pg_stat_statements`)
		q := `SELECT coalesce(sum(calls), 0)::float8 FROM pg_stat_statements
			WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
				AND query NOT LIKE '%pg_stat_statements%'`
		if filter != "" {
			q += ` AND query LIKE '` + filter + `'`
		}
		check(s.QueryRow(q, &n), "pg_stat_statements")
		return n, "statements"
	}
	check(s.QueryRow(`SELECT (xact_commit + xact_rollback)::float8 FROM pg_stat_database WHERE datname = current_database()`, &n), "pg_stat_database")
	return n - float64(s.counts.Add(1)-1), "transactions"
}

// Footprint measures: an idle server's and idle runners' resident memory, and the SQL
// the server runs per second while 50 runners are parked on it.
func Footprint(e *Env) {
	s := e.StartServer()
	s.Project("proj")
	time.Sleep(3 * time.Second)
	e.emit(atMost(Figure{Key: "server_idle_rss_mib", Label: "idle server RSS", Value: rssMiB(s.Pid()), Unit: "MiB"}, 30))
	rs := s.StartRunners("r", "linux", 50)
	s.WaitCheckedIn(50, 2*time.Minute)
	time.Sleep(3 * time.Second)
	var rss []float64
	for _, r := range rs {
		rss = append(rss, rssMiB(r.Pid()))
	}
	slices.Sort(rss)
	e.emit(atMost(Figure{Key: "runner_idle_rss_mib", Label: "idle runner RSS", Value: rss[len(rss)/2], Unit: "MiB", Note: "median of 50"}, 15))
	// The window outlasts a long poll (30 s), so every parked runner comes back
	// and polls again within it; the full one also spans the dispatcher's
	// safety-net claim (every 3 minutes).
	window := time.Duration(e.pick(35, 240)) * time.Second
	if e.Scale > 1 {
		window = time.Second // the smoke test only checks that it runs
	}
	n0, what := s.statementCount("")
	start := time.Now()
	time.Sleep(window)
	n1, _ := s.statementCount("")
	perS := (n1 - n0) / time.Since(start).Seconds()
	e.emit(atMost(Figure{Key: "sql_per_s_50_parked", Label: "SQL " + what + " per second, 50 parked runners", Value: perS, Unit: "/s",
		Note: fmt.Sprintf("over %v", window)}, 3))
}
