package sqlstore

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ajwt/ajwt/internal/store"
)

// TestAuditOutboxTwoNodes: two stores on one PostgreSQL schema (two IdP
// nodes) audit concurrently; every entry ends up in one intact chain, in
// causal order within each run, and each node's chainer does it without
// an explicit flush.
func TestAuditOutboxTwoNodes(t *testing.T) {
	dsn := freshSchema(t, postgresDSN(t))
	nodes := []*DB{openPG(t, dsn), openPG(t, dsn)}
	const perWorker, workers = 25, 8
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		node := nodes[w%2]
		wg.Go(func() {
			for i := range perWorker {
				// One run per worker: its entries are written one after the
				// other, so they must be chained in this order.
				err := node.Update(t.Context(), func(tx store.Tx) error {
					return tx.AppendAudit(t.Context(), &store.AuditEntry{Time: time.Now(), Event: "grant", RunID: fmt.Sprint("run-", w), Detail: fmt.Sprint(i)})
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	all := waitChained(t, nodes[1], workers*perWorker)
	next := map[string]int{}
	for _, e := range all {
		if want := fmt.Sprint(next[e.RunID]); e.Detail != want {
			t.Fatalf("run %s: entry %s chained where %s was due", e.RunID, e.Detail, want)
		}
		next[e.RunID]++
	}
}

// TestAuditOutboxDeadNode: entries a node committed to the outbox but died
// before chaining are chained by a surviving node's periodic pass.
func TestAuditOutboxDeadNode(t *testing.T) {
	dsn := freshSchema(t, postgresDSN(t))
	survivor := openPG(t, dsn)
	// What a killed node leaves: committed outbox rows nobody was woken
	// for, written here over a plain connection (no store, no chainer).
	dead, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	for i := range 3 {
		if _, err := dead.ExecContext(t.Context(), "INSERT INTO audit_pending (time, event, client_id, agent_id, run_id, step, outcome, detail) "+
			"VALUES ($1, 'grant', 'app', 'planner', 'r', 'plan', 'issued', $2)", time.Now().UnixNano(), fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	waitChained(t, survivor, 3)
}

func openPG(t *testing.T, dsn string) *DB {
	db, err := OpenPostgres(t.Context(), dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// waitChained polls (no FlushAudit) until the chain holds n entries, then
// checks it is intact and ends at the recorded head.
func waitChained(t *testing.T, db *DB, n int) []*store.AuditEntry {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var all []*store.AuditEntry
		var head int64
		err := db.View(t.Context(), func(tx store.Tx) (err error) {
			if all, err = tx.Audit(t.Context(), store.AuditFilter{Limit: 100_000}); err != nil {
				return err
			}
			head, _, err = tx.AuditHead(t.Context())
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(all) == n {
			if seq, why := store.VerifyAuditChain(all); seq != 0 || head != int64(n) {
				t.Fatal(errors.Join(fmt.Errorf("chain broken at %d: %s", seq, why), fmt.Errorf("head %d", head)))
			}
			return all
		}
		if len(all) > n || time.Now().After(deadline) {
			t.Fatalf("chain has %d entries, want %d", len(all), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAuditBacklogAndChainerFailure: entries the chainer cannot move are
// counted by AuditBacklog, a failing chainer says so once in the log, and
// once the database lets it, it chains them and says that too.
func TestAuditBacklogAndChainerFailure(t *testing.T) {
	dsn := freshSchema(t, postgresDSN(t))
	var logs syncBuffer
	db, err := OpenPostgres(t.Context(), dsn, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.ExecContext(t.Context(), "ALTER TABLE audit RENAME TO audit_away"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := db.Update(t.Context(), func(tx store.Tx) error {
			return tx.AppendAudit(t.Context(), &store.AuditEntry{Time: time.Now(), Event: "grant", Detail: fmt.Sprint(i)})
		}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := db.AuditBacklog(t.Context()); err != nil || n != 3 {
		t.Fatalf("backlog %d %v, want 3", n, err)
	}
	waitFor(t, func() bool { return strings.Count(logs.String(), "audit chaining failed") == 1 })
	if _, err := admin.ExecContext(t.Context(), "ALTER TABLE audit_away RENAME TO audit"); err != nil {
		t.Fatal(err)
	}
	waitChained(t, db, 3)
	waitFor(t, func() bool { return strings.Contains(logs.String(), "audit chaining works again") })
	if n, err := db.AuditBacklog(t.Context()); err != nil || n != 0 {
		t.Fatalf("backlog %d %v after chaining, want 0", n, err)
	}
	if strings.Count(logs.String(), "audit chaining failed") != 1 {
		t.Fatalf("failure logged more than once:\n%s", logs.String())
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10 s")
		}
	}
}

// syncBuffer is a log sink the chainer goroutine and the test share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
