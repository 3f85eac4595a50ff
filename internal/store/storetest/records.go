package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ajwt/ajwt/internal/store"
)

func agent(id string) *store.Agent {
	return &store.Agent{AgentID: id, ClientID: "app", RegistrationID: "reg-" + id, Version: 1, Checksum: "sha256:x", JKT: "jkt",
		PublicJWK: json.RawMessage(`{"kty":"OKP"}`), Spec: json.RawMessage(`{"agent_id": "` + id + `",  "tools":[ ]}`),
		Scopes: []string{"a", "b"}, Audiences: []string{"https://r"}, WorkflowRequired: true, UpdatedAt: t0}
}

func testAgents(t *testing.T, o Opener) {
	s, ctx := o.Open(t), t.Context()
	a := agent("planner")
	update(t, s, func(tx store.Tx) error { return tx.PutAgent(ctx, a) })
	view(t, s, func(tx store.Tx) error {
		got, err := tx.Agent(ctx, "planner")
		if err != nil {
			return err
		}
		if got.Checksum != a.Checksum || got.RegistrationID != a.RegistrationID || !slices.Equal(got.Scopes, a.Scopes) ||
			!slices.Equal(got.Audiences, a.Audiences) || len(got.MayDelegateTo) != 0 || !got.WorkflowRequired ||
			!got.UpdatedAt.Equal(t0) || !got.RevokedAt.IsZero() || got.Revoked {
			return fmt.Errorf("got %+v", got)
		}
		if string(got.Spec) != string(a.Spec) || string(got.PublicJWK) != string(a.PublicJWK) {
			return fmt.Errorf("raw JSON changed: %s %s", got.Spec, got.PublicJWK)
		}
		if _, err := tx.Agent(ctx, "ghost"); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("missing agent: %v", err)
		}
		return nil
	})
	a.Version, a.Revoked, a.RevokedAt, a.MayDelegateTo, a.WorkflowRequired = 2, true, t0, []string{"patcher"}, false
	update(t, s, func(tx store.Tx) error { return tx.PutAgent(ctx, a) })
	view(t, s, func(tx store.Tx) error {
		got, err := tx.Agent(ctx, "planner")
		if err != nil || got.Version != 2 || !got.Revoked || !got.RevokedAt.Equal(t0) || got.WorkflowRequired ||
			!slices.Equal(got.MayDelegateTo, []string{"patcher"}) {
			return fmt.Errorf("replace: %+v %v", got, err)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error { return tx.PutAgent(ctx, agent("classifier")) })
	view(t, s, func(tx store.Tx) error {
		all, err1 := tx.Agents(ctx, 10)
		one, err2 := tx.Agents(ctx, 1)
		if err := errors.Join(err1, err2); err != nil {
			return err
		}
		if len(all) != 2 || all[0].AgentID != "classifier" || all[1].AgentID != "planner" || all[1].Version != 2 || len(one) != 1 {
			return fmt.Errorf("listing: %d agents, limit 1: %d", len(all), len(one))
		}
		return nil
	})
}

func testWorkflows(t *testing.T, o Opener) {
	s, ctx := o.Open(t), t.Context()
	for v := 1; v <= 3; v++ {
		w := &store.Workflow{WorkflowID: "wf", Version: v, Definition: json.RawMessage(fmt.Sprintf(`{"v": %d}`, v)), CreatedAt: t0}
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
		if err != nil || latest.Version != 3 || !latest.CreatedAt.Equal(t0) {
			return fmt.Errorf("latest: %+v %v", latest, err)
		}
		v2, err := tx.Workflow(ctx, "wf", 2)
		if err != nil || string(v2.Definition) != `{"v": 2}` {
			return fmt.Errorf("v2: %+v %v", v2, err)
		}
		for _, c := range []struct {
			id string
			v  int
		}{{"wf", 9}, {"other", 0}, {"other", 1}} {
			if _, err := tx.Workflow(ctx, c.id, c.v); !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("missing %s v%d: %v", c.id, c.v, err)
			}
		}
		return nil
	})
}

