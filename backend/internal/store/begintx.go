package store

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// beginTx is a transaction on conn whose BEGIN goes out with its first
// statements, in their round trip, rather than in one of its own (pgx's
// Begin waits for BEGIN's answer): a grouped transition's or a submission's
// transaction costs one round trip less, and starts (its now(), a job's
// ended_at) one round trip nearer its commit.
type beginTx struct {
	conn  *pgx.Conn
	begun bool
}

var _ pgx.Tx = (*beginTx)(nil)

// batch is b, with BEGIN first when the transaction has not begun.
func (tx *beginTx) batch(b *pgx.Batch) (*pgx.Batch, bool) {
	if tx.begun {
		return b, false
	}
	tx.begun = true
	nb := &pgx.Batch{}
	nb.Queue("BEGIN")
	nb.QueuedQueries = append(nb.QueuedQueries, b.QueuedQueries...)
	return nb, true
}

// send sends b and reads BEGIN's answer when it went with it.
func (tx *beginTx) send(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	b, began := tx.batch(b)
	results := tx.conn.SendBatch(ctx, b)
	if began {
		if _, err := results.Exec(); err != nil {
			_ = results.Close()
			return &failedResults{err: err}
		}
	}
	return results
}

func (tx *beginTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	return tx.send(ctx, b)
}

func (tx *beginTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if tx.begun {
		return tx.conn.Exec(ctx, sql, args...)
	}
	b := &pgx.Batch{}
	b.Queue(sql, args...)
	results := tx.send(ctx, b)
	tag, err := results.Exec()
	if cerr := results.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

func (tx *beginTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if tx.begun {
		return tx.conn.Query(ctx, sql, args...)
	}
	b := &pgx.Batch{}
	b.Queue(sql, args...)
	results := tx.send(ctx, b)
	rows, err := results.Query()
	if err != nil {
		_ = results.Close()
		return &errRows{err: err}, err
	}
	return &batchRows{Rows: rows, results: results}, nil
}

func (tx *beginTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rows, err := tx.Query(ctx, sql, args...)
	return &firstRow{rows: rows, err: err}
}

func (tx *beginTx) Commit(ctx context.Context) error {
	if !tx.begun {
		return nil
	}
	tag, err := tx.conn.Exec(ctx, "COMMIT")
	if err == nil && tag.String() == "ROLLBACK" {
		err = pgx.ErrTxCommitRollback
	}
	return err
}

func (tx *beginTx) Rollback(ctx context.Context) error {
	if !tx.begun || tx.conn.PgConn().TxStatus() == 'I' {
		return nil
	}
	_, err := tx.conn.Exec(ctx, "ROLLBACK")
	return err
}

func (tx *beginTx) Begin(context.Context) (pgx.Tx, error) {
	return nil, errors.New("store: no nested transactions in a transaction begun with its statements")
}

func (tx *beginTx) CopyFrom(context.Context, pgx.Identifier, []string, pgx.CopyFromSource) (int64, error) {
	return 0, errors.New("store: no COPY in a transaction begun with its statements")
}

func (tx *beginTx) LargeObjects() pgx.LargeObjects { return pgx.LargeObjects{} }

func (tx *beginTx) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	return tx.conn.Prepare(ctx, name, sql)
}

func (tx *beginTx) Conn() *pgx.Conn { return tx.conn }

// batchRows are the rows of a batch's one query: closing them ends the batch.
type batchRows struct {
	pgx.Rows
	results pgx.BatchResults
	err     error
	closed  bool
}

func (r *batchRows) Close() {
	if r.closed {
		return
	}
	r.closed = true
	r.Rows.Close()
	r.err = r.results.Close()
}

func (r *batchRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.Close()
	return false
}

func (r *batchRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	return r.err
}

// firstRow is QueryRow's row: the first of rows.
type firstRow struct {
	rows pgx.Rows
	err  error
}

func (r *firstRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}

// failedResults answers every read with the error that ended the batch.
type failedResults struct{ err error }

func (r *failedResults) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, r.err }
func (r *failedResults) Query() (pgx.Rows, error)         { return &errRows{err: r.err}, r.err }
func (r *failedResults) QueryRow() pgx.Row                { return &firstRow{err: r.err} }
func (r *failedResults) Close() error                     { return r.err }
func (r *failedResults) Tx() pgx.Tx                       { return nil }

// errRows are the rows of a query that failed before it ran: none, and its error.
type errRows struct{ err error }

func (r *errRows) Close()                                       {}
func (r *errRows) Err() error                                   { return r.err }
func (r *errRows) CommandTag() pgconn.CommandTag                { return pgconn.CommandTag{} }
func (r *errRows) FieldDescriptions() []pgconn.FieldDescription { return nil }
func (r *errRows) Next() bool                                   { return false }
func (r *errRows) Scan(...any) error                            { return r.err }
func (r *errRows) Values() ([]any, error)                       { return nil, r.err }
func (r *errRows) RawValues() [][]byte                          { return nil }
func (r *errRows) Conn() *pgx.Conn                              { return nil }
func (r *errRows) TypeMap() *pgtype.Map                         { return nil }
