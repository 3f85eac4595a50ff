package sqlstore

import (
	"database/sql/driver"
	"errors"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// dialect isolates what differs between SQLite and PostgreSQL. The
// open functions choose one of the two values below; everything else asks
// the dialect what to do, never which database it is, so that a
// difference is declared here once.
type dialect struct {
	name           string // also the prefix of the migration files
	forUpdate      string // suffix that locks selected rows
	forShare       string // suffix that keeps selected rows from changing
	beginMigration string
	lockMigration  string
	placeholders   bool // rewrite ? as $n
	// singleWriter: one connection writes, and Update queues for its
	// writer goroutine's group commit (writer.go), so writers are
	// serialised without row locks (SQLite). Otherwise each Update is a
	// pooled transaction, run in parallel with the others (PostgreSQL).
	singleWriter bool
	// pooledViews: View runs its statements on the pool without a
	// transaction (PostgreSQL, where READ COMMITTED gives each statement
	// its own snapshot anyway); otherwise in a read-only transaction.
	pooledViews bool
	// deferredAudit: AppendAudit writes to the audit_pending outbox and a
	// chainer links entries after commit (PostgreSQL, where writers run in
	// parallel); otherwise AppendAudit chains at once (SQLite, one writer).
	deferredAudit bool
	// chainAgents is a table expression of one row per element (column
	// value) of the JSON array in t.chain, a token's delegation chain.
	chainAgents string
}

var (
	sqliteDialect = dialect{name: "sqlite", beginMigration: "BEGIN IMMEDIATE", singleWriter: true,
		chainAgents: "json_each(t.chain) AS e"}
	postgresDialect = dialect{name: "postgres", forUpdate: " FOR UPDATE", forShare: " FOR SHARE", beginMigration: "BEGIN",
		lockMigration: "SELECT pg_advisory_xact_lock(7244183)", placeholders: true, pooledViews: true, deferredAudit: true,
		chainAgents: "json_array_elements_text(t.chain::json) AS e(value)"}
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
