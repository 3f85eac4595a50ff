package main

import (
	"context"
	"testing"
	"time"

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
