package authserver

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/ajwt/ajwt/internal/store"
)

// delegationFixture: boss holds "lead"; "work" is worker's, delegated by
// boss. Agents of the fixture() workflow are there too (supervisor
// delegates patcher's patch step without ever holding a token in the run).
func delegationFixture(t *testing.T) *harness {
	h := fixture(t)
	h.registerAgent("boss", "app", []string{"repo:read"}, map[string]any{"may_delegate_to": []string{"worker"}})
	h.registerAgent("worker", "app", []string{"repo:read"}, nil)
	h.registerWorkflow("w", map[string]any{"steps": []map[string]any{
		{"id": "lead", "agent": "boss", "scopes": []string{"repo:read"}, "audience": "https://forge.example"},
		{"id": "work", "agent": "worker", "scopes": []string{"repo:read"}, "audience": "https://forge.example", "delegated_by": []string{"boss"}},
	}})
	return h
}

// delegate grants step to agent under an assertion signed by delegator.
func (h *harness) delegate(delegator, agent, run, step, jti string) *response {
	h.t.Helper()
	as := h.assertion(h.agents[delegator].key, delegator, agent, run, step, 30*time.Second, jti)
	return h.grant("app", agent, run, step, url.Values{"delegation_assertion": {as}})
}

func (h *harness) mustDelegate(delegator, agent, run, step, jti string) string {
	h.t.Helper()
	res := h.delegate(delegator, agent, run, step, jti)
	if res.status != 200 {
		h.t.Fatalf("delegated grant %s → %s (%s): %d %s", delegator, agent, step, res.status, res.raw)
	}
	return res.str("access_token")
}

// stepState reads a step's state from the run view.
func (h *harness) stepState(run, step string) string {
	h.t.Helper()
	res := h.jsonReq(http.MethodGet, "/v1/runs/"+run, h.bearer("app"), nil, nil)
	for _, s := range res.body["steps"].([]any) {
		if m := s.(map[string]any); m["id"] == step {
			return m["state"].(string)
		}
	}
	h.t.Fatalf("run %s has no step %s: %s", run, step, res.raw)
	return ""
}

func (h *harness) revokeAgentAPI(id string) {
	h.t.Helper()
	if res := h.jsonReq(http.MethodPost, "/v1/agents/"+id+"/revoke", h.bearer("admin"), nil, nil); res.status != 200 {
		h.t.Fatalf("revoke agent %s: %d %s", id, res.status, res.raw)
	}
}

