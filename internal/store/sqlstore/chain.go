package sqlstore

import (
	"context"
	"strings"
	"time"

	"github.com/ajwt/ajwt/internal/store"
)

// auditHead is the chain head as the batch's appends advance it: read at
// the batch's first append, written back once before COMMIT, instead of a
// read and a write of audit_head per entry.
type auditHead struct {
	known, dirty bool
	seq          int64
	hash         string
}

// AppendAudit links e into the chain at once when one writer commits
// (the head stays in memory for the commit group), else records it in the
// outbox for the chainer (deferredAudit).
func (t *tx) AppendAudit(ctx context.Context, e *store.AuditEntry) error {
	if !t.writable {
		return errReadOnly
	}
	if t.db.d.deferredAudit {
		return t.appendPending(ctx, e)
	}
	h := &t.db.head
	if !h.known {
		var err error
		if h.seq, h.hash, err = t.AuditHead(ctx); err != nil {
			return err
		}
		h.known = true
	}
	e.Seq, e.Prev = h.seq+1, h.hash
	// The time is stored as e.Time.UnixNano(), exactly what HashAudit
	// reads, even for the zero time (which ns would store as 0, breaking
	// the chain on the way back).
	e.Hash = store.HashAudit(e)
	if _, err := t.exec(ctx, "INSERT INTO audit (seq, time, event, client_id, agent_id, run_id, step, outcome, detail, prev, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
		e.Seq, e.Time.UnixNano(), e.Event, e.ClientID, e.AgentID, e.RunID, e.Step, e.Outcome, e.Detail, e.Prev, e.Hash); err != nil {
		return err
	}
	h.seq, h.hash, h.dirty = e.Seq, e.Hash, true
	return nil
}

// appendPending records e in the outbox; the chainer gives it Seq, Prev
// and Hash after commit.
func (t *tx) appendPending(ctx context.Context, e *store.AuditEntry) error {
	e.Seq, e.Prev, e.Hash = 0, "", ""
	_, err := t.exec(ctx, "INSERT INTO audit_pending (time, event, client_id, agent_id, run_id, step, outcome, detail) VALUES (?,?,?,?,?,?,?,?)",
		e.Time.UnixNano(), e.Event, e.ClientID, e.AgentID, e.RunID, e.Step, e.Outcome, e.Detail)
	t.audited = t.audited || err == nil
	return err
}

