package agent

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/aura-ci/aura/runner/internal/apiclient"
	"github.com/aura-ci/aura/runner/internal/backoff"
	"github.com/aura-ci/aura/runner/internal/job"
)

// watchCancels keeps one cancel long poll open for the attempts this runner
// runs, so a cancel reaches a job's processes as soon as the server has it,
// rather than on the next heartbeat (which stays as the fallback). The poll is
// restarted whenever a job starts, so it always covers every running job.
func (a *Agent) watchCancels(ctx context.Context) {
	bo := backoff.Backoff{Min: a.retryMin, Max: a.retryMax}
	for ctx.Err() == nil {
		watched := a.watchedTasks()
		if len(watched) == 0 {
			select {
			case <-a.started:
			case <-ctx.Done():
			}
			continue
		}
		stops, err := a.pollCancels(ctx, watched)
		switch {
		case err == nil:
			bo.Reset()
		case ctx.Err() != nil:
			return
		case apiclient.HasStatus(err, http.StatusNotFound):
			// A server older than the cancel poll: heartbeats carry cancels alone.
			a.log.Printf("the server has no cancel poll; cancels arrive with heartbeats")
			return
		default:
			if errors.Is(err, errJobStarted) {
				continue // a job started: poll again with it
			}
			backoff.Sleep(ctx, bo.Next())
			continue
		}
		for _, s := range stops {
			t := a.task(taskKey{s.Id, s.Attempt})
			if t == nil {
				continue
			}
			t.mu.Lock()
			t.stopSeen = true
			t.mu.Unlock()
			switch {
			case s.Gone:
				t.drop("no longer this runner's")
			case s.Status != nil && *s.Status == apiclient.JobStatusTimedOut:
				t.cancel(job.TimedOut, "timed out on the server")
			default:
				t.cancel(job.Cancelled, "cancelled on the server")
			}
		}
	}
}

// watchedTasks are the running attempts whose end the server has not told yet.
func (a *Agent) watchedTasks() []apiclient.AttemptRef {
	a.mu.Lock()
	defer a.mu.Unlock()
	var refs []apiclient.AttemptRef
	for k, t := range a.tasks {
		t.mu.Lock()
		skip := t.stopSeen || t.completed || t.isGone
		t.mu.Unlock()
		if !skip {
			refs = append(refs, apiclient.AttemptRef{Id: k.id, Attempt: k.attempt})
		}
	}
	slices.SortFunc(refs, func(x, y apiclient.AttemptRef) int { return int(x.Id - y.Id) })
	return refs
}

func (a *Agent) task(k taskKey) *task {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.tasks[k]
}

var errJobStarted = errors.New("a job started")

// pollCancels makes one cancel long poll, cut short when another job starts.
func (a *Agent) pollCancels(ctx context.Context, refs []apiclient.AttemptRef) ([]apiclient.AttemptStop, error) {
	// The watcher has a context of its own: it must not read ctx while the
	// poll's timeout below replaces it.
	untilStarted, cancel := context.WithCancelCause(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case <-a.started:
			cancel(errJobStarted)
		case <-untilStarted.Done():
		}
	}()
	// The watcher must be gone before the caller looks at the tasks again, or it
	// could swallow the signal of a job started meanwhile.
	defer func() { cancel(nil); <-watched }()
	ctx, stop := context.WithTimeout(untilStarted, time.Duration(a.waitSeconds+15)*time.Second)
	defer stop()
	wait := a.waitSeconds
	resp, err := a.client.WatchCancelsWithResponse(ctx, apiclient.CancelsRequest{Jobs: refs, WaitSeconds: &wait})
	if err != nil {
		if context.Cause(ctx) == errJobStarted {
			return nil, errJobStarted
		}
		return nil, err
	}
	if resp.JSON200 == nil {
		return nil, apiclient.NewStatusError(resp.StatusCode(), resp.Body)
	}
	return resp.JSON200.Jobs, nil
}