func newRun(id string) *store.Run {
	return &store.Run{RunID: id, ClientID: "app", WorkflowID: "wf", WorkflowVersion: 1, Status: store.RunActive, InitiatedBy: "user:alice",
		ExecutionContext: map[string]string{"repo": "acme/web", "commit": "a1b2"}, CreatedAt: t0,
		Steps: []store.Step{{ID: "plan", State: store.StepReady}, {ID: "patch", State: store.StepPending}}}
}

func testRuns(t *testing.T, o Opener) {
	s, ctx := o.Open(t), t.Context()
	update(t, s, func(tx store.Tx) error { return tx.CreateRun(ctx, newRun("r1")) })
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.CreateRun(ctx, newRun("r1")) }); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate run: %v", err)
	}
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.SaveRun(ctx, newRun("nope")) }); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("saving a missing run: %v", err)
	}
	done := store.Step{ID: "plan", State: store.StepCompleted, Holder: "planner", Chain: []string{"boss", "planner"}, Parent: "jti-1",
		CompletedBy: "planner", CompletedAt: t0, Seq: 1, ApprovedVia: "approver", ChainVersions: []int{3, 1}}
	update(t, s, func(tx store.Tx) error {
		r, err := tx.RunForUpdate(ctx, "r1")
		if err != nil {
			return err
		}
		r.Steps[0], r.Status = done, store.RunCompleted
		return tx.SaveRun(ctx, r)
	})
	view(t, s, func(tx store.Tx) error {
		r, err := tx.Run(ctx, "r1")
		if err != nil {
			return err
		}
		want := newRun("r1")
		want.Steps[0], want.Status = done, store.RunCompleted
		return diffRun(r, want)
	})
	view(t, s, func(tx store.Tx) error {
		if _, err := tx.Run(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("missing run: %v", err)
		}
		return nil
	})
}

