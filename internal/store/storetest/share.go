package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ajwt/ajwt/internal/store"
)

// testAgentForShare: inside Update, AgentForShare reads what is committed
// now (never an older cached copy), and a concurrent writer of the agent
// waits for the reading transaction, so the writer's next statement sees
// what the reader wrote. Refused in View.
func testAgentForShare(t *testing.T, o Opener) {
	s, ctx := o.Open(t), t.Context()
	a := agent("planner")
	update(t, s, func(tx store.Tx) error { return tx.PutAgent(ctx, a) })
	if err := s.View(ctx, func(tx store.Tx) error { _, err := tx.AgentForShare(ctx, "planner"); return err }); err == nil {
		t.Error("AgentForShare in View succeeded")
	}
	view(t, s, func(tx store.Tx) error { _, err := tx.Agent(ctx, "planner"); return err }) // a cache may keep version 1 now
	a.Version, a.JKT = 2, "rotated"
	update(t, s, func(tx store.Tx) error { return tx.PutAgent(ctx, a) })
	update(t, s, func(tx store.Tx) error {
		got, err := tx.AgentForShare(ctx, "planner")
		if err != nil || got.Version != 2 || got.JKT != "rotated" {
			return fmt.Errorf("after committing version 2: %+v %v", got, err)
		}
		if _, err := tx.AgentForShare(ctx, "ghost"); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("missing agent: %v", err)
		}
		return nil
	})
	// A transaction reads its own write of an agent, not what a View
	// read before (and a cache may still hold until the commit).
	view(t, s, func(tx store.Tx) error { _, err := tx.Agent(ctx, "planner"); return err })
	update(t, s, func(tx store.Tx) error {
		next := *a
		next.Version = 3
		if err := tx.PutAgent(ctx, &next); err != nil {
			return err
		}
		shared, err1 := tx.AgentForShare(ctx, "planner")
		plain, err2 := tx.Agent(ctx, "planner")
		if err := errors.Join(err1, err2); err != nil {
			return err
		}
		if shared.Version != 3 || plain.Version != 3 {
			return fmt.Errorf("own write read back as versions %d and %d, want 3", shared.Version, plain.Version)
		}
		return nil
	})
	a.Version = 3

	// The writer starts while the reader holds the agent. A store that
	// lets it through at once is caught by the wait below; one that
	// serialises all writers never starts it before the reader commits.
	type result struct {
		seen []*store.Token
		err  error
	}
	wrote := make(chan struct{}, 1)
	writer := make(chan result, 1)
	err := s.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.AgentForShare(ctx, "planner"); err != nil {
			return err
		}
		go func() {
			var r result
			r.err = s.Update(ctx, func(tx store.Tx) error {
				revoked := *a
				revoked.Revoked = true
				if err := tx.PutAgent(ctx, &revoked); err != nil {
					return err
				}
				wrote <- struct{}{}
				var err error
				r.seen, err = tx.Tokens(ctx, store.TokenFilter{AgentID: "planner"})
				return err
			})
			writer <- r
		}()
		select {
		case <-wrote:
			return errors.New("an agent held with AgentForShare was written by another transaction")
		case <-time.After(200 * time.Millisecond):
		}
		return tx.PutToken(ctx, mkToken("granted", "planner", "r1", "", t0.Add(time.Hour)))
	})
	r := <-writer // the writer ends either way: no goroutine outlives the test
	if err = errors.Join(err, r.err); err != nil {
		t.Fatal(err)
	}
	if len(r.seen) != 1 || r.seen[0].JTI != "granted" {
		t.Fatalf("the writer saw tokens %v, want the reader's", r.seen)
	}
}

