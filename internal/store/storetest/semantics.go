package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ajwt/ajwt/internal/store"
)

// writes is every write method of store.Tx, for the read-only and
// rollback tests.
func writes(ctx context.Context) []struct {
	name string
	fn   func(store.Tx) error
} {
	return []struct {
		name string
		fn   func(store.Tx) error
	}{
		{"PutAgent", func(tx store.Tx) error { return tx.PutAgent(ctx, agent("x")) }},
		{"PutWorkflow", func(tx store.Tx) error {
			return tx.PutWorkflow(ctx, &store.Workflow{WorkflowID: "x", Version: 1, Definition: json.RawMessage(`{}`)})
		}},
		{"CreateRun", func(tx store.Tx) error { return tx.CreateRun(ctx, newRun("x")) }},
		{"SaveRun", func(tx store.Tx) error {
			r := newRun("kept")
			r.Status = store.RunRevoked
			return tx.SaveRun(ctx, r)
		}},
		{"RunForUpdate", func(tx store.Tx) error { _, err := tx.RunForUpdate(ctx, "kept"); return err }},
		{"PutToken", func(tx store.Tx) error { return tx.PutToken(ctx, mkToken("x", "a", "", "", t0)) }},
		{"RevokeTokens", func(tx store.Tx) error { return tx.RevokeTokens(ctx, []string{"kept"}, t0) }},
		{"UseOnce", func(tx store.Tx) error { _, err := tx.UseOnce(ctx, "x", time.Now().Add(time.Hour)); return err }},
		{"AddRevocation", func(tx store.Tx) error {
			return tx.AddRevocation(ctx, &store.Revocation{Type: store.RevokedToken, ID: "x", At: t0, Expires: time.Now().Add(time.Hour)})
		}},
		{"AppendAudit", func(tx store.Tx) error { return tx.AppendAudit(ctx, &store.AuditEntry{Time: t0, Event: "x"}) }},
		{"PurgeExpired", func(tx store.Tx) error { _, err := tx.PurgeExpired(ctx, t0.Add(2*time.Hour), 10); return err }}, // would purge "kept"
		{"PutSigningKey", func(tx store.Tx) error {
			return tx.PutSigningKey(ctx, &store.SigningKey{KeyID: "x", Alg: "ES256", PrivatePEM: []byte("p")})
		}},
	}
}

func seed(t *testing.T, s store.Store) {
	ctx := t.Context()
	update(t, s, func(tx store.Tx) error {
		return errors.Join(tx.CreateRun(ctx, newRun("kept")), tx.PutToken(ctx, mkToken("kept", "a", "", "", t0.Add(time.Hour))))
	})
}

// assertUntouched checks that none of writes() took effect.
func assertUntouched(t *testing.T, s store.Store) {
	t.Helper()
	ctx := t.Context()
	if err := s.FlushAudit(ctx); err != nil { // a leaked outbox entry would be chained now
		t.Fatal(err)
	}
	fresh := true
	update(t, s, func(tx store.Tx) (err error) {
		fresh, err = tx.UseOnce(ctx, "x", time.Now().Add(time.Hour))
		return err
	})
	view(t, s, func(tx store.Tx) error {
		_, errA := tx.Agent(ctx, "x")
		_, errW := tx.Workflow(ctx, "x", 0)
		_, errR := tx.Run(ctx, "x")
		_, errT := tx.Token(ctx, "x")
		for _, err := range []error{errA, errW, errR, errT} {
			if !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("a write took effect: %v", err)
			}
		}
		if r, err := tx.Run(ctx, "kept"); err != nil || r.Status != store.RunActive {
			return fmt.Errorf("a run update took effect: %+v %v", r, err)
		}
		k, err := tx.Token(ctx, "kept")
		revs, _ := tx.Revocations(ctx, 0, t0, 10)
		seq, _, _ := tx.AuditHead(ctx)
		keys, _ := tx.SigningKeys(ctx)
		if err != nil || k.Revoked || len(revs) != 0 || seq != 0 || len(keys) != 0 || !fresh {
			return fmt.Errorf("a write took effect: token %+v %v, %d revocations, audit head %d, %d keys, use-once fresh %v",
				k, err, len(revs), seq, len(keys), fresh)
		}
		return nil
	})
}

func testViewReadOnly(t *testing.T, o Opener) {
	s := o.Open(t)
	seed(t, s)
	for _, w := range writes(t.Context()) {
		if err := s.View(t.Context(), w.fn); err == nil {
			t.Errorf("%s in View succeeded", w.name)
		}
	}
	assertUntouched(t, s)
}

