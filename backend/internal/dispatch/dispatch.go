// Package dispatch hands queued jobs to runners: long-poll claims woken through
// PostgreSQL notifications, or handed jobs by the transaction that queued them
// (handoff.go), the earliest-start timer and the lease reaper.
package dispatch

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aura-ci/aura/backend/internal/event"
	"github.com/aura-ci/aura/backend/internal/events"
	"github.com/aura-ci/aura/backend/internal/store"
	"github.com/aura-ci/aura/backend/internal/testsignal"
)

// Config tunes dispatch.
type Config struct {
	Lease      time.Duration // a running job without heartbeat for this long is lost
	AckTimeout time.Duration // a claim without a first heartbeat for this long is re-queued
	// CancelGrace is how long a runner has to confirm a cancel of a running job
	// before the job is ended as cancelled without it.
	CancelGrace time.Duration
	// CheckInEvery bounds how old a polling runner's recorded check-in gets.
	// A poll writes its runner's check-in when something about the runner
	// changed (its tags, version, os, arch), when this server has none of it,
	// or when it is CheckInEvery old; the check-ins of runners parked in long
	// polls are written together, in one statement every CheckInEvery/2
	// (seenLoop). Keep it well under the 90 s in which the API calls a runner
	// online.
	CheckInEvery time.Duration
	// ClaimEvery bounds how long a runner's long polls may skip the claim
	// statement for a tag on which nothing became runnable since its last
	// empty claim (a safety net: the notifications normally say).
	ClaimEvery time.Duration
}

// Dispatcher matches runners' long polls with runnable jobs.
type Dispatcher struct {
	store *store.Store
	cfg   Config

	mu       sync.Mutex
	waiters  map[string][]*waiter // by tag, oldest first
	checkIns map[int64]checkIn
	// tagCheckIns is when this server last recorded a check-in of each tag:
	// every runner of a tag writes the same row, so its writes are coalesced
	// across runners, not only per runner.
	tagCheckIns map[string]time.Time
	// instances counts the open claims of each runner process, by runner.
	instances map[int64]map[string]int
	// polling is, by runner, its long polls open here and when its last one
	// ended: the runners seenLoop reports as still there.
	polling map[int64]*polls
	cancels cancelWatches
	// runnableSeq counts, by tag, the runnable notifications this server
	// heard; epoch counts the moments after which it cannot vouch for them
	// (listener reconnects, jobs promoted or reaped here). Together they
	// tell whether a runner's last empty claim of a tag still holds (empties).
	runnableSeq map[string]uint64
	epoch       uint64
	empties     map[int64]map[string]emptyClaim
	listener    *events.Listener

	timerKick chan struct{}
	reapKick  chan struct{} // a job started: a parked reaper ticks again
	stopping  chan struct{} // closed by Stop: long polls answer at once
	stopOnce  sync.Once

	// TestSignals tell tests what the dispatcher did.
	TestSignals TestSignals
}

// TestSignals are the moments a test may wait for (package testsignal). Each
// gets the id of the runner whose long poll reached it.
type TestSignals struct {
	// WaiterRegistered: a claim's waiter is registered and, having found no
	// job, the claim waits on it: a job queued from now on wakes it.
	WaiterRegistered testsignal.Signal[int64]
	// CancelWatchWaiting: a cancel watch is registered and, having found
	// nothing to stop, waits: a cancel from now on wakes it.
	CancelWatchWaiting testsignal.Signal[int64]
	// HandoffAwaited: a claim reserved for a hand-off (handoff.go) was to
	// end (its time was up, its runner hung up, the server stopped) and
	// waits for the delivery.
	HandoffAwaited testsignal.Signal[int64]
}

// Init makes every signal keep what it gets, for tb.
func (s *TestSignals) Init(tb testsignal.TB) {
	s.WaiterRegistered.Init(tb)
	s.CancelWatchWaiting.Init(tb)
	s.HandoffAwaited.Init(tb)
}

