package authserver

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/protocol"
)

// assertion signs a delegation assertion (§6.3) by the delegator's key.
func (h *harness) assertion(by *keys.Signer, iss, sub, runID, step string, ttl time.Duration, jti string) string {
	h.t.Helper()
	signer, err := by.JOSE(protocol.TypeDelegation, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	now := h.clock.Now()
	claims := map[string]any{"iss": iss, "sub": sub, "aud": h.issuer, "run_id": runID, "workflow_step": step,
		"iat": now.Unix(), "exp": now.Add(ttl).Unix(), "jti": jti}
	raw, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		h.t.Fatal(err)
	}
	return raw
}

// toPatch drives a run through plan and approve.
func (h *harness) toPatch(run string) {
	h.t.Helper()
	tok := h.mustGrant("app", "planner", run, "plan", nil)
	if res := h.complete("planner", run, "plan", tok); res.status != 200 {
		h.t.Fatalf("complete plan: %d %s", res.status, res.raw)
	}
	if res := h.approve(run, "approve"); res.status != 200 {
		h.t.Fatalf("approve: %d %s", res.status, res.raw)
	}
}

func TestFullRunWithDelegation(t *testing.T) {
	h := fixture(t)
	run := h.startRun("app", "wf", map[string]string{"repo": "acme/web"})
	h.toPatch(run)
	sup := h.agents["supervisor"]
	as := h.assertion(sup.key, "supervisor", "patcher", run, "patch", 30*time.Second, "j1")
	tok := h.mustGrant("app", "patcher", run, "patch", url.Values{"delegation_assertion": {as}})
	c := h.verify(tok)
	if got := c.Intent.DelegationChain; len(got) != 2 || got[0] != "supervisor" || got[1] != "patcher" {
		t.Fatalf("chain %v", got)
	}
	if got := c.Intent.CompletedSteps; len(got) != 2 || got[0] != "plan" || got[1] != "approve" {
		t.Fatalf("completed %v", got)
	}
	res := h.complete("patcher", run, "patch", tok)
	if res.status != 200 || res.str("status") != "completed" {
		t.Fatalf("complete patch: %d %s", res.status, res.raw)
	}
	// A completed step issues no more tokens.
	as2 := h.assertion(sup.key, "supervisor", "patcher", run, "patch", 30*time.Second, "j2")
	wantError(t, h.grant("app", "patcher", run, "patch", url.Values{"delegation_assertion": {as2}}), 403, "workflow_step_unauthorized")
}

func TestDelegationFailures(t *testing.T) {
	h := fixture(t)
	run := h.startRun("app", "wf", nil)
	h.toPatch(run)
	sup, planner := h.agents["supervisor"], h.agents["planner"]
	used := h.assertion(sup.key, "supervisor", "patcher", run, "patch", 30*time.Second, "used")
	// Spend "used" on a failing grant: the jti is burnt once the signature verified.
	h.grant("app", "patcher", run, "patch", url.Values{"delegation_assertion": {used}, "scope": {"admin"}})

	tests := []struct {
		name      string
		assertion string
		status    int
		code      string
	}{
		{"no assertion", "", 403, "workflow_step_unauthorized"},
		{"wrong delegator (not in delegated_by)", h.assertion(planner.key, "planner", "patcher", run, "patch", 30*time.Second, "a1"), 403, "invalid_delegation"},
		{"signed with another key", h.assertion(planner.key, "supervisor", "patcher", run, "patch", 30*time.Second, "a2"), 403, "invalid_delegation"},
		{"expired", h.assertion(sup.key, "supervisor", "patcher", run, "patch", -10*time.Second, "a3"), 403, "invalid_delegation"},
		{"lifetime over 60 s", h.assertion(sup.key, "supervisor", "patcher", run, "patch", 5*time.Minute, "a4"), 403, "invalid_delegation"},
		{"replayed", used, 403, "invalid_delegation"},
		{"other step", h.assertion(sup.key, "supervisor", "patcher", run, "plan", 30*time.Second, "a5"), 403, "invalid_delegation"},
		{"other delegate", h.assertion(sup.key, "supervisor", "planner", run, "patch", 30*time.Second, "a6"), 403, "invalid_delegation"},
		{"garbage", "not.a.jwt", 403, "invalid_delegation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			extra := url.Values{}
			if tt.assertion != "" {
				extra.Set("delegation_assertion", tt.assertion)
			}
			wantError(t, h.grant("app", "patcher", run, "patch", extra), tt.status, tt.code)
		})
	}
}

