package dispatch

import (
	"context"
	"time"

	"github.com/aura-ci/aura/backend/internal/store"
)

// A transaction on this server that makes jobs runnable hands them to a long
// poll parked here (store.Handoff): it reserves the poll, claims for it in
// the transaction and delivers what it claimed after its commit. A reserved
// poll gets no other reservation and no wake-up until then, and, should its
// time run out (or its runner hang up, or the server stop) meanwhile, waits
// for the delivery and returns what it got: the API puts back what a runner
// that hung up never received.

var _ store.Handoff = (*Dispatcher)(nil)

// handed is what a hand-off delivers to its poll.
type handed struct {
	res  *reservation
	jobs []*store.ClaimedJob
	err  error
}

// reservation is a parked poll reserved for one transaction's hand-off.
type reservation struct {
	w     *waiter
	p     store.JobClaimParams
	start time.Time
}

func (r *reservation) Params() *store.JobClaimParams { return &r.p }

// Deliver never blocks: a waiter has one reservation at a time, and its
// buffered channel holds its one delivery.
func (r *reservation) Deliver(jobs []*store.ClaimedJob, err error) {
	r.w.handed <- handed{res: r, jobs: jobs, err: err}
}

// Reserve takes the oldest poll parked here for tag that is neither reserved
// nor about to wake.
func (d *Dispatcher) Reserve(tag string) store.HandoffReservation {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, w := range d.waiters[tag] {
		if !w.parked || w.reserved || w.noHandoff || len(w.wake) > 0 {
			continue
		}
		w.reserved = true
		r := &reservation{w: w, p: *d.claimParams(w.req, tag, w.req.Capacity), start: time.Now()}
		return r
	}
	return nil
}

// claimParams are req's claim of up to limit jobs of tag.
func (d *Dispatcher) claimParams(req *ClaimRequest, tag string, limit int) *store.JobClaimParams {
	p := &store.JobClaimParams{RunnerID: req.RunnerID, Tag: tag, Limit: limit,
		Lease: d.cfg.AckTimeout, PolledSince: req.polledSince}
	if req.Compat {
		p.Lease, p.Acked, p.LeaseIncludesTimeout = d.cfg.Lease, true, true
	}
	return p
}

// await parks w until it is woken, handed jobs, or its poll's time is up
// (ended). A poll reserved meanwhile waits for its delivery whatever happened.
func (d *Dispatcher) await(ctx context.Context, req *ClaimRequest, w *waiter, timer *time.Timer) (h *handed, woken, ended bool) {
	d.mu.Lock()
	w.parked = true
	d.mu.Unlock()
	d.TestSignals.WaiterRegistered.Signal(req.RunnerID)
	select {
	case <-w.wake:
		woken = true
	case got := <-w.handed:
		h = &got
	case <-timer.C:
		ended = true
	case <-ctx.Done():
		ended = true
	case <-d.stopping:
		ended = true
	}
	d.mu.Lock()
	w.parked = false
	reserved := w.reserved
	d.mu.Unlock()
	if reserved && h == nil {
		d.TestSignals.HandoffAwaited.Signal(req.RunnerID)
		got := <-w.handed
		h = &got
	}
	if h != nil {
		// Only now: a delivery never finds its waiter reserved by another.
		d.mu.Lock()
		w.reserved = false
		// A hand-off that found nothing for it (its runner may be bound to
		// other projects, or lost): the rest of its poll gets none, and the
		// wake-up for the job it left goes to another poll first.
		w.noHandoff = w.noHandoff || (h.err == nil && len(h.jobs) == 0)
		d.mu.Unlock()
	}
	return h, woken, ended
}

// handedJobs readies the jobs a hand-off claimed for req as its own claim
// would have: it records the claim and opens their secrets. It returns the
// tags in which jobs may be left queued.
func (d *Dispatcher) handedJobs(ctx context.Context, req *ClaimRequest, h *handed) ([]*store.ClaimedJob, []string, error) {
	p := &h.res.p
	d.claimed(req.RunnerID, p.Tag, emptyClaim{}, false)
	var maybeMore []string
	if len(h.jobs) == p.Limit && h.jobs[len(h.jobs)-1].MoreQueued {
		maybeMore = []string{p.Tag}
	}
	jobs, err := d.store.OpenClaimed(ctx, p, h.res.start, h.jobs)
	if err != nil {
		return nil, nil, err
	}
	store.LogClaimed(req.RunnerID, jobs)
	return jobs, maybeMore, nil
}

// handedNothing records a hand-off to w whose transaction failed.
func (d *Dispatcher) handedNothing(h *handed) {
	if h.err != nil {
		// Its claim may have held older queued jobs that claims of other
		// runners skipped meanwhile, and left them queued unannounced.
		d.distrustEmpties()
	}
}