type waiter struct {
	wake chan struct{} // buffered 1: a pending wake-up is never lost
	req  *ClaimRequest
	// handed gets a hand-off's delivery (handoff.go); buffered 1: a waiter
	// has one reservation at a time.
	handed chan handed
	// Under Dispatcher.mu: parked, the claim waits in await, not claiming;
	// reserved, a transaction claims for it (until it took the delivery);
	// noHandoff, a hand-off's claim for it found nothing (its runner may be
	// bound to other projects, or lost): the rest of its poll gets none.
	parked, reserved, noHandoff bool
}

type checkIn struct {
	at                      time.Time
	tags, version, os, arch string
}

// emptyClaim is a claim of one tag for one runner that found nothing: until a
// job of the tag is announced runnable, or the epoch moves, another claim of
// it for the runner would find nothing either. It is trusted once confirmed: a
// second empty claim with nothing announced between them. The first one after
// an announcement may have skipped the announced job as locked by a
// transaction that then leaves it queued (a refused retry), which nothing
// would announce again.
type emptyClaim struct {
	seq, epoch uint64
	at         time.Time
	confirmed  bool
}

// polls are a runner's long polls on this server.
type polls struct {
	open  int
	ended time.Time
}

// maxEmpties bounds the runners whose empty claims are remembered.
const maxEmpties = 10000

// New returns a Dispatcher. Call Run for its background loops, and Listen to
// feed it notifications.
func New(st *store.Store, cfg Config) *Dispatcher {
	if cfg.CheckInEvery == 0 {
		cfg.CheckInEvery = 40 * time.Second
	}
	if cfg.ClaimEvery == 0 {
		cfg.ClaimEvery = 3 * time.Minute
	}
	if cfg.CancelGrace == 0 {
		cfg.CancelGrace = 20 * time.Second
	}
	return &Dispatcher{
		store:       st,
		cfg:         cfg,
		waiters:     map[string][]*waiter{},
		checkIns:    map[int64]checkIn{},
		tagCheckIns: map[string]time.Time{},
		polling:     map[int64]*polls{},
		runnableSeq: map[string]uint64{},
		empties:     map[int64]map[string]emptyClaim{},
		timerKick:   make(chan struct{}, 1),
		reapKick:    make(chan struct{}, 1),
		stopping:    make(chan struct{}),
	}
}

// Listen has l hand the dispatcher what it waits for: "<n> <tag>" on
// store.ChannelRunnable wakes up to n long polls waiting for tag (not every
// waiting runner); store.ChannelTimer re-reads the next earliest start; a job
// event wakes the cancel watches of its job, and a job starting wakes a parked
// reaper; a reconnect wakes everything.
func (d *Dispatcher) Listen(l *events.Listener) {
	d.listener = l
	l.Handle(store.ChannelRunnable, d.runnable)
	l.Handle(store.ChannelTimer, func(string) { d.kickTimer() })
	l.HandleEvents(func(e event.Event) {
		// Log events come by the thousand and never end an attempt.
		switch e := e.(type) {
		case event.Job:
			d.cancels.notify(e.JobID)
			if e.Status == store.StatusRunning {
				d.kickReaper()
			}
		case event.Access:
			if e.RunnerID != 0 {
				d.mu.Lock()
				delete(d.empties, e.RunnerID)
				d.mu.Unlock()
			}
		}
	})
	l.OnReconnect(d.Resync)
}

func (d *Dispatcher) runnable(payload string) {
	count, tag, ok := strings.Cut(payload, " ")
	n, err := strconv.Atoi(count)
	if !ok || err != nil {
		return
	}
	d.wake(tag, n)
}

// Resync wakes everything, after notifications may have been missed.
func (d *Dispatcher) Resync() {
	d.mu.Lock()
	d.epoch++
	for _, ws := range d.waiters {
		for _, w := range ws {
			signal(w.wake)
		}
	}
	d.mu.Unlock()
	d.cancels.wakeAll()
	d.kickTimer()
	d.kickReaper()
}