// testRollback: when fn fails after every kind of write, none is kept.
func testRollback(t *testing.T, o Opener) {
	s := o.Open(t)
	seed(t, s)
	boom := errors.New("boom")
	err := s.Update(t.Context(), func(tx store.Tx) error {
		for _, w := range writes(t.Context()) {
			if err := w.fn(tx); err != nil {
				return fmt.Errorf("%s: %w", w.name, err)
			}
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	assertUntouched(t, s)
}

// testCancelled: a cancelled context fails the call (the test timeout
// catches a hang) and rolls back; the store stays usable.
func testCancelled(t *testing.T, o Opener) {
	s := o.Open(t)
	c, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.Update(c, func(tx store.Tx) error { return tx.PutAgent(c, agent("x")) }); err == nil {
		t.Error("Update with a cancelled context succeeded")
	}
	if err := s.View(c, func(tx store.Tx) error { _, err := tx.Agent(c, "x"); return err }); err == nil {
		t.Error("View with a cancelled context succeeded")
	}
	c, cancel = context.WithCancel(t.Context())
	err := s.Update(c, func(tx store.Tx) error {
		if err := tx.PutAgent(c, agent("x")); err != nil {
			return err
		}
		cancel()
		_, err := tx.Agent(c, "x")
		return err // nil if the driver did not notice: Update must still not commit
	})
	if err == nil {
		t.Error("Update cancelled during fn committed")
	}
	update(t, s, func(tx store.Tx) error { return tx.PutAgent(t.Context(), agent("y")) })
	view(t, s, func(tx store.Tx) error {
		if _, err := tx.Agent(t.Context(), "x"); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("cancelled write kept: %v", err)
		}
		_, err := tx.Agent(t.Context(), "y")
		return err
	})
}

// testPanic: a panic in fn (a handler bug, recovered by net/http) must
// roll back and release the run lock, not leave a transaction open that
// blocks every later writer.
func testPanic(t *testing.T, o Opener) {
	s := o.Open(t)
	seed(t, s)
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the panic did not propagate out of Update")
			}
		}()
		_ = s.Update(t.Context(), func(tx store.Tx) error {
			if err := tx.PutAgent(t.Context(), agent("x")); err != nil {
				return err
			}
			if _, err := tx.RunForUpdate(t.Context(), "kept"); err != nil {
				return err
			}
			panic("handler bug")
		})
	}()
	// A deadline turns a lock that was never released into a failure
	// rather than a hang of the whole test binary.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	err := s.Update(ctx, func(tx store.Tx) error {
		r, err := tx.RunForUpdate(ctx, "kept")
		if err != nil {
			return err
		}
		return tx.SaveRun(ctx, r)
	})
	if err != nil {
		t.Fatalf("store unusable after a panic: %v", err)
	}
	view(t, s, func(tx store.Tx) error {
		if _, err := tx.Agent(t.Context(), "x"); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("write of the panicking transaction kept: %v", err)
		}
		return nil
	})
}

func testReopen(t *testing.T, o Opener) {
	s, ctx := o.Open(t), t.Context()
	exp := time.Now().Add(time.Hour)
	first := &store.Revocation{Type: store.RevokedAgent, ID: "a", At: t0, Expires: exp}
	update(t, s, func(tx store.Tx) error {
		return errors.Join(tx.PutAgent(ctx, agent("kept")), tx.CreateRun(ctx, newRun("kept")), tx.AddRevocation(ctx, first),
			tx.AppendAudit(ctx, &store.AuditEntry{Time: t0, Event: "register"}))
	})
	s = o.Reopen(t, s)
	second := &store.Revocation{Type: store.RevokedAgent, ID: "b", At: t0, Expires: exp}
	update(t, s, func(tx store.Tx) error {
		return errors.Join(tx.AddRevocation(ctx, second), tx.AppendAudit(ctx, &store.AuditEntry{Time: t0, Event: "grant"}))
	})
	if second.Seq <= first.Seq {
		t.Errorf("revocation seq %d after reopen does not follow %d", second.Seq, first.Seq)
	}
	view(t, s, func(tx store.Tx) error {
		_, errA := tx.Agent(ctx, "kept")
		r, errR := tx.Run(ctx, "kept")
		if err := errors.Join(errA, errR); err != nil {
			return err
		}
		return diffRun(r, newRun("kept"))
	})
	verifyAudit(t, s, 2)
}

// testHostileInput: odd identifiers either round-trip exactly or fail
// with an error; nothing panics and the store keeps working.
func testHostileInput(t *testing.T, o Opener) {
	s, ctx := o.Open(t), t.Context()
	ids := []struct{ name, id string }{
		{"empty", ""}, {"sql", "x'); DROP TABLE agents; --"}, {"placeholder", "? $1 ?"}, {"unicode", "agent-ü-🚀"},
		{"nul", "a\x00b"}, {"invalid utf-8", "\xff\xfe"}, {"long", strings.Repeat("x", 64<<10)},
	}
	for _, c := range ids {
		err := s.Update(ctx, func(tx store.Tx) error { return tx.PutAgent(ctx, agent(c.id)) })
		if err != nil {
			t.Logf("%s: rejected: %v", c.name, err)
			continue
		}
		view(t, s, func(tx store.Tx) error {
			got, err := tx.Agent(ctx, c.id)
			if err != nil || got.AgentID != c.id {
				return fmt.Errorf("%s: stored but read back as %v %v", c.name, got, err)
			}
			return nil
		})
	}
	update(t, s, func(tx store.Tx) error { return tx.PutAgent(ctx, agent("after")) })
	view(t, s, func(tx store.Tx) error {
		if _, err := tx.Workflow(ctx, "wf", -1); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("negative workflow version: %v", err)
		}
		if _, err := tx.Revocations(ctx, -5, t0, -1); err != nil {
			return fmt.Errorf("negative cursor and limit: %w", err)
		}
		_, err := tx.Agent(ctx, "after")
		return err
	})
}
