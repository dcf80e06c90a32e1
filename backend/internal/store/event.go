package store

import "github.com/aura-ci/aura/backend/internal/event"

// The events themselves are typed in package event; the store NOTIFYs them on
// ChannelEvents in the transaction that caused them (notes.event), or builds
// them in SQL where the statement that changes the rows must notify too.

// claimedJobEventSQL is the event.Job of a claimed job built in SQL, so JobClaim
// changes jobs and notifies in one statement. It reads the columns of JobClaim's
// "claimed" CTE; TestEvents keeps it in step with event.Job (it decodes the
// claim's payload strictly and compares it with the Go value).
const claimedJobEventSQL = `json_build_object('type', 'job', 'jobId', id, 'project', project,
	'entityKey', entity_key, 'entityVal', entity_val, 'status', 'running', 'tag', tag,
	'attempt', attempt, 'runnerId', $1::bigint)::text`

// revokedEventSQL and runnerGoneEventSQL are the event.Access of a deleted token
// (its hash column) and runner (its id), NOTIFYed by the statement that deletes
// it. They are spelled as event.Marshal spells them.
const (
	revokedEventSQL    = `'{"type":"access","tokenHash":"' || encode(hash, 'hex') || '"}'`
	runnerGoneEventSQL = `'{"type":"access","runnerId":' || id || '}'`
)

// event is the event.Job of a changed job, in status at attempt.
func (c changedJob) event(status string, attempt int) event.Job {
	return event.Job{JobID: c.ID, Project: c.Project, EntityKey: c.Key, EntityVal: c.Val,
		Status: status, Tag: c.Tag, Attempt: attempt}
}
