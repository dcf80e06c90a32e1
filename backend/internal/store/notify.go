package store

import (
	"context"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/aura-ci/aura/backend/internal/event"
)

// PostgreSQL channels. Every cross-request signal goes through them, so a second
// server process sees what the first one did.
const (
	// ChannelRunnable carries "<count> <tag>" when jobs with that tag became queued.
	ChannelRunnable = "aura_runnable"
	// ChannelTimer is notified when a waiting job got an earliest start to wait for.
	ChannelTimer = "aura_timer"
	// ChannelEvents carries an event.Event (event.Marshal) for the websocket
	// stream and whoever else follows jobs (dispatch's cancel watches).
	ChannelEvents = "aura_events"
)

// notes collects the notifications of one transaction; flush sends them in one
// statement just before commit, so they are delivered exactly when the change is visible.
type notes struct {
	runnable map[string]int
	// queuedIDs are, by tag, the jobs the transaction queued (a hand-off
	// announces those its claims left, handoff.go).
	queuedIDs map[string][]int64
	events    []event.Event
	timer     bool
	statuses  statusMarks // commits whose forge status may have changed (statuses.go)
	builds    buildMarks  // entities a job of ended, for notification rules (notifications.go)
	ends      []JobEnd    // jobs and attempts that ended, for /metrics after commit (jobends.go)
}

func (n *notes) queued(tag string) {
	if n.runnable == nil {
		n.runnable = map[string]int{}
		n.queuedIDs = map[string][]int64{}
	}
	n.runnable[tag]++
}

// queuedJob records that the transaction queued job id of tag.
func (n *notes) queuedJob(tag string, id int64) {
	n.queued(tag)
	n.queuedIDs[tag] = append(n.queuedIDs[tag], id)
}

// event records e, to be NOTIFYed on ChannelEvents at commit.
func (n *notes) event(e event.Event) {
	n.events = append(n.events, e)
}

// jobChanged records the event and dispatch signal for a job a transition changed.
func (n *notes) jobChanged(c changedJob) {
	n.event(c.event(c.Status, c.Attempt))
	n.statuses.add(c.Project, c.Key, c.Val)
	if Ended(c.Status) {
		n.builds.add(c.Project, c.Key, c.Val)
		n.ended(c, c.Status, true, c.StartedAt)
	}
	switch {
	case c.Status == StatusQueued:
		n.queuedJob(c.Tag, c.ID)
	case c.Status == StatusWaiting && c.Earliest != nil && c.Earliest.After(c.Now):
		n.timer = true
	}
}

// merge appends other's notifications to n's.
func (n *notes) merge(other *notes) {
	for tag, c := range other.runnable {
		if n.runnable == nil {
			n.runnable = map[string]int{}
			n.queuedIDs = map[string][]int64{}
		}
		n.runnable[tag] += c
		n.queuedIDs[tag] = append(n.queuedIDs[tag], other.queuedIDs[tag]...)
	}
	n.events = append(n.events, other.events...)
	n.timer = n.timer || other.timer
	n.statuses.merge(&other.statuses)
	n.builds.merge(&other.builds)
	n.ends = append(n.ends, other.ends...)
}

func (n *notes) flush(ctx context.Context, tx pgx.Tx) error {
	n.handEnds(tx)
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
		n.logJobs()
		b.Queue(notifyQuery, n.args()...)
		n.statuses.queue(b)
		n.builds.queue(b)
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
		payloads = append(payloads, string(event.Marshal(e)))
	}
	return []any{channels, payloads}
}
