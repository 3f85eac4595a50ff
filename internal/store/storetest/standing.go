package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ajwt/ajwt/internal/store"
)

// testTokenStanding: one read reports the token record and the state of
// its client, agent, delegation chain and run exactly as the records
// hold them, follows every write at once (in View and in Update), and
// tells a missing token from one whose records are missing.
func testTokenStanding(t *testing.T, o Opener) {
	s, ctx := o.Open(t), t.Context()
	later := t0.Add(time.Hour)
	weird := `we"ird\agent`
	update(t, s, func(tx store.Tx) error {
		return errors.Join(tx.PutAgent(ctx, agent("boss")), tx.PutAgent(ctx, agent("worker")), tx.PutAgent(ctx, agent(weird)),
			tx.CreateRun(ctx, newRun("r1")), tx.PutClient(ctx, &store.Client{ClientID: "app", FirstSeen: t0}),
			tx.PutToken(ctx, mkToken("del", "worker", "r1", "", later)), // chain boss > worker
			tx.PutToken(ctx, &store.Token{JTI: "solo", Kind: store.TokenIntent, ClientID: "app", AgentID: weird, Version: 1,
				Chain: []string{weird}, IssuedAt: t0, ExpiresAt: later}),
			tx.PutToken(ctx, &store.Token{JTI: "legacy", Kind: store.TokenLegacy, ClientID: "unrecorded", IssuedAt: t0, ExpiresAt: later}))
	})
	read := func(jti string) *store.TokenStanding {
		t.Helper()
		var st *store.TokenStanding
		view(t, s, func(tx store.Tx) (err error) { st, err = tx.TokenStanding(ctx, jti); return err })
		return st
	}
	want := func(name string, got *store.TokenStanding, w store.TokenStanding) {
		t.Helper()
		if !got.ClientRevokedAt.Equal(w.ClientRevokedAt) || got.AgentFound != w.AgentFound || got.AgentRevoked != w.AgentRevoked ||
			got.AgentVersion != w.AgentVersion || got.ChainBroken != w.ChainBroken || got.RunStatus != w.RunStatus {
			t.Fatalf("%s: got %+v, want %+v", name, *got, w)
		}
	}
	if err := s.View(ctx, func(tx store.Tx) error { _, err := tx.TokenStanding(ctx, "ghost"); return err }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing token: %v", err)
	}
	st := read("del")
	if k := st.Token; k.JTI != "del" || k.AgentID != "worker" || k.RunID != "r1" || len(k.Chain) != 2 || !k.ExpiresAt.Equal(later) || k.Revoked {
		t.Fatalf("token record %+v", k)
	}
	fine := store.TokenStanding{AgentFound: true, AgentVersion: 1, RunStatus: store.RunActive}
	want("standing", st, fine)
	want("own chain only, odd id", read("solo"), store.TokenStanding{AgentFound: true, AgentVersion: 1})
	want("legacy, client not recorded", read("legacy"), store.TokenStanding{})

	edit := func(fn func(ctx context.Context, tx store.Tx) error) {
		t.Helper()
		update(t, s, func(tx store.Tx) error { return fn(ctx, tx) })
	}
	edit(func(ctx context.Context, tx store.Tx) error {
		return tx.PutClient(ctx, &store.Client{ClientID: "app", FirstSeen: t0, RevokedAt: later})
	})
	fine.ClientRevokedAt = later
	want("client revoked", read("del"), fine)
	edit(func(ctx context.Context, tx store.Tx) error {
		b := agent("boss")
		b.Revoked = true
		return tx.PutAgent(ctx, b)
	})
	fine.ChainBroken = true
	want("delegator revoked", read("del"), fine)
	edit(func(ctx context.Context, tx store.Tx) error {
		w := agent("worker")
		w.Version, w.Revoked = 4, true
		return tx.PutAgent(ctx, w)
	})
	fine.AgentRevoked, fine.AgentVersion = true, 4
	want("agent revoked and re-registered", read("del"), fine)
	edit(func(ctx context.Context, tx store.Tx) error {
		r, err := tx.RunForUpdate(ctx, "r1")
		if err != nil {
			return err
		}
		r.Status = store.RunRevoked
		return tx.SaveRun(ctx, r)
	})
	fine.RunStatus = store.RunRevoked
	want("run revoked", read("del"), fine)
	// Inside Update, the transaction's own writes are read.
	edit(func(ctx context.Context, tx store.Tx) error {
		if err := tx.RevokeTokens(ctx, []string{"del"}, t0); err != nil {
			return err
		}
		st, err := tx.TokenStanding(ctx, "del")
		if err != nil || !st.Token.Revoked {
			return fmt.Errorf("own revocation not read: %+v %v", st, err)
		}
		return nil
	})
	// Records gone: the token stands on nothing.
	update(t, s, func(tx store.Tx) error {
		return tx.PutToken(ctx, &store.Token{JTI: "orphan", Kind: store.TokenIntent, ClientID: "app", AgentID: "gone", Version: 1,
			RunID: "gone", Chain: []string{"ghost", "gone"}, IssuedAt: t0, ExpiresAt: later})
	})
	want("orphan", read("orphan"), store.TokenStanding{ClientRevokedAt: later, ChainBroken: true})
}
