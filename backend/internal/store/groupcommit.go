package store

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// groupCommit runs concurrent transitions of the same kind (job completions,
// claims, runner check-ins) in shared transactions. A transaction that sends
// notifications holds PostgreSQL's notification queue lock from its commit
// until its WAL record is on disk, so notifying commits never share an fsync:
// one transition per commit caps them at the disk's commit rate. Transitions
// that arrive while a batch runs go together into the next one, each still its
// own: its rows are locked and checked as alone, and its events are sent in the
// batch's one notification statement at commit.
//
// Its zero value is ready to use.
type groupCommit struct {
	// batch, when set, runs a batch's items in tx in fewer round trips than
	// one item after the other; it sets each item's err (a refusal) and notes.
	batch func(ctx context.Context, tx pgx.Tx, items []*groupItem) error

	mu      sync.Mutex
	queue   []*groupItem
	running int
}

// groupItem is one transition waiting for a batch.
type groupItem struct {
	ctx context.Context
	key int64 // items run in key order (job id, runner id), so two batches lock rows in one order
	// fn runs the transition alone in tx (reads and writes, events into n).
	fn func(ctx context.Context, tx pgx.Tx, n *notes) error
	// direct, when set, runs the transition alone without a transaction of
	// its own (a single statement commits by itself).
	direct func() error
	arg    any // the transition's parameters, for groupCommit.batch
	res    any // what the transition tells its caller, set by fn or batch

	notes notes
	err   error
	ended []JobEnd
	done  chan struct{}
}

const (
	// groupBatches is how many batches of a kind may run at once. One: what
	// arrives while it runs goes into the next, larger batch. Notifying
	// commits take turns anyway (see above), and on a busy machine the CPU,
	// not the disk, is what a batch waits for: with three at once, batches
	// were smaller and cost more per item (claim + complete over HTTP, 50
	// runners, same-hour A/B: 2,094-2,430 jobs/s with three, 2,636-2,924
	// with one). A batch's statements are bounded (no batch of another
	// kind, purge or cancel holds a job's lock for long), so one slow batch
	// delays the next by milliseconds.
	groupBatches = 1
	// groupMax bounds a batch, so its locks are held briefly.
	groupMax = 64
)

// groupDo runs it in a transaction shared with other concurrent calls, and
// returns its error or the commit's. An error the transition wraps in refusal
// (returned before it wrote anything, from statements that did not fail)
// leaves the shared transaction as it was; any other error aborts the batch,
// whose items then run one transaction each.
func (s *Store) groupDo(g *groupCommit, it *groupItem) error {
	it.done = make(chan struct{})
	g.mu.Lock()
	g.queue = append(g.queue, it)
	start := g.running < groupBatches
	if start {
		g.running++
	}
	g.mu.Unlock()
	if start {
		go s.groupRun(g)
	}
	<-it.done
	if it.err == nil {
		s.observeEnds(it.ended)
	}
	var r refusal
	if errors.As(it.err, &r) {
		return r.error
	}
	return it.err
}

// groupRun runs batches until the queue is empty.
func (s *Store) groupRun(g *groupCommit) {
	for {
		g.mu.Lock()
		n := min(len(g.queue), groupMax)
		if n == 0 {
			g.running--
			g.mu.Unlock()
			return
		}
		batch := slices.Clone(g.queue[:n])
		g.queue = append(g.queue[:0], g.queue[n:]...)
		g.mu.Unlock()
		s.groupBatch(g, batch)
	}
}

