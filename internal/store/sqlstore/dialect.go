package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// dialect isolates what differs between SQLite and PostgreSQL.
type dialect struct {
	name           string
	forUpdate      string // suffix that locks selected rows
	beginMigration string
	lockMigration  string
	placeholders   bool // rewrite ? as $n
}

var (
	sqliteDialect   = dialect{name: "sqlite", beginMigration: "BEGIN IMMEDIATE"}
	postgresDialect = dialect{name: "postgres", forUpdate: " FOR UPDATE", beginMigration: "BEGIN",
		lockMigration: "SELECT pg_advisory_xact_lock(7244183)", placeholders: true}
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
	// Synchronous is SQLite's synchronous pragma: "FULL" (default: a
	// committed transaction survives power loss) or "NORMAL" (survives a
	// process crash; the last transactions may be lost on power loss, in
	// exchange for far fewer fsyncs).
	Synchronous string
	// MaxConns bounds the PostgreSQL pool (default 16) and SQLite readers
	// (default 4).
	MaxConns int
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
	dsn := path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(" + sync + ")"
	write, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	write.SetMaxOpenConns(1)
	db := &DB{d: sqliteDialect, write: write, wstmts: map[string]*sql.Stmt{}}
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
	return &DB{d: postgresDialect, write: pool, read: pool}, nil
}
