package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

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
	db := &DB{d: sqliteDialect, write: write, wstmts: map[string]*sql.Stmt{}, now: clock(opts), agents: newAgentCache(),
		standingSQL: standingQuery(sqliteDialect)}
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
	db.readers = newReaders(db.read, max(opts.MaxConns, 4))
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
	db := &DB{d: postgresDialect, write: pool, read: pool, now: clock(opts), log: log, standingSQL: standingQuery(postgresDialect),
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
