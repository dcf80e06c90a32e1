package bench

import (
	"fmt"
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
}

func submitDAG(s *Server, tok string, size int) time.Duration {
	entity := fmt.Sprint("dag", size)
	var last int64
	start := time.Now()
	for b := 0; b < size; b += 1000 {
		n := min(1000, size-b)
		jobs := make([]map[string]any, n)
		for k := range jobs {
			j := map[string]any{"entityKey": "commit", "entityVal": entity, "name": fmt.Sprint("job", b+k), "cmd": "make", "tag": "dag"}
			switch {
			case k > 0:
				j["precedingNames"] = []string{fmt.Sprint("job", b+(k-1)/2)}
			case last != 0:
				j["precedingJobs"] = []int64{last}
			}
			jobs[k] = j
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