func (d *Dispatcher) kickTimer() { signal(d.timerKick) }

func signal(ch chan struct{}) bool {
	select {
	case ch <- struct{}{}:
		return true
	default:
		return false
	}
}

func (d *Dispatcher) wake(tag string, n int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.runnableSeq[tag]++
	// Polls a hand-off found nothing for (their runners may be bound to other
	// projects) come last: the job a hand-off left is announced right after.
	for _, last := range []bool{false, true} {
		for _, w := range d.waiters[tag] {
			if n == 0 {
				return
			}
			if w.reserved || w.noHandoff != last {
				continue // reserved, it gets a hand-off's jobs: a wake is for another poll
			}
			if signal(w.wake) {
				n--
			}
		}
	}
}

func (d *Dispatcher) register(req *ClaimRequest) *waiter {
	w := &waiter{wake: make(chan struct{}, 1), req: req, handed: make(chan handed, 1)}
	d.mu.Lock()
	for _, t := range req.Tags {
		d.waiters[t] = append(d.waiters[t], w)
	}
	d.mu.Unlock()
	return w
}

func (d *Dispatcher) unregister(w *waiter, tags []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, t := range tags {
		ws := d.waiters[t]
		for i, x := range ws {
			if x == w {
				ws = append(ws[:i], ws[i+1:]...)
				break
			}
		}
		if len(ws) == 0 {
			delete(d.waiters, t)
		} else {
			d.waiters[t] = ws
		}
	}
}

// ClaimRequest is a runner asking for work.
type ClaimRequest struct {
	RunnerID int64
	Tags     []string // priority order
	Capacity int
	Wait     time.Duration
	Version  string
	OS       string
	Arch     string
	// Compat claims for a 0.4 runner, which never heartbeats: the claim is
	// acknowledged at once and its lease covers the job's whole timeout.
	Compat bool
	// Instance names the runner process; empty for runners that do not say.
	Instance string

	polledSince time.Time
}

// Claim returns up to Capacity jobs whose tag the runner serves, waiting up to
// Wait for one to become runnable. The waiter is registered before the first
// attempt, so a job queued between the attempt and the wait still wakes it.
func (d *Dispatcher) Claim(ctx context.Context, req *ClaimRequest) ([]*store.ClaimedJob, error) {
	release, err := d.holdInstance(req)
	if err != nil {
		return nil, err
	}
	defer release()
	d.checkIn(req)
	if req.Capacity <= 0 {
		return nil, nil
	}
	defer d.polled(req.RunnerID)()
	req.polledSince = time.Now()
	w := d.register(req)
	var passOn []string
	defer func() {
		d.unregister(w, req.Tags)
		// A wake this poll took, or one that arrived while it was claiming, may
		// have been for a job it left in the queue: pass it on to the next waiter
		// of each tag that may still hold work.
		if len(w.wake) > 0 {
			passOn = req.Tags
		}
		for _, tag := range passOn {
			d.wake(tag, 1)
		}
	}()
	timer := time.NewTimer(req.Wait)
	defer timer.Stop()
	woken, claim := false, true
	for {
		if claim {
			jobs, maybeMore, err := d.claimOnce(ctx, req)
			if err != nil {
				passOn = req.Tags
				return nil, err
			}
			if len(jobs) > 0 {
				passOn = maybeMore
				store.LogClaimed(req.RunnerID, jobs)
				return jobs, nil
			}
			if woken {
				// Woken for work and got none: another poll may have taken it, or this
				// runner lost a lease while its poll stayed open (a frozen process).
				// Such a runner must not swallow wake-ups meant for live ones.
				if lost, err := d.lostSince(ctx, req, w, timer); err != nil {
					passOn = req.Tags
					return nil, err
				} else if lost {
					return nil, nil
				}
			}
		}
		h, wk, ended := d.await(ctx, req, w, timer)
		if h != nil && len(h.jobs) > 0 {
			jobs, maybeMore, err := d.handedJobs(ctx, req, h)
			if err != nil {
				passOn = req.Tags
				return nil, err
			}
			passOn = maybeMore
			if wk {
				passOn = req.Tags // the wake it took meanwhile was for another job
			}
			return jobs, nil
		}
		if h != nil {
			d.handedNothing(h)
		}
		if ended {
			return nil, nil
		}
		// Woken, it claims; handed nothing, it waits on (a job the hand-off
		// left is announced as usual).
		woken, claim = wk, wk
	}
}