// testRevocationVersion: an agent entry keeps its version.
func testRevocationVersion(t *testing.T, o Opener) {
	s, ctx := o.Open(t), t.Context()
	exp := time.Now().Add(time.Hour)
	update(t, s, func(tx store.Tx) error {
		return errors.Join(tx.AddRevocation(ctx, &store.Revocation{Type: store.RevokedAgent, ID: "a", At: t0, Expires: exp, Version: 3}),
			tx.AddRevocation(ctx, &store.Revocation{Type: store.RevokedAgent, ID: "b", At: t0, Expires: exp}))
	})
	view(t, s, func(tx store.Tx) error {
		got, err := tx.Revocations(ctx, 0, time.Now(), 10)
		if err != nil || len(got) != 2 || got[0].Version != 3 || got[1].Version != 0 {
			return fmt.Errorf("entries %+v %v", got, err)
		}
		return nil
	})
}

// testAgentForUpdate: concurrent read-modify-writes of one agent through
// AgentForUpdate lose no write (each sees the one before), as concurrent
// re-registrations and revocations must not. Refused in View.
func testAgentForUpdate(t *testing.T, o Opener) {
	s, ctx := o.Open(t), t.Context()
	update(t, s, func(tx store.Tx) error { return tx.PutAgent(ctx, agent("patcher")) })
	if err := s.View(ctx, func(tx store.Tx) error { _, err := tx.AgentForUpdate(ctx, "patcher"); return err }); err == nil {
		t.Error("AgentForUpdate in View succeeded")
	}
	const writers = 8
	errs := make(chan error, writers)
	for range writers {
		go func() {
			errs <- s.Update(ctx, func(tx store.Tx) error {
				a, err := tx.AgentForUpdate(ctx, "patcher")
				if err != nil {
					return err
				}
				time.Sleep(5 * time.Millisecond) // widen the window a lost update needs
				a.Version++
				return tx.PutAgent(ctx, a)
			})
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	view(t, s, func(tx store.Tx) error {
		a, err := tx.Agent(ctx, "patcher")
		if err != nil {
			return err
		}
		if want := agent("patcher").Version + writers; a.Version != want {
			return fmt.Errorf("version %d after %d increments, want %d: a write was lost", a.Version, writers, want)
		}
		return nil
	})
}

// testTokenLocks: a child recorded under a parent held with TokenForShare
// is seen by a transaction that takes the parent with TokenForUpdate while
// the child's transaction runs (a revocation's cascade racing a delegated
// grant), and both are refused in View.
func testTokenLocks(t *testing.T, o Opener) {
	s, ctx := o.Open(t), t.Context()
	later := t0.Add(time.Hour)
	update(t, s, func(tx store.Tx) error { return tx.PutToken(ctx, mkToken("parent", "boss", "r1", "", later)) })
	err := s.View(ctx, func(tx store.Tx) error {
		_, err1 := tx.TokenForShare(ctx, "parent")
		_, err2 := tx.TokenForUpdate(ctx, "parent")
		if err1 == nil || err2 == nil {
			return errors.New("token locks in View succeeded")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		children []*store.Token
		err      error
	}
	revoker := make(chan result, 1)
	err = s.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.TokenForShare(ctx, "parent"); err != nil {
			return err
		}
		go func() {
			var r result
			r.err = s.Update(ctx, func(tx store.Tx) error {
				if _, err := tx.TokenForUpdate(ctx, "parent"); err != nil {
					return err
				}
				var err error
				r.children, err = tx.Tokens(ctx, store.TokenFilter{ParentJTI: "parent"})
				return err
			})
			revoker <- r
		}()
		time.Sleep(50 * time.Millisecond) // let the revoker reach its lock
		return tx.PutToken(ctx, mkToken("child", "worker", "r1", "parent", later))
	})
	if err != nil {
		t.Fatal(err)
	}
	r := <-revoker
	if r.err != nil {
		t.Fatal(r.err)
	}
	if len(r.children) != 1 || r.children[0].JTI != "child" {
		t.Fatalf("the revoker saw children %v: the cascade would miss the child", r.children)
	}
}
