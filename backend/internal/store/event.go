package store

import (
	"encoding/json"
	"fmt"
	"time"
)

// EventType names one kind of event. The websocket stream, the NOTIFY payloads
// and openapi.yaml's components/schemas/Event all use these names.
type EventType string

// The kinds of events. Job, log and runner events are NOTIFYed by the store in
// the transaction that caused them; entity events are derived from job events by
// whoever fans them out, so a transition costs no extra query.
const (
	EventJob         EventType = "job"
	EventLog         EventType = "log"
	EventRunner      EventType = "runner"
	EventEntity      EventType = "entity"
	EventIntegration EventType = "integration"
	// EventAccess never reaches a websocket: it tells the hubs of every server
	// that who may read what changed (see AccessEvent).
	EventAccess EventType = "access"
)

// Event is one typed event. Each kind is its own struct; MarshalEvent adds the
// "type" discriminator, ParseEvent reads it back.
type Event interface {
	EventType() EventType
}

// JobEvent says a job changed status (or started a new attempt).
type JobEvent struct {
	JobID     int64  `json:"jobId"`
	Project   string `json:"project"`
	EntityKey string `json:"entityKey"`
	EntityVal string `json:"entityVal"`
	Status    string `json:"status"`
	Tag       string `json:"tag"`
	Attempt   int    `json:"attempt"`
	RunnerID  int64  `json:"runnerId,omitempty"`
}

// LogEvent says Length bytes were appended at Offset to a job attempt's log. The
// bytes themselves stay in log_chunks: NOTIFY payloads are small.
type LogEvent struct {
	JobID   int64 `json:"jobId"`
	Attempt int   `json:"attempt"`
	Offset  int64 `json:"offset"`
	Length  int64 `json:"length"`
}

// RunnerEvent says a runner checked in (asked for work).
type RunnerEvent struct {
	RunnerID    int64     `json:"runnerId"`
	Name        string    `json:"name"`
	Tags        []string  `json:"tags"`
	LastCheckIn time.Time `json:"lastCheckIn"`
}

// EntityEvent is an entity's derived status and summary after one of its jobs changed.
type EntityEvent struct {
	Project     string          `json:"project"`
	EntityKey   string          `json:"entityKey"`
	EntityVal   string          `json:"entityVal"`
	Status      string          `json:"status"`
	Summary     string          `json:"summary"`
	Counts      JobCounts       `json:"counts"`
	Collections []CollectionRef `json:"-"` // the collections holding it, for their topics
}

// IntegrationEvent says a forge integration received a delivery or reported a
// commit status (or failed to): its dashboard refetches it.
type IntegrationEvent struct {
	IntegrationID int64  `json:"integrationId"`
	Project       string `json:"project"`
}

// AccessEvent says a token was revoked (TokenHash, the hex of its stored hash), a
// runner deleted (RunnerID), or a project's visibility changed (Project). The
// hubs close the sockets it names, or re-read the project, before they deliver
// anything committed after it.
type AccessEvent struct {
	TokenHash string `json:"tokenHash,omitempty"`
	RunnerID  int64  `json:"runnerId,omitempty"`
	Project   string `json:"project,omitempty"`
}

// EventType implements Event.
func (AccessEvent) EventType() EventType { return EventAccess }

// EventType implements Event.
func (JobEvent) EventType() EventType { return EventJob }

// EventType implements Event.
func (IntegrationEvent) EventType() EventType { return EventIntegration }

// EventType implements Event.
func (LogEvent) EventType() EventType { return EventLog }

// EventType implements Event.
func (RunnerEvent) EventType() EventType { return EventRunner }

// EventType implements Event.
func (EntityEvent) EventType() EventType { return EventEntity }

// MarshalEvent encodes e as a JSON object whose first field is its "type".
func MarshalEvent(e Event) []byte {
	b, err := json.Marshal(e)
	if err != nil || len(b) < 2 || b[0] != '{' {
		panic(fmt.Sprintf("store: event %T does not encode as an object: %v", e, err))
	}
	head := `{"type":"` + string(e.EventType()) + `"`
	if len(b) > 2 {
		head += ","
	}
	return append([]byte(head), b[1:]...)
}

// ParseEvent decodes a payload made by MarshalEvent (or claimedJobEventSQL).
func ParseEvent(payload []byte) (Event, error) {
	var head struct {
		Type EventType `json:"type"`
	}
	if err := json.Unmarshal(payload, &head); err != nil {
		return nil, fmt.Errorf("event: %w", err)
	}
	var e Event
	var err error
	switch head.Type {
	case EventJob:
		e, err = decodeEvent[JobEvent](payload)
	case EventLog:
		e, err = decodeEvent[LogEvent](payload)
	case EventRunner:
		e, err = decodeEvent[RunnerEvent](payload)
	case EventEntity:
		e, err = decodeEvent[EntityEvent](payload)
	case EventIntegration:
		e, err = decodeEvent[IntegrationEvent](payload)
	case EventAccess:
		e, err = decodeEvent[AccessEvent](payload)
	default:
		return nil, fmt.Errorf("event: unknown type %q", head.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("event %s: %w", head.Type, err)
	}
	return e, nil
}

// decodeEvent decodes payload as the event type T.
func decodeEvent[T Event](payload []byte) (Event, error) {
	var v T
	err := json.Unmarshal(payload, &v)
	return v, err
}

// claimedJobEventSQL is the JobEvent of a claimed job built in SQL, so JobClaim
// changes jobs and notifies in one statement. It reads the columns of JobClaim's
// "claimed" CTE; TestClaimedJobEventSQL keeps it in step with JobEvent.
const claimedJobEventSQL = `json_build_object('type', 'job', 'jobId', id, 'project', project,
	'entityKey', entity_key, 'entityVal', entity_val, 'status', 'running', 'tag', tag,
	'attempt', attempt, 'runnerId', $1::bigint)::text`

// revokedEventSQL and runnerGoneEventSQL are the AccessEvents of a deleted token
// (its hash column) and runner (its id), NOTIFYed by the statement that deletes
// it. They are spelled as MarshalEvent spells them: the hub knows an access
// event by its first bytes.
const (
	revokedEventSQL    = `'{"type":"access","tokenHash":"' || encode(hash, 'hex') || '"}'`
	runnerGoneEventSQL = `'{"type":"access","runnerId":' || id || '}'`
)

// event is the JobEvent of a changed job, in status at attempt.
func (c changedJob) event(status string, attempt int) JobEvent {
	return JobEvent{JobID: c.ID, Project: c.Project, EntityKey: c.Key, EntityVal: c.Val,
		Status: status, Tag: c.Tag, Attempt: attempt}
}
