package authserver

import (
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ajwt/ajwt/internal/store"
)

// approverClients adds approvers bound to other tenants (or none) to
// testConfig, whose approver approves for app.
const approverClients = `
  - client_id: foreign-approver
    client_secret: foreign-secret
    scopes: [ajwt:approve]
    approves_for: [other-app]
  - client_id: idle-approver
    client_secret: idle-secret
    scopes: [ajwt:approve]
`

var approverSecrets = map[string]string{"foreign-approver": "foreign-secret", "idle-approver": "idle-secret"}

// approvalFixture: app owns planner and workflow wf (plan → approve);
// other-app owns outsider and workflow solo.
func approvalFixture(t *testing.T) *harness {
	t.Helper()
	h := newHarnessAt(t, filepath.Join(t.TempDir(), "ajwt.db"), testConfig+approverClients)
	h.registerAgent("planner", "app", []string{"repo:read"}, nil)
	h.registerAgent("outsider", "other-app", []string{"repo:read"}, nil)
	h.registerWorkflow("wf", map[string]any{"steps": []map[string]any{
		{"id": "plan", "agent": "planner", "scopes": []string{"repo:read"}, "audience": "https://forge.example"},
		{"id": "approve", "kind": "approval", "depends_on": []string{"plan"}},
	}})
	h.registerWorkflow("solo", map[string]any{"steps": []map[string]any{
		{"id": "read", "agent": "outsider", "scopes": []string{"repo:read"}, "audience": "https://forge.example"},
	}})
	return h
}

// bearerOf gets a client_credentials token of any configured client.
func (h *harness) bearerOf(client string) string {
	h.t.Helper()
	secret, ok := approverSecrets[client]
	if !ok {
		secret = secrets[client]
	}
	res := h.form("/token", client, secret, url.Values{"grant_type": {"client_credentials"}}, nil)
	if res.status != 200 {
		h.t.Fatalf("client_credentials for %s: %d %s", client, res.status, res.raw)
	}
	return "Bearer " + res.str("access_token")
}

// readyForApproval starts a run of wf initiated by initiator and completes
// plan, so that approve is ready.
func (h *harness) readyForApproval(initiator string) string {
	h.t.Helper()
	res := h.jsonReq(http.MethodPost, "/v1/runs", h.bearer("app"), map[string]any{"workflow_id": "wf", "initiated_by": initiator}, nil)
	if res.status != 201 {
		h.t.Fatalf("start run: %d %s", res.status, res.raw)
	}
	run := res.str("run_id")
	tok := h.mustGrant("app", "planner", run, "plan", nil)
	if res := h.complete("planner", run, "plan", tok); res.status != 200 {
		h.t.Fatalf("complete plan: %d %s", res.status, res.raw)
	}
	return run
}

func (h *harness) approveAs(client, runID, approver string) *response {
	h.t.Helper()
	return h.jsonReq(http.MethodPost, "/v1/runs/"+runID+"/steps/approve/approve", h.bearerOf(client),
		map[string]string{"approver": approver, "comment": "ok"}, nil)
}

func wantReason(t *testing.T, res *response, status int, code, reason string) {
	t.Helper()
	wantError(t, res, status, code)
	if res.str("reason") != reason {
		t.Fatalf("reason %q, want %q (%s)", res.str("reason"), reason, res.raw)
	}
}

// TestApprovalTenantBinding: an approver client approves only runs of the
// clients in its approves_for (§5, §11).
func TestApprovalTenantBinding(t *testing.T) {
	h := approvalFixture(t)
	run := h.readyForApproval("user:alice")
	for _, client := range []string{"foreign-approver", "idle-approver"} {
		t.Run(client, func(t *testing.T) {
			wantReason(t, h.approveAs(client, run, "user:bob"), 403, "access_denied", "not_approver_for_client")
		})
	}
	if res := h.approveAs("approver", run, "user:bob"); res.status != 200 {
		t.Fatalf("approver of app: %d %s", res.status, res.raw)
	}
}

// TestSelfApproval: the human who started a run cannot approve it, however
// the identity is written (§5).
func TestSelfApproval(t *testing.T) {
	h := approvalFixture(t)
	tests := []struct {
		initiator, approver string
		refused             bool
	}{
		{"user:alice", "user:alice", true},
		{"user:alice", "alice", true},
		{"alice", "user:alice", true},
		{"alice", "alice", true},
		{"user:alice", "User:Alice", true},
		{"user:alice", "user:bob", false},
		{"user:alice", "alice-2", false},
		{"", "user:bob", false},
	}
	for _, tt := range tests {
		t.Run(tt.initiator+" by "+tt.approver, func(t *testing.T) {
			run := h.readyForApproval(tt.initiator)
			res := h.approveAs("approver", run, tt.approver)
			if tt.refused {
				wantReason(t, res, 403, "access_denied", "self_approval")
				return
			}
			if res.status != 200 {
				t.Fatalf("approve: %d %s", res.status, res.raw)
			}
		})
	}
}

