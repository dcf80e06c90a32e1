package store

import (
	"context"
	"encoding/json"
	"strconv"

	"github.com/jackc/pgx/v5"
)

// PostgreSQL channels. Every cross-request signal goes through them, so a second
// server process sees what the first one did.
const (
	// ChannelRunnable carries "<count> <tag>" when jobs with that tag became queued.
	ChannelRunnable = "aura_runnable"
	// ChannelTimer is notified when a waiting job got an earliest start to wait for.
	ChannelTimer = "aura_timer"
	// ChannelEvents carries an Event as JSON for the websocket stream.
	ChannelEvents = "aura_events"
)

// Event is what changed, small enough for a NOTIFY payload: ids and offsets, no bodies.
type Event struct {
	Type      string `json:"type"` // job, log, runner
	JobID     int64  `json:"jobId,omitempty"`
	Project   string `json:"project,omitempty"`
	EntityKey string `json:"entityKey,omitempty"`
	EntityVal string `json:"entityVal,omitempty"`
	Status    string `json:"status,omitempty"`
	Tag       string `json:"tag,omitempty"`
	Attempt   int    `json:"attempt,omitempty"`
	Offset    int64  `json:"offset,omitempty"`
	Length    int64  `json:"length,omitempty"`
	RunnerID  int64  `json:"runnerId,omitempty"`
}

// notes collects the notifications of one transaction; flush sends them in one
// statement just before commit, so they are delivered exactly when the change is visible.
type notes struct {
	runnable map[string]int
	events   []string
	timer    bool
	statuses statusMarks // commits whose forge status may have changed (statuses.go)
}

func (n *notes) queued(tag string) {
	if n.runnable == nil {
		n.runnable = map[string]int{}
	}
	n.runnable[tag]++
}

func (n *notes) event(e Event) {
	b, _ := json.Marshal(e)
	n.events = append(n.events, string(b))
}

// jobChanged records the event and dispatch signal for a job a transition changed.
func (n *notes) jobChanged(c changedJob) {
	n.event(Event{Type: "job", JobID: c.ID, Project: c.Project, EntityKey: c.Key, EntityVal: c.Val,
		Status: c.Status, Tag: c.Tag, Attempt: c.Attempt})
	n.statuses.add(c.Project, c.Key, c.Val)
	switch {
	case c.Status == StatusQueued:
		n.queued(c.Tag)
	case c.Status == StatusWaiting && c.Earliest != nil && c.Earliest.After(c.Now):
		n.timer = true
	}
}

// merge appends other's notifications to n's.
func (n *notes) merge(other *notes) {
	for tag, c := range other.runnable {
		if n.runnable == nil {
			n.runnable = map[string]int{}
		}
		n.runnable[tag] += c
	}
	n.events = append(n.events, other.events...)
	n.timer = n.timer || other.timer
	n.statuses.merge(&other.statuses)
}

func (n *notes) flush(ctx context.Context, tx pgx.Tx) error {
	if n.empty() {
		return nil
	}
	b := &pgx.Batch{}
	n.queue(b)
	return interpret(tx.SendBatch(ctx, b).Close(), "notify")
}

// queue adds the notifications to a batch that runs in the transaction.
func (n *notes) queue(b *pgx.Batch) {
	if !n.empty() {
		b.Queue(notifyQuery, n.args()...)
		n.statuses.queue(b)
	}
}

func (n *notes) empty() bool {
	return len(n.runnable) == 0 && len(n.events) == 0 && !n.timer
}

const notifyQuery = `SELECT count(pg_notify(c, p)) FROM unnest($1::text[], $2::text[]) AS t(c, p)`

func (n *notes) args() []any {
	var payloads, channels []string
	for tag, c := range n.runnable {
		channels = append(channels, ChannelRunnable)
		payloads = append(payloads, strconv.Itoa(c)+" "+tag)
	}
	if n.timer {
		channels = append(channels, ChannelTimer)
		payloads = append(payloads, "")
	}
	for _, e := range n.events {
		channels = append(channels, ChannelEvents)
		payloads = append(payloads, e)
	}
	return []any{channels, payloads}
}
