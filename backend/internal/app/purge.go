package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/aura-ci/aura/backend/internal/events"
	"github.com/aura-ci/aura/backend/internal/store"
)

// purgeSafety is how long the purge sleeps at most without a notification: a
// safety net, since every project deletion notifies store.ChannelPurge.
const purgeSafety = 10 * time.Minute

// purgeRetry is the pause after a failed purge step.
const purgeRetry = 2 * time.Second

// purger removes the rows of deleted projects in the background.
type purger struct {
	st     *store.Store
	logger *slog.Logger
	kick   chan struct{} // a project was deleted, on any server
	safety time.Duration // the longest sleep without a kick
}

func newPurger(st *store.Store, logger *slog.Logger) *purger {
	return &purger{st: st, logger: logger, kick: make(chan struct{}, 1), safety: purgeSafety}
}

// Listen has l wake the purge when a project is deleted on any server, and
// after a reconnect (the notification may have been missed). Call it before l runs.
func (p *purger) Listen(l *events.Listener) {
	l.Handle(store.ChannelPurge, func(string) { p.wake() })
	l.OnReconnect(p.wake)
}

func (p *purger) wake() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// Run purges at once (what was deleted while no server ran), then whenever a
// project is deleted: batch after batch (each its own short transaction) until
// none is left. A failed step is retried after purgeRetry.
func (p *purger) Run(ctx context.Context) {
	for {
		steps, failed := 0, false
		for ctx.Err() == nil {
			more, err := p.st.ProjectPurge(ctx)
			if err != nil {
				if ctx.Err() == nil {
					p.logger.Error("purging a deleted project failed", "err", err)
				}
				failed = true
				break
			}
			if !more {
				break
			}
			steps++
		}
		if steps > 0 {
			p.logger.Info("purged deleted projects", "batches", steps)
		}
		wait := p.safety
		if failed {
			wait = min(wait, purgeRetry)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-p.kick:
			t.Stop()
		}
	}
}

// vacuumQueue vacuums jobs, every tick, once the jobs claimed here since the
// last time have made it due (store.VacuumQueueIfDue).
func vacuumQueue(ctx context.Context, st *store.Store, logger *slog.Logger, tick time.Duration) {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		start := time.Now()
		done, err := st.VacuumQueueIfDue(ctx, store.QueueVacuumMinClaims)
		switch {
		case err != nil && ctx.Err() == nil:
			logger.Warn("vacuuming jobs failed", "err", err)
		case done:
			logger.Debug("vacuumed jobs: claims had left their entries in the queue's index", "took", time.Since(start).Round(time.Millisecond))
		}
	}
}

// pruneDeliveries forgets webhook deliveries past store.DeliveryRetention, at
// start and then every period.
func pruneDeliveries(ctx context.Context, st *store.Store, logger *slog.Logger, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		n, err := st.WebhookDeliveriesPrune(ctx, store.DeliveryRetention)
		switch {
		case err != nil && ctx.Err() == nil:
			logger.Error("forgetting old webhook deliveries failed", "err", err)
		case n > 0:
			logger.Info("forgot old webhook deliveries", "deliveries", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pruneSessions forgets ended sessions and invitations every period.
func pruneSessions(ctx context.Context, st *store.Store, idle time.Duration, logger *slog.Logger, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		n, err := st.SessionsPrune(ctx, idle)
		switch {
		case err != nil && ctx.Err() == nil:
			logger.Error("forgetting ended sessions failed", "err", err)
		case n > 0:
			logger.Info("forgot ended sessions", "sessions", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
