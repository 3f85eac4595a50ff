package main

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"
	"weak"

	"github.com/spf13/cobra"

	"github.com/ajwt/ajwt/internal/store"
	"github.com/ajwt/ajwt/internal/store/sqlstore"
)

// chainingMeanwhile is the real PostgreSQL store with one interference:
// right after a View reads the audit head, another "node" appends and
// chains entries, as a live cluster does while `ajwt audit verify` reads.
type chainingMeanwhile struct {
	store.Store
	t *testing.T
}

func (c chainingMeanwhile) View(ctx context.Context, fn func(store.Tx) error) error {
	return c.Store.View(ctx, func(tx store.Tx) error { return fn(headThenAppend{tx, c}) })
}

type headThenAppend struct {
	store.Tx
	c chainingMeanwhile
}

func (h headThenAppend) AuditHead(ctx context.Context) (int64, string, error) {
	seq, hash, err := h.Tx.AuditHead(ctx)
	appendAudit(h.c.t, h.c.Store, 3)
	return seq, hash, err
}

func appendAudit(t *testing.T, s store.Store, n int) {
	for range n {
		if err := s.Update(t.Context(), func(tx store.Tx) error {
			return tx.AppendAudit(t.Context(), &store.AuditEntry{Time: time.Now(), Event: "grant"})
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.FlushAudit(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// TestAuditVerifyWhileChaining: entries chained after the head was read
// are no tampering, and verify says the chain is intact.
func TestAuditVerifyWhileChaining(t *testing.T) {
	pg, _ := requireServices(t)
	st, err := sqlstore.OpenPostgres(t.Context(), freshSchema(t, pg), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	appendAudit(t, st, 5)
	cmd := &cobra.Command{}
	cmd.SetContext(t.Context())
	res, err := verifyAudit(cmd, chainingMeanwhile{st, t})
	if err != nil || !res.OK || res.Entries < 8 {
		t.Fatalf("verify while chaining: %+v %v", res, err)
	}
}

// pagedChain is a store holding an intact audit chain of n entries that
// it makes up page by page, so that nothing but the verifier can hold on
// to them. It remembers each served entry weakly: an entry still alive
// long after its page was verified is one the verifier kept.
type pagedChain struct {
	store.Store // nil: verify needs only what is below
	n           int64
	hashes      map[int64]string // seq → hash, for chaining the next page
	served      []weak.Pointer[store.AuditEntry]
	retained    int // entries of pages two behind still alive at a page read
}

func (p *pagedChain) FlushAudit(context.Context) error { return nil }

func (p *pagedChain) View(ctx context.Context, fn func(store.Tx) error) error {
	return fn(pagedTx{p: p})
}

type pagedTx struct {
	store.Tx
	p *pagedChain
}

func (t pagedTx) AuditHead(context.Context) (int64, string, error) {
	t.p.hash(t.p.n)
	return t.p.n, t.p.hashes[t.p.n], nil
}

// hash makes the chain's hashes up to seq (strings only: they hold no
// entry alive).
func (p *pagedChain) hash(seq int64) {
	for s := int64(len(p.hashes)); s <= seq; s++ {
		if s == 0 {
			p.hashes[0] = store.AuditGenesis
			continue
		}
		p.hashes[s] = store.HashAudit(p.entry(s))
	}
}

func (p *pagedChain) entry(seq int64) *store.AuditEntry {
	e := &store.AuditEntry{Seq: seq, Time: time.Unix(1_800_000_000+seq, 0), Event: "grant", ClientID: "app", Outcome: "issued",
		Detail: strings.Repeat("x", 200), Prev: p.hashes[seq-1]}
	e.Hash = store.HashAudit(e)
	return e
}

func (t pagedTx) Audit(_ context.Context, f store.AuditFilter) ([]*store.AuditEntry, error) {
	p, after, limit := t.p, f.After, f.Limit
	runtime.GC()
	for _, w := range p.served[:max(0, len(p.served)-2*limit)] {
		if w.Value() != nil {
			p.retained++
		}
	}
	var page []*store.AuditEntry
	for s := after + 1; s <= p.n && len(page) < limit; s++ {
		p.hash(s)
		page = append(page, p.entry(s))
		p.served = append(p.served, weak.Make(page[len(page)-1]))
	}
	return page, nil
}

// TestAuditVerifyStreams: verify reads the log page by page and keeps no
// entry once its page is checked, so its memory does not grow with the
// log (1 M entries took 879 MB when it held them all), and it still finds
// the chain intact.
func TestAuditVerifyStreams(t *testing.T) {
	p := &pagedChain{n: 20_000, hashes: map[int64]string{}}
	cmd := &cobra.Command{}
	cmd.SetContext(t.Context())
	res, err := verifyAudit(cmd, p)
	if err != nil || !res.OK || res.Entries != 20_000 {
		t.Fatalf("verify: %+v %v", res, err)
	}
	if p.retained > 0 {
		t.Fatalf("%d entries of pages already verified were still held", p.retained)
	}
}
