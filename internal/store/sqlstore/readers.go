package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"github.com/ajwt/ajwt/internal/store"
)

// SQLite Views run on reader connections held for the store's life, each
// keeping the statements it has prepared: on a database/sql transaction
// every statement (BEGIN and ROLLBACK included) is parsed and planned
// again, which costs more than the primary-key reads Views make.

// maxReadStmts bounds the statements a reader keeps. Queries take their
// values as parameters, so their texts are few; any beyond run unprepared.
const maxReadStmts = 256

var errClosed = errors.New("sqlstore: store closed")

// readConn is one reader connection; conn is nil after a failure, until
// the next View opens a fresh one.
type readConn struct {
	conn  *sql.Conn
	stmts map[string]*sql.Stmt
}

// readers lends its connections to one View at a time each.
type readers struct {
	db     *sql.DB
	free   chan *readConn
	mu     sync.Mutex
	closed bool
}

func newReaders(db *sql.DB, n int) *readers {
	rs := &readers{db: db, free: make(chan *readConn, n)}
	for range n {
		rs.free <- &readConn{}
	}
	return rs
}

// get waits for a free reader, connected.
func (rs *readers) get(ctx context.Context, closed <-chan struct{}) (*readConn, error) {
	var c *readConn
	select {
	case c = <-rs.free:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-closed:
		return nil, errClosed
	}
	if c.conn != nil {
		return c, nil
	}
	conn, err := rs.db.Conn(ctx)
	if err != nil {
		rs.put(c)
		return nil, err
	}
	c.conn, c.stmts = conn, map[string]*sql.Stmt{}
	return c, nil
}

// put gives c back, or closes it once the store is closing.
func (rs *readers) put(c *readConn) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.closed {
		_ = c.close()
		return
	}
	rs.free <- c // never blocks: the channel holds every reader
}

// close closes the free readers now and the others as their Views end.
func (rs *readers) close() error {
	rs.mu.Lock()
	rs.closed = true
	rs.mu.Unlock()
	var errs []error
	for {
		select {
		case c := <-rs.free:
			errs = append(errs, c.close())
		default:
			return errors.Join(errs...)
		}
	}
}

func (c *readConn) close() error {
	if c.conn == nil {
		return nil
	}
	var errs []error
	for _, st := range c.stmts {
		errs = append(errs, st.Close())
	}
	errs = append(errs, c.conn.Close())
	c.conn, c.stmts = nil, nil
	return errors.Join(errs...)
}

// view runs fn in a read transaction on a reader. A reader whose
// transaction could not be ended is dropped (it would keep its snapshot,
// and refuse the next BEGIN); the next View opens a fresh one.
func (db *DB) readerView(ctx context.Context, fn func(store.Tx) error) error {
	c, err := db.readers.get(ctx, db.closed)
	if err != nil {
		return fmt.Errorf("sqlstore: begin: %w", err)
	}
	defer db.readers.put(c)
	if _, err := c.exec(ctx, "BEGIN"); err != nil {
		_ = c.close()
		return fmt.Errorf("sqlstore: begin: %w", err)
	}
	defer func() {
		if _, err := c.exec(context.Background(), "ROLLBACK"); err != nil {
			_ = c.close()
		}
	}()
	return fn(&tx{db: db, r: c})
}

func (c *readConn) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if st, ok := c.stmts[q]; ok {
		return st, nil
	}
	if len(c.stmts) >= maxReadStmts {
		return nil, nil
	}
	st, err := c.conn.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	c.stmts[q] = st
	return st, nil
}

// exec runs BEGIN and ROLLBACK: tx refuses writes in View before they
// reach here, and the connection is query_only besides.
func (c *readConn) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	st, err := c.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return c.conn.ExecContext(ctx, q, args...)
	}
	return st.ExecContext(ctx, args...)
}

func (c *readConn) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, err := c.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return c.conn.QueryContext(ctx, q, args...)
	}
	return st.QueryContext(ctx, args...)
}

func (c *readConn) queryRow(ctx context.Context, q string, args ...any) (*sql.Row, error) {
	st, err := c.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return c.conn.QueryRowContext(ctx, q, args...), nil
	}
	return st.QueryRowContext(ctx, args...), nil
}