// lostSince tells whether req's runner lost a lease since its poll began.
// Then it waits out the poll without a waiter, having passed the wake-ups it
// may hold on: a lost runner must show it is alive before it gets work.
// A long poll is not bounded as a whole: its database calls are.
func (d *Dispatcher) lostSince(ctx context.Context, req *ClaimRequest, w *waiter, timer *time.Timer) (bool, error) {
	lostCtx, release := d.store.StallBound(ctx)
	lost, err := d.store.RunnerLostSince(lostCtx, req.RunnerID, req.polledSince)
	release()
	if err != nil || !lost {
		return false, err
	}
	d.forgetEmpties(req.RunnerID)
	d.unregister(w, req.Tags)
	for _, tag := range req.Tags {
		d.wake(tag, 1)
	}
	select {
	case <-timer.C:
	case <-ctx.Done():
	case <-d.stopping:
	}
	return true, nil
}

// holdInstance records that req's runner process has a claim open, and refuses
// a claim from another process of the same runner while one is open here: two
// processes sharing a runner token would flip its tags and check-ins.
func (d *Dispatcher) holdInstance(req *ClaimRequest) (release func(), err error) {
	if req.Instance == "" {
		return func() {}, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.instances == nil {
		d.instances = map[int64]map[string]int{}
	}
	open := d.instances[req.RunnerID]
	for other := range open {
		if other != req.Instance {
			return nil, &store.Error{Kind: store.Conflict, Message: fmt.Sprintf(
				"this runner token is in use by another aura-runner process (%s) right now; this one is %s. "+
					"Give each process its own runner (POST /api/v1/runners)", other, req.Instance)}
		}
	}
	if open == nil {
		open = map[string]int{}
		d.instances[req.RunnerID] = open
	}
	open[req.Instance]++
	return func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if open[req.Instance]--; open[req.Instance] == 0 {
			delete(open, req.Instance)
		}
		if len(open) == 0 {
			delete(d.instances, req.RunnerID)
		}
	}, nil
}

// Stop makes waiting and future long polls answer at once, so a server can shut
// down without waiting out their 30 seconds.
func (d *Dispatcher) Stop() {
	d.stopOnce.Do(func() { close(d.stopping) })
}

// claimOnce claims from each tag in the runner's priority order until its
// capacity is used. It also returns the tags that may still hold queued jobs:
// those that filled their limit and those it never reached.
func (d *Dispatcher) claimOnce(ctx context.Context, req *ClaimRequest) (jobs []*store.ClaimedJob, maybeMore []string, err error) {
	for i, tag := range req.Tags {
		if len(jobs) >= req.Capacity {
			return jobs, append(maybeMore, req.Tags[i:]...), nil
		}
		mark, fresh := d.emptyClaimHolds(req.RunnerID, tag)
		if fresh {
			continue // nothing of tag became runnable since it was last found empty
		}
		p := d.claimParams(req, tag, req.Capacity-len(jobs))
		// A claim that began finishes even if the runner hangs up meanwhile: the
		// caller then puts what it claimed back (JobUnclaim), which is cleaner than
		// a statement cut off half-way.
		// It ends, though, when the database stalls (frozen).
		claimCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		claimCtx, release := d.store.StallBound(claimCtx)
		got, err := d.store.JobClaim(claimCtx, p)
		release()
		cancel()
		if err != nil {
			return nil, nil, err
		}
		d.claimed(req.RunnerID, tag, mark, len(got) == 0)
		// A claim that filled its limit wakes the next poll of the tag only when
		// it saw jobs left: waking one for nothing costs a claim statement.
		if len(got) == p.Limit && got[len(got)-1].MoreQueued {
			maybeMore = append(maybeMore, tag)
		}
		jobs = append(jobs, got...)
	}
	return jobs, maybeMore, nil
}