// testRunListing: filters, newest first, and paging that neither skips nor
// repeats a run when several share a creation time.
func testRunListing(t *testing.T, o Opener) {
	s, ctx := o.Open(t), t.Context()
	update(t, s, func(tx store.Tx) error {
		for i := range 9 {
			r := newRun(fmt.Sprintf("r%d", i))
			r.CreatedAt = t0.Add(time.Duration(i/3) * time.Minute) // three runs per minute
			r.WorkflowID = []string{"wf", "other"}[i%2]
			r.InitiatedBy = []string{"user:alice", "user:bob", "user:carol"}[i%3]
			if i == 4 {
				r.Status = store.RunRevoked
			}
			if err := tx.CreateRun(ctx, r); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx store.Tx) error {
		cases := []struct {
			f    store.RunFilter
			want []string
		}{
			{store.RunFilter{Limit: 100}, []string{"r8", "r7", "r6", "r5", "r4", "r3", "r2", "r1", "r0"}},
			{store.RunFilter{WorkflowID: "other", Limit: 100}, []string{"r7", "r5", "r3", "r1"}},
			{store.RunFilter{Status: store.RunRevoked, Limit: 100}, []string{"r4"}},
			{store.RunFilter{InitiatedBy: "user:bob", Limit: 100}, []string{"r7", "r4", "r1"}},
			{store.RunFilter{CreatedSince: t0.Add(time.Minute), Limit: 100}, []string{"r8", "r7", "r6", "r5", "r4", "r3"}},
			{store.RunFilter{BeforeTime: t0.Add(time.Minute), BeforeID: "r4", Limit: 3}, []string{"r3", "r2", "r1"}},
			{store.RunFilter{Limit: 0}, nil},
		}
		for _, c := range cases {
			runs, err := tx.Runs(ctx, c.f)
			if err != nil {
				return err
			}
			var got []string
			for _, r := range runs {
				got = append(got, r.RunID)
			}
			if !slices.Equal(got, c.want) {
				return fmt.Errorf("runs %+v: got %v, want %v", c.f, got, c.want)
			}
		}
		return nil
	})
}

func diffRun(got, want *store.Run) error {
	if got.RunID != want.RunID || got.ClientID != want.ClientID || got.WorkflowID != want.WorkflowID ||
		got.WorkflowVersion != want.WorkflowVersion || got.Status != want.Status || got.InitiatedBy != want.InitiatedBy ||
		!got.CreatedAt.Equal(want.CreatedAt) || len(got.ExecutionContext) != len(want.ExecutionContext) || len(got.Steps) != len(want.Steps) {
		return fmt.Errorf("run %+v, want %+v", got, want)
	}
	for k, v := range want.ExecutionContext {
		if got.ExecutionContext[k] != v {
			return fmt.Errorf("execution context %v, want %v", got.ExecutionContext, want.ExecutionContext)
		}
	}
	for i, w := range want.Steps {
		g := got.Steps[i]
		if g.ID != w.ID || g.State != w.State || g.Holder != w.Holder || !slices.Equal(g.Chain, w.Chain) || g.Parent != w.Parent ||
			g.CompletedBy != w.CompletedBy || !g.CompletedAt.Equal(w.CompletedAt) || g.Seq != w.Seq || g.ApprovedVia != w.ApprovedVia ||
			!slices.Equal(g.ChainVersions, w.ChainVersions) {
			return fmt.Errorf("step %d: %+v, want %+v", i, g, w)
		}
	}
	return nil
}

func mkToken(jti, agent, run, parent string, exp time.Time) *store.Token {
	return &store.Token{JTI: jti, Kind: store.TokenIntent, ClientID: "app", AgentID: agent, Version: 1, RunID: run, StepID: "s",
		ParentJTI: parent, JKT: "k", Scope: "a b", Audience: "https://r", Chain: []string{"boss", agent}, IssuedAt: t0, ExpiresAt: exp}
}

func testTokens(t *testing.T, o Opener) {
	s, ctx := o.Open(t), t.Context()
	later := t0.Add(time.Hour)
	update(t, s, func(tx store.Tx) error {
		for _, k := range []*store.Token{
			mkToken("t1", "boss", "r1", "", later), mkToken("t2", "worker", "r1", "t1", later),
			mkToken("t3", "worker", "r2", "t1", t0.Add(-time.Hour)), mkToken("t4", "boss", "r2", "", later),
			{JTI: "t5", Kind: store.TokenLegacy, ClientID: "other", IssuedAt: t0, ExpiresAt: later},
		} {
			if err := tx.PutToken(ctx, k); err != nil {
				return err
			}
		}
		return tx.RevokeTokens(ctx, []string{"t4", "unknown"}, t0)
	})
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.PutToken(ctx, mkToken("t1", "x", "", "", later)) }); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate jti: %v", err)
	}
	update(t, s, func(tx store.Tx) error { return tx.RevokeTokens(ctx, []string{"t4"}, later) }) // keeps the first time
	view(t, s, func(tx store.Tx) error {
		k, err := tx.Token(ctx, "t2")
		if err != nil || k.ParentJTI != "t1" || !slices.Equal(k.Chain, []string{"boss", "worker"}) || k.Scope != "a b" ||
			!k.IssuedAt.Equal(t0) || !k.ExpiresAt.Equal(later) || k.Revoked || !k.RevokedAt.IsZero() {
			return fmt.Errorf("token %+v %v", k, err)
		}
		if k, err := tx.Token(ctx, "t4"); err != nil || !k.Revoked || !k.RevokedAt.Equal(t0) {
			return fmt.Errorf("revoked token %+v %v", k, err)
		}
		if _, err := tx.Token(ctx, "zz"); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("missing token: %v", err)
		}
		return checkFilters(t, tx)
	})
}

