package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// dialect isolates what differs between SQLite and PostgreSQL.
type dialect struct {
	name           string
	forUpdate      string // suffix that locks selected rows
	forShare       string // suffix that keeps selected rows from changing
	beginMigration string
	lockMigration  string
	placeholders   bool // rewrite ? as $n
	// deferredAudit: AppendAudit writes to the audit_pending outbox and a
	// chainer links entries after commit (PostgreSQL, where writers run in
	// parallel); otherwise AppendAudit chains at once (SQLite, one writer).
	deferredAudit bool
}

var (
	sqliteDialect   = dialect{name: "sqlite", beginMigration: "BEGIN IMMEDIATE"}
	postgresDialect = dialect{name: "postgres", forUpdate: " FOR UPDATE", forShare: " FOR SHARE", beginMigration: "BEGIN",
		lockMigration: "SELECT pg_advisory_xact_lock(7244183)", placeholders: true, deferredAudit: true}
)

// rebind turns ? placeholders into $1, $2, … for PostgreSQL.
func (d dialect) rebind(q string) string {
	if !d.placeholders {
		return q
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// retryable reports a transaction that lost a race and may simply run again.
func (d dialect) retryable(err error) bool {
	// errRegroup: lost with its commit group. ErrBadConn: pgx reports it
	// only before sending anything, for a pooled connection closed under us
	// (e.g. by another transaction's cancelled context).
	if errors.Is(err, errRegroup) || errors.Is(err, driver.ErrBadConn) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "40001" || pe.Code == "40P01"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		code := se.Code() & 0xff
		return code == sqlite3.SQLITE_BUSY || code == sqlite3.SQLITE_LOCKED
	}
	return false
}

// Options tune a store; zero values are defaults.
type Options struct {
	// Synchronous is SQLite's synchronous pragma in WAL mode:
	//   - "FULL" (default): every commit is fsynced before Update returns,
	//     so nothing acknowledged is lost even on power loss or an OS crash.
	//   - "NORMAL": the WAL is fsynced only at checkpoints. A process crash
	//     loses nothing (the WAL is in the OS page cache), but power loss or
	//     an OS crash may roll back the last transactions acknowledged
	//     before it: a just-issued token could be forgotten or a used
	//     delegation assertion accepted again. In exchange commits cost no
	//     fsync. Choose it only where that window is acceptable (tests,
	//     demos, a disposable node).
	// PostgreSQL ignores it (configure synchronous_commit on the server).
	Synchronous string
	// MaxConns bounds the PostgreSQL pool (default 16) and SQLite readers
	// (default 4).
	MaxConns int
	// Now is the clock UseOnce uses to decide whether a recorded
	// identifier has expired (default time.Now).
	Now func() time.Time
	// Logger receives what background work cannot return: a failing
	// PostgreSQL audit chainer; and SQLite files made private at open
	// (default: discarded).
	Logger *slog.Logger
}

func logger(opts Options) *slog.Logger {
	if opts.Logger != nil {
		return opts.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func clock(opts Options) func() time.Time {
	if opts.Now != nil {
		return opts.Now
	}
	return time.Now
}

// OpenSQLite opens (creating if needed) the SQLite database at path.
func OpenSQLite(ctx context.Context, path string, opts Options) (*DB, error) {
	sync := strings.ToUpper(opts.Synchronous)
	if sync == "" {
		sync = "FULL"
	}
	if sync != "FULL" && sync != "NORMAL" {
		return nil, fmt.Errorf("sqlstore: synchronous must be FULL or NORMAL, not %q", opts.Synchronous)
	}
	if err := checkPath(path); err != nil {
		return nil, err
	}
	if err := privateFiles(path, logger(opts)); err != nil {
		return nil, err
	}
	dsn := path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(" + sync + ")"
	write, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	write.SetMaxOpenConns(1)
	db := &DB{d: sqliteDialect, write: write, wstmts: map[string]*sql.Stmt{}, now: clock(opts), agents: newAgentCache()}
	if db.wconn, err = write.Conn(ctx); err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlstore: open %s: %w", path, err)
	}
	if err := migrate(ctx, db.wconn, sqliteDialect); err != nil {
		db.Close()
		return nil, err
	}
	db.writes, db.closed, db.writerDone = make(chan *writeReq), make(chan struct{}), make(chan struct{})
	go db.writer()
	if db.read, err = sql.Open("sqlite", dsn+"&_pragma=query_only(1)"); err != nil {
		db.Close()
		return nil, err
	}
	// Keep every reader connection pooled: opening a SQLite connection
	// (pragmas, WAL index) costs far more than a query.
	db.read.SetMaxOpenConns(max(opts.MaxConns, 4))
	db.read.SetMaxIdleConns(max(opts.MaxConns, 4))
	return db, nil
}

// OpenPostgres connects to PostgreSQL and applies migrations (serialised
// across nodes by an advisory lock).
func OpenPostgres(ctx context.Context, dsn string, opts Options) (*DB, error) {
	pool, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, err
	}
	pool.SetMaxOpenConns(max(opts.MaxConns, 16))
	pool.SetMaxIdleConns(max(opts.MaxConns, 16))
	conn, err := pool.Conn(ctx)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("sqlstore: connect: %w", err)
	}
	err = migrate(ctx, conn, postgresDialect)
	conn.Close()
	if err != nil {
		pool.Close()
		return nil, err
	}
	log := logger(opts)
	db := &DB{d: postgresDialect, write: pool, read: pool, now: clock(opts), log: log,
		closed: make(chan struct{}), chainWake: make(chan struct{}, 1), chainerDone: make(chan struct{})}
	go db.chainer()
	return db, nil
}

// checkPath refuses names the reader and writer pools could not share (an
// in-memory database exists once per connection) and names that would
// inject DSN parameters.
func checkPath(p string) error {
	switch {
	case p == "" || p == ":memory:" || strings.HasPrefix(p, "file:"):
		return fmt.Errorf("sqlstore: SQLite needs a file path, not %q (in-memory databases are per connection)", p)
	case strings.Contains(p, "?"):
		return fmt.Errorf("sqlstore: SQLite path %q must not contain '?'", p)
	}
	return nil
}