// TestApprovalRecordedInRunView: completed_by names the human, approved_via
// the approver client; agent steps carry no approved_via.
func TestApprovalRecordedInRunView(t *testing.T) {
	h := approvalFixture(t)
	run := h.readyForApproval("user:alice")
	if res := h.approveAs("approver", run, "user:bob"); res.status != 200 {
		t.Fatalf("approve: %d %s", res.status, res.raw)
	}
	res := h.jsonReq(http.MethodGet, "/v1/runs/"+run, h.bearer("app"), nil, nil)
	steps, _ := res.body["steps"].([]any)
	if len(steps) != 2 {
		t.Fatalf("steps %s", res.raw)
	}
	plan, approve := steps[0].(map[string]any), steps[1].(map[string]any)
	if _, ok := plan["approved_via"]; ok {
		t.Fatalf("agent step has approved_via: %s", res.raw)
	}
	if approve["completed_by"] != "approver:user:bob" || approve["approved_via"] != "approver" {
		t.Fatalf("approval step %v", approve)
	}
}

// TestRunReadersAndWorkflowReaders: approvers read only the runs they may
// approve; a workflow is readable by admins and the clients whose agents it
// uses. Everyone else gets 404, as if it did not exist.
func TestRunReadersAndWorkflowReaders(t *testing.T) {
	h := approvalFixture(t)
	run := h.readyForApproval("user:alice")
	tests := []struct {
		client, path string
		status       int
	}{
		{"app", "/v1/runs/" + run, 200},
		{"admin", "/v1/runs/" + run, 200},
		{"approver", "/v1/runs/" + run, 200},
		{"foreign-approver", "/v1/runs/" + run, 404},
		{"idle-approver", "/v1/runs/" + run, 404},
		{"other-app", "/v1/runs/" + run, 404},
		{"admin", "/v1/workflows/wf", 200},
		{"app", "/v1/workflows/wf", 200},
		{"other-app", "/v1/workflows/wf", 404},
		{"other-app", "/v1/workflows/solo", 200},
		{"app", "/v1/workflows/solo", 404},
		{"approver", "/v1/workflows/wf", 404},
		{"foreign-approver", "/v1/workflows/wf", 404},
	}
	for _, tt := range tests {
		t.Run(tt.client+" "+tt.path, func(t *testing.T) {
			res := h.jsonReq(http.MethodGet, tt.path, h.bearerOf(tt.client), nil, nil)
			if tt.status == 200 && res.status != 200 {
				t.Fatalf("got %d %s", res.status, res.raw)
			}
			if tt.status != 200 {
				wantError(t, res, tt.status, "not_found")
			}
		})
	}
}

// TestApprovesForValidated: an approves_for entry must name a configured
// client.
func TestApprovesForValidated(t *testing.T) {
	bad := strings.Replace(testConfig+approverClients, "approves_for: [other-app]", "approves_for: [other-app, ghost-app]", 1)
	_, err := ParseConfig([]byte(strings.ReplaceAll(bad, "ISSUER", "http://127.0.0.1:1")))
	if err == nil || !strings.Contains(err.Error(), "ghost-app") || !strings.Contains(err.Error(), "approves_for") {
		t.Fatalf("got %v, want an error naming approves_for and ghost-app", err)
	}
	if _, err := ParseConfig([]byte(strings.ReplaceAll(testConfig+approverClients, "ISSUER", "http://127.0.0.1:1"))); err != nil {
		t.Fatal(err)
	}
}

// TestRefusedApprovalIsAudited: the refused transaction rolls back, yet the
// attempt is what an auditor looks for, so it is recorded on its own.
func TestRefusedApprovalIsAudited(t *testing.T) {
	h := approvalFixture(t)
	run := h.readyForApproval("user:alice")
	wantReason(t, h.approveAs("approver", run, "user:alice"), 403, "access_denied", "self_approval")
	var entries []*store.AuditEntry
	if err := h.st.FlushAudit(t.Context()); err != nil {
		t.Fatal(err)
	}
	h.st.View(t.Context(), func(tx store.Tx) (err error) {
		entries, err = tx.Audit(t.Context(), store.AuditFilter{RunID: run, Limit: 1000})
		return err
	})
	for _, e := range entries {
		if e.Event == "approve_step" && e.Outcome == "refused:access_denied" && strings.Contains(e.Detail, "reason=self_approval") {
			return
		}
	}
	t.Fatalf("no refused approval in the audit of the run: %+v", entries)
}
