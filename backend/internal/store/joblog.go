package store

import (
	"log/slog"

	"github.com/aura-ci/aura/backend/internal/event"
)

// logJobs logs the job transitions among a transaction's notifications; it runs
// as they are sent, right before the commit.
func (n *notes) logJobs() {
	for _, e := range n.events {
		if j, ok := e.(event.Job); ok {
			logJob(&j)
		}
	}
}

func logJob(e *event.Job) {
	attrs := []any{"id", e.JobID, "status", e.Status, "attempt", e.Attempt, "project", e.Project,
		"entity", e.EntityKey + "/" + e.EntityVal, "tag", e.Tag}
	if e.RunnerID != 0 {
		attrs = append(attrs, "runner", e.RunnerID)
	}
	slog.Info("job", attrs...)
}

// LogClaimed logs the jobs a claim handed to a runner (a claim notifies in its
// own statement, without notes).
func LogClaimed(runnerID int64, jobs []*ClaimedJob) {
	for _, j := range jobs {
		logJob(&event.Job{JobID: j.ID, Status: StatusRunning, Attempt: j.Attempt, Project: j.Project,
			EntityKey: j.EntityKey, EntityVal: j.EntityVal, Tag: j.Tag, RunnerID: runnerID})
	}
}