// emptyClaimHolds tells whether runnerID's last claim of tag found nothing, was
// confirmed, and still holds: no job of tag was announced runnable since it began, this server
// could vouch for every announcement meanwhile (its listener stayed connected),
// and it is younger than ClaimEvery. It also returns the mark a claim of tag
// beginning now leaves when it finds nothing.
func (d *Dispatcher) emptyClaimHolds(runnerID int64, tag string) (mark emptyClaim, holds bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	mark = emptyClaim{seq: d.runnableSeq[tag], epoch: d.epoch, at: time.Now()}
	if d.listener == nil || d.listener.PID() == 0 {
		return mark, false // notifications may be missed right now
	}
	last, ok := d.empties[runnerID][tag]
	return mark, ok && last.confirmed && last.seq == mark.seq && last.epoch == mark.epoch && mark.at.Sub(last.at) < d.cfg.ClaimEvery
}

// claimed records how runnerID's claim of tag, which began at mark, ended:
// empty, it holds until something of tag is announced runnable.
func (d *Dispatcher) claimed(runnerID int64, tag string, mark emptyClaim, empty bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	marks := d.empties[runnerID]
	if !empty {
		delete(marks, tag)
		return
	}
	if marks == nil {
		if len(d.empties) >= maxEmpties {
			clear(d.empties) // costs claims, never a job
		}
		marks = map[string]emptyClaim{}
		d.empties[runnerID] = marks
	}
	prev, ok := marks[tag]
	mark.confirmed = ok && prev.seq == mark.seq && prev.epoch == mark.epoch
	marks[tag] = mark
}

// forgetEmpties makes runnerID's next claims run: something about the runner
// changed that no notification tells.
func (d *Dispatcher) forgetEmpties(runnerID int64) {
	d.mu.Lock()
	delete(d.empties, runnerID)
	d.mu.Unlock()
}

// distrustEmpties makes every runner's next claims run: jobs became runnable
// here in a way this server does not vouch for through notifications alone.
func (d *Dispatcher) distrustEmpties() {
	d.mu.Lock()
	d.epoch++
	d.mu.Unlock()
}