// Audit returns nothing for a limit <= 0, like Revocations.
func (t *tx) Audit(ctx context.Context, f store.AuditFilter) ([]*store.AuditEntry, error) {
	if f.Limit <= 0 {
		return nil, nil
	}
	where, args := []string{"seq > ?"}, []any{f.After}
	order := "seq"
	if f.Newest {
		where, args, order = nil, nil, "seq DESC"
		if f.Before > 0 {
			where, args = append(where, "seq < ?"), append(args, f.Before)
		}
	}
	for _, c := range []struct{ col, v string }{{"run_id", f.RunID}, {"agent_id", f.AgentID}, {"event", f.Event}} {
		if c.v != "" {
			where, args = append(where, c.col+" = ?"), append(args, c.v)
		}
	}
	q := "SELECT seq, time, event, client_id, agent_id, run_id, step, outcome, detail, prev, hash FROM audit"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	rows, err := t.query(ctx, q+" ORDER BY "+order+" LIMIT ?", append(args, f.Limit)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*store.AuditEntry
	for rows.Next() {
		var e store.AuditEntry
		var tm int64
		if err := rows.Scan(&e.Seq, &tm, &e.Event, &e.ClientID, &e.AgentID, &e.RunID, &e.Step, &e.Outcome, &e.Detail, &e.Prev, &e.Hash); err != nil {
			return nil, err
		}
		e.Time = time.Unix(0, tm)
		out = append(out, &e)
	}
	return out, rows.Err()
}

func (t *tx) AuditHead(ctx context.Context) (int64, string, error) { return t.readHead(ctx, "") }

// readHead reads the one audit_head row; lock is "" or the dialect's
// FOR UPDATE.
func (t *tx) readHead(ctx context.Context, lock string) (int64, string, error) {
	var seq int64
	var hash string
	err := t.scanOne(ctx, "SELECT seq, hash FROM audit_head WHERE id = 1"+lock, nil, &seq, &hash)
	return seq, hash, err
}

// writeHead records the chain's new last entry.
func (t *tx) writeHead(ctx context.Context, seq int64, hash string) error {
	_, err := t.exec(ctx, "UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", seq, hash)
	return err
}

// The PostgreSQL audit outbox (migration 003). A transaction that audits
// inserts into audit_pending and takes no shared lock, so grants on
// different runs commit in parallel. Chaining happens afterwards, one
// batch per transaction under the audit_head row lock:
//
//   - Entries are chained in audit_pending id order among those visible
//     when the batch is read. An entry that commits late (lower id,
//     committed after a higher one) is simply chained in a later batch, so
//     chain order is the order of chaining, never a gap. Causally ordered
//     writes (the run row lock orders every write of one run) keep their
//     order: the later transaction started after the earlier committed,
//     so it got a higher id and is never visible without it.
//   - Moving a batch (insert into audit, delete from audit_pending, update
//     audit_head) is one transaction: a crash leaves each entry either
//     pending or chained, never both or neither.
//   - Every node's chainer runs after its own auditing commits (at most
//     once per chainGap, so an entry waits ≤ ~20 ms) and every
//     chainInterval, which also picks up the entries of a node that died
//     before chaining them. Readers that must see their own entries call
//     FlushAudit first (the audit API and `ajwt audit verify` do).
const (
	chainBatch    = 1000
	chainInterval = 250 * time.Millisecond
	chainTimeout  = 30 * time.Second
	// chainGap spaces the passes a node's own commits trigger: under load
	// one pass per gap chains everything committed meanwhile in one
	// transaction, instead of one chaining transaction per grant.
	chainGap = 20 * time.Millisecond
)

// FlushAudit chains every audit entry committed before it was called.
// SQLite chains inside the writing transaction and has nothing to do.
func (db *DB) FlushAudit(ctx context.Context) error {
	if !db.d.deferredAudit {
		return nil
	}
	for {
		n, err := db.chainOnce(ctx)
		if err != nil || n < chainBatch {
			return err
		}
	}
}

// chainOnce moves up to chainBatch pending entries into the chain and
// reports how many it moved.
func (db *DB) chainOnce(ctx context.Context) (int, error) {
	var moved int
	err := db.Update(ctx, func(stx store.Tx) error {
		t := stx.(*tx)
		seq, hash, err := t.readHead(ctx, db.d.forUpdate)
		if err != nil {
			return err
		}
		entries, ids, err := t.pendingAudit(ctx)
		if err != nil || len(entries) == 0 {
			return err
		}
		for _, e := range entries {
			seq++
			e.Seq, e.Prev = seq, hash
			e.Hash = store.HashAudit(e)
			hash = e.Hash
		}
		if err := t.insertChained(ctx, entries); err != nil {
			return err
		}
		if _, err := t.exec(ctx, "DELETE FROM audit_pending WHERE id = ANY(?)", ids); err != nil {
			return err
		}
		moved = len(entries)
		return t.writeHead(ctx, seq, hash)
	})
	return moved, err
}

// pendingAudit reads the oldest visible outbox entries.
func (t *tx) pendingAudit(ctx context.Context) ([]*store.AuditEntry, []int64, error) {
	rows, err := t.query(ctx, "SELECT id, time, event, client_id, agent_id, run_id, step, outcome, detail FROM audit_pending ORDER BY id LIMIT ?", chainBatch)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var entries []*store.AuditEntry
	var ids []int64
	for rows.Next() {
		var e store.AuditEntry
		var id, tm int64
		if err := rows.Scan(&id, &tm, &e.Event, &e.ClientID, &e.AgentID, &e.RunID, &e.Step, &e.Outcome, &e.Detail); err != nil {
			return nil, nil, err
		}
		e.Time = time.Unix(0, tm)
		entries, ids = append(entries, &e), append(ids, id)
	}
	return entries, ids, rows.Err()
}

// insertChained writes a batch in one statement: one array per column,
// so the statement text is the same for every batch size.
func (t *tx) insertChained(ctx context.Context, entries []*store.AuditEntry) error {
	n := len(entries)
	seqs, times := make([]int64, n), make([]int64, n)
	cols := make([][]string, 9)
	for i := range cols {
		cols[i] = make([]string, n)
	}
	for i, e := range entries {
		seqs[i], times[i] = e.Seq, e.Time.UnixNano()
		for c, v := range []string{e.Event, e.ClientID, e.AgentID, e.RunID, e.Step, e.Outcome, e.Detail, e.Prev, e.Hash} {
			cols[c][i] = v
		}
	}
	args := []any{seqs, times}
	for _, c := range cols {
		args = append(args, c)
	}
	_, err := t.exec(ctx, "INSERT INTO audit (seq, time, event, client_id, agent_id, run_id, step, outcome, detail, prev, hash) "+
		"SELECT * FROM unnest(?::bigint[], ?::bigint[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[])", args...)
	return err
}

// wakeChainer asks the chainer for a pass without waiting for it.
func (db *DB) wakeChainer() {
	select {
	case db.chainWake <- struct{}{}:
	default: // a pass is already due; it will see this commit too
	}
}

// chainer chains outbox entries until the store closes, then once more.
func (db *DB) chainer() {
	defer close(db.chainerDone)
	tick := time.NewTicker(chainInterval)
	defer tick.Stop()
	failing := false
	for {
		select {
		case <-db.closed:
			db.chainPass(&failing)
			return
		case <-db.chainWake:
		case <-tick.C:
		}
		db.chainPass(&failing)
		select {
		case <-db.closed:
		case <-time.After(chainGap):
		}
	}
}

// chainPass runs one FlushAudit. A failure (database unreachable) is
// retried at the next tick while the entries wait safely in the outbox;
// it is logged once when it starts and once when chaining works again.
func (db *DB) chainPass(failing *bool) {
	ctx, cancel := context.WithTimeout(context.Background(), chainTimeout)
	defer cancel()
	err := db.FlushAudit(ctx)
	switch {
	case err != nil && !*failing:
		db.log.Error("audit chaining failed; entries wait in the outbox and are retried", "err", err)
	case err == nil && *failing:
		db.log.Info("audit chaining works again")
	}
	*failing = err != nil
}

// AuditBacklog counts committed audit entries not chained yet (always 0
// on SQLite): the ajwt_audit_outbox_entries gauge.
func (db *DB) AuditBacklog(ctx context.Context) (int, error) {
	if !db.d.deferredAudit {
		return 0, nil
	}
	var n int
	err := db.read.QueryRowContext(ctx, "SELECT count(*) FROM audit_pending").Scan(&n)
	return n, err
}
