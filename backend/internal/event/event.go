// Package event is the vocabulary of Aura's live events: one type per kind, as
// the store NOTIFYs them, the websocket carries them and openapi.yaml's
// components/schemas/Event describes them. It imports nothing of Aura's, so the
// store that writes events and the hub and dispatcher that read them share it.
package event

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Type names one kind of event: the "type" discriminator of every payload.
type Type string

// The kinds of events. Job, log and runner events are NOTIFYed by the store in
// the transaction that caused them; entity events are derived from job events by
// whoever fans them out, so a transition costs no extra query.
const (
	TypeJob         Type = "job"
	TypeLog         Type = "log"
	TypeRunner      Type = "runner"
	TypeEntity      Type = "entity"
	TypeIntegration Type = "integration"
	// TypeAccess never reaches a websocket: it tells the hubs of every server
	// that who may read what changed (see Access).
	TypeAccess Type = "access"
	// TypeJobs never reaches a websocket either: it stands for a Job per id
	// (see Jobs).
	TypeJobs Type = "jobs"
)

// Event is one typed event. Each kind is its own struct; Marshal adds the "type"
// discriminator, Parse reads it back.
type Event interface {
	EventType() Type
}

// Job says a job changed status (or started a new attempt).
type Job struct {
	JobID     int64  `json:"jobId"`
	Project   string `json:"project"`
	EntityKey string `json:"entityKey"`
	EntityVal string `json:"entityVal"`
	Status    string `json:"status"`
	Tag       string `json:"tag"`
	Attempt   int    `json:"attempt"`
	RunnerID  int64  `json:"runnerId,omitempty"`
}

// Log says Length bytes were appended at Offset to a job attempt's log. The
// bytes themselves stay in log_chunks: NOTIFY payloads are small.
type Log struct {
	JobID   int64 `json:"jobId"`
	Attempt int   `json:"attempt"`
	Offset  int64 `json:"offset"`
	Length  int64 `json:"length"`
}

// Runner says a runner checked in (asked for work).
type Runner struct {
	RunnerID    int64     `json:"runnerId"`
	Name        string    `json:"name"`
	Tags        []string  `json:"tags"`
	LastCheckIn time.Time `json:"lastCheckIn"`
}

// Entity is an entity's derived status and summary after one of its jobs changed.
type Entity struct {
	Project   string `json:"project"`
	EntityKey string `json:"entityKey"`
	EntityVal string `json:"entityVal"`
	Status    string `json:"status"`
	Summary   string `json:"summary"`
	Counts    Counts `json:"counts"`
}

// Counts counts an entity's jobs by status. It has store.JobCounts' fields, so
// one converts to the other.
type Counts struct {
	Waiting   int `json:"waiting"`
	Queued    int `json:"queued"`
	Running   int `json:"running"`
	Succeeded int `json:"succeeded"`
	Failed    int `json:"failed"`
	Cancelled int `json:"cancelled"`
	TimedOut  int `json:"timedOut"`
	Lost      int `json:"lost"`
	Skipped   int `json:"skipped"`
}

// Integration says a forge integration received a delivery or reported a
// commit status (or failed to): its dashboard refetches it.
type Integration struct {
	IntegrationID int64  `json:"integrationId"`
	Project       string `json:"project"`
}

// Access says a token or session was revoked (TokenHash, the hex of its stored
// hash), a runner deleted (RunnerID), a user disabled, deleted or given other
// roles (UserID), or a project's visibility changed (Project). The
// hubs close the sockets it names, or re-read the project, before they deliver
// anything committed after it.
type Access struct {
	TokenHash string `json:"tokenHash,omitempty"`
	RunnerID  int64  `json:"runnerId,omitempty"`
	UserID    int64  `json:"userId,omitempty"`
	Project   string `json:"project,omitempty"`
}

// EventType implements Event.
func (Job) EventType() Type { return TypeJob }

// EventType implements Event.
func (Log) EventType() Type { return TypeLog }

// EventType implements Event.
func (Runner) EventType() Type { return TypeRunner }

// EventType implements Event.
func (Entity) EventType() Type { return TypeEntity }

// EventType implements Event.
func (Integration) EventType() Type { return TypeIntegration }

// EventType implements Event.
func (Access) EventType() Type { return TypeAccess }

// Marshal encodes e as a JSON object whose first field is its "type".
func Marshal(e Event) []byte {
	b, err := json.Marshal(e)
	if err != nil || len(b) < 2 || b[0] != '{' {
		panic(fmt.Sprintf("event: %T does not encode as an object: %v", e, err))
	}
	head := `{"type":"` + string(e.EventType()) + `"`
	if len(b) > 2 {
		head += ","
	}
	return append([]byte(head), b[1:]...)
}

// Parse decodes a payload made by Marshal (or spelled the same way in SQL).
// Every server decodes every event the store notifies (thousands a second
// under load), so the type is read off the payload's head, where both put it,
// and the payload decoded once.
func Parse(payload []byte) (Event, error) {
	typ, ok := headType(payload)
	if !ok {
		var head struct {
			Type Type `json:"type"`
		}
		if err := json.Unmarshal(payload, &head); err != nil {
			return nil, fmt.Errorf("event: %w", err)
		}
		typ = head.Type
	}
	var e Event
	var err error
	switch typ {
	case TypeJob:
		e, err = decode[Job](payload)
	case TypeLog:
		e, err = decode[Log](payload)
	case TypeRunner:
		e, err = decode[Runner](payload)
	case TypeEntity:
		e, err = decode[Entity](payload)
	case TypeIntegration:
		e, err = decode[Integration](payload)
	case TypeAccess:
		e, err = decode[Access](payload)
	case TypeJobs:
		e, err = decode[Jobs](payload)
	default:
		return nil, fmt.Errorf("event: unknown type %q", typ)
	}
	if err != nil {
		return nil, fmt.Errorf("event %s: %w", typ, err)
	}
	return e, nil
}

// headType is the type of a payload whose first member is "type", as Marshal
// and the store's SQL write it, read without decoding the rest (Parse's
// decode checks the whole); ok is false for any other spelling.
func headType(p []byte) (Type, bool) {
	i := skipSpace(p, 0)
	if i == len(p) || p[i] != '{' {
		return "", false
	}
	i = skipSpace(p, i+1)
	if !bytes.HasPrefix(p[i:], []byte(`"type"`)) {
		return "", false
	}
	i = skipSpace(p, i+len(`"type"`))
	if i == len(p) || p[i] != ':' {
		return "", false
	}
	i = skipSpace(p, i+1)
	if i == len(p) || p[i] != '"' {
		return "", false
	}
	n := bytes.IndexByte(p[i+1:], '"')
	if n < 0 || bytes.IndexByte(p[i+1:i+1+n], '\\') >= 0 {
		return "", false
	}
	return Type(p[i+1 : i+1+n]), true
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON white space.
func skipSpace(p []byte, i int) int {
	for i < len(p) && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r') {
		i++
	}
	return i
}

// decode decodes payload as the event type T.
func decode[T Event](payload []byte) (Event, error) {
	var v T
	err := json.Unmarshal(payload, &v)
	return v, err
}
