package integrations

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/aura-ci/aura/backend/internal/event"
	"github.com/aura-ci/aura/backend/internal/events"
	"github.com/aura-ci/aura/backend/internal/metrics"
	"github.com/aura-ci/aura/backend/internal/store"
)

// SenderConfig tunes the status sender; zero values take the defaults.
type SenderConfig struct {
	// Poll is the longest the sender sleeps without a signal (1 min), a safety
	// net: a delivery on this server, a job event on any server (Listen) and the
	// next row due (a retry, an expired claim) wake it.
	Poll time.Duration
	// EventEvery is how often job events may wake it at most (500 ms, at most
	// Poll): under load they come by the hundred, and one look serves them all.
	EventEvery time.Duration
	// KickEvery is how often this server's deliveries may wake it at most
	// (20 ms, at most EventEvery): under load they come by the thousand a
	// second, and a look costs its statements however few rows it finds.
	KickEvery  time.Duration
	Lease      time.Duration    // how long a claimed row is ours (1 min); above any call's time limit
	BackoffMin time.Duration    // first retry delay (2 s), doubled per failure
	BackoffMax time.Duration    // longest retry delay (5 min): a forge down for hours is still retried
	Batch      int              // rows per claim (50)
	Workers    int              // rows sent at once (4)
	Metrics    *metrics.Metrics // counts failed deliveries; nil: none
}

// Sender delivers the status outbox to the forges. Any number of senders, in
// any number of servers, may run on one database.
type Sender struct {
	svc    *Service
	cfg    SenderConfig
	log    *slog.Logger
	events chan struct{} // a job changed, on any server: its commit's row may be due
}

// NewSender returns a Sender for svc.
func NewSender(svc *Service, cfg SenderConfig, log *slog.Logger) *Sender {
	if cfg.Poll <= 0 {
		cfg.Poll = time.Minute
	}
	if cfg.EventEvery <= 0 {
		cfg.EventEvery = 500 * time.Millisecond
	}
	cfg.EventEvery = min(cfg.EventEvery, cfg.Poll)
	if cfg.KickEvery <= 0 {
		cfg.KickEvery = 20 * time.Millisecond
	}
	cfg.KickEvery = min(cfg.KickEvery, cfg.EventEvery)
	if cfg.Lease <= 0 {
		cfg.Lease = time.Minute
	}
	if cfg.BackoffMin <= 0 {
		cfg.BackoffMin = 2 * time.Second
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = 5 * time.Minute
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 50
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if log == nil {
		log = slog.Default()
	}
	return &Sender{svc: svc, cfg: cfg, log: log, events: make(chan struct{}, 1)}
}

// Listen has l wake the sender on every job event (a job transition on any
// server bumps the outbox rows of its commit and build) and after a reconnect
// (notifications may have been missed). Call it before l runs.
func (s *Sender) Listen(l *events.Listener) {
	l.HandleEvents(func(e event.Event) {
		if _, ok := e.(event.Job); ok {
			s.wake()
		}
	})
	l.OnReconnect(s.wake)
}

func (s *Sender) wake() {
	select {
	case s.events <- struct{}{}:
	default:
	}
}

// Run sends due statuses and notifications until ctx ends. Between looks it
// sleeps until the next row is due, a signal comes, or Poll passed.
func (s *Sender) Run(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	kicks := s.svc.kicks()
	next := time.Now() // when to look next
	var last time.Time // when the last look began
	for {
		t.Reset(time.Until(next))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-kicks: // a delivery just queued a status
			if at := last.Add(s.cfg.KickEvery); time.Now().Before(at) {
				if at.Before(next) {
					next = at
				}
				continue
			}
		case <-s.events:
			if at := last.Add(s.cfg.EventEvery); time.Now().Before(at) {
				if at.Before(next) {
					next = at
				}
				continue
			}
		}
		last = time.Now()
		n, err := s.SendDue(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("status outbox", "err", err)
		}
		if m, err2 := s.SendNotificationsDue(ctx); err2 != nil && ctx.Err() == nil {
			s.log.Warn("notify outbox", "err", err2)
			err = err2
		} else {
			n = max(n, m)
		}
		if n == s.cfg.Batch {
			next = time.Now() // more may be due
			continue
		}
		next = s.nextLook(ctx, n, err)
	}
}

