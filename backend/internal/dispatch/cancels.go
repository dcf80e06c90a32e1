package dispatch

import (
	"context"
	"sync"
	"time"

	"github.com/aura-ci/aura/backend/internal/store"
)

// Attempt names one attempt of a job that a runner runs.
type Attempt struct {
	ID      int64
	Attempt int
}

// Stop is an attempt its runner must stop.
type Stop struct {
	Attempt
	// Status is the job's status now ("cancelled", "timed_out", …).
	Status string
	// Gone means the attempt is not the runner's any more (superseded, re-queued,
	// deleted, held by another runner): kill it and forget it without completing it.
	Gone bool
}

// cancelWatches are the runners' open cancel long polls, by job id. Any job
// event for a watched job (from any server process, through PostgreSQL) wakes the
// polls watching it, which then read the jobs' state from the database: the
// notification only says where to look, so its exact payload does not matter.
type cancelWatches struct {
	mu    sync.Mutex
	byJob map[int64][]chan struct{}
}

func (c *cancelWatches) add(ids []int64) chan struct{} {
	wake := make(chan struct{}, 1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byJob == nil {
		c.byJob = map[int64][]chan struct{}{}
	}
	for _, id := range ids {
		c.byJob[id] = append(c.byJob[id], wake)
	}
	return wake
}

func (c *cancelWatches) remove(ids []int64, wake chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		ws := c.byJob[id]
		for i, w := range ws {
			if w == wake {
				ws = append(ws[:i], ws[i+1:]...)
				break
			}
		}
		if len(ws) == 0 {
			delete(c.byJob, id)
		} else {
			c.byJob[id] = ws
		}
	}
}

// notify wakes the polls watching jobID, which changed.
func (c *cancelWatches) notify(jobID int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, w := range c.byJob[jobID] {
		signal(w)
	}
}

func (c *cancelWatches) wakeAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ws := range c.byJob {
		for _, w := range ws {
			signal(w)
		}
	}
}

// cancelRecheck bounds how long a missed notification can delay a cancel.
const cancelRecheck = 5 * time.Second

// WatchCancels waits up to wait until one of the attempts runner runs must stop,
// and returns those that must; none when the wait ended first. The watch is
// registered before the first look, so a cancel between the look and the wait
// still wakes it.
func (d *Dispatcher) WatchCancels(ctx context.Context, runnerID int64, attempts []Attempt, wait time.Duration) ([]Stop, error) {
	if len(attempts) == 0 {
		return nil, nil
	}
	ids := make([]int64, len(attempts))
	for i, a := range attempts {
		ids[i] = a.ID
	}
	wake := d.cancels.add(ids)
	defer d.cancels.remove(ids, wake)
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		stops, err := d.stopsAmong(ctx, runnerID, attempts, ids)
		if err != nil || len(stops) > 0 {
			return stops, err
		}
		d.TestSignals.CancelWatchWaiting.Signal(runnerID)
		select {
		case <-wake:
		case <-time.After(cancelRecheck):
		case <-timer.C:
			return nil, nil
		case <-ctx.Done():
			return nil, nil
		case <-d.stopping:
			return nil, nil
		}
	}
}

func (d *Dispatcher) stopsAmong(ctx context.Context, runnerID int64, attempts []Attempt, ids []int64) ([]Stop, error) {
	// A long poll is not bounded as a whole: its database calls are.
	ctx, release := d.store.StallBound(ctx)
	defer release()
	held, err := d.store.JobsHeldGet(ctx, ids)
	if err != nil {
		return nil, err
	}
	byID := make(map[int64]store.HeldAttempt, len(held))
	for _, h := range held {
		byID[h.ID] = h
	}
	var stops []Stop
	for _, a := range attempts {
		h, ok := byID[a.ID]
		mine := ok && h.Attempt == a.Attempt && h.RunnerID != nil && *h.RunnerID == runnerID
		switch {
		case !mine || h.Status == store.StatusQueued || h.Status == store.StatusWaiting:
			stops = append(stops, Stop{Attempt: a, Status: h.Status, Gone: true})
		case h.Status != store.StatusRunning:
			stops = append(stops, Stop{Attempt: a, Status: h.Status})
		case h.StopAsked:
			// Still running until the runner confirms the process ended.
			stops = append(stops, Stop{Attempt: a, Status: store.StatusCancelled})
		}
	}
	return stops, nil
}
