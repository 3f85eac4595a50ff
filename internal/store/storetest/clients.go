package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ajwt/ajwt/internal/store"
)

// testClients: served clients round-trip exactly (nanoseconds included),
// are replaced by id, listed by id, refused a locking read in View, and
// survive a reopen.
func testClients(t *testing.T, o Opener) {
	s, ctx := o.Open(t), t.Context()
	read := func(s store.Store, id string) (*store.Client, error) {
		var c *store.Client
		err := s.View(ctx, func(tx store.Tx) (err error) { c, err = tx.Client(ctx, id); return err })
		return c, err
	}
	if _, err := read(s, "app"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing client: %v", err)
	}
	if err := s.View(ctx, func(tx store.Tx) error { _, err := tx.ClientForUpdate(ctx, "app"); return err }); err == nil {
		t.Fatal("ClientForUpdate in View succeeded")
	}
	if err := s.View(ctx, func(tx store.Tx) error { return tx.PutClient(ctx, &store.Client{ClientID: "app"}) }); err == nil {
		t.Fatal("PutClient in View succeeded")
	}
	steps := []struct {
		name string
		put  store.Client
	}{
		{"new", store.Client{ClientID: "app", FirstSeen: t0}},
		{"revoked", store.Client{ClientID: "app", FirstSeen: t0, RevokedAt: t0.Add(time.Second)}},
		{"removed", store.Client{ClientID: "app", FirstSeen: t0, RevokedAt: t0.Add(2 * time.Second), Removed: true}},
		{"configured again", store.Client{ClientID: "app", FirstSeen: t0, RevokedAt: t0.Add(2 * time.Second)}},
	}
	for _, st := range steps {
		update(t, s, func(tx store.Tx) error { return tx.PutClient(ctx, &st.put) })
		got, err := read(s, "app")
		if err != nil || !sameClient(got, &st.put) {
			t.Fatalf("%s: read back %+v %v, want %+v", st.name, got, err, st.put)
		}
	}
	update(t, s, func(tx store.Tx) error {
		got, err := tx.ClientForUpdate(ctx, "app")
		if err != nil || !sameClient(got, &steps[len(steps)-1].put) {
			return fmt.Errorf("ClientForUpdate: %+v %v", got, err)
		}
		if _, err := tx.ClientForUpdate(ctx, "ghost"); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("ClientForUpdate of a missing client: %v", err)
		}
		return errors.Join(tx.PutClient(ctx, &store.Client{ClientID: "zed"}), tx.PutClient(ctx, &store.Client{ClientID: "admin"}))
	})
	s = o.Reopen(t, s)
	view(t, s, func(tx store.Tx) error {
		all, err := tx.Clients(ctx)
		if err != nil {
			return err
		}
		var ids []string
		for _, c := range all {
			ids = append(ids, c.ClientID)
		}
		if fmt.Sprint(ids) != "[admin app zed]" || !sameClient(all[1], &steps[len(steps)-1].put) {
			return fmt.Errorf("after reopen: %v", ids)
		}
		return nil
	})
}

func sameClient(a, b *store.Client) bool {
	return a.ClientID == b.ClientID && a.FirstSeen.Equal(b.FirstSeen) && a.RevokedAt.Equal(b.RevokedAt) && a.Removed == b.Removed
}

// testClientForUpdate: concurrent read-modify-writes of one client through
// ClientForUpdate lose none of their writes (two nodes starting at once
// must not both see a removed client unrevoked).
func testClientForUpdate(t *testing.T, o Opener) {
	s, ctx := o.Open(t), t.Context()
	update(t, s, func(tx store.Tx) error {
		return tx.PutClient(ctx, &store.Client{ClientID: "app", FirstSeen: t0, RevokedAt: t0})
	})
	const n = 20
	concurrently(t, n, func(int) error {
		return s.Update(ctx, func(tx store.Tx) error {
			c, err := tx.ClientForUpdate(ctx, "app")
			if err != nil {
				return err
			}
			c.RevokedAt = c.RevokedAt.Add(time.Second)
			return tx.PutClient(ctx, c)
		})
	})
	view(t, s, func(tx store.Tx) error {
		c, err := tx.Client(ctx, "app")
		if err != nil || !c.RevokedAt.Equal(t0.Add(n*time.Second)) {
			return fmt.Errorf("after %d increments: %+v %v, want revoked_at %v", n, c, err, t0.Add(n*time.Second))
		}
		return nil
	})
}
