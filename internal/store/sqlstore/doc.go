// Package sqlstore implements store.Store on SQL databases: SQLite
// (modernc.org/sqlite, embedded, the default) and PostgreSQL (pgx through
// database/sql, for several server nodes sharing state). One set of
// queries serves both; dialect.go holds the differences and
// migrations/<dialect>_NNN.sql the schema, applied in one transaction at
// open and recorded in schema_version.
//
// Usage:
//
//	db, err := sqlstore.OpenSQLite(ctx, "/var/lib/ajwt/ajwt.db", sqlstore.Options{})
//	// or sqlstore.OpenPostgres(ctx, "postgres://ajwt@db/ajwt?sslmode=verify-full", sqlstore.Options{})
//	defer db.Close()
//	err = db.Update(ctx, func(tx store.Tx) error {
//		run, err := tx.RunForUpdate(ctx, runID) // locked until commit
//		if err != nil {
//			return err
//		}
//		run.Steps[0].State = store.StepCompleted
//		if err := tx.SaveRun(ctx, run); err != nil {
//			return err
//		}
//		return tx.AppendAudit(ctx, &store.AuditEntry{Time: now, Event: "step_completed", RunID: runID})
//	})
//
// What it guarantees, and how (PROTOCOL.md §5 "a step completes once", §9
// revocation feed and audit chain):
//
//   - SQLite runs in WAL mode with one writer connection and group commit:
//     Update hands fn to a writer goroutine that runs the transactions
//     waiting at that moment back to back in one BEGIN IMMEDIATE
//     transaction, each in its own SAVEPOINT (an error or panic in one fn
//     undoes only its writes), and acknowledges them all after one COMMIT,
//     so one fsync serves up to 64 transactions. A read-modify-write
//     (RunForUpdate then SaveRun) is serialised with every other writer.
//     The writer's statements never run under the caller's context (an
//     interrupted write would roll back the whole group); a cancelled
//     caller fails at its next statement. View runs one read transaction
//     (one snapshot) on one of a fixed set of query_only connections that
//     read concurrently with the writer, each keeping its prepared
//     statements (readers.go).
//     Options.Synchronous chooses FULL (default: an acknowledged commit
//     survives power loss) or NORMAL (survives a process crash only).
//   - PostgreSQL runs Update at READ COMMITTED; RunForUpdate is SELECT …
//     FOR UPDATE; AddRevocation locks the single audit_head row, so
//     revocation sequence numbers become visible in commit order (a feed
//     cursor never skips an entry that commits late). AppendAudit writes to
//     an outbox without that lock, and each node's chainer links committed
//     entries into the one chain under it, in batches (chain.go), so grants
//     on different runs commit in parallel; FlushAudit chains everything
//     committed so far. View runs its statements without a transaction
//     (READ COMMITTED gives each statement its own snapshot anyway).
//     Transactions failing with 40001 or 40P01 run again (at most 10 times,
//     jittered backoff), so fn must have no effects outside the transaction.
//   - SQLite's writer keeps the audit head in memory for a commit group and
//     caches agent reads for View until the next commit that writes an
//     agent (agentcache.go): this process is the database's only writer.
//   - Migrations on PostgreSQL are serialised across nodes with
//     pg_advisory_xact_lock.
//   - Times are int64 Unix nanoseconds (the zero time as 0, except audit
//     times, stored as UnixNano exactly as store.HashAudit reads them);
//     string lists and maps are JSON text; raw JSON is stored unchanged.
//   - Write methods called inside View fail with an error before reaching
//     the database; unique-key collisions are store.ErrConflict, missing
//     rows store.ErrNotFound, both wrapped.
//   - UseOnce is one atomic upsert; every 256th call also deletes expired
//     identifiers, and an identifier whose recorded use has expired counts
//     as fresh again.
//
// Limits of Revocations and Audit are "at most limit": 0 or less returns
// nothing. TokenFilter.Limit 0 means no limit, as documented in store.
package sqlstore
