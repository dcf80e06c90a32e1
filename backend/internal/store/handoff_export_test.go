package store

import "github.com/jackc/pgx/v5"

// QueueHandoff queues in b what a transaction that queued jobs ids of tag
// runs to hand them to a poll claiming with p; deliver returns what it claimed.
func QueueHandoff(b *pgx.Batch, p *JobClaimParams, ids []int64) (deliver func(error) ([]*ClaimedJob, error)) {
	r := &exportReservation{p: *p}
	h := &handoffs{tags: []handoffTag{{tag: p.Tag, ids: ids}}, claims: []*handoffClaim{{r: r}}}
	h.queue(b)
	return func(err error) ([]*ClaimedJob, error) {
		h.deliver(err)
		return r.jobs, r.err
	}
}

type exportReservation struct {
	p    JobClaimParams
	jobs []*ClaimedJob
	err  error
}

func (r *exportReservation) Params() *JobClaimParams { return &r.p }

func (r *exportReservation) Deliver(jobs []*ClaimedJob, err error) { r.jobs, r.err = jobs, err }
