package authserver

import (
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ajwt/ajwt/protocol"
)

// revokeOwn revokes a token of client through RFC 7009.
func (h *harness) revokeOwn(client, tok string) {
	h.t.Helper()
	if res := h.form("/revoke", client, secrets[client], url.Values{"token": {tok}}, nil); res.status != 200 {
		h.t.Fatalf("revoke: %d %s", res.status, res.raw)
	}
}

// TestRevokedTokenRefusedFirst: complete, approve and run creation check
// the token's revocation inside their transaction, yet a revoked token
// is refused as such whatever else is wrong with the request, changes
// nothing, is not audited as an attempt at the change, and costs its
// client no run quota.
func TestRevokedTokenRefusedFirst(t *testing.T) {
	h := newHarnessAt(t, filepath.Join(t.TempDir(), "ajwt.db"), testConfig+approverClients+"runs_per_minute: 2\n")
	h.registerAgent("planner", "app", []string{"repo:read"}, nil)
	h.registerWorkflow("wf", map[string]any{"steps": []map[string]any{
		{"id": "plan", "agent": "planner", "scopes": []string{"repo:read"}, "audience": "https://forge.example"},
		{"id": "approve", "kind": "approval", "depends_on": []string{"plan"}},
	}})
	revoked := func(res *response) {
		t.Helper()
		wantError(t, res, http.StatusUnauthorized, protocol.CodeInvalidToken)
		if !strings.Contains(res.str("error_description"), "revoked") {
			t.Fatalf("not refused as revoked: %s", res.raw)
		}
	}

	app := h.clientToken("app")
	h.revokeOwn("app", app)
	for _, body := range []map[string]any{
		{"workflow_id": "wf", "initiated_by": "user:alice"}, {"workflow_id": "not an id"}, {"workflow_id": "nope"},
	} {
		for range 2 {
			revoked(h.jsonReq(http.MethodPost, "/v1/runs", "Bearer "+app, body, nil))
		}
	}
	runs := []string{h.startRun("app", "wf", nil), h.startRun("app", "wf", nil)} // the quota is whole

	tok := h.mustGrant("app", "planner", runs[0], "plan", nil)
	h.revokeOwn("app", tok)
	path := "/v1/runs/" + runs[0] + "/steps/"
	revoked(h.complete("planner", runs[0], "plan", tok))
	revoked(h.jsonReq(http.MethodPost, path+"approve/complete", "DPoP "+tok, nil, h.proof(h.agents["planner"].key, http.MethodPost, path+"approve/complete", tok)))
	revoked(h.jsonReq(http.MethodPost, path+"plan/complete", "DPoP "+tok, map[string]any{"result_sha256": strings.Repeat("\x01", 300)},
		h.proof(h.agents["planner"].key, http.MethodPost, path+"plan/complete", tok)))
	if st := h.stepState(runs[0], "plan"); st != "ready" && st != "in_progress" {
		t.Fatalf("step %s after refused completions", st)
	}

	run := runs[1]
	tok = h.mustGrant("app", "planner", run, "plan", nil)
	if res := h.complete("planner", run, "plan", tok); res.status != 200 {
		t.Fatalf("complete plan: %d %s", res.status, res.raw)
	}
	approver := h.clientToken("approver")
	h.revokeOwn("approver", approver)
	approve := func(body map[string]string) *response {
		return h.jsonReq(http.MethodPost, "/v1/runs/"+run+"/steps/approve/approve", "Bearer "+approver, body, nil)
	}
	revoked(approve(map[string]string{"approver": "user:bob"}))
	revoked(approve(map[string]string{"approver": ""}))
	revoked(approve(map[string]string{"approver": "user:alice"})) // self-approval too
	if st := h.stepState(run, "approve"); st != "ready" {
		t.Fatalf("approval step %s after refused approvals", st)
	}
	for _, event := range []string{"complete_step", "approve_step"} {
		for _, e := range h.auditEvents(event, "app") {
			if e.Outcome != "ok" {
				t.Fatalf("a refused token audited as an attempt: %+v", e)
			}
		}
		if got := h.auditEvents(event, "approver"); len(got) != 0 {
			t.Fatalf("a refused token audited as an attempt: %+v", got[0])
		}
	}
}