// checkIn records the runner's check-in at most once per CheckInEvery while
// nothing about it changed, and at once when its tags, version, os or arch
// did, so hundreds of idle runners polling cost almost no writes.
func (d *Dispatcher) checkIn(req *ClaimRequest) {
	cur := checkIn{tags: strings.Join(req.Tags, " "), version: req.Version, os: req.OS, arch: req.Arch}
	now := time.Now()
	d.mu.Lock()
	last, ok := d.checkIns[req.RunnerID]
	changed := !ok || last.tags != cur.tags || last.version != cur.version || last.os != cur.os || last.arch != cur.arch
	due := changed || now.Sub(last.at) >= d.cfg.CheckInEvery
	var dueTags []string
	if due {
		cur.at = now
		d.checkIns[req.RunnerID] = cur
		for _, t := range req.Tags {
			if at, ok := d.tagCheckIns[t]; !ok || now.Sub(at) >= d.cfg.CheckInEvery {
				d.tagCheckIns[t] = now
				dueTags = append(dueTags, t)
			}
		}
	}
	d.mu.Unlock()
	if !due {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// A claim waits for it: end it when the database stalls.
	ctx, release := d.store.StallBound(ctx)
	defer release()
	if err := d.store.RunnerCheckIn(ctx, req.RunnerID, dueTags, req.Version, req.OS, req.Arch); err != nil {
		slog.Warn("runner check-in", "runner", req.RunnerID, "err", err)
	}
}

// polled counts a long poll of runnerID as open until the returned func runs.
func (d *Dispatcher) polled(runnerID int64) (end func()) {
	d.mu.Lock()
	p := d.polling[runnerID]
	if p == nil {
		p = &polls{}
		d.polling[runnerID] = p
	}
	p.open++
	d.mu.Unlock()
	return func() {
		d.mu.Lock()
		p.open--
		p.ended = time.Now()
		d.mu.Unlock()
	}
}

// seenLoop writes, every half CheckInEvery, the check-ins of the runners whose
// check-in is due and who are still polling here (a long poll open, or one
// ended since the last tick), all in one statement: parked runners' check-ins
// cost one statement per tick, not one per runner.
func (d *Dispatcher) seenLoop(ctx context.Context) {
	every := d.cfg.CheckInEvery / 2
	t := time.NewTicker(every)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
		now := time.Now()
		ids, tags := d.seen(now, last)
		last = now
		if len(ids) == 0 {
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		sctx, release := d.store.StallBound(sctx)
		err := d.store.RunnersSeen(sctx, ids, tags)
		release()
		cancel()
		if err != nil && ctx.Err() == nil {
			slog.Warn("runner check-ins", "runners", len(ids), "err", err)
			d.mu.Lock()
			for _, id := range ids {
				delete(d.checkIns, id) // their next poll writes its own
			}
			d.mu.Unlock()
		}
	}
}

// seen picks the runners seenLoop writes at now, the last tick having been at
// last, marks their check-ins written, and forgets runners gone from here.
func (d *Dispatcher) seen(now, last time.Time) (ids []int64, tags []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, p := range d.polling {
		if p.open == 0 && p.ended.Before(last) {
			delete(d.polling, id)
			continue
		}
		c, ok := d.checkIns[id]
		if !ok || now.Sub(c.at) < d.cfg.CheckInEvery/2 {
			continue // never written here (its poll writes it), or recently
		}
		c.at = now
		d.checkIns[id] = c
		ids = append(ids, id)
		for _, t := range strings.Fields(c.tags) {
			if at, ok := d.tagCheckIns[t]; !ok || now.Sub(at) >= d.cfg.CheckInEvery/2 {
				d.tagCheckIns[t] = now
				tags = append(tags, t)
			}
		}
	}
	return ids, tags
}

// CheckInHeartbeat records a runner's check-in from a heartbeat, coalesced like claims.
func (d *Dispatcher) CheckInHeartbeat(runnerID int64) {
	d.mu.Lock()
	last, ok := d.checkIns[runnerID]
	due := ok && time.Since(last.at) >= d.cfg.CheckInEvery
	d.mu.Unlock()
	if due {
		d.checkIn(&ClaimRequest{RunnerID: runnerID, Tags: strings.Fields(last.tags), Version: last.version, OS: last.os, Arch: last.arch})
	}
}

// Run runs the earliest-start timer, the reaper and the check-ins of parked
// runners until ctx ends.
func (d *Dispatcher) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); d.timerLoop(ctx) }()
	go func() { defer wg.Done(); d.reapLoop(ctx) }()
	go func() { defer wg.Done(); d.seenLoop(ctx) }()
	wg.Wait()
}

// timerLoop sleeps until the next earliest start and promotes what is due then.
// It never scans jobs: one indexed min() after each change to the set of timers.
func (d *Dispatcher) timerLoop(ctx context.Context) {
	for ctx.Err() == nil {
		wait := time.Minute // a safety net; notifications normally say when to look
		next, err := d.store.NextEarliestStartWait(ctx)
		switch {
		case err != nil:
			if ctx.Err() == nil {
				slog.Warn("earliest-start timer", "err", err)
			}
			wait = time.Second
		case next != nil:
			wait = min(wait, *next)
		}
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-d.timerKick:
				t.Stop()
				continue
			case <-ctx.Done():
				t.Stop()
				return
			}
		}
		n, err := d.store.JobsPromoteDue(ctx)
		if err != nil && ctx.Err() == nil {
			slog.Warn("promote due jobs", "err", err)
		}
		if n > 0 {
			d.distrustEmpties()
		}
		if n == 0 {
			// Another server promoted them, or a job became due between the two
			// statements; don't spin meanwhile.
			select {
			case <-time.After(5 * time.Millisecond):
			case <-ctx.Done():
			}
		}
	}
}

