package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aura-ci/aura/backend/internal/tracing"
)

// A transaction that makes jobs of a tag runnable (a submission, a completion
// that queues dependants) hands them to a long poll parked on this server
// inside itself: it reserves the poll (Handoff.Reserve), runs the claim
// statement for it after the statement that notifies the jobs' "queued"
// events, in the same round trip, and, once committed, delivers what it
// claimed. The runner's job starts without the round trips of a
// notification reaching the listener, the poll waking and its own claim.
//
// Jobs the hand-off took are not announced runnable (other parked polls would
// run a claim for nothing); the transaction announces, after the claim, only
// those of its queued jobs still queued (the claim may have found nothing: a
// runner lost, bound to other projects; or an older job of the tag).

// Handoff is what the store asks of a dispatcher: a long poll parked on this
// server, waiting for jobs of a tag.
type Handoff interface {
	// Reserve takes a parked long poll of a runner serving tag for one
	// transaction, or returns nil when none is parked. A reserved poll gets
	// no other reservation and no wake-up until its delivery, and waits for
	// it even when its time is up.
	Reserve(tag string) HandoffReservation
}

// HandoffReservation is a long poll reserved for one transaction.
type HandoffReservation interface {
	// Params are the claim's parameters for the poll's runner; Tag is the
	// reserved tag.
	Params() *JobClaimParams
	// Deliver hands the poll what the claim took once the transaction
	// committed (jobs as the claim statement returned them: their secrets
	// sealed), or err when it did not (then jobs is nil). It is called
	// exactly once, and never blocks.
	Deliver(jobs []*ClaimedJob, err error)
}

// SetHandoff has transactions that make jobs runnable hand them to h's parked
// long polls; nil (the default): they only announce them. Call it before serving.
func (s *Store) SetHandoff(h Handoff) { s.handoff = h }

// qClaimSync makes the rest of the transaction commit durably whatever its
// claims (claimDurabilitySQL): a submission or a completion waits for the disk.
// It also has the claims planned generically (genericPlans), as in a batch of
// claims: planned for their arguments, as in a submission's transaction,
// planning one cost three times running it. qPlansBack restores the mode for
// the statements after them.
const qClaimSync = `SELECT set_config('aura.claim_sync', 'on', true),
	set_config('aura.plan_cache_mode', current_setting('plan_cache_mode'), true),
	set_config('plan_cache_mode', 'force_generic_plan', true)`

const qPlansBack = `SELECT set_config('plan_cache_mode', current_setting('aura.plan_cache_mode'), true)`

// qRunnableLeft announces the jobs of $1 (of tag $2) still queued.
const qRunnableLeft = `
	SELECT pg_notify('` + ChannelRunnable + `', count(*) || ' ' || $2::text)
	FROM jobs WHERE id = ANY($1::bigint[]) AND status = 'queued' HAVING count(*) > 0`

// qRunnableLeftOne is qRunnableLeft for the job jobSubmitOne's insert made.
const qRunnableLeftOne = `
	SELECT pg_notify('` + ChannelRunnable + `', '1 ' || $1::text)
	FROM jobs WHERE id = (SELECT currval('jobs_id_seq')) AND status = 'queued'`

// maxHandoffs bounds the claims one transaction runs for parked polls: a
// completion that queues a wide fan-out of dependants holds its locks while
// they run; the jobs they leave are announced, and woken polls claim them.
const maxHandoffs = 16

// handoffs are the hand-offs of one transaction.
type handoffs struct {
	tags   []handoffTag
	claims []*handoffClaim
}

type handoffTag struct {
	tag string
	ids []int64 // nil: the job jobSubmitOne inserts
}

type handoffClaim struct {
	r    HandoffReservation
	jobs []*ClaimedJob
}

// reserveHandoffs reserves parked long polls for the jobs n queues, at most
// as many (by their limits) as it queues of each tag, and takes the tags it
// reserved one for out of n's announcements: queue announces them after the
// claims. nil when there is nothing to hand off. one: n is jobSubmitOne's,
// whose job's id the batch's insert allocates.
func (s *Store) reserveHandoffs(n *notes, one bool) *handoffs {
	if s.handoff == nil || len(n.runnable) == 0 {
		return nil
	}
	var h *handoffs
	for tag, count := range n.runnable {
		ids := n.queuedIDs[tag]
		if one {
			ids = nil
		} else if len(ids) != count {
			continue // announced again, not queued here (jobSubmitTx): as ever
		}
		reserved := false
		for count > 0 && (h == nil || len(h.claims) < maxHandoffs) {
			r := s.handoff.Reserve(tag)
			if r == nil {
				break
			}
			if h == nil {
				h = &handoffs{}
			}
			h.claims = append(h.claims, &handoffClaim{r: r})
			count -= max(r.Params().Limit, 1)
			reserved = true
		}
		if reserved {
			h.tags = append(h.tags, handoffTag{tag: tag, ids: ids})
			delete(n.runnable, tag)
		}
	}
	return h
}

// queue adds the claims and the announcements of what they left to b, a
// batch of the transaction that runs after its notifications.
func (h *handoffs) queue(b *pgx.Batch) {
	if h == nil {
		return
	}
	b.Queue(qClaimSync)
	for _, c := range h.claims {
		p := c.r.Params()
		polled := p.PolledSince
		if polled.IsZero() {
			polled = time.Now()
		}
		b.Queue(claimQuery(max(p.Limit, 1)), p.RunnerID, p.Tag, polled, p.Lease, p.Acked, p.LeaseIncludesTimeout).
			Query(func(rows pgx.Rows) error {
				jobs, err := pgx.CollectRows(rows, pgx.RowToAddrOfStructByName[ClaimedJob])
				c.jobs = jobs
				return interpret(err, "hand off jobs")
			})
	}
	for _, t := range h.tags {
		if t.ids == nil {
			b.Queue(qRunnableLeftOne, t.tag)
		} else {
			b.Queue(qRunnableLeft, t.ids, t.tag)
		}
	}
	b.Queue(qPlansBack)
}

// deliver hands each reserved poll what its claim took, or err when the
// transaction failed (committed nothing).
func (h *handoffs) deliver(err error) {
	if h == nil {
		return
	}
	for _, c := range h.claims {
		if err != nil {
			c.r.Deliver(nil, err)
		} else {
			c.r.Deliver(c.jobs, nil)
		}
	}
}

// OpenClaimed readies jobs a claim for p took (at start) for their runner:
// their secrets opened, their hand-out traced, and counted towards the next
// vacuum of jobs (VacuumQueueIfDue).
func (s *Store) OpenClaimed(ctx context.Context, p *JobClaimParams, start time.Time, jobs []*ClaimedJob) ([]*ClaimedJob, error) {
	s.claimedSinceVacuum.Add(int64(len(jobs)))
	for _, j := range jobs {
		var err error
		if j.SecretEnv, err = s.openSecrets(j.SecretSealed); err != nil {
			return nil, err
		}
		j.SecretSealed = nil
		// Tracing: the hand-out, in the job's trace, linked to the claim request.
		tracing.Phase(ctx, "job.claimed", j.TraceParent, start, time.Now(),
			tracing.Job{ID: j.ID, Project: j.Project, Attempt: j.Attempt, Status: StatusRunning},
			tracing.AttrRunner.Int64(p.RunnerID), tracing.AttrTag.String(j.Tag), tracing.AttrWait.Float64(j.QueuedFor))
	}
	return jobs, nil
}
