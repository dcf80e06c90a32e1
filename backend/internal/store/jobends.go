package store

import (
	"time"

	"github.com/jackc/pgx/v5"
)

// JobEnd is an attempt that ran and ended: its status (a final one, or lost for
// an attempt lost and queued again) and how long it ran, by the database's clock.
type JobEnd struct {
	Status string
	Ran    time.Duration
}

// ObserveJobEnds has f called once for every attempt that ran (it has a start)
// and ended, whichever way it ended: completed by its runner, lost, timed out,
// cancelled or stopped at its log limit and confirmed or reaped. f is called by
// the process whose transaction made the change, after it committed: never for
// a change only heard of (another server's events), never for a rolled-back
// one, so the servers sharing a database count each end once between them.
// Attempts that never ran (cancelled while waiting or queued, skipped, failed
// unacknowledged hand-outs) and approval gates are not observed. Call it before
// serving.
func (s *Store) ObserveJobEnds(f func(status string, ran time.Duration)) { s.onJobEnd = f }

func (s *Store) observeEnds(ends []JobEnd) {
	if s.onJobEnd == nil {
		return
	}
	for _, e := range ends {
		s.onJobEnd(e.Status, e.Ran)
	}
}

// ran notes that c's attempt, started at startedAt (nil: it never ran),
// ended with status.
func (n *notes) ran(c changedJob, status string, startedAt *time.Time) {
	if startedAt == nil || c.Tag == ApprovalTag {
		return
	}
	d := max(c.Now.Sub(*startedAt), 0)
	n.ends = append(n.ends, JobEnd{Status: status, Ran: d})
}

// handEnds moves the ends noted so far to tx, which observes them once it has
// committed (inTx). Notes flushed twice hand them over once.
func (n *notes) handEnds(tx pgx.Tx) {
	if len(n.ends) == 0 {
		return
	}
	if t, ok := tx.(*endsTx); ok {
		t.ends = append(t.ends, n.ends...)
	}
	n.ends = nil
}

// endsTx is inTx's transaction: it collects the ends its notes hand over.
type endsTx struct {
	pgx.Tx
	ends []JobEnd
}