// reapLoop ends expired leases and timeouts. Every server process may run it: each
// change is a guarded update, so two reapers never both act on one job. While
// jobs run it ticks every reapEvery; while none runs there is nothing to reap,
// and it sleeps until a job starts here or on another server (its event), the
// listener reconnects, or reapParkedMax passed.
func (d *Dispatcher) reapLoop(ctx context.Context) {
	for {
		// A kick from before this tick is answered by it: the tick sees its job.
		select {
		case <-d.reapKick:
		default:
		}
		wait, kick := d.reapEvery(), (<-chan struct{})(nil)
		if d.reapOnce(ctx) {
			wait, kick = reapParkedMax, d.reapKick
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-kick:
			t.Stop()
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}

// reapParkedMax is how long a reaper with no running job sleeps at most: a safety
// net, since a claim's event wakes it.
const reapParkedMax = time.Minute

// kickReaper wakes a parked reaper: a job started.
func (d *Dispatcher) kickReaper() { signal(d.reapKick) }

// reapOnce records a tick, then reaps. Both end when the database stalls
// (frozen): a tick or reap begun before a freeze and finished after it would
// reap the leases that ran out meanwhile, when no heartbeat could be recorded;
// ended, it is rolled back, and the next tick sees the gap and renews them.
// It reports whether the tick parked (no job is running, nothing to reap).
func (d *Dispatcher) reapOnce(ctx context.Context) (parked bool) {
	ctx, release := d.store.StallBound(ctx)
	defer release()
	// Only reap after the tick: it gives running jobs a fresh lease when the
	// database or the servers were away, since no heartbeat could be recorded.
	tick, err := d.store.LeasesTick(ctx, d.renewParams())
	if err != nil {
		if ctx.Err() == nil || context.Cause(ctx) == store.ErrStalled {
			slog.Warn("reaper tick", "err", err)
		}
		return false
	}
	d.warnGap(tick.Gap)
	if !tick.Running {
		return true
	}
	n, err := d.store.JobsReap(ctx, d.cfg.CancelGrace)
	if err != nil && (ctx.Err() == nil || context.Cause(ctx) == store.ErrStalled) {
		slog.Warn("reap jobs", "err", err)
	}
	if n > 0 {
		d.distrustEmpties()
	}
	return false
}

func (d *Dispatcher) reapEvery() time.Duration {
	return min(time.Second, max(d.cfg.Lease/10, 100*time.Millisecond))
}

// RenewAfterGap records a reaper tick and, when no reaper ticked for a while
// (the database or every server was down, so no heartbeat could be recorded),
// gives running jobs and unacknowledged claims a fresh lease. A server calls it
// once before it serves, so even an outage right after its start is seen as one.
func (d *Dispatcher) RenewAfterGap(ctx context.Context) error {
	tick, err := d.store.LeasesTick(ctx, d.renewParams())
	if err != nil {
		return err
	}
	d.warnGap(tick.Gap)
	return nil
}

func (d *Dispatcher) renewParams() *store.LeasesRenewParams {
	return &store.LeasesRenewParams{Lease: d.cfg.Lease, AckTimeout: d.cfg.AckTimeout, Grace: max(2*time.Second, 3*d.reapEvery())}
}

func (d *Dispatcher) warnGap(gap time.Duration) {
	if gap > 0 {
		slog.Warn("no reaper ran for a while (database or servers were down): running jobs got a fresh lease", "gap", gap.Round(time.Millisecond))
	}
}

// HeartbeatInterval is how often runners should heartbeat: several times per lease.
func (d *Dispatcher) HeartbeatInterval() time.Duration {
	return max(time.Second, d.cfg.Lease/6).Round(time.Second)
}

// Lease is the configured lease.
func (d *Dispatcher) Lease() time.Duration { return d.cfg.Lease }
