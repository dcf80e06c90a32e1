package integrations

import (
	"cmp"
	"context"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/aura-ci/aura/backend/internal/store"
)

// deliveryLog records the integrations' last deliveries in groups. Every
// delivery to an integration writes the same row: written inside each
// delivery's transaction, concurrent deliveries would queue on its lock one
// commit after another. Instead a delivery, once committed, hands its outcome
// over and waits for the write that holds it (so its answer comes after the
// integration shows it); the outcomes that arrive meanwhile share the next
// write, the latest per integration winning.
type deliveryLog struct {
	mu      sync.Mutex
	pending map[int64]store.Delivered
	waiters []chan struct{}
	writing bool
}

// deliveryWriteTimeout bounds one group write.
const deliveryWriteTimeout = 10 * time.Second

// record records msg as in's last delivery and returns once it is written, or
// ctx ends. The jobs are in by then: a failed write is logged, not returned
// (the line on the integration's page is all it loses).
func (l *deliveryLog) record(ctx context.Context, st *store.Store, in *store.Integration, msg string) {
	done := make(chan struct{})
	l.mu.Lock()
	if l.pending == nil {
		l.pending = map[int64]store.Delivered{}
	}
	l.pending[in.ID] = store.Delivered{IntegrationID: in.ID, Project: in.Project, Message: msg, At: time.Now()}
	l.waiters = append(l.waiters, done)
	if !l.writing {
		l.writing = true
		go l.write(st)
	}
	l.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// write writes the pending outcomes until none is left.
func (l *deliveryLog) write(st *store.Store) {
	for {
		l.mu.Lock()
		pending, waiters := l.pending, l.waiters
		l.pending, l.waiters = nil, nil
		if len(waiters) == 0 {
			l.writing = false
			l.mu.Unlock()
			return
		}
		l.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), deliveryWriteTimeout)
		ds := slices.SortedFunc(maps.Values(pending), func(a, b store.Delivered) int { return cmp.Compare(a.IntegrationID, b.IntegrationID) })
		if err := st.IntegrationsDelivered(ctx, ds); err != nil {
			slog.Warn("record webhook deliveries", "err", err, "integrations", len(ds))
		}
		cancel()
		for _, w := range waiters {
			close(w)
		}
	}
}