// groupBatch runs batch in one transaction, or, should that fail, each item in
// a transaction of its own.
func (s *Store) groupBatch(g *groupCommit, batch []*groupItem) {
	live := batch[:0]
	for _, it := range batch {
		if err := it.ctx.Err(); err != nil {
			it.err = err
			close(it.done)
			continue
		}
		live = append(live, it)
	}
	if len(live) == 0 {
		return
	}
	slices.SortFunc(live, func(a, b *groupItem) int { return cmp.Compare(a.key, b.key) })
	if len(live) == 1 && (g.batch == nil || live[0].direct != nil) {
		s.groupAlone(live[0])
		return
	}
	// The batch outlives any one caller's request: a caller that hangs up
	// meanwhile gets its transition done all the same, as a retry would.
	// A batch of one runs here too when its kind has a batch: that takes
	// fewer round trips than the transition statement by statement.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(live[0].ctx), 30*time.Second)
	defer cancel()
	ctx, release := s.StallBound(ctx)
	defer release()
	var hand *handoffs
	err := s.groupTx(ctx, func(tx pgx.Tx, last *pgx.Batch) error {
		if g.batch != nil {
			if err := g.batch(ctx, tx, live); err != nil {
				return err
			}
		} else {
			for _, it := range live {
				it.err = it.fn(ctx, tx, &it.notes)
				var r refusal
				if it.err != nil && !errors.As(it.err, &r) {
					return it.err // the transaction is aborted, or may be
				}
			}
		}
		var all notes
		for _, it := range live {
			if it.err == nil {
				it.ended, it.notes.ends = it.notes.ends, nil
				all.merge(&it.notes)
			}
		}
		// Long polls parked here get the jobs it queued, in the transaction:
		// their claims after the jobs' events (handoff.go).
		hand = s.reserveHandoffs(&all, false)
		all.queue(last)
		hand.queue(last)
		return nil
	})
	hand.deliver(err)
	if err != nil && len(live) == 1 {
		// Its error is its own.
		it := live[0]
		it.err, it.ended, it.res = err, nil, nil
		close(it.done)
		return
	}
	if err != nil {
		// Nothing of the batch was committed: run each item alone, so one
		// item's failure is its own.
		for _, it := range live {
			it.err, it.ended, it.res, it.notes = nil, nil, nil, notes{}
			s.groupAlone(it)
		}
		return
	}
	for _, it := range live {
		close(it.done)
	}
}

// groupAlone runs one item in a transaction of its own, under its caller's context.
func (s *Store) groupAlone(it *groupItem) {
	if it.direct != nil {
		it.err = it.direct()
		close(it.done)
		return
	}
	var hand *handoffs
	it.err = s.groupTx(it.ctx, func(tx pgx.Tx, last *pgx.Batch) error {
		it.notes = notes{}
		if err := it.fn(it.ctx, tx, &it.notes); err != nil {
			return err
		}
		it.ended, it.notes.ends = it.notes.ends, nil
		hand = s.reserveHandoffs(&it.notes, false)
		it.notes.queue(last)
		hand.queue(last)
		return nil
	})
	hand.deliver(it.err)
	if it.err != nil {
		it.ended = nil
	}
	close(it.done)
}

// groupTx runs fn in a transaction, which begins in the round trip of fn's
// first statements (beginTx), and commits it in the same round trip as the
// statements fn leaves in last (the notifications): a notifying commit
// holds PostgreSQL's notification lock until it is durable, and the jobs it
// makes runnable wait for it, so it should not wait for a round trip more.
func (s *Store) groupTx(ctx context.Context, fn func(tx pgx.Tx, last *pgx.Batch) error) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return interpret(err, "begin")
	}
	defer conn.Release()
	tx := &beginTx{conn: conn.Conn()}
	last := &pgx.Batch{}
	if err := fn(tx, last); err != nil {
		rollback(ctx, tx)
		return err
	}
	last.Queue("COMMIT")
	results := tx.SendBatch(ctx, last)
	var tag pgconn.CommandTag
	for _, q := range last.QueuedQueries {
		if q.Fn != nil {
			// A statement whose rows fn reads (a hand-off's claim): never COMMIT.
			if err = q.Fn(results); err != nil {
				break
			}
			continue
		}
		if tag, err = results.Exec(); err != nil {
			break
		}
	}
	if cerr := results.Close(); err == nil {
		err = cerr
	}
	switch {
	case err != nil:
	case tag.String() == "ROLLBACK":
		// The transaction had failed before: COMMIT ended it as rolled back.
		err = pgx.ErrTxCommitRollback
	case conn.Conn().PgConn().TxStatus() != 'I':
		err = errors.New("the transaction is still open after COMMIT")
	}
	if err != nil {
		rollback(ctx, tx)
		return interpret(err, "commit")
	}
	return nil
}

// refusal is an error a grouped transition returns before it writes anything,
// from statements that succeeded: the shared transaction is intact.
type refusal struct{ error }

func (r refusal) Unwrap() error { return r.error }
