package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ajwt/ajwt/internal/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is a store.Store over database/sql.
type DB struct {
	d      dialect
	write  *sql.DB // SQLite: one connection, so writers never contend
	read   *sql.DB
	wconn  *sql.Conn // SQLite: the writer connection, held for the store's life
	wmu    sync.Mutex
	wstmts map[string]*sql.Stmt
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
	if db.wconn != nil {
		return db.updateSQLite(ctx, fn)
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

// updateSQLite hands fn to the single writer goroutine, which runs
// concurrent transactions back to back inside one IMMEDIATE transaction
// (group commit): each fn in its own SAVEPOINT, so one fn's error undoes
// only its own writes, and one commit (one fsync) acknowledges them all.
// Nothing is acknowledged before that commit.
func (db *DB) updateSQLite(ctx context.Context, fn func(store.Tx) error) error {
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

// auditHead is the chain head as the batch's appends advance it: read at
// the batch's first append, written back once before COMMIT, instead of a
// read and a write of audit_head per entry.
type auditHead struct {
	known, dirty bool
	seq          int64
	hash         string
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

// View runs fn in a read-only transaction. On PostgreSQL its statements
// run on the pool without BEGIN/ROLLBACK: at READ COMMITTED every statement
// takes its own snapshot anyway, so a transaction would only add two round
// trips, and writes are refused before they reach the database.
func (db *DB) View(ctx context.Context, fn func(store.Tx) error) error {
	if db.d.name == "postgres" {
		return fn(&tx{db: db, r: poolRunner{d: db.d, db: db.read}})
	}
	sqlTx, err := db.read.BeginTx(ctx, &sql.TxOptions{})
	if err != nil {
		return fmt.Errorf("sqlstore: begin: %w", err)
	}
	defer func() { _ = sqlTx.Rollback() }()
	return fn(&tx{db: db, r: txRunner{d: db.d, tx: sqlTx}})
}

// runner executes queries inside the current transaction.
type runner interface {
	exec(ctx context.Context, query string, args ...any) (sql.Result, error)
	query(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	queryRow(ctx context.Context, query string, args ...any) (*sql.Row, error)
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

// migrate applies the embedded migrations of the dialect in one
// transaction, recording the version reached.
func migrate(ctx context.Context, conn *sql.Conn, d dialect) error {
	if _, err := conn.ExecContext(ctx, d.beginMigration); err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	err := applyMigrations(ctx, conn, d)
	if err != nil {
		_, _ = conn.ExecContext(ctx, "ROLLBACK")
		return err
	}
	_, err = conn.ExecContext(ctx, "COMMIT")
	return err
}

func applyMigrations(ctx context.Context, conn *sql.Conn, d dialect) error {
	if d.lockMigration != "" {
		if _, err := conn.ExecContext(ctx, d.lockMigration); err != nil {
			return fmt.Errorf("sqlstore: migration lock: %w", err)
		}
	}
	if _, err := conn.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"); err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	var current int
	if err := conn.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_version").Scan(&current); err != nil {
		return fmt.Errorf("sqlstore: migrate: schema version: %w", err)
	}
	if _, err := migrations.ReadFile(migrationFile(d, current)); current > 0 && err != nil {
		return fmt.Errorf("sqlstore: migrate: database schema version %d is newer than this program's", current)
	}
	for v := current + 1; ; v++ {
		body, err := migrations.ReadFile(migrationFile(d, v))
		if err != nil {
			return nil // no more migrations
		}
		// Split at every ";": migration files hold none inside literals,
		// bodies or comments.
		for _, stmt := range strings.Split(string(body), ";") {
			if strings.TrimSpace(stmt) == "" {
				continue
			}
			if _, err := conn.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("sqlstore: migration %d: %w", v, err)
			}
		}
		if _, err := conn.ExecContext(ctx, d.rebind("INSERT INTO schema_version (version) VALUES (?)"), v); err != nil {
			return err
		}
	}
}

func migrationFile(d dialect, v int) string {
	return fmt.Sprintf("migrations/%s_%03d.sql", d.name, v)
}

// privateFiles creates the SQLite database at path with mode 0600 and
// tightens it and its -wal, -shm and -journal files when others may read
// them: the database holds signing keys (in clear without a KEK), and the
// data directory may be open to others (created by hand, or before
// ajwt). SQLite gives the files it creates next to the database the
// database file's mode, so a private database keeps them private too.
func privateFiles(path string, log *slog.Logger) error {
	if runtime.GOOS == "windows" {
		return nil // no POSIX modes; ACLs are the directory's business
	}
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("sqlstore: %w", err)
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("sqlstore: %w", err)
		}
		if fi.Mode().Perm()&0o077 == 0 {
			continue
		}
		if err := os.Chmod(p, 0o600); err != nil {
			return fmt.Errorf("sqlstore: making %s private: %w", p, err)
		}
		log.Warn("database file was accessible to others; its mode is now 0600", "file", p, "was", fi.Mode().Perm().String())
	}
	return nil
}
