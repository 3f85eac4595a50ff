// Package storetest is the conformance suite of store.Store: every
// implementation (SQLite, PostgreSQL) runs it unchanged.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ajwt/ajwt/internal/store"
)

// Opener makes stores for the suite: Open a fresh, empty one; Reopen the
// same data after Close.
type Opener interface {
	Open(t *testing.T) store.Store
	Reopen(t *testing.T, old store.Store) store.Store
}

// Run runs every conformance test.
func Run(t *testing.T, o Opener) {
	tests := []struct {
		name string
		fn   func(*testing.T, Opener)
	}{
		{"agents", testAgents}, {"workflows", testWorkflows}, {"runs", testRuns},
		{"step completes once", testRunForUpdate}, {"tokens", testTokens}, {"use once", testUseOnce},
		{"revocations", testRevocations}, {"audit", testAudit}, {"signing keys", testSigningKeys},
		{"view is read-only", testViewReadOnly}, {"rollback", testRollback}, {"cancelled context", testCancelled},
		{"survives reopen", testReopen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, o) })
	}
}

var ctx = context.Background()

func update(t *testing.T, s store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := s.Update(ctx, fn); err != nil {
		t.Fatal(err)
	}
}

func view(t *testing.T, s store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := s.View(ctx, fn); err != nil {
		t.Fatal(err)
	}
}

var t0 = time.Unix(1_800_000_000, 123456789)

func agent(id string) *store.Agent {
	return &store.Agent{AgentID: id, ClientID: "app", RegistrationID: "reg-" + id, Version: 1, Checksum: "sha256:x", JKT: "jkt",
		PublicJWK: json.RawMessage(`{"kty":"OKP"}`), Spec: json.RawMessage(`{"agent_id":"` + id + `"}`),
		Scopes: []string{"a", "b"}, Audiences: []string{"https://r"}, MayDelegateTo: []string{}, WorkflowRequired: true, UpdatedAt: t0}
}

func testAgents(t *testing.T, o Opener) {
	s := o.Open(t)
	a := agent("planner")
	update(t, s, func(tx store.Tx) error { return tx.PutAgent(ctx, a) })
	view(t, s, func(tx store.Tx) error {
		got, err := tx.Agent(ctx, "planner")
		if err != nil {
			return err
		}
		if got.Checksum != a.Checksum || !slices.Equal(got.Scopes, a.Scopes) || !got.WorkflowRequired || !got.UpdatedAt.Equal(t0) || string(got.Spec) != string(a.Spec) {
			return fmt.Errorf("got %+v", got)
		}
		if _, err := tx.Agent(ctx, "ghost"); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("missing agent: %v", err)
		}
		return nil
	})
	a.Version, a.Revoked, a.RevokedAt = 2, true, t0
	update(t, s, func(tx store.Tx) error { return tx.PutAgent(ctx, a) })
	view(t, s, func(tx store.Tx) error {
		got, _ := tx.Agent(ctx, "planner")
		if got.Version != 2 || !got.Revoked || !got.RevokedAt.Equal(t0) {
			return fmt.Errorf("replace: %+v", got)
		}
		return nil
	})
}

func testWorkflows(t *testing.T, o Opener) {
	s := o.Open(t)
	for v := 1; v <= 3; v++ {
		w := &store.Workflow{WorkflowID: "wf", Version: v, Definition: json.RawMessage(fmt.Sprintf(`{"v":%d}`, v)), CreatedAt: t0}
		update(t, s, func(tx store.Tx) error { return tx.PutWorkflow(ctx, w) })
	}
	err := s.Update(ctx, func(tx store.Tx) error {
		return tx.PutWorkflow(ctx, &store.Workflow{WorkflowID: "wf", Version: 2, Definition: json.RawMessage(`{}`)})
	})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate version: %v", err)
	}
	view(t, s, func(tx store.Tx) error {
		latest, err := tx.Workflow(ctx, "wf", 0)
		if err != nil || latest.Version != 3 {
			return fmt.Errorf("latest: %+v %v", latest, err)
		}
		v2, err := tx.Workflow(ctx, "wf", 2)
		if err != nil || string(v2.Definition) != `{"v":2}` {
			return fmt.Errorf("v2: %+v %v", v2, err)
		}
		if _, err := tx.Workflow(ctx, "wf", 9); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("missing version: %v", err)
		}
		return nil
	})
}

