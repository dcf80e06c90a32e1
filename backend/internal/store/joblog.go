package store

import (
	"log/slog"
)

// logJobs logs the job transitions among a transaction's notifications; it runs
// as they are sent, right before the commit.
func (n *notes) logJobs() {
	for _, payload := range n.events {
		e, err := ParseEvent([]byte(payload))
		if err != nil {
			continue
		}
		if j, ok := e.(JobEvent); ok {
			logJob(&j)
		}
	}
}

func logJob(e *JobEvent) {
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
		logJob(&JobEvent{JobID: j.ID, Status: StatusRunning, Attempt: j.Attempt, Project: j.Project,
			EntityKey: j.EntityKey, EntityVal: j.EntityVal, Tag: j.Tag, RunnerID: runnerID})
	}
}
