package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/aura-ci/aura/backend/internal/store"
)

// purgeProjects removes the rows of deleted projects in the background: every
// period it takes batch after batch (each its own short transaction) until none
// is left. A failed step is retried at the next period.
func purgeProjects(ctx context.Context, st *store.Store, logger *slog.Logger, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		steps := 0
		for ctx.Err() == nil {
			more, err := st.ProjectPurge(ctx)
			if err != nil {
				if ctx.Err() == nil {
					logger.Error("purging a deleted project failed", "err", err)
				}
				break
			}
			if !more {
				break
			}
			steps++
		}
		if steps > 0 {
			logger.Info("purged deleted projects", "batches", steps)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
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