func newRun(id string) *store.Run {
	return &store.Run{RunID: id, ClientID: "app", WorkflowID: "wf", WorkflowVersion: 1, Status: store.RunActive, InitiatedBy: "user:alice",
		ExecutionContext: map[string]string{"repo": "acme/web"}, CreatedAt: t0,
		Steps: []store.Step{{ID: "plan", State: store.StepReady}, {ID: "patch", State: store.StepPending}}}
}

func testRuns(t *testing.T, o Opener) {
	s := o.Open(t)
	update(t, s, func(tx store.Tx) error { return tx.CreateRun(ctx, newRun("r1")) })
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.CreateRun(ctx, newRun("r1")) }); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate run: %v", err)
	}
	update(t, s, func(tx store.Tx) error {
		r, err := tx.RunForUpdate(ctx, "r1")
		if err != nil {
			return err
		}
		r.Steps[0] = store.Step{ID: "plan", State: store.StepCompleted, CompletedBy: "planner", CompletedAt: t0, Seq: 1, Chain: []string{"planner"}}
		r.Status = store.RunCompleted
		return tx.SaveRun(ctx, r)
	})
	view(t, s, func(tx store.Tx) error {
		r, err := tx.Run(ctx, "r1")
		if err != nil {
			return err
		}
		st := r.Steps[0]
		if r.Status != store.RunCompleted || r.ExecutionContext["repo"] != "acme/web" || st.State != store.StepCompleted ||
			!st.CompletedAt.Equal(t0) || st.Seq != 1 || st.Chain[0] != "planner" || r.Steps[1].State != store.StepPending {
			return fmt.Errorf("run %+v", r)
		}
		if _, err := tx.Run(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("missing run: %v", err)
		}
		return nil
	})
}

// testRunForUpdate is the "a step completes once" guarantee: 50 concurrent
// transactions, exactly one sees the step ready.
func testRunForUpdate(t *testing.T, o Opener) {
	s := o.Open(t)
	update(t, s, func(tx store.Tx) error { return tx.CreateRun(ctx, newRun("race")) })
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			err := s.Update(ctx, func(tx store.Tx) error {
				r, err := tx.RunForUpdate(ctx, "race")
				if err != nil || r.Steps[0].State != store.StepReady {
					return err
				}
				r.Steps[0].State = store.StepCompleted
				if err := tx.SaveRun(ctx, r); err != nil {
					return err
				}
				wins.Add(1)
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d transactions completed the step, want 1", wins.Load())
	}
}

func testTokens(t *testing.T, o Opener) {
	s := o.Open(t)
	mk := func(jti, agent, run, parent string, exp time.Time) *store.Token {
		return &store.Token{JTI: jti, Kind: store.TokenIntent, ClientID: "app", AgentID: agent, Version: 1, RunID: run, StepID: "s",
			ParentJTI: parent, JKT: "k", Scope: "a", Audience: "https://r", Chain: []string{agent}, IssuedAt: t0, ExpiresAt: exp}
	}
	update(t, s, func(tx store.Tx) error {
		for _, k := range []*store.Token{
			mk("t1", "boss", "r1", "", t0.Add(time.Hour)), mk("t2", "worker", "r1", "t1", t0.Add(time.Hour)),
			mk("t3", "worker", "r2", "t1", t0.Add(-time.Hour)), mk("t4", "boss", "r2", "", t0.Add(time.Hour)),
		} {
			if err := tx.PutToken(ctx, k); err != nil {
				return err
			}
		}
		return tx.RevokeTokens(ctx, []string{"t4"}, t0)
	})
	view(t, s, func(tx store.Tx) error {
		k, err := tx.Token(ctx, "t2")
		if err != nil || k.ParentJTI != "t1" || k.Chain[0] != "worker" || !k.ExpiresAt.Equal(t0.Add(time.Hour)) {
			return fmt.Errorf("token %+v %v", k, err)
		}
		checks := []struct {
			f    store.TokenFilter
			want []string
		}{
			{store.TokenFilter{AgentID: "worker"}, []string{"t2", "t3"}},
			{store.TokenFilter{RunID: "r2"}, []string{"t3", "t4"}},
			{store.TokenFilter{ParentJTI: "t1", Active: true, Now: t0}, []string{"t2"}},
			{store.TokenFilter{AgentID: "boss", Active: true, Now: t0}, []string{"t1"}},
		}
		for _, c := range checks {
			got, err := tx.Tokens(ctx, c.f)
			if err != nil {
				return err
			}
			var ids []string
			for _, g := range got {
				ids = append(ids, g.JTI)
			}
			slices.Sort(ids)
			if !slices.Equal(ids, c.want) {
				return fmt.Errorf("filter %+v: %v, want %v", c.f, ids, c.want)
			}
		}
		if k, _ := tx.Token(ctx, "t4"); !k.Revoked || !k.RevokedAt.Equal(t0) {
			return fmt.Errorf("revoked token %+v", k)
		}
		if _, err := tx.Token(ctx, "zz"); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("missing token: %v", err)
		}
		return nil
	})
}