// TestRevokedDelegationStopsTheDelegate: once the delegation behind a
// step is revoked (the delegator's token, the delegator itself, or its
// registration replaced), the delegate cannot renew without a fresh
// assertion, its tokens are inactive, and the step is ready again (§6.3).
func TestRevokedDelegationStopsTheDelegate(t *testing.T) {
	t.Run("delegator's token revoked", func(t *testing.T) {
		h := delegationFixture(t)
		run := h.startRun("app", "w", nil)
		bossTok := h.mustGrant("app", "boss", run, "lead", nil)
		workTok := h.mustDelegate("boss", "worker", run, "work", "d1")
		h.form("/revoke", "app", secrets["app"], url.Values{"token": {bossTok}}, nil)
		if h.introspect(workTok) {
			t.Fatal("delegated token active after its parent's revocation")
		}
		if got := h.stepState(run, "work"); got != store.StepReady {
			t.Fatalf("step work is %s after the delegation was revoked, want ready", got)
		}
		wantError(t, h.grant("app", "worker", run, "work", nil), 403, "workflow_step_unauthorized") // needs a delegation again
		// A fresh delegation from boss's new token in the run works.
		bossTok = h.mustGrant("app", "boss", run, "lead", nil)
		c := h.verify(h.mustDelegate("boss", "worker", run, "work", "d2"))
		if len(c.Intent.DelegationChain) != 2 {
			t.Fatalf("chain %v", c.Intent.DelegationChain)
		}
		h.form("/revoke", "app", secrets["app"], url.Values{"token": {bossTok}}, nil)
		if h.stepState(run, "work") != store.StepReady {
			t.Fatal("second revocation left the step in progress")
		}
	})
	t.Run("delegator agent revoked", func(t *testing.T) {
		h := delegationFixture(t)
		run := h.startRun("app", "w", nil)
		h.mustGrant("app", "boss", run, "lead", nil)
		workTok := h.mustDelegate("boss", "worker", run, "work", "d1")
		h.revokeAgentAPI("boss")
		if h.introspect(workTok) {
			t.Fatal("delegated token active after the delegator's revocation")
		}
		if got := h.stepState(run, "work"); got != store.StepReady {
			t.Fatalf("step work is %s, want ready", got)
		}
		wantError(t, h.grant("app", "worker", run, "work", nil), 403, "workflow_step_unauthorized")
		wantError(t, h.delegate("boss", "worker", run, "work", "d2"), 403, "invalid_delegation")
	})
	t.Run("delegator without a token in the run revoked", func(t *testing.T) {
		h := fixture(t)
		run := h.startRun("app", "wf", nil)
		h.toPatch(run)
		patchTok := h.mustDelegate("supervisor", "patcher", run, "patch", "d1")
		cursor := h.feed("").str("cursor")
		h.revokeAgentAPI("supervisor")
		if h.introspect(patchTok) {
			t.Fatal("token delegated by a revoked agent is active")
		}
		if got := h.stepState(run, "patch"); got != store.StepReady {
			t.Fatalf("step patch is %s, want ready", got)
		}
		wantError(t, h.grant("app", "patcher", run, "patch", nil), 403, "workflow_step_unauthorized")
		jti := h.verify(patchTok).ID
		if !feedHas(h.feed(cursor), "token", jti) || !feedHas(h.feed(cursor), "agent", "supervisor") {
			t.Fatalf("feed after the revocation: %s", h.feed(cursor).raw)
		}
	})
	t.Run("renewal after the delegator's revocation is refused", func(t *testing.T) {
		// The step is still in progress when the revocation did not reach
		// it (e.g. it raced the grant): the renewal itself must refuse.
		h := fixture(t)
		run := h.startRun("app", "wf", nil)
		h.toPatch(run)
		h.mustDelegate("supervisor", "patcher", run, "patch", "d1")
		markRevoked(t, h.st, "supervisor")
		wantError(t, h.grant("app", "patcher", run, "patch", nil), 403, "invalid_delegation")
	})
	t.Run("renewal after the parent token's revocation is refused", func(t *testing.T) {
		h := delegationFixture(t)
		run := h.startRun("app", "w", nil)
		bossTok := h.mustGrant("app", "boss", run, "lead", nil)
		h.mustDelegate("boss", "worker", run, "work", "d1")
		err := h.st.Update(t.Context(), func(tx store.Tx) error {
			return tx.RevokeTokens(t.Context(), []string{h.verify(bossTok).ID}, time.Now())
		})
		if err != nil {
			t.Fatal(err)
		}
		wantError(t, h.grant("app", "worker", run, "work", nil), 403, "invalid_delegation")
	})
	t.Run("delegator re-registered", func(t *testing.T) {
		h := fixture(t)
		run := h.startRun("app", "wf", nil)
		h.toPatch(run)
		patchTok := h.mustDelegate("supervisor", "patcher", run, "patch", "d1")
		h.registerAgent("supervisor", "app", []string{"repo:read"}, map[string]any{"may_delegate_to": []string{"patcher"}}) // new key
		if h.introspect(patchTok) {
			t.Fatal("token delegated by the old registration is active")
		}
		wantError(t, h.grant("app", "patcher", run, "patch", nil), 403, "workflow_step_unauthorized")
		h.mustDelegate("supervisor", "patcher", run, "patch", "d2") // the new registration may delegate afresh
	})
	t.Run("delegator re-registered, renewal", func(t *testing.T) {
		h := fixture(t)
		run := h.startRun("app", "wf", nil)
		h.toPatch(run)
		h.mustDelegate("supervisor", "patcher", run, "patch", "d1")
		bumpVersion(t, h.st, "supervisor")
		wantError(t, h.grant("app", "patcher", run, "patch", nil), 403, "invalid_delegation")
	})
	t.Run("renewal of an intact delegation still works", func(t *testing.T) {
		h := fixture(t)
		run := h.startRun("app", "wf", nil)
		h.toPatch(run)
		h.mustDelegate("supervisor", "patcher", run, "patch", "d1")
		c := h.verify(h.mustGrant("app", "patcher", run, "patch", nil))
		if len(c.Intent.DelegationChain) != 2 || c.Intent.DelegationChain[0] != "supervisor" {
			t.Fatalf("renewed chain %v", c.Intent.DelegationChain)
		}
	})
}