func TestDelegationTooDeep(t *testing.T) {
	h := newHarness(t)
	for _, id := range []string{"a0", "a1", "a2"} {
		h.registerAgent(id, "app", []string{"repo:read"}, nil)
	}
	h.registerWorkflow("deep", map[string]any{"max_delegation_depth": 1, "steps": []map[string]any{
		{"id": "s0", "agent": "a1", "scopes": []string{"repo:read"}, "audience": "https://forge.example", "delegated_by": []string{"a0"}},
		{"id": "s1", "agent": "a2", "scopes": []string{"repo:read"}, "audience": "https://forge.example", "delegated_by": []string{"a1"}, "depends_on": []string{"s0"}},
	}})
	run := h.startRun("app", "deep", nil)
	// a0 → a1 is one hop: allowed.
	as := h.assertion(h.agents["a0"].key, "a0", "a1", run, "s0", 30*time.Second, "d1")
	tok := h.mustGrant("app", "a1", run, "s0", url.Values{"delegation_assertion": {as}})
	if res := h.complete("a1", run, "s0", tok); res.status != 200 {
		t.Fatalf("complete: %d %s", res.status, res.raw)
	}
	// a1 → a2 extends a1's own chain in the run: a0 → a1 → a2 is two hops.
	as = h.assertion(h.agents["a1"].key, "a1", "a2", run, "s1", 30*time.Second, "d2")
	res := h.grant("app", "a2", run, "s1", url.Values{"delegation_assertion": {as}})
	wantError(t, res, 403, "invalid_delegation")
	if !strings.Contains(res.str("error_description"), "exceeds") {
		t.Fatalf("description %q", res.str("error_description"))
	}
}

func TestStepCompletesOnceUnderRace(t *testing.T) {
	h := fixture(t)
	run := h.startRun("app", "wf", nil)
	tok := h.mustGrant("app", "planner", run, "plan", nil)
	path := "/v1/runs/" + run + "/steps/plan/complete"
	var wins, losses atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			proof := h.proof(h.agents["planner"].key, http.MethodPost, path, tok)
			switch res := h.jsonReq(http.MethodPost, path, "DPoP "+tok, nil, proof); res.status {
			case 200:
				wins.Add(1)
			case 403:
				losses.Add(1)
			default:
				t.Errorf("unexpected %d %s", res.status, res.raw)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 || losses.Load() != 49 {
		t.Fatalf("wins %d, losses %d; want exactly one completion", wins.Load(), losses.Load())
	}
}

func TestRunStateRules(t *testing.T) {
	h := fixture(t)
	run := h.startRun("app", "wf", nil)
	planTok := h.mustGrant("app", "planner", run, "plan", nil)
	path := "/v1/runs/" + run + "/steps/plan/complete"

	t.Run("bearer use of the DPoP token cannot complete", func(t *testing.T) {
		res := h.jsonReq(http.MethodPost, path, "Bearer "+planTok, nil, nil)
		wantError(t, res, 401, "invalid_dpop_proof") // §3: a cnf token without a proof
	})
	t.Run("another step's token cannot complete", func(t *testing.T) {
		res := h.complete("planner", run, "approve", planTok)
		wantError(t, res, 403, "intent_mismatch")
	})
	t.Run("stolen token without the key", func(t *testing.T) {
		thief, _ := keys.Generate(keys.EdDSA, nil)
		res := h.jsonReq(http.MethodPost, path, "DPoP "+planTok, nil, h.proof(thief, http.MethodPost, path, planTok))
		wantError(t, res, 401, "invalid_dpop_proof")
	})
	t.Run("approval needs ajwt:approve", func(t *testing.T) {
		res := h.jsonReq(http.MethodPost, "/v1/runs/"+run+"/steps/approve/approve", h.bearer("app"), map[string]string{"approver": "x"}, nil)
		wantError(t, res, 403, "insufficient_scope")
	})
	t.Run("an agent token can never approve", func(t *testing.T) {
		proof := h.proof(h.agents["planner"].key, http.MethodPost, "/v1/runs/"+run+"/steps/approve/approve", planTok)
		res := h.jsonReq(http.MethodPost, "/v1/runs/"+run+"/steps/approve/approve", "DPoP "+planTok, map[string]string{"approver": "x"}, proof)
		wantError(t, res, 403, "insufficient_scope")
	})
	t.Run("approval before its dependencies", func(t *testing.T) {
		wantError(t, h.approve(run, "approve"), 403, "workflow_step_unauthorized")
	})
	t.Run("complete, then approve, then state", func(t *testing.T) {
		if res := h.complete("planner", run, "plan", planTok); res.status != 200 {
			t.Fatalf("%d %s", res.status, res.raw)
		}
		if res := h.approve(run, "approve"); res.status != 200 {
			t.Fatalf("%d %s", res.status, res.raw)
		}
		res := h.jsonReq(http.MethodGet, "/v1/runs/"+run, h.bearer("app"), nil, nil)
		steps, _ := res.body["steps"].([]any)
		want := []string{"completed", "completed", "ready"}
		for i, s := range steps {
			if st := s.(map[string]any)["state"]; st != want[i] {
				t.Fatalf("step %d state %v, want %s (%s)", i, st, want[i], res.raw)
			}
		}
	})
	t.Run("another client cannot read the run", func(t *testing.T) {
		res := h.jsonReq(http.MethodGet, "/v1/runs/"+run, h.bearer("other-app"), nil, nil)
		wantError(t, res, 404, "not_found")
	})
	t.Run("another client cannot start a run of app's agents", func(t *testing.T) {
		res := h.jsonReq(http.MethodPost, "/v1/runs", h.bearer("other-app"), map[string]any{"workflow_id": "wf"}, nil)
		wantError(t, res, 403, "access_denied")
	})
}

var _ = jose.ES256
