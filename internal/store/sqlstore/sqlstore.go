package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ajwt/ajwt/internal/store"
)

// DB is a store.Store over database/sql.
type DB struct {
	d     dialect
	write *sql.DB // SQLite: one connection, so writers never contend
	read  *sql.DB
	// SQLite: the reader connections Views run on (readers.go).
	readers *readers
	wconn   *sql.Conn // SQLite: the writer connection, held for the store's life
	wmu     sync.Mutex
	wstmts  map[string]*sql.Stmt
	// SQLite group commit: Update calls queue here for the writer goroutine.
	writes     chan *writeReq
	closed     chan struct{}
	writerDone chan struct{}
	closeOnce  sync.Once
	agents     *agentCache // SQLite only: View reads of agents
	head       auditHead   // SQLite writer only, under wmu
	// PostgreSQL audit outbox: a nudge after each auditing commit.
	chainWake   chan struct{}
	chainerDone chan struct{}
	log         *slog.Logger // PostgreSQL only
	standingSQL string       // TokenStanding's statement in the dialect

	now  func() time.Time // UseOnce's clock
	uses atomic.Uint64    // UseOnce calls, to purge expired identifiers now and then
}

var _ store.Store = (*DB)(nil)

// Close releases the database.
func (db *DB) Close() error {
	if db.closed != nil {
		db.closeOnce.Do(func() { close(db.closed) })
	}
	if db.writes != nil {
		<-db.writerDone
	}
	if db.chainerDone != nil {
		<-db.chainerDone
	}
	db.wmu.Lock()
	defer db.wmu.Unlock()
	var errs []error
	if db.wconn != nil {
		errs = append(errs, db.wconn.Close())
	}
	errs = append(errs, db.write.Close())
	if db.readers != nil {
		errs = append(errs, db.readers.close())
	}
	if db.read != nil && db.read != db.write { // nil when OpenSQLite failed before opening readers
		errs = append(errs, db.read.Close())
	}
	return errors.Join(errs...)
}

const maxRetries = 10

// Update runs fn in a read-write transaction, retrying on serialisation
// failures (PostgreSQL 40001/40P01, SQLite busy) with jittered backoff.
func (db *DB) Update(ctx context.Context, fn func(store.Tx) error) error {
	for attempt := 0; ; attempt++ {
		err := db.update(ctx, fn)
		if err == nil || !db.d.retryable(err) || attempt >= maxRetries {
			return err
		}
		backoff := time.Duration(1<<min(attempt, 6)) * time.Millisecond
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff + time.Duration(rand.Int64N(int64(backoff)))):
		}
	}
}

func (db *DB) update(ctx context.Context, fn func(store.Tx) error) error {
	if db.d.singleWriter {
		return db.queueUpdate(ctx, fn)
	}
	sqlTx, err := db.write.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return fmt.Errorf("sqlstore: begin: %w", err)
	}
	// Deferred, so that a panic in fn also ends the transaction: otherwise
	// its connection stays checked out holding the run's row lock, and every
	// later transaction on that run waits forever.
	defer func() { _ = sqlTx.Rollback() }() // no-op after Commit
	t := &tx{db: db, r: txRunner{d: db.d, tx: sqlTx}, writable: true}
	if err := fn(t); err != nil {
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return err
	}
	if t.audited {
		db.wakeChainer()
	}
	return nil
}

// View runs fn in a read-only transaction. On PostgreSQL its statements
// run on the pool without BEGIN/ROLLBACK: at READ COMMITTED every statement
// takes its own snapshot anyway, so a transaction would only add two round
// trips, and writes are refused before they reach the database. On SQLite
// it is one transaction (one snapshot) on a reader connection.
func (db *DB) View(ctx context.Context, fn func(store.Tx) error) error {
	if db.d.pooledViews {
		return fn(&tx{db: db, r: poolRunner{d: db.d, db: db.read}})
	}
	return db.readerView(ctx, fn)
}

// runner executes queries inside the current transaction.
type runner interface {
	exec(ctx context.Context, query string, args ...any) (sql.Result, error)
	query(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	queryRow(ctx context.Context, query string, args ...any) (*sql.Row, error)
}

// txRunner runs on a pooled transaction. It never prepares on the pool: a
// transaction that waits for a free connection while holding a row lock
// could deadlock the pool. (pgx caches prepared statements per connection.)
type txRunner struct {
	d  dialect
	tx *sql.Tx
}

func (r txRunner) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return r.tx.ExecContext(ctx, r.d.rebind(q), args...)
}

func (r txRunner) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return r.tx.QueryContext(ctx, r.d.rebind(q), args...)
}

func (r txRunner) queryRow(ctx context.Context, q string, args ...any) (*sql.Row, error) {
	return r.tx.QueryRowContext(ctx, r.d.rebind(q), args...), nil
}

// poolRunner runs each statement on its own pooled connection (PostgreSQL
// View).
type poolRunner struct {
	d  dialect
	db *sql.DB
}

func (r poolRunner) exec(context.Context, string, ...any) (sql.Result, error) {
	return nil, errReadOnly
}

func (r poolRunner) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return r.db.QueryContext(ctx, r.d.rebind(q), args...)
}

func (r poolRunner) queryRow(ctx context.Context, q string, args ...any) (*sql.Row, error) {
	return r.db.QueryRowContext(ctx, r.d.rebind(q), args...), nil
}
