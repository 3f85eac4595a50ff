package authserver

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ajwt/ajwt/internal/store"
	"github.com/ajwt/ajwt/internal/store/sqlstore"
)

// countingStore is the real store counting what the server asks of it:
// read transactions, feed reads, and the rows a write transaction reads
// and writes for tokens and revocations.
type countingStore struct {
	store.Store
	views         atomic.Int64
	feedReads     atomic.Int64 // Tx.Revocations calls
	revocations   atomic.Int64 // Tx.AddRevocation calls
	revokedTokens atomic.Int64 // jtis passed to Tx.RevokeTokens
	tokenRows     atomic.Int64 // rows returned by Tx.Tokens
}

func (c *countingStore) View(ctx context.Context, fn func(store.Tx) error) error {
	c.views.Add(1)
	return c.Store.View(ctx, func(tx store.Tx) error { return fn(&countingTx{Tx: tx, c: c}) })
}

func (c *countingStore) Update(ctx context.Context, fn func(store.Tx) error) error {
	return c.Store.Update(ctx, func(tx store.Tx) error { return fn(&countingTx{Tx: tx, c: c}) })
}

func (c *countingStore) reset() {
	for _, n := range []*atomic.Int64{&c.views, &c.feedReads, &c.revocations, &c.revokedTokens, &c.tokenRows} {
		n.Store(0)
	}
}

type countingTx struct {
	store.Tx
	c *countingStore
}

func (t *countingTx) Revocations(ctx context.Context, after int64, now time.Time, limit int) ([]*store.Revocation, error) {
	t.c.feedReads.Add(1)
	return t.Tx.Revocations(ctx, after, now, limit)
}

func (t *countingTx) AddRevocation(ctx context.Context, r *store.Revocation) error {
	t.c.revocations.Add(1)
	return t.Tx.AddRevocation(ctx, r)
}

func (t *countingTx) RevokeTokens(ctx context.Context, jtis []string, at time.Time) error {
	t.c.revokedTokens.Add(int64(len(jtis)))
	return t.Tx.RevokeTokens(ctx, jtis, at)
}

func (t *countingTx) Tokens(ctx context.Context, f store.TokenFilter) ([]*store.Token, error) {
	out, err := t.Tx.Tokens(ctx, f)
	t.c.tokenRows.Add(int64(len(out)))
	return out, err
}

// newCountingHarness is newHarness over a countingStore, with config.
func newCountingHarness(t *testing.T, config string) (*harness, *countingStore) {
	t.Helper()
	h, st := newHarnessOver(t, config, Options{}, func(func() time.Time) store.Store {
		real, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "ajwt.db"), sqlstore.Options{Synchronous: "NORMAL"})
		if err != nil {
			t.Fatal(err)
		}
		return &countingStore{Store: real}
	})
	return h, st.(*countingStore)
}