func checkFilters(t *testing.T, tx store.Tx) error {
	checks := []struct {
		name string
		f    store.TokenFilter
		want []string
	}{
		{"all", store.TokenFilter{}, []string{"t1", "t2", "t3", "t4", "t5"}},
		{"by agent", store.TokenFilter{AgentID: "worker"}, []string{"t2", "t3"}},
		{"by run", store.TokenFilter{RunID: "r2"}, []string{"t3", "t4"}},
		{"by client", store.TokenFilter{ClientID: "other"}, []string{"t5"}},
		{"active children", store.TokenFilter{ParentJTI: "t1", Active: true, Now: t0}, []string{"t2"}},
		{"active of agent", store.TokenFilter{AgentID: "boss", Active: true, Now: t0}, []string{"t1"}},
		{"active, all fields", store.TokenFilter{AgentID: "worker", RunID: "r1", ParentJTI: "t1", ClientID: "app", Active: true, Now: t0}, []string{"t2"}},
		{"nothing active later", store.TokenFilter{Active: true, Now: t0.Add(2 * time.Hour)}, nil},
		{"limit", store.TokenFilter{AgentID: "worker", Limit: 1}, []string{"t2"}},
		{"chain names the agent", store.TokenFilter{ChainAgent: "worker"}, []string{"t2", "t3"}},
		{"chain names the delegator", store.TokenFilter{ChainAgent: "boss"}, []string{"t1", "t2", "t3", "t4"}},
		{"chain, active", store.TokenFilter{ChainAgent: "boss", Active: true, Now: t0}, []string{"t1", "t2"}},
		{"chain, whole ids only", store.TokenFilter{ChainAgent: "bos"}, nil},
		{"chain, no wildcards", store.TokenFilter{ChainAgent: "b_ss"}, nil},
		{"chain, no wildcards either", store.TokenFilter{ChainAgent: "%"}, nil},
	}
	for _, c := range checks {
		got, err := tx.Tokens(t.Context(), c.f)
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		var ids []string
		for _, g := range got {
			ids = append(ids, g.JTI)
		}
		slices.Sort(ids)
		if !slices.Equal(ids, c.want) {
			return fmt.Errorf("%s: %v, want %v", c.name, ids, c.want)
		}
	}
	return nil
}

func testSigningKeys(t *testing.T, o Opener) {
	s, ctx := o.Open(t), t.Context()
	pem := []byte("pem1\x00\xff binary")
	update(t, s, func(tx store.Tx) error {
		if err := tx.PutSigningKey(ctx, &store.SigningKey{KeyID: "k2", Alg: "EdDSA", PrivatePEM: []byte("pem2"), CreatedAt: t0.Add(time.Second)}); err != nil {
			return err
		}
		return tx.PutSigningKey(ctx, &store.SigningKey{KeyID: "k1", Alg: "ES256", PrivatePEM: pem, CreatedAt: t0})
	})
	update(t, s, func(tx store.Tx) error {
		return tx.PutSigningKey(ctx, &store.SigningKey{KeyID: "k1", Alg: "ES256", PrivatePEM: pem, CreatedAt: t0, RetiredAt: t0.Add(time.Minute)})
	})
	view(t, s, func(tx store.Tx) error {
		ks, err := tx.SigningKeys(ctx)
		if err != nil || len(ks) != 2 {
			return fmt.Errorf("keys %+v %v", ks, err)
		}
		if ks[0].KeyID != "k1" || ks[0].Alg != "ES256" || string(ks[0].PrivatePEM) != string(pem) || !ks[0].CreatedAt.Equal(t0) ||
			!ks[0].RetiredAt.Equal(t0.Add(time.Minute)) || ks[1].KeyID != "k2" || !ks[1].RetiredAt.IsZero() {
			return fmt.Errorf("keys not oldest first or not replaced: %+v %+v", ks[0], ks[1])
		}
		return nil
	})
}

// testAgentReadsFollowWrites: while readers hammer an agent, every
// committed change (new version, revocation) is what the next View sees,
// and a returned record edited by its caller changes nothing stored. A
// store that caches agent reads must pass this.
func testAgentReadsFollowWrites(t *testing.T, o Opener) {
	s, ctx := o.Open(t), t.Context()
	a := agent("planner")
	update(t, s, func(tx store.Tx) error { return tx.PutAgent(ctx, a) })
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for range 4 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				_ = s.View(ctx, func(tx store.Tx) error {
					got, err := tx.Agent(ctx, "planner")
					if err == nil {
						got.Scopes[0], got.Spec[0] = "edited", 'X' // must not reach other readers
					}
					return err
				})
			}
		})
	}
	defer func() { close(stop); readers.Wait() }()
	for v := 2; v <= 40; v++ {
		a.Version, a.Revoked = v, v%2 == 0
		update(t, s, func(tx store.Tx) error { return tx.PutAgent(ctx, a) })
		view(t, s, func(tx store.Tx) error {
			got, err := tx.Agent(ctx, "planner")
			if err != nil || got.Version != v || got.Revoked != a.Revoked || got.Scopes[0] != "a" || string(got.Spec) != string(a.Spec) {
				return fmt.Errorf("after committing version %d (revoked %v): %+v %v", v, a.Revoked, got, err)
			}
			return nil
		})
	}
}