// nextLook is when to look again after a look that claimed n rows (fewer than
// a batch) or failed with err.
func (s *Sender) nextLook(ctx context.Context, n int, err error) time.Time {
	now := time.Now()
	if err != nil {
		return now.Add(min(s.cfg.Poll, time.Second))
	}
	wait := s.cfg.Poll
	due, err := s.svc.Store.OutboxNextDue(ctx)
	switch {
	case err != nil:
		if ctx.Err() == nil {
			s.log.Warn("status outbox: next due", "err", err)
		}
		wait = min(wait, time.Second)
	case due != nil:
		wait = min(wait, *due)
	}
	if n == 0 {
		// A row due that this look did not take is held by another sender's
		// claim for a moment: don't spin meanwhile.
		wait = max(wait, s.cfg.EventEvery)
	}
	return now.Add(wait)
}

// SendDue claims one batch of due statuses and sends it; it returns how many
// rows it claimed. The batch's database work is the same whatever its size:
// the claim, one read of its commits' states (CommitStatesMany) and one write
// of what was sent (StatusesSent); only the failures are written one by one.
func (s *Sender) SendDue(ctx context.Context) (int, error) {
	rows, err := s.svc.Store.StatusClaim(ctx, s.cfg.Batch, s.cfg.Lease)
	if err != nil || len(rows) == 0 {
		return 0, err
	}
	keys := make([]store.CommitKey, len(rows))
	for i, row := range rows {
		keys[i] = store.CommitKey{ProjectID: row.ProjectID, SHA: row.SHA, PerJob: row.ContextPerJob}
	}
	states, statesErr := s.svc.Store.CommitStatesMany(ctx, keys)
	var mu sync.Mutex
	var sent []store.StatusSentRow
	var wg sync.WaitGroup
	sem := make(chan struct{}, s.cfg.Workers)
	for i, row := range rows {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if statesErr != nil {
				s.fail(ctx, row, "reading the commit's status failed")
				return
			}
			if done, ok := s.send(ctx, row, states[i]); ok {
				mu.Lock()
				sent = append(sent, done)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := s.svc.Store.StatusesSent(ctx, sent); err != nil {
		// The rows are sent again once their lease runs out.
		s.log.Warn("status outbox: record delivery", "err", err, "rows", len(sent))
	}
	return len(rows), nil
}

// contextName is the forge's name for a status context: "aura", or "aura/<job>".
func contextName(job string) string {
	if job == "" {
		return "aura"
	}
	return "aura/" + job
}

// fail schedules row's retry after its backoff and records msg on its integration.
func (s *Sender) fail(ctx context.Context, row *store.StatusToSend, msg string) {
	delay := s.backoff(row.Attempts)
	s.cfg.Metrics.OutboxFailed("status")
	s.log.Warn("status outbox: delivery failed", "integration", row.IntegrationID, "sha", row.SHA, "err", msg, "retry_in", delay)
	sent := row.Sent
	if sent == nil {
		sent = map[string]string{}
	}
	if err := s.svc.Store.StatusFailed(ctx, row.ID, time.Now().Add(delay), msg, sent); err != nil {
		s.log.Warn("status outbox: record failure", "err", err)
	}
	if err := s.svc.Store.IntegrationStatusReported(ctx, row.IntegrationID, msg); err != nil {
		s.log.Warn("status outbox: record failure", "err", err)
	}
}

// send sends the statuses of row's commit (states, from CommitStatesMany)
// that the forge does not show yet. When the forge took them all, it returns
// what to record (ok); else it recorded the failure.
func (s *Sender) send(ctx context.Context, row *store.StatusToSend, states map[string]store.CommitState) (done store.StatusSentRow, ok bool) {
	if row.Sent == nil {
		row.Sent = map[string]string{}
	}
	switch {
	case row.TokenErr != nil:
		s.fail(ctx, row, "the access token cannot be opened with the server key")
		return done, false
	case row.Token == "":
		s.fail(ctx, row, "the integration has no access token to report statuses with")
		return done, false
	}
	apiURL := row.APIURL
	if base, err := APIBase(row.Kind, row.APIURL); err == nil {
		// An address saved before Aura derived the API from it reaches the API too.
		apiURL = base
	}
	forge := &Forge{Kind: row.Kind, APIURL: apiURL, Token: row.Token, Repository: row.Repository,
		AllowPrivateNetwork: row.AllowPrivateNetwork}
	target := s.svc.targetURL(row.Project, row.SHA)
	for _, job := range slices.Sorted(maps.Keys(states)) {
		st := states[job]
		name := contextName(job)
		shown := st.State + " " + st.Description
		if row.Sent[name] == shown {
			continue // the forge shows this already
		}
		err := s.svc.Reporter.Send(ctx, forge, &Status{SHA: row.SHA, Context: name, State: st.State,
			Description: st.Description, TargetURL: target})
		if err != nil {
			s.fail(ctx, row, err.Error()) // row.Sent keeps the contexts that did get through
			return done, false
		}
		row.Sent[name] = shown
	}
	return store.StatusSentRow{ID: row.ID, Version: row.Version, Sent: row.Sent, IntegrationID: row.IntegrationID,
		Project: row.Project}, true
}

// SendNotificationsDue claims one batch of due notifications and sends it; it
// returns how many rows it claimed. The notify outbox is run by the status
// sender: the same claim, lease, backoff and workers.
func (s *Sender) SendNotificationsDue(ctx context.Context) (int, error) {
	rows, err := s.svc.Store.NotificationClaim(ctx, s.cfg.Batch, s.cfg.Lease)
	if err != nil {
		return 0, err
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, s.cfg.Workers)
	for _, row := range rows {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			s.notify(ctx, row)
		})
	}
	wg.Wait()
	return len(rows), nil
}

