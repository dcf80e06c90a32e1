package store

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/event"
)

// TestGroupJobs: job events become an event.Jobs per kind of change, each
// payload under PostgreSQL's limit, and stand for exactly the jobs given.
func TestGroupJobs(t *testing.T) {
	t.Parallel()
	job := func(id int64, status, tag string) event.Job {
		return event.Job{JobID: id, Project: "p", EntityKey: "commit", EntityVal: "abc", Status: status, Tag: tag, Attempt: 1}
	}
	long := strings.Repeat("<", 260) // escaped by JSON: six bytes each
	var sparse, wide []event.Job
	for i := range 3000 {
		sparse = append(sparse, job(int64(1_000_000_000_000+2*i), "waiting", "linux"))
		wide = append(wide, event.Job{JobID: int64(10 + 3*i), Project: long, EntityKey: long, EntityVal: long,
			Status: "waiting", Tag: long, Attempt: 1})
	}
	for _, tc := range []struct {
		name   string
		jobs   []event.Job
		events int // how many events they become; 0: more than one, each well filled
	}{
		{"none", nil, 0},
		{"one stays a job", []event.Job{job(7, "queued", "linux")}, 1},
		{"one per kind", []event.Job{job(3, "queued", "linux"), job(4, "waiting", "linux"), job(5, "waiting", "linux"),
			job(6, "waiting", "gpu"), job(8, "waiting", "linux")}, 3},
		{"a runner's job stays a job", []event.Job{{JobID: 9, Status: "running", RunnerID: 2}, {JobID: 10, Status: "running", RunnerID: 2}}, 2},
		{"a range of 1,000", func() (js []event.Job) {
			for i := range 1000 {
				js = append(js, job(int64(1001-i), "waiting", "linux"))
			}
			return js
		}(), 1},
		{"sparse ids split", sparse, 0},
		{"wide kinds split", wide, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := groupJobs(tc.jobs)
			if tc.events > 0 || len(tc.jobs) == 0 {
				require.Equal(t, tc.events, len(got))
			} else {
				require.Greater(t, len(got), 1)
			}
			var expanded []event.Job
			for i, e := range got {
				payload := event.Marshal(e)
				require.Less(t, len(payload), 8000)
				if tc.events == 0 && len(tc.jobs) > 0 && i < len(got)-1 {
					require.Greater(t, len(payload), 5000, "split no more than needed")
				}
				back, err := event.Parse(payload)
				require.NoError(t, err)
				require.Equal(t, e, back)
				switch e := e.(type) {
				case event.Jobs:
					e.Each(func(j event.Job) { expanded = append(expanded, j) })
				case event.Job:
					expanded = append(expanded, e)
				}
			}
			require.ElementsMatch(t, tc.jobs, expanded)
		})
	}
}

// TestGroupJobEvents: the job events recorded from an index on are grouped;
// those before it and other events are kept.
func TestGroupJobEvents(t *testing.T) {
	t.Parallel()
	before := event.Job{JobID: 1, Status: "succeeded"}
	access := event.Access{RunnerID: 3}
	n := notes{events: []event.Event{before}}
	n.event(event.Job{JobID: 2, Status: "waiting"})
	n.event(access)
	n.event(event.Job{JobID: 3, Status: "waiting"})
	n.groupJobEvents(1)
	require.Equal(t, []event.Event{before, access, event.Jobs{JobIDs: []event.IDRange{{2, 3}}, Status: "waiting"}}, n.events)
}

// TestGroupJobEventsLogs: the jobs of an event.Jobs are logged in one line
// naming their ids; a job alone keeps its own line (logJobs, at queue). Not
// parallel: it swaps the process's logger.
func TestGroupJobEventsLogs(t *testing.T) {
	var out strings.Builder
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}})))
	defer slog.SetDefault(old)
	job := func(id int64, status string) event.Job {
		return event.Job{JobID: id, Project: "p", EntityKey: "commit", EntityVal: "abc", Status: status, Tag: "linux", Attempt: 1}
	}
	var n notes
	for _, j := range []event.Job{job(3, "queued"), job(4, "waiting"), job(5, "waiting"), job(6, "waiting"), job(9, "waiting")} {
		n.event(j)
	}
	n.groupJobEvents(0)
	n.logJobs()
	require.Equal(t, `level=INFO msg=jobs ids=4-6,9 count=4 status=waiting attempt=1 project=p entity=commit/abc tag=linux
level=INFO msg=job id=3 status=queued attempt=1 project=p entity=commit/abc tag=linux
`, out.String())
}