func testUseOnce(t *testing.T, o Opener) {
	s := o.Open(t)
	use := func(id string, exp time.Time) bool {
		var fresh bool
		update(t, s, func(tx store.Tx) (err error) { fresh, err = tx.UseOnce(ctx, id, exp); return err })
		return fresh
	}
	future := time.Now().Add(time.Hour)
	if !use("a", future) || use("a", future) || !use("b", future) {
		t.Fatal("fresh/used/other")
	}
	if !use("old", time.Now().Add(-time.Second)) || !use("old", future) {
		t.Fatal("an expired use must not block a new one")
	}
	var fresh atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			err := s.Update(ctx, func(tx store.Tx) error {
				ok, err := tx.UseOnce(ctx, "race", future)
				if ok {
					fresh.Add(1)
				}
				return err
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if fresh.Load() != 1 {
		t.Fatalf("%d fresh uses of one id", fresh.Load())
	}
}

func testRevocations(t *testing.T, o Opener) {
	s := o.Open(t)
	now := time.Now()
	update(t, s, func(tx store.Tx) error {
		for i, exp := range []time.Time{now.Add(time.Hour), now.Add(-time.Hour), now.Add(time.Hour)} {
			r := &store.Revocation{Type: store.RevokedToken, ID: fmt.Sprint("t", i), At: now, Expires: exp}
			if err := tx.AddRevocation(ctx, r); err != nil {
				return err
			}
			if r.Seq == 0 {
				return errors.New("no seq assigned")
			}
		}
		return nil
	})
	view(t, s, func(tx store.Tx) error {
		all, err := tx.Revocations(ctx, 0, now, 100)
		if err != nil || len(all) != 2 || all[0].ID != "t0" || all[1].ID != "t2" || all[0].Seq >= all[1].Seq {
			return fmt.Errorf("feed %v %v", all, err)
		}
		after, _ := tx.Revocations(ctx, all[0].Seq, now, 100)
		if len(after) != 1 || after[0].ID != "t2" {
			return fmt.Errorf("after cursor: %v", after)
		}
		limited, _ := tx.Revocations(ctx, 0, now, 1)
		if len(limited) != 1 {
			return fmt.Errorf("limit: %v", limited)
		}
		return nil
	})
}

func testAudit(t *testing.T, o Opener) {
	s := o.Open(t)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			err := s.Update(ctx, func(tx store.Tx) error {
				return tx.AppendAudit(ctx, &store.AuditEntry{Time: time.Now(), Event: "grant", ClientID: "app", RunID: fmt.Sprint("r", i%2), Outcome: "issued"})
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	view(t, s, func(tx store.Tx) error {
		all, err := tx.Audit(ctx, "", 0, 1000)
		if err != nil || len(all) != 20 {
			return fmt.Errorf("audit: %d %v", len(all), err)
		}
		if seq, why := store.VerifyAuditChain(all); seq != 0 {
			return fmt.Errorf("chain broken at %d: %s", seq, why)
		}
		headSeq, headHash, err := tx.AuditHead(ctx)
		if err != nil || headSeq != 20 || headHash != all[19].Hash {
			return fmt.Errorf("head %d %s %v", headSeq, headHash, err)
		}
		r1, _ := tx.Audit(ctx, "r1", 0, 1000)
		page, _ := tx.Audit(ctx, "", 5, 3)
		if len(r1) != 10 || len(page) != 3 || page[0].Seq != 6 {
			return fmt.Errorf("filters: run %d, page %v", len(r1), page)
		}
		return nil
	})
	// Tampering is detected.
	var all []*store.AuditEntry
	view(t, s, func(tx store.Tx) (err error) { all, err = tx.Audit(ctx, "", 0, 1000); return err })
	all[4].Outcome = "refused"
	if seq, _ := store.VerifyAuditChain(all); seq != 5 {
		t.Fatalf("edited entry not detected (seq %d)", seq)
	}
	all[4].Outcome = "issued"
	all[3], all[4] = all[4], all[3]
	if seq, _ := store.VerifyAuditChain(all); seq == 0 {
		t.Fatal("reordering not detected")
	}
}

func testSigningKeys(t *testing.T, o Opener) {
	s := o.Open(t)
	update(t, s, func(tx store.Tx) error {
		if err := tx.PutSigningKey(ctx, &store.SigningKey{KeyID: "k1", Alg: "ES256", PrivatePEM: []byte("pem1\x00\xff"), CreatedAt: t0}); err != nil {
			return err
		}
		return tx.PutSigningKey(ctx, &store.SigningKey{KeyID: "k2", Alg: "EdDSA", PrivatePEM: []byte("pem2"), CreatedAt: t0.Add(time.Second)})
	})
	update(t, s, func(tx store.Tx) error {
		return tx.PutSigningKey(ctx, &store.SigningKey{KeyID: "k1", Alg: "ES256", PrivatePEM: []byte("pem1\x00\xff"), CreatedAt: t0, RetiredAt: t0.Add(time.Minute)})
	})
	view(t, s, func(tx store.Tx) error {
		ks, err := tx.SigningKeys(ctx)
		if err != nil || len(ks) != 2 || ks[0].KeyID != "k1" || string(ks[0].PrivatePEM) != "pem1\x00\xff" || !ks[0].RetiredAt.Equal(t0.Add(time.Minute)) || !ks[1].RetiredAt.IsZero() {
			return fmt.Errorf("keys %+v %v", ks, err)
		}
		return nil
	})
}

func testViewReadOnly(t *testing.T, o Opener) {
	s := o.Open(t)
	err := s.View(ctx, func(tx store.Tx) error { return tx.PutAgent(ctx, agent("x")) })
	if err == nil {
		t.Fatal("write in View succeeded")
	}
	err = s.View(ctx, func(tx store.Tx) error { return tx.AppendAudit(ctx, &store.AuditEntry{Time: t0, Event: "x"}) })
	if err == nil {
		t.Fatal("audit append in View succeeded")
	}
}

func testRollback(t *testing.T, o Opener) {
	s := o.Open(t)
	boom := errors.New("boom")
	err := s.Update(ctx, func(tx store.Tx) error {
		if err := tx.PutAgent(ctx, agent("ghost")); err != nil {
			return err
		}
		if err := tx.AppendAudit(ctx, &store.AuditEntry{Time: t0, Event: "x"}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	view(t, s, func(tx store.Tx) error {
		if _, err := tx.Agent(ctx, "ghost"); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("rolled-back agent present: %v", err)
		}
		if seq, _, _ := tx.AuditHead(ctx); seq != 0 {
			return fmt.Errorf("rolled-back audit entry present (head %d)", seq)
		}
		return nil
	})
}

func testCancelled(t *testing.T, o Opener) {
	s := o.Open(t)
	c, cancel := context.WithCancel(ctx)
	cancel()
	done := make(chan error, 1)
	go func() { done <- s.Update(c, func(tx store.Tx) error { return tx.PutAgent(c, agent("x")) }) }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("update with a cancelled context succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("update with a cancelled context hangs")
	}
}

func testReopen(t *testing.T, o Opener) {
	s := o.Open(t)
	update(t, s, func(tx store.Tx) error {
		if err := tx.PutAgent(ctx, agent("kept")); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, &store.AuditEntry{Time: t0, Event: "register"})
	})
	s = o.Reopen(t, s)
	view(t, s, func(tx store.Tx) error {
		if _, err := tx.Agent(ctx, "kept"); err != nil {
			return err
		}
		if seq, _, _ := tx.AuditHead(ctx); seq != 1 {
			return fmt.Errorf("audit head %d after reopen", seq)
		}
		return nil
	})
}
