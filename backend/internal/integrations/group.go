package integrations

import (
	"context"
	"sync"
	"time"

	"github.com/aura-ci/aura/backend/internal/store"
	"github.com/aura-ci/aura/backend/internal/tracing"
)

// submitGroups submits concurrent deliveries together (store.HookSubmitGroup):
// a delivery joins the deliveries waiting while a group is in the database,
// and they go as the next group, in one transaction and one commit. A
// delivery that finds nothing in flight goes at once, alone, so a quiet
// server adds no latency. One group at a time: the commits of transactions
// that notify go one after another anyway, and groups that start beside one
// another are smaller, each with the statements of a whole submission.
type submitGroups struct {
	mu      sync.Mutex
	pending []*groupedDelivery
	running int
}

type groupedDelivery struct {
	params *store.HookSubmitParams
	result store.HookSubmitResult
	done   chan struct{}
}

const (
	// maxGroup bounds the deliveries of one group, so that one transaction stays short.
	maxGroup = 64
	// groupsInFlight is how many groups may be in the database at once; the
	// next one fills meanwhile.
	groupsInFlight = 1
	// groupTimeout bounds one group's transaction: it outlives the request
	// that started it, since it carries others' deliveries too.
	groupTimeout = 30 * time.Second
)

// submit submits p with the deliveries that arrive meanwhile and returns what
// HookSubmit would. When ctx ends first, the delivery may still be submitted,
// as a delivery whose client went away may be.
func (g *submitGroups) submit(ctx context.Context, st *store.Store, p *store.HookSubmitParams) ([]*store.Job, bool, error) {
	// The group runs apart from this request: its jobs join the request's trace.
	if tp := tracing.TraceParent(ctx); tp != nil {
		for _, j := range p.Jobs {
			j.Trace = tp
		}
	}
	d := &groupedDelivery{params: p, done: make(chan struct{})}
	g.mu.Lock()
	g.pending = append(g.pending, d)
	if g.running < groupsInFlight {
		g.running++
		go g.run(st)
	}
	g.mu.Unlock()
	select {
	case <-d.done:
		return d.result.Jobs, d.result.Duplicate, d.result.Err
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
}

// run submits groups while deliveries wait.
func (g *submitGroups) run(st *store.Store) {
	for {
		g.mu.Lock()
		n := min(len(g.pending), maxGroup)
		if n == 0 {
			g.running--
			g.mu.Unlock()
			return
		}
		group := g.pending[:n:n]
		g.pending = g.pending[n:]
		g.mu.Unlock()
		params := make([]*store.HookSubmitParams, len(group))
		for i, d := range group {
			params[i] = d.params
		}
		ctx, cancel := context.WithTimeout(context.Background(), groupTimeout)
		results := st.HookSubmitGroup(ctx, params)
		cancel()
		for i, d := range group {
			d.result = results[i]
			close(d.done)
		}
	}
}