// TestIntrospectionChecksTheWholeChain: a token is inactive once any agent
// of its delegation chain is revoked, even when nothing marked the token
// itself (as after a revocation racing its grant).
func TestIntrospectionChecksTheWholeChain(t *testing.T) {
	h := fixture(t)
	run := h.startRun("app", "wf", nil)
	h.toPatch(run)
	patchTok := h.mustDelegate("supervisor", "patcher", run, "patch", "d1")
	markRevoked(t, h.st, "supervisor")
	if h.introspect(patchTok) {
		t.Fatal("token whose delegator is revoked is active")
	}
	wantError(t, h.complete("patcher", run, "patch", patchTok), 401, "invalid_token")
}

// markRevoked and bumpVersion change an agent in the store behind the
// server's back: the state a revocation or re-registration leaves when it
// commits between a grant's checks and its token.
func markRevoked(t *testing.T, st store.Store, id string) {
	t.Helper()
	editAgent(t, st, id, func(a *store.Agent) { a.Revoked, a.RevokedAt = true, time.Now() })
}

func bumpVersion(t *testing.T, st store.Store, id string) {
	t.Helper()
	editAgent(t, st, id, func(a *store.Agent) { a.Version++ })
}

func editAgent(t *testing.T, st store.Store, id string, edit func(*store.Agent)) {
	t.Helper()
	err := st.Update(t.Context(), func(tx store.Tx) error {
		a, err := tx.Agent(t.Context(), id)
		if err != nil {
			return err
		}
		edit(a)
		return tx.PutAgent(t.Context(), a)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func feedHas(res *response, typ, id string) bool {
	entries, _ := res.body["revoked"].([]any)
	for _, e := range entries {
		if m := e.(map[string]any); m["type"] == typ && m["id"] == id {
			return true
		}
	}
	return false
}

// TestDelegatedByIsTheOnlyDelegators: a step's delegated_by names every
// agent that may delegate it, whatever may_delegate_to says; without
// delegated_by the delegator's may_delegate_to decides; depth 0 means no
// delegation (§6.3).
func TestDelegatedByIsTheOnlyDelegators(t *testing.T) {
	h := fixture(t)
	h.registerAgent("rogue", "app", []string{"repo:read"}, map[string]any{"may_delegate_to": []string{"patcher"}})
	h.registerAgent("quiet", "app", []string{"repo:read"}, nil)
	h.registerAgent("worker", "app", []string{"repo:read"}, nil)
	h.registerAgent("boss", "app", []string{"repo:read"}, map[string]any{"may_delegate_to": []string{"worker"}})
	step := map[string]any{"id": "fix", "agent": "worker", "scopes": []string{"repo:read"}, "audience": "https://forge.example"}
	h.registerWorkflow("open", map[string]any{"steps": []map[string]any{step}})
	h.registerWorkflow("closed", map[string]any{"max_delegation_depth": 0, "steps": []map[string]any{step}})

	run := h.startRun("app", "wf", nil)
	h.toPatch(run)
	t.Run("may_delegate_to does not open a delegated_by step", func(t *testing.T) {
		wantError(t, h.delegate("rogue", "patcher", run, "patch", "r1"), 403, "invalid_delegation")
		h.mustDelegate("supervisor", "patcher", run, "patch", "s1")
	})
	t.Run("without delegated_by, may_delegate_to must list the delegate", func(t *testing.T) {
		open := h.startRun("app", "open", nil)
		wantError(t, h.delegate("quiet", "worker", open, "fix", "q1"), 403, "invalid_delegation")
		h.mustDelegate("boss", "worker", open, "fix", "b1")
	})
	t.Run("max_delegation_depth 0 forbids delegation", func(t *testing.T) {
		closed := h.startRun("app", "closed", nil)
		wantError(t, h.delegate("boss", "worker", closed, "fix", "b2"), 403, "invalid_delegation")
		h.mustGrant("app", "worker", closed, "fix", nil)
	})
	t.Run("registration", func(t *testing.T) {
		for name, def := range map[string]map[string]any{
			"depth over the limit": {"max_delegation_depth": 6, "steps": []map[string]any{step}},
			"delegated_by with depth 0": {"max_delegation_depth": 0, "steps": []map[string]any{
				{"id": "fix", "agent": "worker", "scopes": []string{"repo:read"}, "delegated_by": []string{"boss"}}}},
		} {
			res := h.jsonReq(http.MethodPut, "/v1/workflows/bad", h.bearer("admin"), def, nil)
			if res.status != 400 || res.str("error") != "invalid_workflow" {
				t.Errorf("%s: %d %s", name, res.status, res.raw)
			}
		}
	})
}
