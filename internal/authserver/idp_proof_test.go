package authserver

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/ajwt/ajwt/keys"
)

// boundCaller is a token carrying cnf and the key it is bound to.
type boundCaller struct {
	tok string
	key *keys.Signer
}

// boundClientToken asks /token for a DPoP-bound client_credentials token
// (§6.1); ok is false while the token endpoint issues only Bearer tokens.
func (h *harness) boundClientToken(client string) (boundCaller, bool) {
	h.t.Helper()
	key, err := keys.Generate(keys.ES256, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	res := h.form("/token", client, secrets[client], url.Values{"grant_type": {"client_credentials"}}, h.proof(key, http.MethodPost, "/token", ""))
	if res.status != 200 {
		h.t.Fatalf("client_credentials with DPoP for %s: %d %s", client, res.status, res.raw)
	}
	return boundCaller{tok: res.str("access_token"), key: key}, res.str("token_type") == "DPoP"
}

// boundRow is one token-authenticated endpoint and the status a call with
// a valid proof gets.
type boundRow struct {
	name, method, path string
	body               any
	as                 boundCaller
	status             int
}

// checkBoundRow: without a valid proof of the token's key the call is 401
// invalid_token or invalid_dpop_proof, whatever the endpoint; with one it
// gets row.status; the same proof again is a replay.
func (h *harness) checkBoundRow(t *testing.T, row boundRow) {
	t.Helper()
	if res := h.jsonReq(row.method, row.path, "", nil, nil); res.status == 404 && res.str("error_description") == "no such endpoint" {
		t.Skipf("%s %s is not served yet", row.method, row.path)
	}
	thief, _ := keys.Generate(keys.EdDSA, nil)
	tok, key := row.as.tok, row.as.key
	refused := map[string]*response{
		"as bearer":               h.jsonReq(row.method, row.path, "Bearer "+tok, row.body, nil),
		"as bearer with a proof":  h.jsonReq(row.method, row.path, "Bearer "+tok, row.body, h.proof(key, row.method, row.path, tok)),
		"DPoP without a proof":    h.jsonReq(row.method, row.path, "DPoP "+tok, row.body, nil),
		"proof by another key":    h.jsonReq(row.method, row.path, "DPoP "+tok, row.body, h.proof(thief, row.method, row.path, tok)),
		"proof for another token": h.jsonReq(row.method, row.path, "DPoP "+tok, row.body, h.proof(key, row.method, row.path, "other")),
		"proof for another path":  h.jsonReq(row.method, row.path, "DPoP "+tok, row.body, h.proof(key, row.method, "/v1/x", tok)),
	}
	for how, res := range refused {
		if res.status != 401 || (res.str("error") != "invalid_token" && res.str("error") != "invalid_dpop_proof") {
			t.Errorf("%s: got %d %s, want 401 invalid_token or invalid_dpop_proof", how, res.status, res.raw)
		}
	}
	proof := h.proof(key, row.method, row.path, tok)
	if res := h.jsonReq(row.method, row.path, "DPoP "+tok, row.body, proof); res.status != row.status {
		t.Fatalf("with a proof: got %d %s, want %d", res.status, res.raw, row.status)
	}
	wantError(t, h.jsonReq(row.method, row.path, "DPoP "+tok, row.body, proof), 401, "invalid_dpop_proof")
}

// boundTarget is the state the endpoint tables work on: an approvable run,
// a run to revoke, a running plan step, an agent to revoke.
type boundTarget struct{ approvable, doomed, running string }

func (h *harness) boundTarget() boundTarget {
	h.t.Helper()
	h.registerAgent("victim", "app", []string{"repo:read"}, nil)
	return boundTarget{approvable: h.readyForApproval("user:alice"), doomed: h.startRun("app", "wf", nil), running: h.startRun("app", "wf", nil)}
}

// TestIntentTokenNeedsProofOnEveryAPI: an agent's intent token carries
// cnf, so every token-authenticated endpoint of the IdP refuses it without
// a valid proof (§3). With one, it reads its own agent and completes its
// step; everything else stays closed to agent tokens.
func TestIntentTokenNeedsProofOnEveryAPI(t *testing.T) {
	h := approvalFixture(t)
	x := h.boundTarget()
	agent := boundCaller{tok: h.mustGrant("app", "planner", x.running, "plan", nil), key: h.agents["planner"].key}
	for _, row := range h.boundRows(x, agent, agent, agent) {
		if row.name != "GET agent" && row.name != "complete" {
			row.status = 403
		}
		t.Run(row.name, func(t *testing.T) { h.checkBoundRow(t, row) })
	}
}

// TestBoundClientTokenNeedsProofOnEveryAPI: a DPoP-bound client token is
// accepted by the IdP's APIs with a valid proof, wherever its scopes allow,
// and never without (§3, §4, §6.1).
func TestBoundClientTokenNeedsProofOnEveryAPI(t *testing.T) {
	h := approvalFixture(t)
	x := h.boundTarget()
	admin, ok := h.boundClientToken("admin")
	if !ok {
		t.Skip("the token endpoint issues no DPoP-bound client tokens yet (§6.1)")
	}
	app, _ := h.boundClientToken("app")
	approver, _ := h.boundClientToken("approver")
	agent := boundCaller{tok: h.mustGrant("app", "planner", x.running, "plan", nil), key: h.agents["planner"].key}
	for _, row := range h.boundRows(x, admin, app, approver) {
		if row.name == "complete" {
			row.as = agent
		}
		t.Run(row.name, func(t *testing.T) { h.checkBoundRow(t, row) })
	}
}

// boundRows lists every /v1 endpoint that takes an access token, called as
// admin, app (the owning client) or approver, in an order where each
// successful call leaves the state the next one needs.
func (h *harness) boundRows(x boundTarget, admin, app, approver boundCaller) []boundRow {
	spec := map[string]any{"agent_id": "fresh", "prompt_template": "Hi.", "tools": []any{}}
	fresh := map[string]any{"client_id": "app", "spec": spec, "public_jwk": h.agents["planner"].key.Public(), "scopes": []string{"repo:read"}}
	wf2 := map[string]any{"steps": []map[string]any{{"id": "s", "agent": "planner", "scopes": []string{"repo:read"}, "audience": "https://forge.example"}}}
	return []boundRow{
		{"GET agent", http.MethodGet, "/v1/agents/planner", nil, admin, 200},
		{"PUT agent", http.MethodPut, "/v1/agents/fresh", fresh, admin, 201},
		{"revoke agent", http.MethodPost, "/v1/agents/victim/revoke", nil, admin, 200},
		{"PUT workflow", http.MethodPut, "/v1/workflows/wf2", wf2, admin, 201},
		{"GET workflow", http.MethodGet, "/v1/workflows/wf", nil, app, 200},
		{"POST run", http.MethodPost, "/v1/runs", map[string]any{"workflow_id": "wf", "initiated_by": "user:alice"}, app, 201},
		{"GET run", http.MethodGet, "/v1/runs/" + x.approvable, nil, app, 200},
		{"approve", http.MethodPost, "/v1/runs/" + x.approvable + "/steps/approve/approve", map[string]string{"approver": "user:bob"}, approver, 200},
		{"revoke run", http.MethodPost, "/v1/runs/" + x.doomed + "/revoke", nil, app, 200},
		{"complete", http.MethodPost, "/v1/runs/" + x.running + "/steps/plan/complete", nil, app, 200},
		{"audit", http.MethodGet, "/v1/audit", nil, admin, 200},
		{"revoke client", http.MethodPost, "/v1/clients/other-app/revoke", nil, admin, 200},
	}
}