func (s *Sender) backoff(attempts int) time.Duration {
	delay := s.cfg.BackoffMin << min(attempts, 20)
	if delay > s.cfg.BackoffMax || delay <= 0 {
		delay = s.cfg.BackoffMax
	}
	return delay
}

func (s *Sender) notify(ctx context.Context, row *store.NotificationToSend) {
	fail := func(msg string) {
		delay := s.backoff(row.Attempts)
		s.cfg.Metrics.OutboxFailed("notify")
		s.log.Warn("notify outbox: delivery failed", "rule", row.Rule.ID, "entity", row.EntityID, "err", msg, "retry_in", delay)
		if err := s.svc.Store.NotificationFailed(ctx, row.ID, time.Now().Add(delay), msg); err != nil {
			s.log.Warn("notify outbox: record failure", "err", err)
		}
		if err := s.svc.Store.NotificationReported(ctx, row.Rule.ID, msg); err != nil {
			s.log.Warn("notify outbox: record failure", "err", err)
		}
	}
	done := func(delivered bool) {
		if err := s.svc.Store.NotificationSent(ctx, row.ID, row.Version, row.Sent); err != nil {
			s.log.Warn("notify outbox: record delivery", "err", err)
			return
		}
		if delivered {
			if err := s.svc.Store.NotificationReported(ctx, row.Rule.ID, ""); err != nil {
				s.log.Warn("notify outbox: record delivery", "err", err)
			}
		}
	}
	if row.OpenErr != nil {
		fail("the rule's URL or secret cannot be opened with the server key")
		return
	}
	o, err := s.svc.Store.BuildOutcomeOf(ctx, row.EntityID)
	if err != nil {
		fail("reading the build's result failed")
		return
	}
	if o.Result == "pending" {
		done(false) // a job was retried or added: its end bumps the row again
		return
	}
	// A build's result is told once: a retry that ends makes a newer job, so a
	// new result; a restart or a repeated bump of the same result is not.
	result := fmt.Sprintf("%s %d", o.Result, o.LastJobID)
	if row.Sent["result"] == result {
		done(false)
		return
	}
	event, err := s.svc.matchRule(ctx, row, o)
	if err != nil {
		fail("reading the previous build failed")
		return
	}
	row.Sent["result"] = result
	if event == "" {
		done(false)
		return
	}
	n := &Notice{Event: event, Project: row.Project, EntityKey: row.EntityKey, EntityValue: row.EntityVal,
		Title: row.Title, Result: o.Result, Summary: o.Counts.Summary(), FailedJobs: o.FailedJobs,
		Collections: o.Collections, URL: s.svc.entityURL(row.Project, row.EntityKey, row.EntityVal)}
	if n.FailedJobs == nil {
		n.FailedJobs = []string{}
	}
	delivery := fmt.Sprintf("%d-%d", row.ID, o.LastJobID)
	if err := s.svc.Deliver(ctx, &row.Rule, row.Secret, delivery, n); err != nil {
		delete(row.Sent, "result")
		fail(err.Error())
		return
	}
	done(true)
}
