package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/ajwt/ajwt/internal/store"
)

// writeReq is one Update waiting for the SQLite writer.
type writeReq struct {
	ctx        context.Context
	fn         func(store.Tx) error
	done       chan error
	panicked   any // a panic in fn, raised again in the caller's goroutine
	wroteAgent bool
}

// maxBatch bounds how many transactions share one commit.
const maxBatch = 64

// queueUpdate hands fn to the single writer goroutine, which runs
// concurrent transactions back to back inside one IMMEDIATE transaction
// (group commit): each fn in its own SAVEPOINT, so one fn's error undoes
// only its own writes, and one commit (one fsync) acknowledges them all.
// Nothing is acknowledged before that commit.
func (db *DB) queueUpdate(ctx context.Context, fn func(store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	req := &writeReq{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case db.writes <- req:
	case <-db.closed:
		return errors.New("sqlstore: store closed")
	}
	err := <-req.done
	if req.panicked != nil {
		panic(req.panicked)
	}
	return err
}

// writer serves the write queue until the store closes.
func (db *DB) writer() {
	defer close(db.writerDone)
	for {
		var first *writeReq
		select {
		case first = <-db.writes:
		case <-db.closed:
			return
		}
		batch := []*writeReq{first}
	fill:
		for len(batch) < maxBatch {
			select {
			case r := <-db.writes:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		db.runBatch(batch)
	}
}

func (db *DB) runBatch(batch []*writeReq) {
	db.wmu.Lock()
	defer db.wmu.Unlock()
	bg := context.Background()
	results := make([]error, len(batch))
	if _, err := db.wconn.ExecContext(bg, "BEGIN IMMEDIATE"); err != nil {
		finish(batch, results, fmt.Errorf("sqlstore: begin: %w", err))
		return
	}
	db.head = auditHead{}
	for i, r := range batch {
		var ok bool
		if ok, results[i] = db.runOne(r); !ok {
			// The shared transaction is in an unknown state (SQLite may have
			// rolled it back whole): drop it, and run the others again.
			_, _ = db.wconn.ExecContext(bg, "ROLLBACK")
			for j := range batch {
				if j != i {
					results[j] = errRegroup
				}
			}
			finish(batch, results, nil)
			return
		}
	}
	if err := db.commitBatch(); err != nil {
		_, _ = db.wconn.ExecContext(bg, "ROLLBACK")
		finish(batch, results, fmt.Errorf("sqlstore: commit: %w", err))
		return
	}
	// Before anyone is answered: a caller's next View sees its own write.
	if slices.ContainsFunc(batch, func(r *writeReq) bool { return r.wroteAgent }) {
		db.agents.invalidate()
	}
	finish(batch, results, nil)
}

func (db *DB) commitBatch() error {
	if db.head.dirty {
		if err := db.writerTx().writeHead(context.Background(), db.head.seq, db.head.hash); err != nil {
			return err
		}
	}
	_, err := db.wconn.ExecContext(context.Background(), "COMMIT")
	return err
}

// errRegroup fails the members of a commit group whose shared transaction
// was lost through another member; Update runs them again.
var errRegroup = errors.New("sqlstore: transaction lost with its commit group")

// runOne runs one transaction's fn inside a savepoint of the batch. ok is
// false when the savepoint could not be set, undone or released, which
// leaves the shared transaction in an unknown state.
func (db *DB) runOne(r *writeReq) (ok bool, err error) {
	if err := r.ctx.Err(); err != nil {
		return true, err
	}
	bg := context.Background()
	if _, err := db.wconn.ExecContext(bg, "SAVEPOINT w"); err != nil {
		return false, fmt.Errorf("sqlstore: savepoint: %w", err)
	}
	head := db.head
	err = db.callFn(r)
	if err != nil {
		db.head = head // its appends are undone with the savepoint
		if _, rerr := db.wconn.ExecContext(bg, "ROLLBACK TO w"); rerr != nil {
			return false, err
		}
	}
	if _, rerr := db.wconn.ExecContext(bg, "RELEASE w"); rerr != nil {
		return false, errors.Join(err, fmt.Errorf("sqlstore: release: %w", rerr))
	}
	return true, err
}

// callFn runs fn, turning a panic into an error for the batch (the
// writer goroutine must survive a handler bug, and the savepoint must be
// rolled back) and into the same panic in the caller's goroutine, where
// net/http recovers it.
func (db *DB) callFn(r *writeReq) (err error) {
	defer func() {
		if p := recover(); p != nil {
			r.panicked = p
			err = fmt.Errorf("sqlstore: panic in transaction: %v", p)
		}
	}()
	t := db.writerTx()
	defer func() { r.wroteAgent = t.wroteAgent }()
	return r.fn(t)
}

// writerTx is a transaction on the SQLite writer connection, inside the
// commit group the writer goroutine has open.
func (db *DB) writerTx() *tx { return &tx{db: db, r: connRunner{db: db}, writable: true} }

// finish answers every request: its own error, or commitErr for those
// whose writes the failed commit lost.
func finish(batch []*writeReq, results []error, commitErr error) {
	for i, r := range batch {
		if results[i] == nil {
			results[i] = commitErr
		}
		r.done <- results[i]
	}
}

// connRunner runs on the SQLite writer connection with statements prepared
// once for the store's life.
type connRunner struct{ db *DB }

// The writer's statements check the caller's context before they start
// but never run under it: the driver would sqlite3_interrupt a statement
// whose context ends mid-way, and an interrupted write rolls back the
// whole transaction, which the commit group shares. A cancelled caller
// gets ctx.Err() at its next statement and its savepoint is undone.
func (c connRunner) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if st, ok := c.db.wstmts[query]; ok {
		return st, nil
	}
	st, err := c.db.wconn.PrepareContext(context.Background(), c.db.d.rebind(query))
	if err != nil {
		return nil, fmt.Errorf("sqlstore: prepare: %w", err)
	}
	c.db.wstmts[query] = st
	return st, nil
}

func (c connRunner) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	st, err := c.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(context.Background(), args...)
}

func (c connRunner) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, err := c.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(context.Background(), args...)
}

func (c connRunner) queryRow(ctx context.Context, q string, args ...any) (*sql.Row, error) {
	st, err := c.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.QueryRowContext(context.Background(), args...), nil
}
