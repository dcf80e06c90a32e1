package store

import (
	"time"

	"github.com/jackc/pgx/v5"
)

// JobEnd is a job that reached a final status, or an attempt that ran and
// ended (a lost attempt queued again is one without the other).
type JobEnd struct {
	Status string
	// Final says the job reached Status: it is not a lost attempt queued again.
	Final bool
	// Ran is how long the attempt ran, by the database's clock; nil when it never
	// ran (cancelled while waiting or queued, skipped, an unacknowledged hand-out
	// failed, an approval gate).
	Ran *time.Duration
}

// ObserveJobEnds has f called once for every job that reaches a final status and
// every attempt that ran and ended, whichever way: completed by its runner,
// lost, timed out, cancelled or stopped at its log limit and confirmed or
// reaped, skipped. f is called by the process whose transaction made the
// change, after it committed: never for a change only heard of (another
// server's events), never for a rolled-back one, so the servers sharing a
// database count each end once between them. Call it before serving.
func (s *Store) ObserveJobEnds(f func(JobEnd)) { s.onJobEnd = f }

func (s *Store) observeEnds(ends []JobEnd) {
	if s.onJobEnd == nil {
		return
	}
	for _, e := range ends {
		s.onJobEnd(e)
	}
}

// ended notes that c ended with status (final: for good), its attempt having
// started at startedAt (nil: it never ran).
func (n *notes) ended(c changedJob, status string, final bool, startedAt *time.Time) {
	e := JobEnd{Status: status, Final: final}
	if startedAt != nil && c.Tag != ApprovalTag {
		d := max(c.Now.Sub(*startedAt), 0)
		e.Ran = &d
	}
	if e.Final || e.Ran != nil {
		n.ends = append(n.ends, e)
	}
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
